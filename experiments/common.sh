# Shared by the experiment scripts: build once, run `detaux run`, print the report's tables.
# Usage (from a script): . "$(dirname "$0")/common.sh"; run_experiment NAME [detaux run flags…]
# A variant that shares another run's stage 1: run_variant NAME BASE [flags…] (adds
# --stage1-from OUT_ROOT/BASE, so only stages 2 and 3 run again). Every run writes its report
# into OUT_ROOT/NAME and continues an interrupted run of the same name (--resume).
# Environment: DETAUX_EXPERIMENTS_OUT (default runs/experiments), DETAUX_THREADS (default 2),
# DETAUX_BIN (a detaux binary to use instead of building target/release/detaux; keeps a long
# experiment on one binary while the tree is rebuilt).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT_ROOT="${DETAUX_EXPERIMENTS_OUT:-$ROOT/runs/experiments}"
THREADS="${DETAUX_THREADS:-2}"
mkdir -p "$OUT_ROOT"
if [ -n "${DETAUX_BIN:-}" ]; then
    BIN="$DETAUX_BIN"
else
    (cd "$ROOT" && cargo build --release --quiet)
    BIN="$ROOT/target/release/detaux"
fi

# run_detaux NAME FLAGS…: one `detaux run` into OUT_ROOT/NAME; prints its tables, or the error.
run_detaux() {
    local name="$1"
    shift
    local out="$OUT_ROOT/$name"
    local start end
    start=$(date +%s)
    echo "### $name"
    echo
    if ! "$BIN" run --out "$out" --threads "$THREADS" "$@" >"$out.stdout" 2>"$out.stderr"; then
        echo "Command: \`detaux run $*\`: **failed**: $(grep '^error' "$out.stderr" | tail -n 1)"
        echo
        return 0
    fi
    end=$(date +%s)
    echo "Command: \`detaux run --threads $THREADS $*\`; wall time $((end - start)) s on $(lscpu | sed -n 's/^Model name: *//p') (family $(lscpu | sed -n 's/^CPU family: *//p'))."
    echo
    # The report's verdict, arm, paired-difference and discovered-task sections.
    sed -n '/^## Stage-1 verdict/,/^## Per seed/p' "$out/report.md" | sed '$d'
    sed -n '/^## Discovered auxiliary task per seed/,/^## Wall time/p' "$out/report.md" | sed '$d'
}

run_experiment() {
    local name="$1"
    shift
    local resume=()
    [ -d "$OUT_ROOT/$name" ] && resume=(--resume)
    run_detaux "$name" "$@" "${resume[@]}"
}

run_variant() {
    local name="$1" base="$2"
    shift 2
    run_detaux "$name" --stage1-from "$OUT_ROOT/$base" "$@"
}

# run_question_variants BASE "FACTOR…" FLAGS…: on BASE's stage 1, the variants experiments
# (b)-(d) ask for: the subspace carrying each FACTOR (a control), k-means k = 2, 8, 16 and
# HDBSCAN (min cluster size 200, the reference's), the uw and pcgrad weightings, and
# detaux-mtl-val; every one without oracle arms, k-means k = 4 unless it varies the clustering.
run_question_variants() {
    local base="$1" factors="$2" f c w
    shift 2
    for f in $factors; do
        run_variant "$base-carrying-$f" "$base" "$@" --clustering kmeans:4 --subspace "carrying:$f" --oracle-aux none
    done
    for c in kmeans:2 kmeans:8 kmeans:16 hdbscan:200; do
        run_variant "$base-${c/:/}" "$base" "$@" --clustering "$c" --oracle-aux none
    done
    for w in uw pcgrad; do
        run_variant "$base-$w" "$base" "$@" --clustering kmeans:4 --weighting "$w" --oracle-aux none
    done
    run_variant "$base-mtl-val" "$base" "$@" --clustering kmeans:4 --oracle-aux none \
        --mtl-val-epochs 3 --mtl-val-clusterings kmeans:2,kmeans:4,kmeans:8
}

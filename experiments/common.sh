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

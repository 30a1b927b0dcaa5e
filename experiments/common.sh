# Shared by the experiment scripts: build once, run `detaux run`, print the report's tables.
# Usage (from a script): . "$(dirname "$0")/common.sh"; run_experiment NAME [detaux run flags…]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT_ROOT="${DETAUX_EXPERIMENTS_OUT:-$ROOT/runs/experiments}"
THREADS="${DETAUX_THREADS:-2}"

run_experiment() {
    local name="$1"
    shift
    (cd "$ROOT" && cargo build --release --quiet)
    local out="$OUT_ROOT/$name"
    local start end
    start=$(date +%s)
    "$ROOT/target/release/detaux" run --out "$out" --threads "$THREADS" "$@" >"$out.stdout" 2>"$out.stderr" || {
        echo "detaux run failed; see $out.stderr" >&2
        exit 1
    }
    end=$(date +%s)
    echo "### $name"
    echo
    echo "Command: \`detaux run --threads $THREADS $*\`; wall time $((end - start)) s on $(lscpu | sed -n 's/^Model name: *//p') (family $(lscpu | sed -n 's/^CPU family: *//p'))."
    echo
    # The report's verdict, arm, paired-difference and discovered-task sections.
    sed -n '/^## Stage-1 verdict/,/^## Per seed/p' "$out/report.md" | sed '$d'
    sed -n '/^## Discovered auxiliary task per seed/,/^## Wall time/p' "$out/report.md" | sed '$d'
}

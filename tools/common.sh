# shellcheck shell=bash
# What tools/compare.sh and tools/curves.sh share: their error messages, the settings both read
# and check, the check of the Python's packages, the output and data directories, the clustering
# data, the options of every run, the reading of both sides' medians and the report's header.
#
# Usage (from a script in tools/, after `set -euo pipefail`):
#   . "$(dirname "${BASH_SOURCE[0]}")/common.sh" NAME.sh
# NAME.sh is the script's name, which every message starts with (`NAME.sh: error: …`).
#
# Sets on sourcing: script (NAME.sh), repo (the repository) and anchors (tools/anchors).
# Provides:
#   die MESSAGE                   `<script>: error: MESSAGE` on stderr, exit 1
#   fail_with_log WHAT LOG        the same for a failed run WHAT, with the end of its LOG
#   read_settings "$@"            the script's arguments ([PYTHON]) and the environment: sets PY,
#                                 THREADS (default 2), QUICK (0 or 1), ROUNDS (default 3, 1 with
#                                 QUICK=1) and CARGO (default cargo)
#   check_settings                PY given and executable, THREADS 1 or 2, ROUNDS positive
#                                 (CARGO is the caller's to check, after checks of its own)
#   check_python_packages [MOD…]  PY has the packages of tools/anchors/requirements.txt (and the
#                                 modules MOD); sets versions (the reference side's, for the header)
#   prepare_outputs SUBDIR        run in the repository: sets target_dir, data_dir
#                                 (<target dir>/compare/data), crit_dir, out_dir (<target
#                                 dir>/SUBDIR), log_dir (created) and results (emptied)
#   write_cluster_data NOTE [ARG…] tools/anchors/cluster_data.py data_dir ARG…
#   set_run_args CRIT_ARG…        sets crit_args (CRIT_ARG…) and anchor_args (--threads), both
#                                 with --quick under QUICK=1
#   reference_median LOG          prints the MEDIAN_NS of a reference run of `anchor`
#   bench_median WHAT LOG EST     prints the median (ns) of criterion's EST after the bench run
#                                 WHAT of crit_id, which must have read data_dir
#   report_header                 sets cpu (from lscpu) and header (threads, rounds, versions)
# The variables these set are globals for the sourcing script (hence SC2034 below), and
# reference_median and bench_median read its `anchor` and `crit_id` (SC2154).

[[ $# -eq 1 ]] || {
    echo "tools/common.sh: error: usage: . tools/common.sh NAME.sh (the sourcing script's name)" >&2
    exit 1
}
script=$1

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
anchors="$repo/tools/anchors"

die() {
    echo "$script: error: $*" >&2
    exit 1
}

fail_with_log() {
    echo "$script: error: $1 failed; the end of $2:" >&2
    tail -n 20 "$2" >&2
    exit 1
}

read_settings() {
    [[ $# -le 1 ]] || die "usage: tools/$script [PYTHON] (or PY=PYTHON); got $# arguments"
    PY=${1:-${PY:-}}
    THREADS=${THREADS:-2}
    QUICK=${QUICK:-0}
    CARGO=${CARGO:-cargo}
    case $QUICK in
        0 | "") QUICK=0 ROUNDS=${ROUNDS:-3} ;;
        1) ROUNDS=${ROUNDS:-1} ;;
        *) die "QUICK must be 0 or 1, got '$QUICK'" ;;
    esac
}

check_settings() {
    [[ -n $PY ]] || die "no Python given: tools/$script PYTHON, or PY=PYTHON (it needs the packages of tools/anchors/requirements.txt)"
    command -v "$PY" >/dev/null 2>&1 || die "PY=$PY is not an executable"
    [[ $THREADS == 1 || $THREADS == 2 ]] || die "THREADS must be 1 or 2 (the benches time pools of 1 and 2 threads), got '$THREADS'"
    [[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer, got '$ROUNDS'"
}

check_python_packages() {
    local missing
    missing=$("$PY" - "$@" <<'PYEOF'
import importlib.util, sys
names = {"torch": "torch", "sklearn": "scikit-learn", "hdbscan": "hdbscan", "numpy": "numpy",
         "threadpoolctl": "threadpoolctl", **{m: m for m in sys.argv[1:]}}
print(" ".join(p for m, p in names.items() if importlib.util.find_spec(m) is None))
PYEOF
    ) || die "cannot run PY=$PY"
    [[ -z $missing ]] || die "PY=$PY lacks the Python package(s): $missing (pip install -r tools/anchors/requirements.txt)"
    versions=$("$PY" - <<'PYEOF'
from importlib.metadata import version
print(", ".join(f"{p} {version(p)}" for p in ("torch", "scikit-learn", "hdbscan")))
PYEOF
    )
}

# shellcheck disable=SC2034
prepare_outputs() {
    target_dir=$("$CARGO" metadata --format-version 1 --no-deps \
        | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])') \
        || die "cargo metadata failed in $repo"
    data_dir="$target_dir/compare/data"
    out_dir="$target_dir/$1"
    log_dir="$out_dir/logs"
    crit_dir="$target_dir/criterion"
    mkdir -p "$log_dir"
    results="$out_dir/results.tsv"
    : >"$results"
}

# write_cluster_data NOTE [ARG…]: NOTE says in the progress line which files are written.
write_cluster_data() {
    local note=$1
    shift
    echo "$script: writing the clustering data to $data_dir ($note)" >&2
    "$PY" "$anchors/cluster_data.py" "$data_dir" "$@" >"$log_dir/cluster_data.log" 2>&1 \
        || fail_with_log "tools/anchors/cluster_data.py" "$log_dir/cluster_data.log"
}

set_run_args() {
    crit_args=("$@")
    anchor_args=(--threads "$THREADS")
    if [[ $QUICK == 1 ]]; then
        crit_args+=(--quick)
        anchor_args+=(--quick)
    fi
}

# shellcheck disable=SC2154
reference_median() {
    local ns
    ns=$(awk '$1 == "MEDIAN_NS" { v = $2 } END { print v }' "$1")
    [[ $ns =~ ^[0-9]+$ ]] || fail_with_log "${anchor[*]} (no MEDIAN_NS line)" "$1"
    echo "$ns"
}

# shellcheck disable=SC2154
bench_median() {
    local what=$1 log=$2 est=$3
    [[ -f $est ]] || fail_with_log "$what (criterion wrote no $est: no bench has the id $crit_id)" "$log"
    if grep -qE "bench data: generated|generating data" "$log"; then
        fail_with_log "$what (it generated its own data instead of reading $data_dir)" "$log"
    fi
    "$PY" -c 'import json, sys; print(round(json.load(open(sys.argv[1]))["median"]["point_estimate"]))' "$est" \
        || die "cannot read the median of $est"
}

# shellcheck disable=SC2034
report_header() {
    local mode
    cpu="lscpu not available"
    if command -v lscpu >/dev/null 2>&1; then
        cpu=$(LC_ALL=C lscpu | grep -E '^(Model name|CPU family|Model):' | sed -E 's/:[[:space:]]+/: /' \
            | paste -sd ';' - | sed 's/;/; /g')
    fi
    mode="$ROUNDS interleaved rounds"
    [[ $ROUNDS == 1 ]] && mode="1 round"
    [[ $QUICK == 1 ]] && mode="$mode, QUICK (a check that it runs, not a measurement)"
    header="$THREADS threads, $mode; reference: $versions"
}

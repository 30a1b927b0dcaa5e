#!/usr/bin/env bash
# detaux's hot loops side by side with PyTorch, scikit-learn and the `hdbscan` package.
#
#   tools/compare.sh [PYTHON]          (or PY=PYTHON tools/compare.sh)
#
# PYTHON must have the packages of tools/anchors/requirements.txt. For every row, each round
# runs the reference measurement (tools/anchors/*.py) and the matching criterion bench, one
# after the other, the order alternating between rounds; the table gives, per side, the median
# over rounds of the per-round medians (and their range) and the ratio detaux / reference.
#
#   row       detaux bench (criterion id)                               reference
#   stage1    train_step  stage1_train_step_b32/<T>t                     torch_steps.py --which stage1
#   mtl       mtl_step    mtl_train_step_b32_64x64x3_2heads/threads_<T>  torch_steps.py --which mtl
#   lloyd     kmeans      lloyd_iteration/<T>                            sklearn_kmeans.py --which lloyd
#   plusplus  kmeans      kmeans_plusplus/<T>                            sklearn_kmeans.py --which plusplus
#   hdbscan   hdbscan     hdbscan_fit_50000x10_mcs200/<T>                hdbscan_fit.py
#
# Environment:
#   PY=PYTHON      the Python (or the first argument)
#   THREADS=T      threads on both sides, 1 or 2 (the benches' pools), default 2
#   ROUNDS=R       interleaved rounds, default 3 (1 with QUICK=1)
#   QUICK=1        a short check that every row runs: criterion --quick, few reference calls
#   ROWS="..."     a subset of the rows above, in the order given (default all)
#   CARGO=cargo    the cargo to run (prefix the script with `nice` etc. as needed)
#
# The clustering data is written once by tools/anchors/cluster_data.py under
# <target dir>/compare/data and given to the benches as DETAUX_ANCHOR_DATA, so both sides time
# the same numbers. Logs of every run, the raw results and the table go to <target dir>/compare/.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh" compare.sh

read_settings "$@"
ALL_ROWS="stage1 mtl lloyd plusplus hdbscan"
ROWS=${ROWS:-$ALL_ROWS}

check_settings
command -v "$CARGO" >/dev/null 2>&1 || die "CARGO=$CARGO is not an executable"
# shellcheck disable=SC2119 # no modules beyond those of requirements.txt
check_python_packages

# One row: its label, bench, criterion id and reference command (arguments after the script).
describe_row() {
    case $1 in
        stage1)
            label="stage-1 training step, 32 pairs of 64×64×3 (PyTorch)"
            bench=train_step crit_id="stage1_train_step_b32/${THREADS}t"
            anchor=(torch_steps.py --which stage1) ;;
        mtl)
            label="MTL step, batch 32 of 64×64×3, 2 heads (PyTorch)"
            bench=mtl_step crit_id="mtl_train_step_b32_64x64x3_2heads/threads_${THREADS}"
            anchor=(torch_steps.py --which mtl) ;;
        lloyd)
            label="Lloyd iteration 480 000 × 10, k = 64 (scikit-learn)"
            bench=kmeans crit_id="lloyd_iteration/${THREADS}"
            anchor=(sklearn_kmeans.py --which lloyd --data "$data_dir") ;;
        plusplus)
            label="k-means++ 480 000 × 10, k = 64 (scikit-learn)"
            bench=kmeans crit_id="kmeans_plusplus/${THREADS}"
            anchor=(sklearn_kmeans.py --which plusplus --data "$data_dir") ;;
        hdbscan)
            label="HDBSCAN fit 50 000 × 10, min cluster size 200 (hdbscan)"
            bench=hdbscan crit_id="hdbscan_fit_50000x10_mcs200/${THREADS}"
            anchor=(hdbscan_fit.py --data "$data_dir") ;;
        *) die "unknown row '$1' in ROWS (rows: $ALL_ROWS)" ;;
    esac
}

cd "$repo"
prepare_outputs compare
rows_file="$out_dir/rows.tsv"
: >"$rows_file"

benches=()
for row in $ROWS; do
    describe_row "$row"
    printf '%s\t%s\n' "$row" "$label" >>"$rows_file"
    [[ " ${benches[*]-} " == *" --bench $bench "* ]] || benches+=(--bench "$bench")
done
[[ -s $rows_file ]] || die "ROWS is empty (rows: $ALL_ROWS)"

write_cluster_data once
echo "compare.sh: building the benches (${benches[*]})" >&2
"$CARGO" bench --no-run "${benches[@]}" >"$log_dir/build.log" 2>&1 || fail_with_log "cargo bench --no-run" "$log_dir/build.log"

set_run_args --noplot

run_reference() {
    local row=$1 round=$2 log="$log_dir/$1-r$2-reference.log" ns
    env OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS" OPENBLAS_NUM_THREADS="$THREADS" \
        "$PY" "$anchors/${anchor[0]}" "${anchor[@]:1}" "${anchor_args[@]}" >"$log" 2>&1 \
        || fail_with_log "${anchor[*]}" "$log"
    ns=$(reference_median "$log")
    printf '%s\treference\t%s\t%s\n' "$row" "$round" "$ns" >>"$results"
    echo "compare.sh: round $round $row reference: $((ns / 1000)) µs" >&2
}

run_bench() {
    local row=$1 round=$2 log="$log_dir/$1-r$2-detaux.log" est="$crit_dir/$crit_id/new/estimates.json" ns
    rm -f "$est"
    DETAUX_ANCHOR_DATA="$data_dir" "$CARGO" bench --bench "$bench" -- "${crit_args[@]}" --exact "$crit_id" \
        >"$log" 2>&1 || fail_with_log "cargo bench --bench $bench -- --exact $crit_id" "$log"
    ns=$(bench_median "cargo bench --bench $bench" "$log" "$est")
    printf '%s\tdetaux\t%s\t%s\n' "$row" "$round" "$ns" >>"$results"
    echo "compare.sh: round $round $row detaux: $((ns / 1000)) µs" >&2
}

for ((round = 1; round <= ROUNDS; round++)); do
    for row in $ROWS; do
        describe_row "$row"
        if ((round % 2 == 1)); then
            run_reference "$row" "$round"
            run_bench "$row" "$round"
        else
            run_bench "$row" "$round"
            run_reference "$row" "$round"
        fi
    done
done

report_header
{
    echo "$header"
    echo "CPU (lscpu): $cpu"
    echo
    "$PY" "$anchors/table.py" "$results" "$rows_file"
} | tee "$out_dir/table.md"

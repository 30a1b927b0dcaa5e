#!/usr/bin/env bash
# Scaling curves of detaux's hot loops next to PyTorch, scikit-learn and the `hdbscan` package:
# time per call and peak RSS against the problem size.
#
#   tools/curves.sh [PYTHON]          (or PY=PYTHON tools/curves.sh)
#
# PYTHON must have the packages of tools/anchors/requirements.txt (matplotlib for the plots).
# For every point of every curve, each round runs the reference measurement (tools/anchors/*.py
# at that size) and the matching criterion bench point (the size given to the bench through the
# environment), one after the other, the order alternating between rounds, each process under
# /usr/bin/time for its peak RSS. The table gives, per side and point, the median over rounds of
# the per-round medians (and their range), the ratio detaux / reference and the largest peak RSS.
#
#   curve         x   detaux bench: criterion id (size variables)            reference
#   stage1_batch  B   train_step: stage1_train_step_curve/b<B>-<T>t           torch_steps.py --which stage1 --batch B
#                     (DETAUX_BENCH_BATCH=B)
#   lloyd_n       n   kmeans: lloyd_iteration_curve/n<n>-k<LLOYD_K>-<T>t      sklearn_kmeans.py --which lloyd --n n --k LLOYD_K
#                     (DETAUX_BENCH_N=n DETAUX_BENCH_K=LLOYD_K)
#   lloyd_k       k   kmeans: lloyd_iteration_curve/n<LLOYD_N>-k<k>-<T>t      sklearn_kmeans.py --which lloyd --n LLOYD_N --k k
#                     (DETAUX_BENCH_N=LLOYD_N DETAUX_BENCH_K=k)
#   hdbscan_n     n   hdbscan: hdbscan_fit_curve/n<n>-<T>t (DETAUX_BENCH_N=n) hdbscan_fit.py --n n
#
# Environment:
#   PY=PYTHON      the Python (or the first argument)
#   THREADS=T      threads on both sides, 1 or 2 (the benches' pools), default 2
#   ROUNDS=R       interleaved rounds, default 3 (1 with QUICK=1)
#   QUICK=1        a short check that every point runs: criterion --quick, few reference calls
#   CURVES="..."   a subset of the curves above, in the order given (default all)
#   BATCHES="8 32 128"                                       stage1_batch: pairs of 64×64×3 images
#   LLOYD_NS="10000 30000 100000 300000 1000000 3000000 4800000"  lloyd_n: rows (d = 10)
#   LLOYD_K=64                                               lloyd_n: centres
#   LLOYD_KS="8 16 32 64 128 256"                            lloyd_k: centres
#   LLOYD_N=480000                                           lloyd_k: rows
#   HDBSCAN_NS="10000 20000 50000 100000 200000 360000"      hdbscan_n: rows (d = 10, min cluster size 200)
#   TIME_CAP=S     seconds, default 600: a side whose median at a point is above S per call, or
#                  whose measurement of a point runs longer than 4·S (reference: its warm-up and
#                  at least 3 timed calls) or 12·S (criterion: its warm-up and 10 samples) and is
#                  stopped, skips that point and the larger ones of the curve in every later round
#   CARGO=cargo    the cargo to run (prefix the script with `nice` etc. as needed)
#
# The clustering data is written once by tools/anchors/cluster_data.py under
# <target dir>/compare/data (shared with tools/compare.sh) and given to the benches as
# DETAUX_ANCHOR_DATA, so both sides time the same numbers. The benches run as their executables
# (not through cargo), so that the peak RSS is the bench process's own. Logs of every run, the
# raw results (results.tsv), the table (curves.md) and one plot per curve (<curve>.png) go to
# <target dir>/compare/curves/.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh" curves.sh

read_settings "$@"
ALL_CURVES="stage1_batch lloyd_n lloyd_k hdbscan_n"
CURVES=${CURVES:-$ALL_CURVES}
BATCHES=${BATCHES-8 32 128}
LLOYD_NS=${LLOYD_NS-10000 30000 100000 300000 1000000 3000000 4800000}
LLOYD_K=${LLOYD_K:-64}
LLOYD_KS=${LLOYD_KS-8 16 32 64 128 256}
LLOYD_N=${LLOYD_N:-480000}
HDBSCAN_NS=${HDBSCAN_NS-10000 20000 50000 100000 200000 360000}
TIME_CAP=${TIME_CAP:-600}

check_settings
[[ $TIME_CAP =~ ^[1-9][0-9]*$ ]] || die "TIME_CAP must be a positive number of seconds, got '$TIME_CAP'"
command -v "$CARGO" >/dev/null 2>&1 || die "CARGO=$CARGO is not an executable"
[[ -x /usr/bin/time ]] || die "/usr/bin/time (GNU time) is needed for the peak RSS"
command -v timeout >/dev/null 2>&1 || die "timeout (coreutils) is needed for TIME_CAP"

# check_sizes NAME MIN MAX VALUES: every value an integer in MIN..=MAX (the benches' bounds).
check_sizes() {
    local name=$1 min=$2 max=$3 v
    shift 3
    [[ $# -gt 0 ]] || die "$name is empty"
    for v in "$@"; do
        if [[ ! $v =~ ^[1-9][0-9]*$ ]] || ((v < min || v > max)); then
            die "$name: every size must be an integer in $min..=$max, got '$v'"
        fi
    done
}
# shellcheck disable=SC2086
{
    check_sizes BATCHES 2 1024 $BATCHES
    check_sizes LLOYD_NS 1000 10000000 $LLOYD_NS
    check_sizes LLOYD_K 8 4096 $LLOYD_K
    check_sizes LLOYD_KS 8 4096 $LLOYD_KS
    check_sizes LLOYD_N 1000 10000000 $LLOYD_N
    check_sizes HDBSCAN_NS 1000 10000000 $HDBSCAN_NS
}
for n in $LLOYD_NS; do ((LLOYD_K <= n)) || die "LLOYD_K = $LLOYD_K is more than the $n rows of a LLOYD_NS point"; done
for k in $LLOYD_KS; do ((k <= LLOYD_N)) || die "a LLOYD_KS point ($k) is more than LLOYD_N = $LLOYD_N"; done

check_python_packages matplotlib

# One curve: its label, axis, bench and sizes.
describe_curve() {
    case $1 in
        stage1_batch)
            label="stage-1 training step vs batch size, pairs of 64×64×3 (PyTorch)"
            axis="batch size (pairs)" bench=train_step sizes=$BATCHES ;;
        lloyd_n)
            label="Lloyd iteration vs n, d = 10, k = $LLOYD_K (scikit-learn)"
            axis="n (rows)" bench=kmeans sizes=$LLOYD_NS ;;
        lloyd_k)
            label="Lloyd iteration vs k, $LLOYD_N × 10 (scikit-learn)"
            axis="k (centres)" bench=kmeans sizes=$LLOYD_KS ;;
        hdbscan_n)
            label="HDBSCAN fit vs n, d = 10, min cluster size 200 (hdbscan)"
            axis="n (rows)" bench=hdbscan sizes=$HDBSCAN_NS ;;
        *) die "unknown curve '$1' in CURVES (curves: $ALL_CURVES)" ;;
    esac
}

# One point of a curve: its criterion id, the bench's size variables and the reference command.
describe_point() {
    local x=$2
    case $1 in
        stage1_batch)
            crit_id="stage1_train_step_curve/b$x-${THREADS}t"
            bench_env=(DETAUX_BENCH_BATCH="$x")
            anchor=(torch_steps.py --which stage1 --batch "$x") ;;
        lloyd_n)
            crit_id="lloyd_iteration_curve/n$x-k$LLOYD_K-${THREADS}t"
            bench_env=(DETAUX_BENCH_N="$x" DETAUX_BENCH_K="$LLOYD_K")
            anchor=(sklearn_kmeans.py --which lloyd --data "$data_dir" --n "$x" --k "$LLOYD_K") ;;
        lloyd_k)
            crit_id="lloyd_iteration_curve/n$LLOYD_N-k$x-${THREADS}t"
            bench_env=(DETAUX_BENCH_N="$LLOYD_N" DETAUX_BENCH_K="$x")
            anchor=(sklearn_kmeans.py --which lloyd --data "$data_dir" --n "$LLOYD_N" --k "$x") ;;
        hdbscan_n)
            crit_id="hdbscan_fit_curve/n$x-${THREADS}t"
            bench_env=(DETAUX_BENCH_N="$x")
            anchor=(hdbscan_fit.py --data "$data_dir" --n "$x") ;;
    esac
}

cd "$repo"
prepare_outputs compare/curves
curves_file="$out_dir/curves.tsv"
: >"$curves_file"

benches=()
kmeans_sizes=()
hdbscan_sizes=()
for curve in $CURVES; do
    describe_curve "$curve"
    printf '%s\t%s\t%s\n' "$curve" "$label" "$axis" >>"$curves_file"
    [[ " ${benches[*]-} " == *" --bench $bench "* ]] || benches+=(--bench "$bench")
    for x in $sizes; do
        case $curve in
            lloyd_n) kmeans_sizes+=("$x:$LLOYD_K") ;;
            lloyd_k) kmeans_sizes+=("$LLOYD_N:$x") ;;
            hdbscan_n) hdbscan_sizes+=("$x") ;;
        esac
    done
done
[[ -s $curves_file ]] || die "CURVES is empty (curves: $ALL_CURVES)"

if ((${#kmeans_sizes[@]} + ${#hdbscan_sizes[@]} > 0)); then
    data_args=()
    ((${#kmeans_sizes[@]} == 0)) || data_args+=(--kmeans "${kmeans_sizes[@]}")
    ((${#hdbscan_sizes[@]} == 0)) || data_args+=(--hdbscan "${hdbscan_sizes[@]}")
    write_cluster_data "files already there are kept" "${data_args[@]}"
fi
echo "curves.sh: building the benches (${benches[*]})" >&2
"$CARGO" bench --no-run --message-format=json-render-diagnostics "${benches[@]}" \
    >"$log_dir/build.json" 2>"$log_dir/build.log" || fail_with_log "cargo bench --no-run" "$log_dir/build.log"
# The executable of each bench: `name<TAB>path` lines.
"$PY" - "$log_dir/build.json" >"$log_dir/executables.tsv" <<'PYEOF' || die "cannot read the bench executables from $log_dir/build.json"
import json, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and "bench" in m["target"]["kind"] and m.get("executable"):
        print(f'{m["target"]["name"]}\t{m["executable"]}')
PYEOF

bench_exe() {
    exe=$(awk -F '\t' -v b="$1" '$1 == b { p = $2 } END { print p }' "$log_dir/executables.tsv")
    [[ -n $exe && -x $exe ]] || die "cargo built no executable for the bench '$1' (see $log_dir/build.json)"
}

set_run_args --bench --noplot

# timed LIMIT LOG RSS_FILE COMMAND...: runs COMMAND with its output to LOG, its peak RSS (KiB)
# written to RSS_FILE, stopped after LIMIT seconds. Returns COMMAND's status (124: stopped).
timed() {
    local limit=$1 log=$2 rss=$3
    shift 3
    rm -f "$rss"
    # In the background, so that an interrupt of this script can stop it (timeout runs its
    # command in a process group of its own, out of reach of the terminal's Ctrl-C).
    timeout --kill-after=30 "$limit" /usr/bin/time -f '%M' -o "$rss" "$@" >"$log" 2>&1 &
    child=$!
    wait "$child"
}
child=
trap 'if [[ -n $child ]]; then kill -TERM "$child" 2>/dev/null || true; fi; exit 130' INT TERM

# peak_rss RSS_FILE LOG: the KiB that /usr/bin/time wrote (its last line).
peak_rss() {
    local kib
    kib=$(tail -n 1 "$1" 2>/dev/null || true)
    [[ $kib =~ ^[0-9]+$ ]] || fail_with_log "/usr/bin/time (no peak RSS in $1)" "$2"
    echo "$kib"
}

# Points over the cap, per curve and side: the smallest such x; that point and larger ones are skipped.
declare -A capped=()

# record CURVE X SIDE ROUND NS KIB STATUS: one results line; a median above TIME_CAP caps the side.
record() {
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$6" >>"$results"
    if [[ $5 == stopped ]] || (($5 > TIME_CAP * 1000000000)); then
        capped["$1/$3"]=$2
        echo "curves.sh: $1 $3 is over the ${TIME_CAP} s cap at $2; its larger points are skipped" >&2
    fi
}

is_capped() {
    local key="$1/$3"
    [[ -n ${capped[$key]-} ]] && (($2 >= ${capped[$key]}))
}

show_ns() { awk -v ns="$1" 'BEGIN { if (ns >= 1e9) printf "%.2f s", ns / 1e9; else if (ns >= 1e6) printf "%.2f ms", ns / 1e6; else printf "%.1f µs", ns / 1e3 }'; }

run_reference() {
    local curve=$1 x=$2 round=$3 log="$log_dir/$1-$2-r$3-reference.log" rss="$log_dir/$1-$2-r$3-reference.rss"
    local ns kib status=0
    timed $((4 * TIME_CAP + 60)) "$log" "$rss" \
        env OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS" OPENBLAS_NUM_THREADS="$THREADS" \
        "$PY" "$anchors/${anchor[0]}" "${anchor[@]:1}" "${anchor_args[@]}" || status=$?
    if ((status == 124 || status == 137)); then
        record "$curve" "$x" reference "$round" stopped -
        return
    fi
    ((status == 0)) || fail_with_log "${anchor[*]}" "$log"
    ns=$(reference_median "$log")
    kib=$(peak_rss "$rss" "$log")
    echo "curves.sh: round $round $curve $x reference: $(show_ns "$ns"), peak RSS $((kib / 1024)) MiB" >&2
    record "$curve" "$x" reference "$round" "$ns" "$kib"
}

run_bench() {
    local curve=$1 x=$2 round=$3 log="$log_dir/$1-$2-r$3-detaux.log" rss="$log_dir/$1-$2-r$3-detaux.rss"
    local est="$crit_dir/$crit_id/new/estimates.json" ns kib status=0
    rm -f "$est"
    timed $((12 * TIME_CAP + 60)) "$log" "$rss" \
        env CRITERION_HOME="$crit_dir" DETAUX_ANCHOR_DATA="$data_dir" "${bench_env[@]}" \
        "$exe" "${crit_args[@]}" --exact "$crit_id" || status=$?
    if ((status == 124 || status == 137)); then
        record "$curve" "$x" detaux "$round" stopped -
        return
    fi
    ((status == 0)) || fail_with_log "${bench_env[*]} $bench bench -- --exact $crit_id" "$log"
    ns=$(bench_median "the $bench bench" "$log" "$est")
    kib=$(peak_rss "$rss" "$log")
    echo "curves.sh: round $round $curve $x detaux: $(show_ns "$ns"), peak RSS $((kib / 1024)) MiB" >&2
    record "$curve" "$x" detaux "$round" "$ns" "$kib"
}

for ((round = 1; round <= ROUNDS; round++)); do
    for curve in $CURVES; do
        describe_curve "$curve"
        bench_exe "$bench"
        for x in $sizes; do
            describe_point "$curve" "$x"
            if ((round % 2 == 1)); then sides="reference detaux"; else sides="detaux reference"; fi
            for side in $sides; do
                if is_capped "$curve" "$x" "$side"; then
                    echo "curves.sh: round $round $curve $x $side: skipped (over the cap at ${capped[$curve/$side]})" >&2
                elif [[ $side == reference ]]; then
                    run_reference "$curve" "$x" "$round"
                else
                    run_bench "$curve" "$x" "$round"
                fi
            done
        done
    done
done

report_header
header="$header; time cap ${TIME_CAP} s"
"$PY" "$anchors/curves_report.py" "$results" "$curves_file" "$out_dir" \
    --title "$header" --cpu "$cpu" >"$out_dir/curves.md" 2>"$log_dir/report.log" \
    || fail_with_log "tools/anchors/curves_report.py" "$log_dir/report.log"
cat "$out_dir/curves.md"
echo "curves.sh: the table is $out_dir/curves.md, the plots $out_dir/<curve>.png" >&2

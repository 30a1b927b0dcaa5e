#!/usr/bin/env python
"""`hdbscan` package side of tools/compare.sh and tools/curves.sh: one HDBSCAN fit, timed.

    python tools/anchors/hdbscan_fit.py --data DIR [--n N] [--threads T] [--quick]

benches/hdbscan.rs `hdbscan_fit_50000x10_mcs200/T` (other N: `hdbscan_fit_curve/nN-Tt`):
hdbscan.HDBSCAN(min_cluster_size=200, core_dist_n_jobs=T).fit(X) on the N x 10 float32 blobs
of tools/anchors/cluster_data.py in DIR (default N = 50 000; min_samples defaults to
min_cluster_size on both sides; the package picks its Boruvka k-d tree for this low
dimension).

Threads: core_dist_n_jobs = T and threadpoolctl.threadpool_limits(T). Timing
(tools/anchors/timing.py): a warm-up fit on the first 5 000 rows, then the median of
individually timed fits (at least 3 fits and 3 s; --quick: one fit).
"""
from importlib.metadata import version

import hdbscan
from threadpoolctl import threadpool_limits

import cluster_data
import timing

MIN_CLUSTER_SIZE = 200


def main():
    p = timing.parser(__doc__.splitlines()[1])
    p.add_argument("--data", required=True, help="directory written by tools/anchors/cluster_data.py")
    p.add_argument("--n", type=int, default=cluster_data.HDBSCAN_N, help="rows (default %(default)s)")
    args = p.parse_args()
    timing.check_threads(args.threads)
    x = cluster_data.load(args.data, cluster_data.hdbscan_x(args.n))

    def fit(rows):
        def fn():
            model = hdbscan.HDBSCAN(min_cluster_size=MIN_CLUSTER_SIZE, core_dist_n_jobs=args.threads).fit(rows)
            if model.labels_.max() < 1:
                raise SystemExit("error: hdbscan found fewer than 2 clusters on the blobs")
            return None
        return fn

    with threadpool_limits(limits=args.threads):
        times = timing.time_fits(fit, x, quick=args.quick, warm_rows=5_000)
    timing.report("hdbscan fit", times, threads=args.threads, hdbscan=version("hdbscan"))


if __name__ == "__main__":
    main()

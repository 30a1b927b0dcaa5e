#!/usr/bin/env python
"""scikit-learn side of tools/compare.sh and tools/curves.sh: a Lloyd iteration or k-means++ seeding, timed.

    python tools/anchors/sklearn_kmeans.py --which lloyd|plusplus --data DIR [--n N] [--k K]
        [--threads T] [--quick]

On the files of tools/anchors/cluster_data.py in DIR (N x 10 float32, default N = 480 000;
k = K, default 64):
  lloyd     benches/kmeans.rs `lloyd_iteration/T` (other N or K: `lloyd_iteration_curve/nN-kK-Tt`):
            KMeans(n_clusters=K, init=<the k-means++ centres in DIR>, n_init=1, max_iter=100,
            tol=0, algorithm="lloyd").fit(X); one call's time divided by the iterations it ran
            (n_iter_), so a per-iteration time (the fit's input checks and final relabelling are
            spread over its 100 iterations)
  plusplus  benches/kmeans.rs `kmeans_plusplus/T`: sklearn.cluster.kmeans_plusplus(X, K),
            greedy with scikit-learn's default 2 + ln(k) local trials

Threads: threadpoolctl.threadpool_limits(T) (OpenMP and BLAS). Timing
(tools/anchors/timing.py): a warm-up call on the first 20 000 rows, then the median of
individually timed calls (at least 3 calls and 3 s; --quick: one call, Lloyd with 10 iterations).
"""
import numpy as np
import sklearn
from sklearn.cluster import KMeans, kmeans_plusplus
from threadpoolctl import threadpool_limits

import cluster_data
import timing


def main():
    p = timing.parser(__doc__.splitlines()[1])
    p.add_argument("--which", choices=["lloyd", "plusplus"], required=True)
    p.add_argument("--data", required=True, help="directory written by tools/anchors/cluster_data.py")
    p.add_argument("--n", type=int, default=cluster_data.KMEANS_N, help="rows (default %(default)s)")
    p.add_argument("--k", type=int, default=cluster_data.KMEANS_K, help="clusters (default %(default)s)")
    args = p.parse_args()
    timing.check_threads(args.threads)
    x = cluster_data.load(args.data, cluster_data.kmeans_x(args.n))
    init = cluster_data.load(args.data, cluster_data.kmeans_init(args.n, args.k))
    max_iter = 10 if args.quick else 100
    seed = np.random.RandomState(2)

    def lloyd(rows):
        def fn():
            km = KMeans(n_clusters=args.k, init=init, n_init=1, max_iter=max_iter, tol=0.0, algorithm="lloyd")
            km.fit(rows)
            return km.n_iter_
        return fn

    def plusplus(rows):
        def fn():
            kmeans_plusplus(rows, n_clusters=args.k, random_state=seed)
            return None
        return fn

    make = lloyd if args.which == "lloyd" else plusplus
    with threadpool_limits(limits=args.threads):
        times = timing.time_fits(make, x, quick=args.quick, warm_rows=20_000)
    timing.report(f"scikit-learn {args.which}", times, threads=args.threads, sklearn=sklearn.__version__)


if __name__ == "__main__":
    main()

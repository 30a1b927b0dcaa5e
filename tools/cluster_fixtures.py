#!/usr/bin/env python
"""Writes the stage-2 clustering fixtures to tests/fixtures/cluster/ (not run by CI).

    python tools/cluster_fixtures.py [--out tests/fixtures/cluster]

scikit-learn 1.9.1 and hdbscan 0.8.44.

k-means (`kmeans_*`): gaussian blobs n=10 000, d=10, k=8 (make_blobs, cluster_std=4.0,
random_state=42), float32; initial centres from sklearn's kmeans_plusplus(random_state=0);
KMeans(n_clusters=8, init=<those>, n_init=1, max_iter=300, tol=1e-4, algorithm="lloyd").
Files: X, init centres, labels (int64), final centres, [inertia, n_iter] (float64).

HDBSCAN (`hdb{1,2,3}_*`): hdbscan.HDBSCAN(min_cluster_size=..., min_samples=..., prediction_data=True)
labels_ and probabilities_ on X, and approximate_predict on new points Q:
  hdb1: 5 blobs, n=3000, d=10, std 1.0, min_cluster_size=50 (no noise expected)
  hdb2: 4 blobs of different spread, n=2400, d=5, plus 600 uniform noise points, min_cluster_size=30
  hdb3: two moons + a blob in 2-D (n=2300), min_cluster_size=25, min_samples=10
Params: [min_cluster_size, min_samples or -1] (int64).
"""

import argparse
import os

import numpy as np
import hdbscan
from sklearn.cluster import KMeans, kmeans_plusplus
from sklearn.datasets import make_blobs, make_moons


def save(out, name, arr):
    np.save(os.path.join(out, name + ".npy"), arr)


def kmeans_fixture(out):
    X, _ = make_blobs(n_samples=10_000, n_features=10, centers=8, cluster_std=4.0, random_state=42)
    X = np.ascontiguousarray(X, dtype=np.float32)
    init, _ = kmeans_plusplus(X, n_clusters=8, random_state=0)
    km = KMeans(n_clusters=8, init=init, n_init=1, max_iter=300, tol=1e-4, algorithm="lloyd").fit(X)
    save(out, "kmeans_x", X)
    save(out, "kmeans_init", init.astype(np.float32))
    save(out, "kmeans_labels", km.labels_.astype(np.int64))
    save(out, "kmeans_centres", km.cluster_centers_.astype(np.float32))
    save(out, "kmeans_meta", np.array([km.inertia_, km.n_iter_], dtype=np.float64))
    print(f"kmeans: inertia {km.inertia_:.6f} n_iter {km.n_iter_}")


def hdb_fixture(out, name, X, Q, mcs, ms):
    X = np.ascontiguousarray(X, dtype=np.float32)
    Q = np.ascontiguousarray(Q, dtype=np.float32)
    h = hdbscan.HDBSCAN(min_cluster_size=mcs, min_samples=ms, prediction_data=True).fit(X)
    pl, pp = hdbscan.approximate_predict(h, Q)
    save(out, f"{name}_x", X)
    save(out, f"{name}_labels", h.labels_.astype(np.int64))
    save(out, f"{name}_probs", h.probabilities_.astype(np.float64))
    save(out, f"{name}_q", Q)
    save(out, f"{name}_qlabels", np.asarray(pl).astype(np.int64))
    save(out, f"{name}_qprobs", np.asarray(pp).astype(np.float64))
    save(out, f"{name}_params", np.array([mcs, -1 if ms is None else ms], dtype=np.int64))
    nc = len(set(h.labels_.tolist()) - {-1})
    print(f"{name}: n={len(X)} clusters {nc} noise {(h.labels_ == -1).sum()} "
          f"pred noise {(np.asarray(pl) == -1).sum()}/{len(Q)}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "cluster"))
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    kmeans_fixture(args.out)

    rng = np.random.RandomState(7)
    X1, _ = make_blobs(n_samples=3000, n_features=10, centers=5, cluster_std=1.0, random_state=1)
    Q1 = np.vstack([X1[rng.choice(len(X1), 150, replace=False)] + rng.normal(0, 0.5, (150, 10)),
                    rng.uniform(X1.min(0), X1.max(0), (50, 10))])
    hdb_fixture(args.out, "hdb1", X1, Q1, 50, None)

    X2, _ = make_blobs(n_samples=2400, n_features=5, centers=4, cluster_std=[0.5, 1.0, 1.5, 0.8],
                       center_box=(-10, 10), random_state=3)
    noise = rng.uniform(X2.min(0) - 2, X2.max(0) + 2, (600, 5))
    X2 = np.vstack([X2, noise])
    X2 = X2[rng.permutation(len(X2))]
    Q2 = np.vstack([X2[rng.choice(len(X2), 150, replace=False)] + rng.normal(0, 0.3, (150, 5)),
                    rng.uniform(X2.min(0), X2.max(0), (50, 5))])
    hdb_fixture(args.out, "hdb2", X2, Q2, 30, None)

    Xm, _ = make_moons(n_samples=1800, noise=0.07, random_state=5)
    Xb, _ = make_blobs(n_samples=500, n_features=2, centers=[[2.5, 1.8]], cluster_std=0.15, random_state=5)
    X3 = np.vstack([Xm, Xb])
    Q3 = np.vstack([X3[rng.choice(len(X3), 150, replace=False)] + rng.normal(0, 0.05, (150, 2)),
                    rng.uniform(X3.min(0), X3.max(0), (50, 2))])
    hdb_fixture(args.out, "hdb3", X3, Q3, 25, 10)


if __name__ == "__main__":
    main()

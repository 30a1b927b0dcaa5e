#!/usr/bin/env python
"""The data of the clustering comparisons of tools/compare.sh, written once as .npy files.

    python tools/anchors/cluster_data.py DIR

Writes into DIR (skipping files already there), all float32 C-order:
  kmeans_blobs_480000x10_f32.npy       make_blobs: 480 000 x 10, 16 centres uniform in [-10, 10]^10,
                                       std 8, random_state 0 (overlapping blobs, so Lloyd runs
                                       every iteration it is given)
  kmeans_blobs_480000x10_k64_init.npy  scikit-learn's k-means++ centres for k = 64 on it
                                       (random_state 0), the start of the Lloyd iterations
  hdbscan_blobs_50000x10_f32.npy       make_blobs: 50 000 x 10, 8 centres uniform in [-10, 10]^10,
                                       std 1, random_state 0
These are the files benches/kmeans.rs and benches/hdbscan.rs read from `DETAUX_ANCHOR_DATA`,
so both sides of a row time the same numbers.
"""
import os
import sys

import numpy as np
from sklearn.cluster import kmeans_plusplus
from sklearn.datasets import make_blobs

KMEANS_X = "kmeans_blobs_480000x10_f32.npy"
KMEANS_INIT = "kmeans_blobs_480000x10_k64_init.npy"
HDBSCAN_X = "hdbscan_blobs_50000x10_f32.npy"


def blobs(n, centres, std):
    x, _ = make_blobs(n_samples=n, n_features=10, centers=centres, cluster_std=std, center_box=(-10.0, 10.0),
                      random_state=0)
    return np.ascontiguousarray(x, dtype=np.float32)


def load(directory, name):
    path = os.path.join(directory, name)
    if not os.path.exists(path):
        sys.exit(f"error: {path} is missing; write it with tools/anchors/cluster_data.py {directory}")
    x = np.load(path)
    if x.dtype != np.float32 or x.ndim != 2:
        sys.exit(f"error: {path}: expected a 2-D float32 array, got {x.dtype} {x.shape}")
    return np.ascontiguousarray(x)


def main():
    if len(sys.argv) != 2 or sys.argv[1].startswith("-"):
        sys.exit("usage: cluster_data.py DIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)

    def write(name, make):
        path = os.path.join(out, name)
        if os.path.exists(path):
            return
        tmp = path + ".tmp.npy"
        np.save(tmp, make())
        os.replace(tmp, path)
        print(f"wrote {path}", file=sys.stderr)

    write(KMEANS_X, lambda: blobs(480_000, 16, 8.0))
    write(KMEANS_INIT, lambda: np.ascontiguousarray(
        kmeans_plusplus(load(out, KMEANS_X), n_clusters=64, random_state=0)[0], dtype=np.float32))
    write(HDBSCAN_X, lambda: blobs(50_000, 8, 1.0))


if __name__ == "__main__":
    main()

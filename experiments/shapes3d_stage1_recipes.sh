#!/usr/bin/env bash
# Stage 1 alone on 48 000 procedural 3DShapes images: the long recipes that isolate object hue
# (20 000 steps) and shape (8 000 steps) in subspace 0. Prints each run's probe table.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${DETAUX_EXPERIMENTS_OUT:-$ROOT/runs/experiments}"
THREADS="${DETAUX_THREADS:-2}"
(cd "$ROOT" && cargo build --release --quiet)
D="$ROOT/target/release/detaux"
"$D" disentangle --dataset shapes3d-synth:48000 --principal object_hue --pairs minimal \
    --epochs 10 --pairs-per-epoch 64000 --lambda-consistency 1 --threads "$THREADS" \
    --out "$OUT/s1-object-hue" >/dev/null 2>&1
cat "$OUT/s1-object-hue/probe.json"
"$D" disentangle --dataset shapes3d-synth:48000 --principal shape --pairs minimal \
    --epochs 10 --pairs-per-epoch 25600 --lambda-consistency 1 --lambda-distance 30 --seed 99 \
    --threads "$THREADS" --out "$OUT/s1-shape" >/dev/null 2>&1
cat "$OUT/s1-shape/probe.json"

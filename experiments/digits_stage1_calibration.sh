#!/usr/bin/env bash
# The stage-1 calibration behind the digits preset: stage 1 alone on a scarce subset of the
# digits (--val-fraction leaves 287 or 229 training images; the rest is held out and probed),
# seed 1234, 1 thread per run. Prints s0's probe accuracy on the digit and the best other
# subspace's. The probe here is stage 1's own: a 50/50 k-NN split of the held-out images.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${DETAUX_EXPERIMENTS_OUT:-$ROOT/runs/experiments}/digits-stage1"
(cd "$ROOT" && cargo build --release --quiet)
mkdir -p "$OUT"
echo "| training images | steps | λ_dist | λ_cons | lr | s0 on digit | best other subspace |"
echo "|---|---|---|---|---|---|---|"
while read -r name val steps ld lr; do
    pairs=$((steps * 32 / 10))
    "$ROOT/target/release/detaux" disentangle --dataset digits --val-fraction "$val" \
        --lambda-distance "$ld" --lambda-consistency 1 --epochs 10 --pairs-per-epoch "$pairs" \
        --lr "$lr" --threads 1 --out "$OUT/$name" >/dev/null 2>&1
    # probe.json lists the chance level first, then subspaces 0..9.
    accs=$(grep -o '"label": *[0-9.]*' "$OUT/$name/probe.json" | sed 's/.*: *//' | tail -n +2)
    s0=$(echo "$accs" | head -n 1)
    other=$(echo "$accs" | tail -n +2 | sort -g | tail -n 1)
    train=$(grep -o '"train": *[0-9]*' "$OUT/$name/run.json" | head -n 1 | sed 's/.*: *//')
    printf '| %s | %s | %s | 1 | %s | %.3f | %.3f |\n' "${train:-?}" "$steps" "$ld" "$lr" "$s0" "$other"
done <<'RUNS'
a 0.84 1200 30 5e-4
b 0.84 1200 30 1e-3
c 0.872 2000 30 5e-4
d 0.872 2000 100 5e-4
RUNS

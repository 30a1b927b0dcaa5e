#!/usr/bin/env bash
# How the shapes3d preset was chosen: one seed (1234) of stage 1 per candidate recipe, probed on
# the test split (stage 3 cut to one epoch without oracle arms: only the probe matters here).
# Prints each run's verdict and probe table.
. "$(dirname "$0")/common.sh"
PROBE=(--preset shapes3d --seeds 1 --epochs 1 --oracle-aux none)
# Every row names its stage-1 budget; the 30 000-step rows use 96 000 pairs per epoch.
run_experiment s3d-cal-shape-16 "${PROBE[@]}" --image-size 16 --principal shape --train-fraction 0.5 --lambda-distance 30 --pairs-per-epoch 25600
run_experiment s3d-cal-shape-32 "${PROBE[@]}" --principal shape --train-fraction 0.5 --lambda-distance 30 --pairs-per-epoch 25600 --image-size 32
run_experiment s3d-cal-hue-half "${PROBE[@]}" --image-size 16 --train-fraction 0.5 --pairs-per-epoch 64000
run_experiment s3d-cal-hue-full "${PROBE[@]}" --image-size 16 --pairs-per-epoch 64000
run_experiment s3d-cal-hue-full-1235 "${PROBE[@]}" --image-size 16 --pairs-per-epoch 64000 --seed 1235
# The preset's own budget (30 000 steps) with a stronger distance term, to push the object's
# scale out of s0.
run_experiment s3d-cal-hue-dist3 "${PROBE[@]}" --image-size 16 --lambda-distance 3 --pairs-per-epoch 96000
# The preset's recipe at a 32 x 32 input (the preset's side), where the object's geometry has
# room in the other subspaces; every row above is at 16 x 16.
run_experiment s3d-cal-hue-32 "${PROBE[@]}" --image-size 32 --pairs-per-epoch 96000
for name in s3d-cal-shape-16 s3d-cal-shape-32 s3d-cal-hue-half s3d-cal-hue-full s3d-cal-hue-full-1235 \
    s3d-cal-hue-dist3 s3d-cal-hue-32; do
    echo "### $name: probe"
    sed -n '/^### Seed /,/^## Discovered/p' "$OUT_ROOT/$name/report.md" | sed '$d'
done

#!/usr/bin/env bash
# Experiment (d): procedural dSprites (24 000 images) at 32 x 32, shape as the principal factor,
# the stage-1 recipe that isolates shape on 3DShapes (minimal pairs, lambda_dist 30, lambda_cons
# 1, 8 000 steps), scarce labels (5 % kept, 20 % of that for validation), 5 seeds; the
# reference's rule and the subspace carrying scale.
. "$(dirname "$0")/common.sh"
BASE=dsprites-shape
FLAGS=(--preset shapes3d --dataset dsprites-synth:24000 --principal shape --image-size 32 --train-fraction 0.05
    --lambda-distance 30 --pairs-per-epoch 25600 --seeds 5 --clustering kmeans:4)
run_experiment "$BASE" "${FLAGS[@]}"
run_variant "$BASE-carrying-scale" "$BASE" "${FLAGS[@]}" --subspace carrying:scale --oracle-aux none

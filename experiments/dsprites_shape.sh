#!/usr/bin/env bash
# Experiment (d): procedural dSprites (24 000 images) at 32 x 32, shape as the principal factor,
# the stage-1 recipe that isolates shape on 3DShapes (minimal pairs, lambda_dist 30, lambda_cons
# 1, 8 000 steps), scarce labels (5 % kept, 20 % of that for validation), 5 seeds. One stage 1
# per seed, shared by every variant: the reference's subspace rule; the subspace that best
# predicts each other factor on the validation split; k-means with k = 2, 4, 8, 16 and HDBSCAN
# (min cluster size 200, the reference's); the equal, uw and pcgrad weightings; and
# detaux-mtl-val.
. "$(dirname "$0")/common.sh"
BASE=dsprites-shape
FLAGS=(--preset shapes3d --dataset dsprites-synth:24000 --principal shape --image-size 32 --train-fraction 0.05
    --lambda-distance 30 --pairs-per-epoch 25600 --epochs 10 --seeds 5)
run_experiment "$BASE" "${FLAGS[@]}" --clustering kmeans:4
run_question_variants "$BASE" "scale orientation pos_x pos_y" "${FLAGS[@]}"

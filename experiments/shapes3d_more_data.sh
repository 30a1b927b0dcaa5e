#!/usr/bin/env bash
# Experiment (c): procedural 3DShapes, object hue as the principal factor, more labelled data
# (half of the training split of 24 000 images kept), stage 3 for 30 epochs, 5 seeds, the
# reference's rule and the subspace carrying scale, k-means k = 4.
. "$(dirname "$0")/common.sh"
BASE=shapes3d-more-data
run_experiment "$BASE" --preset shapes3d --seeds 5 --train-fraction 0.5 --epochs 30 --clustering kmeans:4
run_variant "$BASE-carrying-scale" "$BASE" --preset shapes3d --seeds 5 --train-fraction 0.5 --epochs 30 \
    --clustering kmeans:4 --subspace carrying:scale --oracle-aux none

#!/usr/bin/env bash
# Experiment (c): procedural 3DShapes, object hue as the principal factor, the shapes3d preset's
# full training split (17 891 images, 20 % of them for validation) with stage 3 for 30 epochs,
# 5 seeds, the reference's rule and the subspace carrying scale, k-means k = 4.
. "$(dirname "$0")/common.sh"
BASE=shapes3d-more-data
run_experiment "$BASE" --preset shapes3d --seeds 5 --epochs 30 --clustering kmeans:4
run_variant "$BASE-carrying-scale" "$BASE" --preset shapes3d --seeds 5 --epochs 30 \
    --clustering kmeans:4 --subspace carrying:scale --oracle-aux none

#!/usr/bin/env bash
# Experiment (d): procedural dSprites (24 000 images), shape as the principal factor, the
# shapes3d preset's stage-1 recipe (minimal pairs, λ_cons 1) and scarce labels (5 % kept, 20 % of
# that for validation), 5 seeds; the reference's rule and the subspace carrying scale.
. "$(dirname "$0")/common.sh"
BASE=dsprites-shape
run_experiment "$BASE" --preset shapes3d --dataset dsprites-synth:24000 --principal shape --seeds 5 --clustering kmeans:4
run_variant "$BASE-carrying-scale" "$BASE" --preset shapes3d --dataset dsprites-synth:24000 --principal shape --seeds 5 \
    --clustering kmeans:4 --subspace carrying:scale --oracle-aux none

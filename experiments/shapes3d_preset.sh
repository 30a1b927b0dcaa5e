#!/usr/bin/env bash
# The shapes3d preset as it ships (3 seeds): the paper's full-data setting on procedural
# 3DShapes, object hue as the principal factor, every oracle arm.
. "$(dirname "$0")/common.sh"
run_experiment shapes3d-preset --preset shapes3d

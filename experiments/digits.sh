#!/usr/bin/env bash
# Experiment (a): the digits preset (the full training split: 1 150 training images, 230 for
# validation, 360 tested) over 5 seeds.
. "$(dirname "$0")/common.sh"
run_experiment digits --preset digits --seeds 5

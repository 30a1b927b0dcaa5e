#!/usr/bin/env bash
# Experiment (a): the digits preset (scarce labels: 230 training images) over 5 seeds.
. "$(dirname "$0")/common.sh"
run_experiment digits --preset digits --seeds 5

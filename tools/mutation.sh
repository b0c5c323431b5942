#!/usr/bin/env bash
# The kept mutation run (docs/testing.md), not in CI. setup.cfg [mutmut] says what is mutated
# and by which tests; this picks a group, runs it and prints killed/survived per module.
#
#   tools/mutation.sh            every module in setup.cfg; results mutmut kept in mutants/ stand
#   tools/mutation.sh light      the TF-free modules (naming, params, layers, model_table,
#                                memory_budget, presets), rerun: ~10 min on 2 cores
#   tools/mutation.sh tf         the modules whose tests run TensorFlow (octaves, smoothing), rerun
#   tools/mutation.sh controls   the #22 controls (channel_pick, schedule, mask, settings_stamp,
#                                noise_input, noise, class_names, parameterization, classes), rerun
#   tools/mutation.sh core       the dream core (objective, gradients, ascent), rerun
#   tools/mutation.sh stages     the TF-free stage modules with unit tests (records, resume), rerun
#   tools/mutation.sh imaging    decoding and encoding (transforms/imaging.py), rerun: ~2 min
#   tools/mutation.sh 'transforms.naming.*' ...   mutmut's own name patterns, rerun
#
# mutmut starts a process per mutant (3-8 s of TensorFlow import each); the same mutants are
# checked in one process by tools/mutation_inproc.py (docs/testing.md: its caveats):
#   python tools/mutation_inproc.py prepare && python tools/mutation_inproc.py check 'transforms.dream.mask.*'
set -euo pipefail
cd "$(dirname "$0")/.."
export CUDA_VISIBLE_DEVICES="" TF_CPP_MIN_LOG_LEVEL=3

case "${1:-all}" in
  all) patterns=() ;;
  light) patterns=('transforms.naming.*' 'transforms.dream.params.*' 'transforms.dream.layers.*'
                   'transforms.dream.model_table.*' 'transforms.dream.memory_budget.*'
                   'transforms.dream.presets.*') ;;
  tf) patterns=('transforms.dream.octaves.*' 'transforms.dream.smoothing.*') ;;
  controls) patterns=('transforms.dream.channel_pick.*' 'transforms.dream.schedule.*' 'transforms.dream.mask.*'
                      'transforms.settings_stamp.*' 'transforms.noise_input.*' 'transforms.dream.noise.*'
                      'transforms.dream.class_names.*' 'transforms.dream.parameterization.*'
                      'transforms.dream.classes.*') ;;
  core) patterns=('transforms.dream.objective.*' 'transforms.dream.gradients.*' 'transforms.dream.ascent.*') ;;
  stages) patterns=('transforms.records.*' 'transforms.resume.*') ;;
  imaging) patterns=('transforms.imaging.*') ;;
  *) patterns=("$@") ;;
esac

mutmut run "${patterns[@]}"
python tools/mutation_summary.py --survivors

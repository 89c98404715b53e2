#!/usr/bin/env bash
# Retrains and re-exports the shipped joint model (audio and MIDI in one space), then
# evaluates it and rewrites its card, its results and the manifest:
#   bash tools/release/build_joint.sh
# 1. prepare the default corpus in nine renderings: the five soundfonts of tools/setup.sh
#    playing the piano, and four of them playing the parts as written (--instruments);
# 2. train JOINT (configs/joint.gin) on five of them (three pianos, two as written) with
#    drawn recording conditions, and MEL_MEL (on the same renderings and conditions, with
#    synthetic instruments and no feature workers) and SYM_SYM for as many steps, the
#    within-domain rows it is compared to;
# 3. export both towers to saved_models/joint (and model.tflite): the mean of the run's last
#    three checkpoints (tfembed-export --checkpoint average), with the features within each
#    domain (features_mel, features_roll) from the MEL_MEL and SYM_SYM towers
#    (--features_from); add its golden outputs;
# 4. evaluate its features beside MEL_MEL and SYM_SYM (tfembed-eval), and across domains
#    (tfembed-eval --crossmodal) with the audio of the four renderings held out of training;
# 5. write docs/results/model_joint.json, the card and the manifest.
# Rerunning resumes or skips what is already done in the work folder.
# TFEMBED_BUILD_DIR: work folder (default runs/joint-build); TFEMBED_BUILD_STEPS: training
# steps (default 4000); TFEMBED_WORKERS: preparation workers.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
python="${TFEMBED_VENV:-$repo/.venv}/bin/python"
work="${TFEMBED_BUILD_DIR:-$repo/runs/joint-build}"
steps="${TFEMBED_BUILD_STEPS:-4000}"
workers="${TFEMBED_WORKERS:-$(nproc)}"
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"
S=/usr/share/sounds
trained='train.renderings = ("FluidR3_GM", "TimGM6mb", "sf_GMbank", "FluidR3_GM+as_written", "TimGM6mb+as_written")'
held_out=FluidR3Mono_GM,OPL-3_FM_128M,FluidR3Mono_GM+as_written,OPL-3_FM_128M+as_written
piano=$S/sf2/FluidR3_GM.sf2,$S/sf2/TimGM6mb.sf2,$S/sf2/sf_GMbank.sf2,$S/sf3/FluidR3Mono_GM.sf3,$S/sf2/OPL-3_FM_128M.sf2
written=$S/sf2/FluidR3_GM.sf2,$S/sf2/TimGM6mb.sf2,$S/sf3/FluidR3Mono_GM.sf3,$S/sf2/OPL-3_FM_128M.sf2
started=$(date +%s)

echo "== 1/5 prepare the default corpus in nine renderings"
"$python" -m tfembed.cli.prepare --corpus music21 --pieces_per_composer 40 --workers "$workers" \
  --out "$work/data" --soundfonts "$piano,$written" \
  --instruments piano,piano,piano,piano,piano,as_written,as_written,as_written,as_written
echo "== 2/5 train JOINT, MEL_MEL and SYM_SYM for $steps steps"
"$python" -m tfembed.cli.train --config joint.gin --data "$work/data" --model_dir "$work/joint" \
  --gin_param "train.steps = $steps" --gin_param "$trained" --gin_param "train.timbre_augment = True"
"$python" -m tfembed.cli.train --config mel_mel.gin --data "$work/data" --model_dir "$work/mel_mel" \
  --gin_param "train.steps = $steps" --gin_param "$trained" --gin_param "train.timbre_augment = True" \
  --gin_param "train.synth_instruments = 0.3" --gin_param "train.feature_workers = 0.0"
"$python" -m tfembed.cli.train --config sym_sym.gin --data "$work/data" --model_dir "$work/sym_sym" \
  --gin_param "train.steps = $steps"
echo "== 3/5 export both towers to saved_models/joint, golden outputs"
# The manifest lists the old files of joint until step 5 writes it again: joint leaves it
# now, so that its new files are read unchecked meanwhile (the other models stay checked).
"$python" - "$repo/saved_models/MANIFEST.json" <<'EOF'
import json, sys
from tfembed.utils.atomic import write_json_atomically
manifest = json.load(open(sys.argv[1]))
manifest["models"].pop("joint", None)
write_json_atomically(sys.argv[1], manifest)
EOF
"$python" -m tfembed.cli.export --model_dir "$work/joint" --out "$repo/saved_models/joint" \
  --tower both --checkpoint average --tflite \
  --features_from "$work/mel_mel" --features_from "$work/sym_sym"
"$python" "$repo/tools/release/golden_outputs.py" --add --models "$repo/saved_models" \
  --out "$repo/tests/golden" joint
echo "== 4/5 evaluate: the towers beside MEL_MEL and SYM_SYM, then across domains"
"$python" -m tfembed.cli.evaluate --saved_model "$repo/saved_models/joint" \
  --saved_model "$work/mel_mel/saved_model" --saved_model "$work/sym_sym/saved_model" \
  --data "$work/data" --out "$work/eval" --renderings "$held_out"
"$python" -m tfembed.cli.evaluate --crossmodal --saved_model "$repo/saved_models/joint" \
  --data "$work/data" --out "$work/crossmodal" --renderings "$held_out"
echo "== 5/5 docs/results/model_joint.json, the card and the manifest"
"$python" "$repo/tools/release/model_cards.py" --model joint --work "$work" --eval "$work/eval" \
  --crossmodal "$work/crossmodal" --data_name data/nine --command "bash tools/release/build_joint.sh"
echo "built in $(( $(date +%s) - started )) s"

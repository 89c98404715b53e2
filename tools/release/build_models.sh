#!/usr/bin/env bash
# Retrains and re-exports the four shipped models from scratch, then rewrites
# saved_models/MANIFEST.json and each MODEL_CARD.md:
#   bash tools/release/build_models.sh
# 1. prepare the default corpus (music21 scores, as tools/demo.sh does) and a pretrain
#    split of up to 200 more scores per composer (works held out of every evaluation);
# 2. train MEL_MEL, SYM_SYM, MEL_SYM, SYM_MEL with configs/NAME.gin (our recipe,
#    3000 steps, seed 0) on the train and pretrain splits;
# 3. export each test-time tower to saved_models/NAME (mel towers also model.tflite)
#    and write the golden outputs the tests compare against (tests/golden/);
# 4. evaluate each on the test split (tfembed-eval: rank@100, probes, baselines);
# 5. write the model cards and the manifest (sha256 and size of every file).
# Rerunning resumes or skips what is already done in the work folder.
# TFEMBED_BUILD_DIR: work folder (default runs/shipped); TFEMBED_BUILD_STEPS:
# training steps per variant (default 3000, the recipe's); TFEMBED_BUILD_EVAL_SEEDS: probe heads per
# row and task in the evaluation (default 3, as tfembed-eval);
# TFEMBED_WORKERS: preparation workers; TFEMBED_BUILD_TRAIN_ONLY=1 stops after training.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
python="${TFEMBED_VENV:-$repo/.venv}/bin/python"
work="${TFEMBED_BUILD_DIR:-$repo/runs/shipped}"
steps="${TFEMBED_BUILD_STEPS:-3000}"
seeds="${TFEMBED_BUILD_EVAL_SEEDS:-3}"
workers="${TFEMBED_WORKERS:-$(nproc)}"
models="$repo/saved_models"
names=(mel_mel sym_sym mel_sym sym_mel)
# This tree's tfembed, whatever the environment has installed.
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"
started=$(date +%s)

echo "== 1/5 prepare the default corpus (music21, 10 composers, <= 40 pieces each) + pretrain split"
"$python" -m tfembed.cli.prepare --corpus music21 --pieces_per_composer 40 \
  --pretrain_pieces_per_composer 200 --workers "$workers" --out "$work/data"
for name in "${names[@]}"; do
  echo "== 2/5 train $name for $steps steps"
  "$python" -m tfembed.cli.train --config "$name.gin" --data "$work/data" \
    --model_dir "$work/$name" --gin_param "train.steps = $steps"
done
[ "${TFEMBED_BUILD_TRAIN_ONLY:-0}" = 1 ] && { echo "trained in $(( $(date +%s) - started )) s"; exit 0; }
# The old manifest lists the old files: the new ones are checked against the new one.
rm -f "$models/MANIFEST.json"
for name in "${names[@]}"; do
  tflite=()
  case "$name" in mel_*) tflite=(--tflite) ;; esac
  echo "== 3/5 export $name to $models/$name ${tflite[*]}"
  "$python" -m tfembed.cli.export --model_dir "$work/$name" --out "$models/$name" "${tflite[@]}"
done
echo "== 3/5 golden outputs of the new models: tests/golden/"
"$python" "$repo/tools/release/golden_outputs.py" --data "$work/data" --models "$models" \
  --out "$repo/tests/golden" "${names[@]}"
echo "== 4/5 evaluate the four on the test split (rank@100, probes, baselines)"
evaluated=()
for name in "${names[@]}"; do evaluated+=(--saved_model "$models/$name"); done
"$python" -m tfembed.cli.evaluate "${evaluated[@]}" --data "$work/data" --out "$work/eval" \
  --seeds "$seeds"
echo "== 5/5 model cards and $models/MANIFEST.json"
"$python" "$repo/tools/release/model_cards.py" --work "$work" --eval "$work/eval"
du -sh "$models"
echo "built in $(( $(date +%s) - started )) s"

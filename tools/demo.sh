#!/usr/bin/env bash
# The main job end to end on the embedded default data (the music21 score corpus,
# no download): prepare the default corpus, train MEL_MEL briefly on the CPU,
# export the SavedModel and report the validation rank@100.
# Rerunning resumes or skips what is already done.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${TFEMBED_VENV:-$repo/.venv}/bin"
demo="${TFEMBED_DEMO_DIR:-$repo/runs/demo}"
workers="${TFEMBED_WORKERS:-$(nproc)}"
steps="${TFEMBED_DEMO_STEPS:-600}"

echo "== 1/2 prepare the default corpus (music21, 10 composers, <= 24 pieces each)"
"$bin/tfembed-prepare" --corpus music21 --pieces_per_composer 24 --workers "$workers" \
  --out "$demo/data"
echo "== 2/2 train MEL_MEL for $steps steps, then export (tensorboard --logdir $demo/mel_mel/logs)"
"$bin/tfembed-train" --config mel_mel.gin --data "$demo/data" --model_dir "$demo/mel_mel" \
  --gin_param "train.steps = $steps"
echo "data: $demo/data"
echo "TensorBoard logs: $demo/mel_mel/logs"
echo "SavedModel: $demo/mel_mel/saved_model"

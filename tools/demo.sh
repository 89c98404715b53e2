#!/usr/bin/env bash
# The main job end to end on the embedded default data (the music21 score corpus,
# no download): prepare the default corpus, train MEL_MEL briefly on the CPU,
# export the SavedModel and evaluate it (test rank@100, probe tasks, baselines).
# Rerunning resumes or skips what is already done. Each stage prints its time.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${TFEMBED_VENV:-$repo/.venv}/bin"
demo="${TFEMBED_DEMO_DIR:-$repo/runs/demo}"
workers="${TFEMBED_WORKERS:-$(nproc)}"
steps="${TFEMBED_DEMO_STEPS:-750}"

stage_started=$SECONDS
stage_done() {
  echo "   $1 took $((SECONDS - stage_started)) s"
  stage_started=$SECONDS
}

echo "== 1/3 prepare the default corpus (music21, 10 composers, <= 40 pieces each)"
"$bin/tfembed-prepare" --corpus music21 --pieces_per_composer 40 --workers "$workers" \
  --out "$demo/data"
stage_done "preparation"
echo "== 2/3 train MEL_MEL for $steps steps, then export (tensorboard --logdir $demo/mel_mel/logs)"
"$bin/tfembed-train" --config mel_mel.gin --data "$demo/data" --model_dir "$demo/mel_mel" \
  --gin_param "train.steps = $steps"
stage_done "training and export"
echo "== 3/3 evaluate on the test split (rank@100, probes, baselines)"
"$bin/tfembed-eval" --saved_model "$demo/mel_mel/saved_model" --data "$demo/data" \
  --out "$demo/eval"
stage_done "evaluation"
echo "all three stages took $SECONDS s"
echo "data: $demo/data"
echo "TensorBoard logs: $demo/mel_mel/logs"
echo "SavedModel: $demo/mel_mel/saved_model"
echo "report: $demo/eval/report.md (plots beside it)"

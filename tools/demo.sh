#!/usr/bin/env bash
# The main job end to end on the embedded default data (the music21 score corpus,
# no download): preparation of the default corpus into runs/demo/data.
# Rerunning resumes or skips what is already done.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${TFEMBED_VENV:-$repo/.venv}/bin"
demo="${TFEMBED_DEMO_DIR:-$repo/runs/demo}"
workers="${TFEMBED_WORKERS:-$(nproc)}"

echo "== 1/1 prepare the default corpus (music21, 10 composers, <= 24 pieces each)"
"$bin/tfembed-prepare" --corpus music21 --pieces_per_composer 24 --workers "$workers" \
  --out "$demo/data"
echo "data: $demo/data (manifest: $demo/data/manifest.json)"

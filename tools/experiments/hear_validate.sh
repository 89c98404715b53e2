#!/usr/bin/env bash
# Runs the official HEAR 2021 validator (PyPI package hearvalidator) on an exported
# mel model through tfembed.hear:
#   bash tools/experiments/hear_validate.sh saved_models/NAME   (or a shipped name: mel_mel, mel_sym)
# The validator imports PyTorch as well as TensorFlow, so it runs in a virtual
# environment of its own, .venv-hear (override with TFEMBED_HEAR_VENV), created on
# the first run with the CPU build of torch, tensorflow-cpu from constraints.txt,
# hearvalidator and tfembed itself without its dependencies (tfembed.hear needs
# only TensorFlow and numpy). The core install (.venv) stays free of torch.
#   bash tools/experiments/hear_validate.sh --setup   only creates the environment.
# TFEMBED_TORCH_INDEX names the CPU wheel index of torch
# (default https://download.pytorch.org/whl/cpu); it is used when reachable,
# otherwise torch comes from the configured package index.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="${TFEMBED_HEAR_VENV:-$repo/.venv-hear}"
python="${PYTHON:-python3}"
torch_index="${TFEMBED_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}"

if [ $# -ne 1 ]; then
  echo "usage: bash tools/experiments/hear_validate.sh SAVED_MODEL_DIR_OR_NAME | --setup" >&2
  exit 2
fi

if [ ! -x "$venv/bin/hear-validator" ]; then
  echo "hear_validate: creating $venv (torch CPU, tensorflow-cpu, hearvalidator)"
  "$python" -m venv "$venv"
  extra=()
  if curl -fsS --max-time 10 -o /dev/null "$torch_index/torch/" 2>/dev/null; then
    extra=(--extra-index-url "$torch_index")
  fi
  "$venv/bin/python" -m pip install -q "${extra[@]}" "torch>=1.7,<2.14"
  "$venv/bin/python" -m pip install -q -c "$repo/constraints.txt" \
    tensorflow-cpu keras numpy "hearvalidator==2021.0.2"
  "$venv/bin/python" -m pip install -q --no-deps -e "$repo"
fi
[ "$1" = "--setup" ] && exit 0

# Import this tree's tfembed even if the environment was made from another checkout.
PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}" "$venv/bin/hear-validator" tfembed.hear --model "$1"

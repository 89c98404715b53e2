"""What a run folder records about its run, and whether a new call may resume it.

A resume that would change the model or the data is refused, with the run left
untouched: a MEL_MEL run resumed with ``sym_sym.gin`` would otherwise train mel
weights on piano rolls and export them labelled SYM_SYM.
"""

from __future__ import annotations

import sys
from typing import Any

import tensorflow as tf

from tfembed.dataset.manifest import PreparedDataset
from tfembed.errors import RunError
from tfembed.training.config import MODEL_FIELDS, TrainConfig
from tfembed.training.run_folder import RunFolder
from tfembed.utils.locking import LOCK_NAME
from tfembed.utils.versions import tool_versions

DATASET_FIELDS = ("frame_grid", "created")
"""What identifies the data a run was trained on (the folder may move)."""


def run_record(config: TrainConfig, dataset: PreparedDataset) -> dict[str, Any]:
    """The contents of ``run.json``: settings, dataset (and the clips trained on), tool versions."""
    clips = dataset.clip_count(*config.training_splits)
    described = {**dataset.describe(), "training_clips": clips}
    return {"config": config.to_dict(), "dataset": described, "versions": tool_versions()}


def _changes(earlier: dict[str, Any], now: dict[str, Any], fields) -> list[str]:
    return [
        f"{name}: {earlier.get(name)!r} -> {now.get(name)!r}"
        for name in fields
        if earlier.get(name) != now.get(name)
    ]


def check_resume(run: RunFolder, record: dict[str, Any]) -> str | None:
    """Checks that a call may train in ``run``; returns the checkpoint to resume from.

    Args:
        run: The run folder.
        record: :func:`run_record` of the new call.

    Returns:
        The latest checkpoint, or ``None`` for a new run.

    Raises:
        RunError: The folder holds something else, or the new settings change
            the model or the data of the run there.
    """
    if not run.path.exists():
        return None
    if not run.record.exists():
        if any(path.name != LOCK_NAME for path in run.path.iterdir()):
            raise RunError(
                f"--model_dir {run.path} exists and is not a tfembed run "
                f"(no {run.record.name}); choose an empty or new folder"
            )
        return None
    earlier = run.read_record()
    earlier["config"] = TrainConfig.recorded_with_defaults(earlier["config"])
    refused = _changes(earlier["config"], record["config"], MODEL_FIELDS) + _changes(
        earlier["dataset"], record["dataset"], DATASET_FIELDS
    )
    if refused:
        raise RunError(
            f"{run.path} holds a run with other model or data settings ({'; '.join(refused)}); "
            "resume it with its own settings, or choose another --model_dir"
        )
    others = _changes(
        earlier["config"],
        record["config"],
        [name for name in record["config"] if name not in MODEL_FIELDS],
    )
    if others:
        print(f"resuming {run.path} with changed settings: {'; '.join(others)}", file=sys.stderr)
    return tf.train.latest_checkpoint(str(run.checkpoints))

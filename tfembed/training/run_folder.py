"""The layout of a training run folder: every file name in one place.

::

    RUN/run.json               the settings and the dataset (manifest, frame grid)
    RUN/operative_config.gin   the gin config as run (for people and TensorBoard)
    RUN/checkpoints/           the latest checkpoints (step, weights, Adam state)
    RUN/best/                  the checkpoint with the best validation metric
    RUN/best/best.json         its step and value (rank@100; JOINT: audio -> roll R@1)
    RUN/logs/                  TensorBoard summaries and the embedding projector
    RUN/saved_model/           the export written at the end of training
    RUN/.tfembed.lock          locked (fcntl) while a process trains in the folder
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from tfembed.errors import RunError

RUN_RECORD_NAME = "run.json"
OPERATIVE_CONFIG_NAME = "operative_config.gin"
CHECKPOINTS_DIR = "checkpoints"
BEST_DIR = "best"
BEST_RECORD_NAME = "best.json"
LOGS_DIR = "logs"
SAVED_MODEL_DIR = "saved_model"
CHECKPOINT_CHOICES = ("best", "latest", "average")
"""What ``tfembed-export --checkpoint`` takes (:meth:`RunFolder.checkpoint_paths`)."""


@dataclasses.dataclass(frozen=True)
class RunFolder:
    """Paths of one training run."""

    path: Path

    @classmethod
    def at(cls, path: str | os.PathLike) -> RunFolder:
        """The run folder at ``path``.

        Raises:
            RunError: ``path`` exists and is not a folder.
        """
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise RunError(f"--model_dir {path} is a file, not a folder; choose another path")
        return cls(path)

    @property
    def record(self) -> Path:
        """``run.json``."""
        return self.path / RUN_RECORD_NAME

    @property
    def operative_config(self) -> Path:
        """``operative_config.gin``."""
        return self.path / OPERATIVE_CONFIG_NAME

    @property
    def checkpoints(self) -> Path:
        """Folder of the latest checkpoints."""
        return self.path / CHECKPOINTS_DIR

    @property
    def best(self) -> Path:
        """Folder of the best-validation checkpoint."""
        return self.path / BEST_DIR

    @property
    def best_record(self) -> Path:
        """``best/best.json``."""
        return self.best / BEST_RECORD_NAME

    @property
    def logs(self) -> Path:
        """TensorBoard folder."""
        return self.path / LOGS_DIR

    @property
    def saved_model(self) -> Path:
        """Default export folder."""
        return self.path / SAVED_MODEL_DIR

    def read_record(self) -> dict[str, Any]:
        """Reads ``run.json``.

        Raises:
            RunError: The folder is not a tfembed run, or the file is unreadable.
        """
        if not self.record.is_file():
            raise RunError(
                f"{self.path} is not a tfembed training run ({RUN_RECORD_NAME} is missing; "
                "train one with tfembed-train)"
            )
        try:
            return json.loads(self.record.read_text())
        except (OSError, ValueError) as error:
            raise RunError(f"{self.record} is unreadable ({error})") from error

    def checkpoint_paths(self, which: str) -> list[str]:
        """The checkpoints to load, oldest first.

        Args:
            which: ``best`` (falls back to the latest), ``latest``, or ``average``:
                every checkpoint ``checkpoints/`` keeps (the last three saved), to
                be averaged.

        Raises:
            RunError: Unknown choice, or the run has no checkpoint.
        """
        if which not in CHECKPOINT_CHOICES:
            raise RunError(
                f"checkpoint must be one of {', '.join(CHECKPOINT_CHOICES)}, not {which!r}"
            )
        import tensorflow as tf  # here, so that checking a run folder needs no TensorFlow

        if which == "average":
            state = tf.train.get_checkpoint_state(str(self.checkpoints))
            chosen = list(state.all_model_checkpoint_paths) if state else []
        else:
            latest = tf.train.latest_checkpoint(str(self.checkpoints))
            if which == "best":
                latest = tf.train.latest_checkpoint(str(self.best)) or latest
            chosen = [latest] if latest else []
        if not chosen:
            raise RunError(f"{self.path} has no checkpoint (train it with tfembed-train)")
        return chosen

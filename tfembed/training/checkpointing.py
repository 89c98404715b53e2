"""Saving checkpoints, and keeping apart the one with the best validation metric.

Every variant but JOINT is chosen by the test-time tower's validation rank@100
(lowest wins); a joint model by its validation same-moment R@1, audio -> roll
(highest wins), what it is trained for. Measured on the shipped `joint` recipe
trained 4,000 steps (seed 2): the checkpoint of the best mel rank@100 (step
3,400) found 0.797 / 0.795 of the test clips' counterparts (audio -> roll /
roll -> audio), the last one (step 4,000, also the best R@1) 0.809 / 0.811.
"""

from __future__ import annotations

import dataclasses
import json

import tensorflow as tf

from tfembed.errors import RunError
from tfembed.models.siamese import Variant
from tfembed.training.run_folder import RunFolder
from tfembed.training.workers import WorkerCheckpoints, WorkerRole
from tfembed.utils.atomic import write_json_atomically


@dataclasses.dataclass(frozen=True)
class SelectionMetric:
    """The validation metric that chooses a run's best checkpoint.

    Attributes:
        name: Its TensorBoard tag.
        higher_is_better: Whether a larger value is better.
    """

    name: str
    higher_is_better: bool

    def better(self, value: float, than: float | None) -> bool:
        """Whether ``value`` beats ``than`` (None: nothing to beat)."""
        if than is None:
            return True
        return value > than if self.higher_is_better else value < than


NEIGHBOUR_SELECTION = SelectionMetric("validation/rank_at_100_am", higher_is_better=False)
JOINT_SELECTION = SelectionMetric("validation/audio_to_roll_r_at_1", higher_is_better=True)


def selection_metric(variant: Variant) -> SelectionMetric:
    """A joint model is chosen by its same-moment R@1, what it is for; others by rank@100."""
    return JOINT_SELECTION if variant.joint else NEIGHBOUR_SELECTION


class BestCheckpoint:
    """Keeps the checkpoint with the best validation metric, across resumes.

    A record of another metric (a run started before the metric changed) is
    not compared with: the next validation replaces it.
    """

    def __init__(
        self,
        checkpoint: tf.train.Checkpoint,
        run: RunFolder,
        role: WorkerRole,
        metric: SelectionMetric,
    ) -> None:
        self.checkpoints = WorkerCheckpoints(checkpoint, run.best, role, max_to_keep=1)
        self.record = run.best_record
        self.is_chief = role.is_chief
        self.metric = metric
        # Every worker reads the chief's record, so all take the same decisions.
        record = (
            json.loads(self.record.read_text())
            if self.record.exists() and tf.train.latest_checkpoint(str(run.best))
            else {}
        )
        self.value: float | None = record.get(metric.name)

    def offer(self, metrics: dict[str, float], step: int) -> None:
        """Saves the model when its validation metric is the best so far."""
        value = metrics.get(self.metric.name)
        if value is not None and self.metric.better(value, self.value):
            self.value = value
            save_checkpoint(self.checkpoints, step)
            if self.is_chief:
                write_json_atomically(self.record, {"step": step, self.metric.name: value})


def save_checkpoint(checkpoints: WorkerCheckpoints, step: int) -> None:
    """Saves a checkpoint; a full disk or unwritable folder becomes a RunError."""
    try:
        checkpoints.save(step)
    except (OSError, tf.errors.OpError) as error:
        message = getattr(error, "message", None) or str(error)
        where = checkpoints.directory or "a temporary folder"
        raise RunError(
            f"cannot write a checkpoint in {where} ({message.strip()}); "
            "free disk space and run the same command to resume from the last complete one"
        ) from error

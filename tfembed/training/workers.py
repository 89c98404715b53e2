"""The workers of a training run: who is chief, how data is sharded, where each saves.

Under ``train.distribution = 'multi_worker'`` every worker runs the same loop
(``tf.distribute.MultiWorkerMirroredStrategy``, configured from ``TF_CONFIG``).
As the TensorFlow multi-worker guide describes, every worker takes part in each
checkpoint save, but only the chief writes into the run folder; the others write
to a temporary folder of their own and remove it at once. With any other
distribution the single process is the chief.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import tempfile
from pathlib import Path

import keras
import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class WorkerRole:
    """This process's place in the training job.

    Attributes:
        task_type: ``chief``, ``worker`` or ``None`` (not a cluster).
        task_id: Index among the tasks of its type.
        workers: Worker processes taking part (1 without a cluster).
    """

    task_type: str | None
    task_id: int
    workers: int

    @property
    def is_chief(self) -> bool:
        """The chief (task ``chief``, or worker 0 of a cluster without one) writes the run."""
        return (
            self.task_type is None
            or self.task_type == "chief"
            or (self.task_type == "worker" and self.task_id == 0)
        )

    @property
    def name(self) -> str:
        """``chief``, ``worker 1``, ...: how messages name the process."""
        return "chief" if self.task_type in (None, "chief") else f"{self.task_type} {self.task_id}"

    @classmethod
    def of(cls, strategy: tf.distribute.Strategy) -> WorkerRole:
        """The role of this process under ``strategy``."""
        resolver = getattr(strategy, "cluster_resolver", None)
        if resolver is None or not resolver.task_type:
            return cls(None, 0, 1)
        jobs = resolver.cluster_spec().as_dict()
        workers = sum(len(jobs.get(job, ())) for job in ("chief", "worker"))
        return cls(resolver.task_type, int(resolver.task_id or 0), max(workers, 1))


def shard_policy(shards: int, workers: int) -> tf.data.experimental.AutoShardPolicy:
    """``FILE`` (each worker reads its own shards) unless there are fewer shards than workers.

    With fewer shards than workers, ``DATA``: every worker reads every shard and
    keeps its share of the pairs.
    """
    policy = tf.data.experimental.AutoShardPolicy
    return policy.FILE if shards >= workers else policy.DATA


def with_shard_policy(dataset: tf.data.Dataset, shards: int, workers: int) -> tf.data.Dataset:
    """``dataset`` with the auto-shard policy of :func:`shard_policy`."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = shard_policy(shards, workers)
    return dataset.with_options(options)


class WorkerCheckpoints:
    """A ``CheckpointManager`` in the run folder on the chief, in a throwaway folder elsewhere.

    Args:
        checkpoint: What to save.
        directory: The run folder's checkpoint folder (written by the chief only).
        role: This process's role.
        max_to_keep: Checkpoints kept by the chief.
    """

    def __init__(
        self, checkpoint: tf.train.Checkpoint, directory: Path, role: WorkerRole, max_to_keep: int
    ) -> None:
        self.role = role
        self.checkpoint = checkpoint
        self.max_to_keep = max_to_keep
        self.directory = directory if role.is_chief else None
        self._chief_manager = (
            tf.train.CheckpointManager(checkpoint, str(directory), max_to_keep=max_to_keep)
            if role.is_chief
            else None
        )

    @property
    def latest_checkpoint(self) -> str | None:
        """The chief's latest checkpoint (``None`` on other workers)."""
        return self._chief_manager.latest_checkpoint if self._chief_manager else None

    def save(self, step: int) -> str:
        """Saves on every worker; only the chief's checkpoint stays."""
        if self._chief_manager is not None:
            return self._chief_manager.save(checkpoint_number=step)
        scratch = Path(
            tempfile.mkdtemp(prefix=f"tfembed-{self.role.task_type}{self.role.task_id}-")
        )
        try:
            manager = tf.train.CheckpointManager(self.checkpoint, str(scratch), max_to_keep=1)
            return manager.save(checkpoint_number=step)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def weights_digest(model: keras.Model) -> str:
    """SHA-256 of every weight of ``model`` (moving statistics included), in layer order.

    Two workers whose models have the same digest hold bit-identical weights.
    """
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(weight.path.encode())
        digest.update(keras.ops.convert_to_numpy(weight.value).tobytes())
    return digest.hexdigest()

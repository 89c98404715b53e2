"""Validation during training: loss and rank@100 on a fixed, seeded sample of pairs.

The sample is drawn from every validation piece (see
:func:`tfembed.dataset.pairs.sample_pairs`). rank@100 is measured as at test
time: the test-time tower (the first) embeds clip ``i`` and clip ``i + 1`` in its
own domain, and each query's rivals exclude both its neighbour and the query clip
itself, so the same measure chooses the best checkpoint of every variant but
JOINT, which its same-moment R@1 chooses (:mod:`tfembed.training.checkpointing`).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfembed.dataset.manifest import VALIDATION_SPLIT, PreparedDataset
from tfembed.dataset.pairs import PairSample, sample_pairs
from tfembed.models.losses import unit_vectors
from tfembed.models.ranking import RANK_CANDIDATES, draw_rivals, neighbour_ranks
from tfembed.models.siamese import SiameseModel, Variant

MIN_PAIRS = 20
"""Fewer validation pairs than this and the run is trained without validation."""

EMBED_CHUNK = 64
"""Clips embedded per call: a 512-clip forward pass peaks at gigabytes."""


def own_clip_exclusions(sample: PairSample) -> np.ndarray:
    """Pool positions each query must not get as a rival: its neighbour and itself.

    The pool holds the sample's second clips: pair ``j``'s second clip is the
    query clip of pair ``i`` when ``j`` is the same piece's previous pair.

    Returns:
        int ``[n, 2]``: the query's own pair (its neighbour) and the pool entry
        that is the query clip (its own pair again when there is none).
    """
    position = {
        (piece, int(index)): row
        for row, (piece, index) in enumerate(
            zip(sample.piece_ids, sample.clip_indices, strict=True)
        )
    }
    rows = np.arange(len(sample))
    itself = [
        position.get((piece, int(index) - 1), row)
        for row, (piece, index) in enumerate(
            zip(sample.piece_ids, sample.clip_indices, strict=True)
        )
    ]
    return np.stack([rows, np.asarray(itself, np.int64)], axis=1)


def embed_in_chunks(tower, clips: np.ndarray) -> tf.Tensor:
    """Embeds clips with a tower called directly, in chunks (no ``predict``).

    Calling the tower keeps this on the calling process alone, also under a
    multi-worker strategy, where ``predict`` would wait for the other workers.
    """
    return tf.concat(
        [
            tower(clips[start : start + EMBED_CHUNK], training=False)
            for start in range(0, len(clips), EMBED_CHUNK)
        ],
        axis=0,
    )


class Validation:
    """A fixed validation sample and its rivals, measured on a model.

    Attributes:
        sample: The validation pairs.
        available: Whether the split gave enough pairs to validate.
    """

    def __init__(self, dataset: PreparedDataset, variant: Variant, pairs: int, seed: int) -> None:
        self.variant = variant
        self.sample = sample_pairs(dataset, VALIDATION_SPLIT, pairs, seed)
        self.available = len(self.sample) >= MIN_PAIRS
        self.rivals = None
        if self.available:
            count = len(self.sample)
            self.rivals = tf.constant(
                draw_rivals(
                    count,
                    own_clip_exclusions(self.sample),
                    seed=seed,
                    candidates=min(RANK_CANDIDATES, count - 1),
                )
            )

    def measure(self, model: SiameseModel) -> dict[str, float]:
        """Validation loss (the training pairs' domains) and test-time rank@100."""
        first, second = self.variant.first, self.variant.second
        queries = embed_in_chunks(model.first_tower, self.sample.first[first])
        pool = embed_in_chunks(model.first_tower, self.sample.second[first])
        # With one tower for both sides (MEL_MEL, SYM_SYM) the pool is the second
        # side's embedding: computed once, a third of the validation's cost.
        if self.variant.joint:
            own_queries, own_pool = model.to_own_space(queries, 0), model.to_own_space(pool, 0)
            return {
                **self._rank_metrics(own_queries, own_pool, ""),
                **self._joint_metrics(model, queries),
            }
        seconds = (
            pool
            if model.second_tower is model.first_tower
            else embed_in_chunks(model.second_tower, self.sample.second[second])
        )
        loss = model.loss_of_features(queries, seconds)
        return {"validation/loss": float(loss), **self._rank_metrics(queries, pool, "")}

    def _rank_metrics(self, queries: tf.Tensor, pool: tf.Tensor, prefix: str) -> dict[str, float]:
        """rank@100 (arithmetic and geometric mean) of each query's neighbour in ``pool``."""
        ranks = neighbour_ranks(queries, pool, tf.range(tf.shape(queries)[0]), self.rivals)
        return {
            f"validation/{prefix}rank_at_100_am": float(tf.reduce_mean(ranks)),
            f"validation/{prefix}rank_at_100_gm": float(tf.exp(tf.reduce_mean(tf.math.log(ranks)))),
        }

    def _joint_metrics(self, model: SiameseModel, mel: tf.Tensor) -> dict[str, float]:
        """A joint model's roll tower and its space shared with the mel tower.

        The loss is the same-moment loss (mel clip against the roll clip of the
        same 3 seconds); ``roll_rank_at_100`` is the roll tower's own neighbour
        rank; ``audio_to_roll_r_at_1`` the share of mel clips whose nearest roll
        clip in the sample (by cosine in the shared space; a tie counts against
        it) is their own.
        """
        roll = embed_in_chunks(model.second_tower, self.sample.first["roll"])
        roll_pool = embed_in_chunks(model.second_tower, self.sample.second["roll"])
        similarity = tf.matmul(
            unit_vectors(model.to_shared_space(mel, 0)),
            unit_vectors(model.to_shared_space(roll, 1)),
            transpose_b=True,
        )
        own = tf.linalg.diag_part(similarity)
        rivals = tf.linalg.set_diag(similarity, tf.fill(tf.shape(own), -float("inf")))
        found = tf.reduce_all(rivals < own[:, tf.newaxis], axis=1)
        return {
            "validation/loss": float(model.loss_of_features(mel, roll)),
            **self._rank_metrics(
                model.to_own_space(roll, 1), model.to_own_space(roll_pool, 1), "roll_"
            ),
            "validation/audio_to_roll_r_at_1": float(tf.reduce_mean(tf.cast(found, tf.float32))),
        }

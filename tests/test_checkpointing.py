"""The best checkpoint: the metric that chooses it, and a resume across a change of metric."""

from __future__ import annotations

import json

import tensorflow as tf

from tfembed.models.siamese import variant_spec
from tfembed.training.checkpointing import (
    JOINT_SELECTION,
    NEIGHBOUR_SELECTION,
    BestCheckpoint,
    selection_metric,
)
from tfembed.training.run_folder import RunFolder
from tfembed.training.workers import WorkerRole

ALONE = WorkerRole(task_type=None, task_id=0, workers=1)


def test_a_joint_model_is_chosen_by_its_r_at_1_and_the_others_by_rank() -> None:
    assert selection_metric(variant_spec("JOINT")) == JOINT_SELECTION
    for variant in ("MEL_MEL", "SYM_SYM", "MEL_SYM", "SYM_MEL"):
        assert selection_metric(variant_spec(variant)) == NEIGHBOUR_SELECTION
    assert JOINT_SELECTION.better(0.81, 0.80) and not JOINT_SELECTION.better(0.80, 0.80)
    assert NEIGHBOUR_SELECTION.better(6.5, 7.0) and not NEIGHBOUR_SELECTION.better(7.0, 6.5)
    assert NEIGHBOUR_SELECTION.better(50.0, None)


def test_a_record_of_another_metric_is_replaced_at_the_next_validation(tmp_path) -> None:
    weights = tf.Variable(1.0)
    checkpoint = tf.train.Checkpoint(weights=weights)
    run = RunFolder.at(tmp_path)
    before = BestCheckpoint(checkpoint, run, ALONE, NEIGHBOUR_SELECTION)
    before.offer({"validation/rank_at_100_am": 6.0, "validation/audio_to_roll_r_at_1": 0.5}, 200)
    assert json.loads(run.best_record.read_text()) == {
        "step": 200,
        "validation/rank_at_100_am": 6.0,
    }

    resumed = BestCheckpoint(checkpoint, run, ALONE, JOINT_SELECTION)
    assert resumed.value is None
    weights.assign(2.0)
    resumed.offer({"validation/rank_at_100_am": 9.0, "validation/audio_to_roll_r_at_1": 0.4}, 400)
    resumed.offer({"validation/rank_at_100_am": 5.0, "validation/audio_to_roll_r_at_1": 0.3}, 600)
    assert json.loads(run.best_record.read_text()) == {
        "step": 400,
        "validation/audio_to_roll_r_at_1": 0.4,
    }
    weights.assign(0.0)
    checkpoint.restore(tf.train.latest_checkpoint(str(run.best))).assert_consumed()
    assert float(weights.numpy()) == 2.0

"""The JOINT variant: pairs in both domains, its mixed loss, and training it end to end."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfembed.cli.train import main as train_main
from tfembed.dataset.clips import load_clips
from tfembed.dataset.manifest import open_dataset
from tfembed.dataset.pairs import keyed_pairs, neighbour_pairs
from tfembed.errors import ConfigError
from tfembed.evaluation.featurizers import export_featurizers, saved_model_featurizer
from tfembed.evaluation.plots import read_scalars
from tfembed.export.tower import load_trained
from tfembed.features.framegrid import DEFAULT_GRID
from tfembed.models.losses import pair_loss
from tfembed.models.siamese import JointWeights, build_siamese
from tfembed.results.cards import card
from tfembed.training.config import TrainConfig

SMALL_WIDTHS = (4, 8, 8, 8, 16)


def test_joint_pairs_hold_a_clip_and_its_neighbour_in_both_domains(tiny_dataset) -> None:
    dataset = open_dataset(tiny_dataset)
    neighbours = {
        first["mel"].tobytes(): (first["roll"], second["mel"], second["roll"])
        for _, _, first, second in keyed_pairs(dataset, "train").as_numpy_iterator()
    }
    batch = next(iter(neighbour_pairs(dataset, "train", "mel", "mel", 8, seed=0, joint=True)))
    mel_i, roll_i, mel_j, roll_j = (np.asarray(clips) for clips in batch)
    assert mel_i.shape == mel_j.shape == (8, *DEFAULT_GRID.clip_shape("mel"))
    assert roll_i.shape == roll_j.shape == (8, *DEFAULT_GRID.clip_shape("roll"))
    for row in range(8):
        roll, next_mel, next_roll = neighbours[mel_i[row].tobytes()]
        np.testing.assert_array_equal(roll_i[row], roll)
        np.testing.assert_array_equal(mel_j[row], next_mel)
        np.testing.assert_array_equal(roll_j[row], next_roll)


def test_the_joint_loss_is_the_weighted_mix_of_its_three_kinds_of_positives() -> None:
    rng = np.random.default_rng(0)
    mel_i, roll_i, mel_j, roll_j = (
        tf.constant(rng.normal(size=(6, 16)), tf.float32) for _ in range(4)
    )

    def loss(left, right):
        return float(pair_loss(left, right, "in_batch", 4, 10.0))

    same = (loss(mel_i, roll_i) + loss(mel_j, roll_j)) / 2
    within = (loss(mel_i, mel_j) + loss(roll_i, roll_j)) / 2
    across = (loss(mel_i, roll_j) + loss(roll_i, mel_j)) / 2
    weights = JointWeights(same_moment=0.5, within=1.0, across=0.0)
    model = build_siamese(
        "JOINT", DEFAULT_GRID, SMALL_WIDTHS, 4, 10.0, "in_batch", 0, joint_weights=weights
    )
    losses = model.joint_losses((mel_i, roll_i, mel_j, roll_j))
    assert float(losses["same_moment_loss"]) == pytest.approx(same, rel=1e-5)
    assert float(losses["within_loss"]) == pytest.approx(within, rel=1e-5)
    assert float(losses["across_loss"]) == pytest.approx(across, rel=1e-5)
    assert float(losses["pair_loss"]) == pytest.approx(0.5 * same + within, rel=1e-5)
    first = {id(v) for v in model.first_tower.trainable_variables}
    assert first and not first & {id(v) for v in model.second_tower.trainable_variables}


def test_neighbour_negatives_put_both_clips_of_every_pair_in_one_same_moment_softmax() -> None:
    rng = np.random.default_rng(1)
    mel_i, roll_i, mel_j, roll_j = (
        tf.constant(rng.normal(size=(6, 16)), tf.float32) for _ in range(4)
    )
    weights = JointWeights(same_moment=1.0, within=0.0, across=0.0, neighbour_negatives=True)
    model = build_siamese(
        "JOINT", DEFAULT_GRID, SMALL_WIDTHS, 4, 10.0, "in_batch", 0, joint_weights=weights
    )
    losses = model.joint_losses((mel_i, roll_i, mel_j, roll_j))
    pooled = pair_loss(
        tf.concat([mel_i, mel_j], 0), tf.concat([roll_i, roll_j], 0), "in_batch", 4, 10.0
    )
    assert float(losses["same_moment_loss"]) == pytest.approx(float(pooled), rel=1e-5)
    # A mel clip that matches its neighbour's roll as well as its own is now penalised.
    confusable = (mel_i, mel_i, mel_i, mel_i * 0.99 + 0.01)
    separate = (
        pair_loss(mel_i, mel_i, "in_batch", 4, 10.0)
        + pair_loss(mel_i, mel_i * 0.99 + 0.01, "in_batch", 4, 10.0)
    ) / 2
    assert float(model.joint_losses(confusable)["same_moment_loss"]) > float(separate) + 0.5


def test_roll_gradient_decides_how_much_the_cross_terms_move_the_roll_tower() -> None:
    rng = np.random.default_rng(2)
    clips = (
        tf.constant(rng.normal(size=(4, *DEFAULT_GRID.clip_shape(domain))), tf.float32)
        for domain in ("mel", "roll", "mel", "roll")
    )
    batch = tuple(clips)

    def gradient_norms(roll_gradient: float, within: float) -> tuple[float, float, float]:
        weights = JointWeights(within=within, roll_gradient=roll_gradient)
        keras.utils.set_random_seed(0)
        model = build_siamese(
            "JOINT", DEFAULT_GRID, SMALL_WIDTHS, 4, 10.0, "in_batch", 0, joint_weights=weights
        )
        with tf.GradientTape() as tape:
            loss = model.pair_loss(batch, training=True)
        towers = (model.first_tower, model.second_tower)
        gradients = tape.gradient(loss, [t.trainable_variables for t in towers])
        mel, roll = (float(tf.linalg.global_norm(g)) for g in gradients)
        return float(loss), mel, roll

    loss, mel, roll = gradient_norms(0.0, within=0.0)
    assert mel > 0 and roll == 0.0
    damped_loss, _, half = gradient_norms(0.5, within=0.0)
    full_loss, _, full = gradient_norms(1.0, within=0.0)
    assert loss == pytest.approx(damped_loss, rel=1e-6) == pytest.approx(full_loss, rel=1e-6)
    assert half == pytest.approx(full / 2, rel=1e-4)
    # The roll tower's own neighbours still train it.
    assert gradient_norms(0.0, within=1.0)[2] > 0
    # With shared-space heads the roll head still learns from the cross-domain terms.
    keras.utils.set_random_seed(0)
    headed = build_siamese(
        "JOINT",
        DEFAULT_GRID,
        SMALL_WIDTHS,
        4,
        10.0,
        "in_batch",
        0,
        joint_weights=JointWeights(within=0.0, roll_gradient=0.0),
        shared_head=8,
    )
    with tf.GradientTape() as tape:
        loss = headed.pair_loss(batch, training=True)
    roll_tower, roll_head = headed.second_tower, headed.shared_heads[1]
    tower_gradient, head_gradient = tape.gradient(
        loss, [roll_tower.trainable_variables, roll_head.trainable_variables]
    )
    assert float(tf.linalg.global_norm(tower_gradient)) == 0.0
    assert float(tf.linalg.global_norm(head_gradient)) > 0
    with pytest.raises(ConfigError, match=r"train\.joint_roll_gradient"):
        TrainConfig(variant="JOINT", joint_roll_gradient=1.5)


def test_joint_weights_must_mix_something() -> None:
    with pytest.raises(ConfigError, match=r"train\.joint_same_moment"):
        TrainConfig(variant="JOINT", joint_same_moment=0.0, joint_within=0.0, joint_across=0.0)
    with pytest.raises(ConfigError, match="0 or more and not all 0"):
        TrainConfig(variant="JOINT", joint_across=-1.0)


def test_joint_trains_and_validates_both_towers_and_their_shared_space(
    tiny_dataset, tmp_path
) -> None:
    arguments = ["--config", "joint.gin", "--config", "tiny.gin"]
    arguments += ["--data", str(tiny_dataset), "--model_dir", str(tmp_path)]
    assert train_main(arguments) == 0
    for name in ("same_moment_loss", "within_loss", "across_loss", "feature_loss"):
        steps, values = read_scalars(tmp_path / "logs", f"train/{name}")
        assert len(steps) and np.isfinite(values).all()
    for name in ("rank_at_100_am", "roll_rank_at_100_am", "audio_to_roll_r_at_1", "loss"):
        steps, values = read_scalars(tmp_path / "logs", f"validation/{name}")
        assert list(steps) == [0, 3, 6] and np.isfinite(values).all()
    _, recalls = read_scalars(tmp_path / "logs", "validation/audio_to_roll_r_at_1")
    assert ((recalls >= 0) & (recalls <= 1)).all()
    metadata = json.loads((tmp_path / "saved_model" / "metadata.json").read_text())
    assert (metadata["domain"], metadata["domains"]) == ("joint", ["mel", "roll"])
    best = json.loads((tmp_path / "best" / "best.json").read_text())
    assert best["validation/audio_to_roll_r_at_1"] == pytest.approx(recalls[1:].max())
    assert best["step"] == [3, 6][int(np.argmax(recalls[1:]))]
    assert metadata["checkpoint_step"] == best["step"]


def test_shared_heads_carry_the_cross_domain_terms_and_leave_the_within_terms_to_the_towers() -> (
    None
):
    rng = np.random.default_rng(3)
    embeddings = tuple(tf.constant(rng.normal(size=(6, 128)), tf.float32) for _ in range(4))
    mel_i, roll_i, mel_j, roll_j = embeddings
    weights = JointWeights(same_moment=1.0, within=1.0, across=1.0)
    model = build_siamese(
        "JOINT",
        DEFAULT_GRID,
        SMALL_WIDTHS,
        4,
        10.0,
        "in_batch",
        0,
        joint_weights=weights,
        shared_head=32,
    )
    mel_head, roll_head = model.shared_heads
    assert [head.name for head in model.shared_heads] == ["mel_shared_head", "roll_shared_head"]

    def loss(left, right):
        return float(pair_loss(left, right, "in_batch", 4, 10.0))

    with tf.GradientTape(persistent=True) as tape:
        losses = model.joint_losses(embeddings)
    assert float(losses["within_loss"]) == pytest.approx(
        (loss(mel_i, mel_j) + loss(roll_i, roll_j)) / 2, rel=1e-5
    )
    assert float(losses["same_moment_loss"]) == pytest.approx(
        (loss(mel_head(mel_i), roll_head(roll_i)) + loss(mel_head(mel_j), roll_head(roll_j))) / 2,
        rel=1e-5,
    )
    assert float(model.loss_of_features(mel_i, roll_i)) == pytest.approx(
        loss(mel_head(mel_i), roll_head(roll_i)), rel=1e-5
    )
    # The heads learn from the cross-domain terms only.
    within = tape.gradient(losses["within_loss"], mel_head.trainable_variables)
    assert all(gradient is None for gradient in within)
    across = tape.gradient(losses["across_loss"], roll_head.trainable_variables)
    assert float(tf.linalg.global_norm(across)) > 0
    with pytest.raises(ConfigError, match=r"train\.joint_shared_head"):
        build_siamese("MEL_SYM", DEFAULT_GRID, SMALL_WIDTHS, 4, 10.0, "in_batch", 0, shared_head=8)
    with pytest.raises(ConfigError, match=r"train\.joint_shared_head"):
        TrainConfig(variant="JOINT", joint_shared_head=-1)


def test_own_heads_carry_the_within_terms_and_leave_the_cross_domain_terms_to_the_towers() -> None:
    rng = np.random.default_rng(4)
    embeddings = tuple(tf.constant(rng.normal(size=(6, 128)), tf.float32) for _ in range(4))
    mel_i, roll_i, mel_j, roll_j = embeddings
    weights = JointWeights(same_moment=1.0, within=1.0, across=1.0)
    model = build_siamese(
        "JOINT",
        DEFAULT_GRID,
        SMALL_WIDTHS,
        4,
        10.0,
        "in_batch",
        0,
        joint_weights=weights,
        own_head=32,
    )
    mel_head, roll_head = model.own_heads
    assert [head.name for head in model.own_heads] == ["mel_own_head", "roll_own_head"]

    def loss(left, right):
        return float(pair_loss(left, right, "in_batch", 4, 10.0))

    with tf.GradientTape(persistent=True) as tape:
        losses = model.joint_losses(embeddings)
    assert float(losses["within_loss"]) == pytest.approx(
        (loss(mel_head(mel_i), mel_head(mel_j)) + loss(roll_head(roll_i), roll_head(roll_j))) / 2,
        rel=1e-5,
    )
    assert float(losses["same_moment_loss"]) == pytest.approx(
        (loss(mel_i, roll_i) + loss(mel_j, roll_j)) / 2, rel=1e-5
    )
    assert float(model.loss_of_features(mel_i, roll_i)) == pytest.approx(
        loss(mel_i, roll_i), rel=1e-5
    )
    # The heads learn from the within-domain terms only.
    for name in ("same_moment_loss", "across_loss"):
        gradients = tape.gradient(losses[name], mel_head.trainable_variables)
        assert all(gradient is None for gradient in gradients)
    within = tape.gradient(losses["within_loss"], roll_head.trainable_variables)
    assert float(tf.linalg.global_norm(within)) > 0
    with pytest.raises(ConfigError, match=r"train\.joint_own_head"):
        build_siamese("MEL_MEL", DEFAULT_GRID, SMALL_WIDTHS, 4, 10.0, "in_batch", 0, own_head=8)
    with pytest.raises(ConfigError, match=r"train\.joint_own_head"):
        TrainConfig(variant="JOINT", joint_own_head=-1)


@pytest.mark.parametrize("head", ["joint_shared_head", "joint_own_head"])
def test_a_run_with_heads_exports_the_shared_space_and_each_domains_features(
    tiny_dataset, tmp_path, head
) -> None:
    arguments = ["--config", "joint.gin", "--config", "tiny.gin"]
    arguments += ["--gin_param", f"train.{head} = 16"]
    arguments += ["--data", str(tiny_dataset), "--model_dir", str(tmp_path)]
    assert train_main(arguments) == 0
    export = tmp_path / "saved_model"
    metadata = json.loads((export / "metadata.json").read_text())
    assert metadata["feature_signatures"] == {"mel": "features_mel", "roll": "features_roll"}
    assert {"serve_mel", "serve_roll", "features_mel", "features_roll"} <= set(
        metadata["signatures"]
    )
    model, *_ = load_trained(tmp_path)
    clips = next(iter(load_clips(tiny_dataset, "test").batch(5)))
    loaded = tf.saved_model.load(str(export))
    featurizers = {row.domain: row for row in export_featurizers(export, DEFAULT_GRID)}
    for side, domain in enumerate(("mel", "roll")):
        batch = tf.cast(clips[domain], tf.float32)
        tower = (model.first_tower, model.second_tower)[side](batch, training=False)
        shared, own = model.to_shared_space(tower, side), model.to_own_space(tower, side)
        np.testing.assert_allclose(
            loaded.signatures[f"features_{domain}"](clips=batch)["output_0"], own, atol=1e-5
        )
        np.testing.assert_allclose(
            loaded.signatures[f"serve_{domain}"](clips=batch)["output_0"], shared, atol=1e-5
        )
        # Rows within one domain read the domain's features; cross-modal rows the shared space.
        np.testing.assert_allclose(featurizers[domain].embed(batch.numpy()), own, atol=1e-5)
        row = saved_model_featurizer(export, DEFAULT_GRID, domain=domain)
        np.testing.assert_allclose(row.embed(batch.numpy()), shared, atol=1e-5)
    assert not np.allclose(shared, own, atol=1e-3)
    results = Path(__file__).resolve().parents[1] / "docs" / "results"
    data = json.loads((results / "shipped_training.json").read_text())
    evaluation = json.loads((results / "shipped_models.json").read_text())
    text = card("joint_heads", metadata, data, evaluation, has_tflite=False)
    assert "- `features_mel`: `clips` of the mel tower" in text
    assert "- `features_roll`: `clips` of the roll tower" in text
    own_head_text = "the output of its own-domain head (`train.joint_own_head`)"
    assert (own_head_text in text) == (head == "joint_own_head")

"""Feature workers (``train.feature_workers``): targets, learning, training and export."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfembed.cli.export import main as export_main
from tfembed.cli.train import main as train_main
from tfembed.dataset.clips import load_clips
from tfembed.evaluation.plots import read_scalars
from tfembed.export.tower import load_trained
from tfembed.features.framegrid import DEFAULT_GRID
from tfembed.features.handmade import handmade_features
from tfembed.models.feature_workers import FeatureTargets
from tfembed.models.siamese import build_siamese


def _real_clips(dataset, domain: str, count: int) -> np.ndarray:
    return np.stack([clip[domain] for clip in load_clips(dataset, "train").take(count)])


@pytest.mark.parametrize("domain", ["mel", "roll"])
def test_targets_are_the_hand_made_features_standardised_over_the_batch(
    tiny_dataset, domain
) -> None:
    clips = _real_clips(tiny_dataset, domain, 16)
    targets = FeatureTargets(domain, DEFAULT_GRID)(tf.constant(clips)).numpy()
    features = handmade_features(clips, domain, DEFAULT_GRID).astype(np.float64)
    assert targets.shape == (16, targets.shape[1]) == features.shape
    np.testing.assert_allclose(targets.mean(axis=0), 0.0, atol=1e-4)
    expected = (features - features.mean(axis=0)) / np.sqrt(features.var(axis=0) + 1e-3)
    np.testing.assert_allclose(targets, expected, rtol=1e-3, atol=1e-3)
    assert (np.abs(expected).max(axis=0) > 1.0).sum() >= 5


def test_each_feature_group_weighs_the_same_in_the_loss() -> None:
    weights = FeatureTargets("mel", DEFAULT_GRID).feature_weights()
    n_mels = DEFAULT_GRID.n_mels
    assert weights.shape == (2 * n_mels + 12,)
    for group in (slice(0, n_mels), slice(n_mels, 2 * n_mels), slice(2 * n_mels, None)):
        assert weights[group].sum() == pytest.approx(1 / 3)
    assert FeatureTargets("roll", DEFAULT_GRID).feature_weights()[:12].sum() == pytest.approx(1 / 3)


def test_training_with_workers_teaches_the_embedding_the_hand_made_features(tiny_dataset) -> None:
    keras.utils.set_random_seed(0)
    model = build_siamese(
        "MEL_SYM", DEFAULT_GRID, (4, 8, 8, 8, 16), 4, 10.0, "in_batch", 0, feature_workers=1.0
    )
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    mel = tf.constant(_real_clips(tiny_dataset, "mel", 32))
    roll = tf.constant(_real_clips(tiny_dataset, "roll", 32))
    model.build([mel.shape, roll.shape])

    def feature_losses() -> list[float]:
        first, second = model((mel, roll), training=True)
        return [
            float(worker.feature_loss(clips, embedding))
            for worker, clips, embedding in zip(
                model.workers, (mel, roll), (first, second), strict=True
            )
        ]

    before = feature_losses()
    step = tf.function(model.train_step)
    for _ in range(60):
        step((mel, roll))
    after = feature_losses()
    for domain, start, end in zip(("mel", "roll"), before, after, strict=True):
        assert end < 0.5 * start, f"{domain} worker loss {start:.3f} -> {end:.3f}"


@pytest.mark.slow
def test_a_run_with_workers_trains_exports_towers_only_and_cannot_resume_without_them(
    tiny_dataset, tmp_path, capsys
) -> None:
    arguments = ["--config", "mel_sym.gin", "--config", "tiny.gin", "--data", str(tiny_dataset)]
    arguments += ["--model_dir", str(tmp_path / "run")]
    assert train_main([*arguments, "--gin_param", "train.feature_workers = 1.0"]) == 0
    steps, total = read_scalars(tmp_path / "run" / "logs", "train/loss")
    assert len(steps) > 0
    _, pair = read_scalars(tmp_path / "run" / "logs", "train/pair_loss")
    _, feature = read_scalars(tmp_path / "run" / "logs", "train/feature_loss")
    np.testing.assert_allclose(total, pair + 1.0 * feature, rtol=1e-5)
    model, *_ = load_trained(tmp_path / "run")
    assert [worker.name for worker in model.workers] == ["mel_worker", "roll_worker"]
    out = tmp_path / "saved"
    assert export_main(["--model_dir", str(tmp_path / "run"), "--out", str(out)]) == 0
    assert json.loads((out / "metadata.json").read_text())["train_config"]["feature_workers"] == 1
    loaded = tf.saved_model.load(str(out))
    clips = _real_clips(tiny_dataset, "mel", 4)
    np.testing.assert_allclose(
        loaded.serve(clips).numpy(), model.first_tower(clips, training=False).numpy(), atol=1e-5
    )
    assert len(loaded.variables) == len(model.first_tower.variables)
    capsys.readouterr()
    assert train_main([*arguments, "--gin_param", "train.steps = 8"]) == 1
    assert "feature_workers: 1.0 -> 0.0" in capsys.readouterr().err


def test_workers_of_the_notes_teach_a_mel_tower_its_clips_piano_roll_features(
    tiny_dataset,
) -> None:
    keras.utils.set_random_seed(0)
    model = build_siamese(
        "MEL_MEL",
        DEFAULT_GRID,
        (4, 8, 8, 8, 16),
        4,
        10.0,
        "in_batch",
        0,
        feature_workers=1.0,
        worker_targets="notes",
    )
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    mel = tf.constant(_real_clips(tiny_dataset, "mel", 32))
    roll = tf.constant(_real_clips(tiny_dataset, "roll", 32))
    worker = model.workers[0]
    assert worker.targets.domain == "roll" and model.workers[1] is worker

    def feature_loss() -> float:
        first, _ = model((mel, mel), training=True)
        return float(worker.feature_loss(roll, first))

    before = feature_loss()
    step = tf.function(model.train_step)
    for _ in range(60):
        step((mel, mel, roll, roll))
    assert feature_loss() < 0.5 * before


@pytest.mark.slow
def test_a_run_with_workers_of_the_notes_reads_the_rolls_beside_its_mel_pairs(
    tiny_renderings, tmp_path
) -> None:
    arguments = ["--config", "mel_mel.gin", "--config", "tiny.gin", "--data", str(tiny_renderings)]
    arguments += ["--model_dir", str(tmp_path / "run"), "--gin_param", "train.steps = 4"]
    arguments += ["--gin_param", "train.worker_targets = 'notes'"]
    arguments += ["--gin_param", "train.renderings = ('FluidR3_GM', 'TimGM6mb')"]
    arguments += ["--gin_param", "train.synth_instruments = 0.5"]
    assert train_main(arguments) == 0
    _, feature = read_scalars(tmp_path / "run" / "logs", "train/feature_loss")
    assert len(feature) > 0 and np.isfinite(feature).all()
    model, *_ = load_trained(tmp_path / "run")
    assert model.workers[0].targets.domain == "roll"

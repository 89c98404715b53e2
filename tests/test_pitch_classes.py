"""Pitch-class maps and the towers' optional pitch-class branch (``train.pitch_classes``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from tfembed.cli.export import main as export_main
from tfembed.cli.train import main as train_main
from tfembed.dataset.clips import load_clips
from tfembed.export.tflite import TFLITE_NAME, run_tflite
from tfembed.export.tower import load_trained
from tfembed.features.framegrid import DEFAULT_GRID
from tfembed.features.frontend import normalized_log_mel
from tfembed.features.pitch_classes import pitch_class_weights
from tfembed.models.towers import PitchClassBranch


def test_every_roll_pitch_belongs_to_its_class_and_mel_bands_spread_over_classes() -> None:
    roll = pitch_class_weights(DEFAULT_GRID, "roll")
    assert roll.shape == (DEFAULT_GRID.n_pitches, 12)
    np.testing.assert_array_equal(roll.sum(axis=1), 1.0)
    assert np.argmax(roll[60 - DEFAULT_GRID.lowest_pitch]) == 0  # middle C
    mel = pitch_class_weights(DEFAULT_GRID, "mel")
    assert mel.shape == (DEFAULT_GRID.n_mels, 12)
    np.testing.assert_allclose(mel.sum(axis=1), 1.0, atol=1e-6)


def test_the_profile_of_a_c_major_triad_roll_is_c_e_and_g() -> None:
    clip = np.zeros([1, *DEFAULT_GRID.clip_shape("roll")], np.float32)
    for pitch in (60, 64, 67, 72):
        clip[0, :, pitch - DEFAULT_GRID.lowest_pitch] = 1.0
    branch = PitchClassBranch(pitch_class_weights(DEFAULT_GRID, "roll"), None)
    profile = np.asarray(branch.profile(tf.constant(clip)))[0]
    np.testing.assert_allclose(profile[[0, 4, 7]], [0.5, 0.25, 0.25], atol=1e-5)
    assert profile.sum() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize(
    ("fundamental", "harmonics", "pitch_class"),
    [(880.0, 1, 9), (261.63, 6, 0)],  # a pure A5; a C4 with five overtones
)
def test_the_mel_profile_of_a_tone_peaks_on_its_pitch_class(
    fundamental, harmonics, pitch_class
) -> None:
    seconds = np.arange(DEFAULT_GRID.clip_samples) / DEFAULT_GRID.sample_rate
    audio = sum(np.sin(2 * np.pi * fundamental * k * seconds) / k for k in range(1, harmonics + 1))
    audio = (0.5 * audio / np.abs(audio).max()).astype(np.float32)
    mel = normalized_log_mel(audio, DEFAULT_GRID).numpy()[: DEFAULT_GRID.clip_frames]
    branch = PitchClassBranch(pitch_class_weights(DEFAULT_GRID, "mel"), DEFAULT_GRID.log_offset)
    profile = np.asarray(branch.profile(tf.constant(mel[None])))[0]
    assert np.argmax(profile) == pitch_class
    assert profile.sum() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.slow
def test_a_run_with_the_branch_trains_exports_and_cannot_resume_without_it(
    tiny_dataset, tmp_path, capsys
) -> None:
    arguments = ["--config", "mel_sym.gin", "--config", "tiny.gin", "--data", str(tiny_dataset)]
    arguments += ["--model_dir", str(tmp_path / "run")]
    assert train_main([*arguments, "--gin_param", "train.pitch_classes = True"]) == 0
    model, *_ = load_trained(tmp_path / "run")
    for tower in (model.first_tower, model.second_tower):
        assert any(layer.name.endswith("_pitch_classes") for layer in tower.layers)
    out = tmp_path / "saved"
    assert export_main(["--model_dir", str(tmp_path / "run"), "--out", str(out), "--tflite"]) == 0
    assert json.loads((out / "metadata.json").read_text())["train_config"]["pitch_classes"]
    clips = np.stack([clip["mel"] for clip in load_clips(tiny_dataset, "test").take(4)])
    loaded = tf.saved_model.load(str(out))
    np.testing.assert_allclose(
        loaded.serve(clips).numpy(),
        model.first_tower(clips, training=False).numpy(),
        atol=1e-5,
    )
    np.testing.assert_allclose(
        run_tflite(out / TFLITE_NAME, clips), loaded.serve(clips).numpy(), atol=1e-4
    )
    capsys.readouterr()
    assert train_main([*arguments, "--gin_param", "train.steps = 8"]) == 1
    assert "pitch_classes: True -> False" in capsys.readouterr().err

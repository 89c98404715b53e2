"""Synthetic instruments played from a piano roll into mel power (tfembed.dataset.synth)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tensorflow as tf
from midi_files import scale_notes, sequence_with

from tfembed.dataset.synth import (
    SynthInstrument,
    _frames_since_onset,
    synth_log_mel,
    synth_mel,
)
from tfembed.errors import ConfigError
from tfembed.features.framegrid import FrameGrid
from tfembed.features.frontend import log_mel
from tfembed.features.pianoroll import piano_roll

GRID = FrameGrid()
SINE = SynthInstrument(
    partials=(1, 1),
    jitter_db=0.0,
    decay_db_per_second=(0.0, 0.0),
    attack_seconds=(0.0, 0.0),
    voicing_db=0.0,
)
"""An instrument with one partial at a constant level: a sine."""


def _held(pitch: int, frames: int = 192) -> np.ndarray:
    roll = np.zeros((frames, GRID.n_pitches), np.float32)
    roll[:, pitch - GRID.lowest_pitch] = 1.0
    return roll


def _seed(value: int) -> tf.Tensor:
    return tf.constant([11, value], tf.int64)


def test_a_held_note_of_one_partial_is_the_front_ends_mel_of_a_sine() -> None:
    played = synth_mel(_held(69), _seed(0), SINE, GRID).numpy()
    seconds = np.arange(3 * GRID.sample_rate) / GRID.sample_rate
    sine = tf.constant(np.sin(2 * np.pi * 440.0 * seconds), tf.float32)
    heard = np.exp(log_mel(sine, GRID).numpy())[100]
    audible = heard > 1e-4  # the bands the sine reaches, not the window's far leakage
    assert played[100].argmax() == heard.argmax()
    np.testing.assert_allclose(np.log(played[100][audible]), np.log(heard[audible]), atol=0.25)
    assert played[100][~audible].max() < 1e-3


def test_frames_since_onset_restart_at_every_note() -> None:
    roll = np.zeros((12, 2), np.float32)
    roll[2:6, 0] = 1.0
    roll[8:10, 0] = 1.0
    roll[0:12, 1] = 1.0
    ages = _frames_since_onset(tf.constant(roll)).numpy()
    np.testing.assert_array_equal(ages[:, 0], [0, 0, 0, 1, 2, 3, 0, 0, 0, 1, 0, 0])
    np.testing.assert_array_equal(ages[:, 1], np.arange(12))


def test_decay_and_attack_shape_each_note() -> None:
    plucked = dataclasses.replace(SINE, decay_db_per_second=(10.0, 10.0), attack_seconds=(0.1, 0.1))
    power = synth_mel(_held(60), _seed(0), plucked, GRID).numpy().sum(axis=1)
    fps = GRID.frames_per_second
    # Rising linearly for 0.1 s (6.4 frames) while falling by 10 dB a second.
    assert power[0] / power[3] == pytest.approx(0.25 * 10 ** (3 / fps), rel=1e-4)
    assert 10 * np.log10(power[fps + 10] / power[10]) == pytest.approx(-10.0, abs=0.01)


def test_the_seed_draws_the_instrument_and_the_clip_keeps_its_loudness() -> None:
    sequence = sequence_with(scale_notes(3.0, step=0.25))
    roll = piano_roll(sequence, GRID, GRID.clip_frames).astype(np.float32)
    like = np.full((GRID.clip_frames, GRID.n_mels), np.log(0.01 + GRID.log_offset), np.float32)
    first = synth_log_mel(roll, like, _seed(1), SynthInstrument(), GRID).numpy()
    again = synth_log_mel(roll, like, _seed(1), SynthInstrument(), GRID).numpy()
    other = synth_log_mel(roll, like, _seed(2), SynthInstrument(), GRID).numpy()
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other).mean() > 0.1
    total = np.maximum(np.exp(first) - GRID.log_offset, 0.0).sum()
    assert total == pytest.approx(0.01 * like.size, rel=1e-3)
    silent = synth_log_mel(np.zeros_like(roll), like, _seed(1), SynthInstrument(), GRID)
    np.testing.assert_allclose(silent.numpy(), np.log(GRID.log_offset), rtol=1e-6)


def test_ranges_that_draw_no_instrument_are_refused() -> None:
    with pytest.raises(ConfigError, match="slope_db"):
        SynthInstrument(slope_db=(15.0, 3.0))
    with pytest.raises(ConfigError, match="at least one partial"):
        SynthInstrument(partials=(0, 4))
    with pytest.raises(ConfigError, match="decays"):
        SynthInstrument(upper_decay=(-1.0, 0.5))

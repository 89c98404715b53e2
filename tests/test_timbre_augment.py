"""Recording-condition transforms of mel clips, on a clip rendered with fluidsynth."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import tensorflow as tf
from midi_files import sequence_with

from tfembed.dataset.manifest import open_dataset
from tfembed.dataset.pairs import neighbour_pairs
from tfembed.dataset.timbre import (
    TimbreAugment,
    add_noise,
    augment_timbre,
    coloured_noise,
    eq_curve,
    equalize,
    low_pass_db,
    reverberate,
    room_response,
)
from tfembed.errors import ConfigError
from tfembed.features.framegrid import DEFAULT_GRID
from tfembed.features.frontend import log_mel, normalized_log_mel, peak_normalize
from tfembed.preparation.render import find_soundfont, render_sequence

GRID = DEFAULT_GRID
NOTES_END = 1.6
"""Seconds at which the clip's last note is released."""

NOTHING = TimbreAugment(
    reverb_probability=0.0,
    eq_probability=0.0,
    lowpass_probability=0.0,
    noise_probability=0.0,
    gain_probability=0.0,
)
EVERYTHING = dataclasses.replace(
    NOTHING,
    reverb_probability=1.0,
    eq_probability=1.0,
    lowpass_probability=1.0,
    noise_probability=1.0,
    gain_probability=1.0,
)


@pytest.fixture(scope="module")
def mel() -> tf.Tensor:
    """One 3 s log-mel clip of a piano phrase ending at 1.6 s, rendered with FluidR3."""
    chords = [(48, 0.0, NOTES_END), (60, 0.0, 0.4), (64, 0.4, 0.8), (67, 0.8, 1.2)]
    chords += [(72, 1.2, NOTES_END), (84, 1.2, NOTES_END)]
    sequence = sequence_with(chords)
    sequence.total_time = GRID.clip_seconds
    audio = render_sequence(sequence, GRID, find_soundfont())
    return normalized_log_mel(audio, GRID)[: GRID.clip_frames]


def _power(mel: tf.Tensor) -> np.ndarray:
    return np.maximum(np.exp(np.asarray(mel, np.float64)) - GRID.log_offset, 0.0)


def _seed(value: int) -> tf.Tensor:
    return tf.constant([7, value], tf.int64)


def test_gain_alone_is_exact(mel: tf.Tensor) -> None:
    gained = augment_timbre(mel, _seed(0), dataclasses.replace(NOTHING, gain_probability=1.0), GRID)
    sounding = _power(mel) > 1000 * GRID.log_offset
    shift = (np.log(_power(gained)) - np.log(_power(mel)))[sounding] / (math.log(10) / 10)
    assert np.ptp(shift) < 1e-3 and 0 < abs(shift.mean()) <= NOTHING.gain_db
    silent = np.asarray(mel) == np.float32(math.log(GRID.log_offset))
    np.testing.assert_allclose(np.asarray(gained)[silent], np.asarray(mel)[silent], atol=1e-6)


def test_eq_curve_moves_each_band_by_the_drawn_decibels(mel: tf.Tensor) -> None:
    curves = np.stack([eq_curve(_seed(value), 6.0, 4, GRID) for value in range(20)])
    assert curves.shape == (20, GRID.n_mels)
    assert np.abs(curves).max() <= 6.0 + 1e-5 and np.median(np.abs(curves).max(axis=1)) > 1.5
    assert np.abs(np.diff(curves)).max() < 1.0  # smooth across neighbouring bands
    curve = curves[np.abs(curves).max(axis=1).argmax()]
    power = _power(mel)
    coloured = np.asarray(equalize(tf.constant(power, tf.float32), curve), np.float64)
    band_means = 10 * np.log10(coloured.mean(axis=0) / power.mean(axis=0))
    np.testing.assert_allclose(band_means, curve, atol=1e-3)
    tilt = np.asarray(eq_curve(_seed(1), 6.0, 1, GRID))
    assert np.all(np.diff(tilt) < 0) or np.all(np.diff(tilt) > 0)


def test_low_pass_attenuates_only_above_the_cutoff(mel: tf.Tensor) -> None:
    gain = np.asarray(low_pass_db(tf.constant(3000.0), tf.constant(24.0), GRID))
    power = _power(mel)
    filtered = np.asarray(equalize(tf.constant(power, tf.float32), gain), np.float64)
    ratio = filtered.sum(axis=0) / power.sum(axis=0)
    edges = 1127 * np.log1p(np.array([GRID.fmin, GRID.fmax]) / 700)  # HTK mel
    centres = 700 * np.expm1(np.linspace(*edges, GRID.n_mels + 2)[1:-1] / 1127)
    below = centres <= 3000.0
    np.testing.assert_allclose(ratio[below], 1.0, rtol=1e-5)
    expected = -24.0 * np.log2(centres[~below] / 3000.0)  # 24 dB per octave above
    np.testing.assert_allclose(10 * np.log10(ratio[~below]), expected, atol=1e-3)
    assert np.all(np.diff(ratio[~below]) < 0) and 10 * np.log10(ratio[-1]) < -30


def test_noise_reaches_the_drawn_snr(mel: tf.Tensor) -> None:
    power = tf.constant(_power(mel), tf.float32)
    for exponent in (0.0, 1.0, 2.0):
        noise = coloured_noise(_seed(2), GRID.clip_frames, tf.constant(exponent), GRID)
        noisy = np.asarray(add_noise(power, noise, tf.constant(15.0)), np.float64)
        added = noisy - _power(mel)
        assert added.min() >= 0
        snr = 10 * np.log10(_power(mel).sum() / added.sum())
        assert abs(snr - 15.0) < 0.01, (exponent, snr)
    white, brown = (
        np.asarray(coloured_noise(_seed(2), 2000, tf.constant(exponent), GRID)).mean(axis=0)
        for exponent in (0.0, 2.0)
    )
    assert white[-1] / white[0] > 100 * brown[-1] / brown[0]  # brown noise falls with frequency
    augment = dataclasses.replace(NOTHING, noise_probability=1.0, snr_db=(20.0, 20.0))
    added = _power(augment_timbre(mel, _seed(3), augment, GRID)) - _power(mel)
    assert abs(10 * np.log10(_power(mel).sum() / added.sum()) - 20.0) < 0.05


def test_reverb_adds_energy_after_the_notes_and_keeps_the_total(mel: tf.Tensor) -> None:
    response = room_response(tf.constant(1.0), tf.constant(0.3), 128, GRID)
    np.testing.assert_allclose(np.asarray(response).sum(axis=0), 1.0, rtol=1e-5)
    power = _power(mel)
    wet = np.asarray(reverberate(tf.constant(power, tf.float32), response, 0.5), np.float64)
    after = round((NOTES_END + 0.3) * GRID.frames_per_second)
    assert wet[after:].sum() > 3 * power[after:].sum()
    # The first frame hears no room yet; the room carries 1.4 s past the clip.
    np.testing.assert_allclose(wet[0], 0.5 * power[0] * (1 + np.asarray(response)[0]), rtol=1e-4)
    assert 0.9 < wet.sum() / power.sum() <= 1.0


def test_the_mel_room_follows_a_room_applied_to_the_audio() -> None:
    rt60, wet = 1.0, 0.6
    sequence = sequence_with([(48, 0.0, NOTES_END), (72, 1.2, NOTES_END)])
    sequence.total_time = GRID.clip_seconds
    dry = np.asarray(peak_normalize(render_sequence(sequence, GRID, find_soundfont())), np.float64)
    seconds = np.arange(round(1.2 * rt60 * GRID.sample_rate)) / GRID.sample_rate
    impulse = np.random.default_rng(0).standard_normal(len(seconds)) * 10 ** (-3 * seconds / rt60)
    impulse /= np.linalg.norm(impulse)  # a diffuse tail: noise falling 60 dB in rt60
    room = np.sqrt(1 - wet) * dry + np.sqrt(wet) * np.convolve(dry, impulse)[: len(dry)]
    recorded = _power(log_mel(room.astype(np.float32), GRID)[: GRID.clip_frames])
    power = _power(log_mel(dry.astype(np.float32), GRID)[: GRID.clip_frames])
    response = room_response(tf.constant(rt60), tf.constant(0.0), 77, GRID)
    ours = np.asarray(reverberate(tf.constant(power, tf.float32), response, wet), np.float64)
    tail = slice(round(NOTES_END * GRID.frames_per_second), round(2.3 * GRID.frames_per_second))

    def frame_db(values: np.ndarray) -> np.ndarray:
        return 10 * np.log10(values[tail].sum(axis=1))

    assert np.abs(frame_db(ours) - frame_db(recorded)).mean() < 2.0
    assert np.abs(frame_db(power) - frame_db(recorded)).mean() > 5.0


def test_same_seed_same_clip_other_seed_other_clip(mel: tf.Tensor) -> None:
    first = augment_timbre(mel, _seed(4), EVERYTHING, GRID)
    again = augment_timbre(mel, _seed(4), EVERYTHING, GRID)
    other = augment_timbre(mel, _seed(5), EVERYTHING, GRID)
    np.testing.assert_array_equal(first, again)
    assert np.abs(np.asarray(first) - np.asarray(other)).mean() > 0.1
    in_pipeline = (
        tf.data.Dataset.from_tensors(mel)
        .repeat(2)
        .map(
            lambda clip: augment_timbre(clip, _seed(4), EVERYTHING, GRID),
            num_parallel_calls=2,
        )
    )
    clips = list(in_pipeline.as_numpy_iterator())
    np.testing.assert_array_equal(clips[0], clips[1])
    np.testing.assert_allclose(clips[0], first, rtol=1e-6)  # a graph may fuse ops differently


def test_the_chain_runs_in_a_graph_on_a_grid_seen_first_there() -> None:
    grid = dataclasses.replace(GRID, n_mels=64)
    silence = tf.fill(grid.clip_shape("mel"), math.log(grid.log_offset))
    clips = tf.data.Dataset.from_tensors(silence + 5.0).map(
        lambda clip: augment_timbre(clip, _seed(0), EVERYTHING, grid)
    )
    out = next(iter(clips))
    assert out.shape == grid.clip_shape("mel") and np.isfinite(out).all()


def test_probability_zero_is_the_identity(mel: tf.Tensor) -> None:
    np.testing.assert_array_equal(augment_timbre(mel, _seed(6), NOTHING, GRID), mel)
    # Drawn but not chosen: 1e-9 is never reached by a uniform draw of this seed.
    unlikely = dataclasses.replace(
        NOTHING, reverb_probability=1e-9, noise_probability=1e-9, gain_probability=1e-9
    )
    np.testing.assert_array_equal(augment_timbre(mel, _seed(6), unlikely, GRID), mel)


def test_outputs_are_finite_float32_clips_of_the_same_shape(mel: tf.Tensor) -> None:
    silence = tf.fill(tf.shape(mel), math.log(GRID.log_offset))
    for clip in (mel, silence):
        for augment in (TimbreAugment(), EVERYTHING):
            for value in range(8):
                out = augment_timbre(clip, _seed(value), augment, GRID)
                assert out.dtype == tf.float32 and out.shape == clip.shape
                assert np.isfinite(out).all()
    np.testing.assert_array_equal(augment_timbre(silence, _seed(0), EVERYTHING, GRID), silence)


@pytest.mark.parametrize(
    "change",
    [
        {"noise_probability": 1.5},
        {"snr_db": (40.0, 5.0)},
        {"rt60_seconds": (0.0, 1.0)},
        {"reverb_damping": (0.0, 1.0)},
        {"eq_order": 0},
    ],
)
def test_unusable_settings_are_named(change: dict) -> None:
    with pytest.raises(ConfigError, match=next(iter(change))):
        TimbreAugment(**change)


def test_neighbour_pairs_augment_mel_clips_only_when_asked(tiny_dataset) -> None:
    dataset = open_dataset(tiny_dataset)

    def first_batch(augment: TimbreAugment | None) -> tuple[np.ndarray, np.ndarray]:
        pairs = neighbour_pairs(dataset, "train", "mel", "roll", 8, seed=0, timbre_augment=augment)
        return tuple(np.asarray(part) for part in next(iter(pairs)))

    mel, roll = first_batch(None)
    np.testing.assert_array_equal(first_batch(NOTHING)[0], mel)
    augmented, augmented_roll = first_batch(EVERYTHING)
    np.testing.assert_array_equal(augmented_roll, roll)
    assert augmented.dtype == np.float32 and np.isfinite(augmented).all()
    assert all(np.abs(augmented[i] - mel[i]).mean() > 0.1 for i in range(len(mel)))
    np.testing.assert_array_equal(first_batch(EVERYTHING)[0], augmented)  # seeded

"""The log-mel front-end on known signals."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfembed.features.framegrid import DEFAULT_GRID, FrameGrid
from tfembed.features.frontend import log_mel, num_frames


def _band_centres(grid: FrameGrid) -> np.ndarray:
    """Frequency of the peak of each mel filter."""
    weights = tf.signal.linear_to_mel_weight_matrix(
        grid.n_mels, grid.fft_length // 2 + 1, grid.sample_rate, grid.fmin, grid.fmax
    ).numpy()
    bins = np.linspace(0, grid.sample_rate / 2, grid.fft_length // 2 + 1)
    return bins[weights.argmax(axis=0)]


def test_a_sine_lights_the_band_of_its_frequency() -> None:
    grid = DEFAULT_GRID
    for frequency in (110.0, 440.0, 1760.0):
        time = np.arange(grid.sample_rate * 2) / grid.sample_rate
        mel = log_mel(np.sin(2 * np.pi * frequency * time).astype(np.float32), grid).numpy()
        assert mel.shape == (num_frames(time.size, grid), grid.n_mels) == (129, 96)
        loudest = _band_centres(grid)[mel[64].argmax()]
        assert abs(np.log2(loudest / frequency)) < 0.15  # within a semitone and a half
        assert -1.5 < mel[64].max() < 0.5  # a full-scale sine is near log(1)


def test_silence_is_the_log_offset_and_batches_match_single_signals() -> None:
    grid = DEFAULT_GRID
    silence = log_mel(np.zeros(grid.clip_samples, np.float32), grid).numpy()
    np.testing.assert_allclose(silence, np.log(grid.log_offset), rtol=1e-6)
    noise = np.random.default_rng(0).uniform(-1, 1, (3, grid.clip_samples)).astype(np.float32)
    batched = log_mel(noise, grid).numpy()
    assert batched.shape == (3, grid.clip_frames + 1, grid.n_mels)
    np.testing.assert_allclose(batched[1], log_mel(noise[1], grid).numpy(), atol=1e-4)

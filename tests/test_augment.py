"""Training-time transforms of mel clips."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfembed.dataset.augment import random_gain
from tfembed.features.framegrid import DEFAULT_GRID
from tfembed.features.frontend import log_mel


def test_random_gain_is_exactly_a_gain_on_the_mel_power() -> None:
    grid = DEFAULT_GRID
    time = np.arange(grid.sample_rate * 3) / grid.sample_rate
    audio = np.where(time < 1.5, 0.5 * np.sin(2 * np.pi * 440 * time), 0.0)
    mel = log_mel(audio.astype(np.float32), grid)
    louder = random_gain(mel, 6.0, tf.constant([0, 3], tf.int64), grid.log_offset)
    gain = np.log(np.exp(louder) - grid.log_offset) - np.log(np.exp(mel) - grid.log_offset)
    sounding = np.exp(np.asarray(mel)) > 1000 * grid.log_offset
    assert np.ptp(gain[sounding]) < 1e-3 and 0 < abs(gain[sounding].mean()) <= 0.6 * np.log(10)
    silent = np.asarray(mel) == np.float32(np.log(grid.log_offset))
    np.testing.assert_allclose(np.asarray(louder)[silent], np.asarray(mel)[silent], atol=1e-6)

"""Synthetic instruments drawn at random and played from a clip's piano roll, as mel power.

Soundfonts are a handful of sample libraries; a recording can be any instrument.
Domain randomisation (Tobin et al., IROS 2017: train on many random renderings so
that the real one looks like one more) applied to timbre: :func:`synth_mel` plays
the notes of a clip's piano roll on an instrument drawn from a seed, straight
into the mel power of the front end (:func:`tfembed.features.frontend.log_mel`),
with no audio rendered. An instrument is additive: a drawn number of partials,
their levels falling with a drawn slope, even partials scaled apart from odd ones
(a clarinet's hollow sound), stretched by a drawn inharmonicity (a piano's stiff
strings), each with its own decay (upper partials fading faster, as on a plucked
or struck string, or sustaining like an organ), a drawn attack and a level per
pitch (a voicing). Each partial reaches the mel bands as a windowed sinusoid
does (:func:`_sinusoid_bands`), so a held note with one partial is the log-mel
of a sine. The piano roll is binary: a note's loudness and its end are not in
it, so every note starts at the same level before its pitch's and
the instrument's scaling, and ends when the roll's note does (a room from
:mod:`tfembed.dataset.timbre` adds a tail).
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
import tensorflow as tf

from tfembed.errors import ConfigError
from tfembed.features.framegrid import FrameGrid
from tfembed.features.frontend import mel_weight_matrix

_DB = math.log(10.0) / 10.0  # a power ratio of 1 dB, in natural log units
_STEPS_PER_BIN = 8  # resolution of the sinusoid table, in steps per FFT bin


@dataclasses.dataclass(frozen=True)
class SynthInstrument:
    """Ranges from which :func:`synth_mel` draws an instrument, uniformly.

    Ranges are ``(low, high)``.

    Attributes:
        partials: Number of partials, fundamental included.
        slope_db: Level of partial ``h`` below the fundamental, in dB per octave
            of partial number (``slope * log2(h)``): 3 is bright, 15 dull.
        even_db: Extra level of the even partials in dB (negative: hollow).
        jitter_db: Each partial's level moves by up to this, either way.
        inharmonicity: Stiffness ``B``: partial ``h`` sounds at
            ``h * f0 * sqrt(1 + B * h ** 2)`` (about 4e-4 in a piano's middle).
        decay_db_per_second: How fast the fundamental's power falls (0: an organ).
        upper_decay: Partial ``h`` decays ``1 + upper_decay * (h - 1)`` times as
            fast as the fundamental.
        attack_seconds: Time a note takes to reach its level, linearly.
        voicing_db: Each pitch's level moves by up to this, either way.
    """

    partials: tuple[int, int] = (1, 16)
    slope_db: tuple[float, float] = (3.0, 15.0)
    even_db: tuple[float, float] = (-20.0, 3.0)
    jitter_db: float = 6.0
    inharmonicity: tuple[float, float] = (0.0, 1e-3)
    decay_db_per_second: tuple[float, float] = (0.0, 30.0)
    upper_decay: tuple[float, float] = (0.0, 0.5)
    attack_seconds: tuple[float, float] = (0.0, 0.15)
    voicing_db: float = 4.0

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, tuple) and not (len(value) == 2 and value[0] <= value[1]):
                raise ConfigError(f"SynthInstrument.{field.name} = {value} is not (low, high)")
        if self.partials[0] < 1 or min(self.inharmonicity) < 0 or min(self.attack_seconds) < 0:
            raise ConfigError(
                "SynthInstrument: at least one partial; inharmonicity and attack not negative"
            )
        if min(self.decay_db_per_second) < 0 or min(self.upper_decay) < 0:
            raise ConfigError("SynthInstrument: decays must not be negative")


@functools.lru_cache(maxsize=4)
def _sinusoid_bands(grid: FrameGrid) -> np.ndarray:
    """Mel power of a unit sine at every frequency up to Nyquist, in steps of 1/8 FFT bin.

    Row ``i`` is the mel power (front end scaling, one STFT frame) of
    ``sin(2 pi f t)`` at ``f = i * bin_hz / 8``; the last row is silence, for
    partials above Nyquist.

    Returns:
        float32 ``[fft_length * 4 + 2, n_mels]``.
    """
    steps = grid.fft_length // 2 * _STEPS_PER_BIN + 1
    frequencies = np.arange(steps) * grid.sample_rate / grid.fft_length / _STEPS_PER_BIN
    n = np.arange(grid.fft_length)
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / grid.fft_length)  # tf.signal's periodic Hann
    table = np.zeros((steps + 1, grid.n_mels), np.float64)
    with tf.init_scope():  # eager even when first called while tracing a tf.data map
        weights = mel_weight_matrix(grid).numpy().astype(np.float64)
    for start in range(0, steps, 512):
        chunk = frequencies[start : start + 512, None]
        frames = window * np.sin(2.0 * np.pi * chunk * n / grid.sample_rate)
        magnitude = np.abs(np.fft.rfft(frames, axis=1)) / (grid.fft_length / 4.0)
        table[start : start + len(chunk)] = np.square(magnitude) @ weights
    return table.astype(np.float32)


def _frames_since_onset(roll: tf.Tensor) -> tf.Tensor:
    """``[frames, pitches]`` frames since each sounding note's onset (0 at the onset).

    An onset is a frame where a pitch sounds and did not in the frame before (or
    the clip's first frame); silent cells hold 0.
    """
    frames = tf.shape(roll)[0]
    sounding = roll > 0
    before = tf.pad(sounding[:-1], [[1, 0], [0, 0]])
    onsets = tf.logical_and(sounding, tf.logical_not(before))
    times = tf.range(frames)[:, None]
    latest = tf.where(onsets, times, -1)
    shift = 1
    while shift < roll.shape[0]:  # a running maximum along time, by doubling
        earlier = tf.pad(latest[:-shift], [[shift, 0], [0, 0]], constant_values=-1)
        latest = tf.maximum(latest, earlier)
        shift *= 2
    return tf.where(sounding, times - latest, 0)


def _uniform(draws: tf.Tensor, bounds: tuple[float, float]) -> tf.Tensor:
    return bounds[0] + draws * (bounds[1] - bounds[0])


def synth_mel(
    roll: tf.Tensor, seed: tf.Tensor, instrument: SynthInstrument, grid: FrameGrid
) -> tf.Tensor:
    """Mel power of a piano-roll clip played on an instrument drawn from ``seed``.

    Args:
        roll: float32 ``[frames, n_pitches]`` binary piano roll (the shared grid).
        seed: Shape ``[2]`` int seed: the same seed draws the same instrument.
        instrument: The ranges of the draw.
        grid: The frame grid of the roll and of the mel.

    Returns:
        float32 ``[frames, n_mels]`` mel power (not its log), 0 where nothing sounds.
    """
    roll = tf.convert_to_tensor(roll, tf.float32)
    shape, levels, voicing = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
    high = instrument.partials[1]
    draws = tf.random.stateless_uniform([7], shape)
    count = tf.cast(_uniform(draws[0], instrument.partials) + 0.5, tf.int32)
    h = tf.range(1, high + 1, dtype=tf.float32)
    level_db = -_uniform(draws[1], instrument.slope_db) * tf.math.log(h) / math.log(2.0)
    level_db += tf.where(tf.equal(tf.math.floormod(h, 2.0), 0.0), 1.0, 0.0) * _uniform(
        draws[2], instrument.even_db
    )
    level_db += instrument.jitter_db * (2.0 * tf.random.stateless_uniform([high], levels) - 1.0)
    level = tf.exp(level_db * _DB) * tf.cast(tf.range(high) < count, tf.float32)

    pitches = tf.range(grid.n_pitches, dtype=tf.float32) + grid.lowest_pitch
    f0 = 440.0 * tf.pow(2.0, (pitches - 69.0) / 12.0)
    stretch = tf.sqrt(1.0 + _uniform(draws[3], instrument.inharmonicity) * tf.square(h))
    hz = h[:, None] * stretch[:, None] * f0[None, :]  # [partials, pitches]
    table = _sinusoid_bands(grid)
    step_hz = grid.sample_rate / grid.fft_length / _STEPS_PER_BIN
    rows = tf.minimum(tf.cast(hz / step_hz + 0.5, tf.int32), table.shape[0] - 1)
    bands = tf.gather(tf.constant(table), rows)  # [partials, pitches, n_mels]

    seconds = tf.cast(_frames_since_onset(roll), tf.float32) / grid.frames_per_second
    decay = _uniform(draws[4], instrument.decay_db_per_second) * (
        1.0 + _uniform(draws[5], instrument.upper_decay) * (h - 1.0)
    )
    attack = _uniform(draws[6], instrument.attack_seconds)
    rise = tf.minimum(1.0, (seconds + 1.0 / grid.frames_per_second) / (attack + 1e-9))
    pitch_db = instrument.voicing_db * (
        2.0 * tf.random.stateless_uniform([grid.n_pitches], voicing) - 1.0
    )
    envelope = (roll * rise * tf.exp(pitch_db * _DB))[None] * tf.exp(
        -decay[:, None, None] * seconds[None] * _DB
    )  # [partials, frames, pitches]
    return tf.einsum("hfp,hpm->fm", envelope, bands * level[:, None, None])


def synth_log_mel(
    roll: tf.Tensor,
    like: tf.Tensor,
    seed: tf.Tensor,
    instrument: SynthInstrument,
    grid: FrameGrid,
) -> tf.Tensor:
    """The log-mel clip of :func:`synth_mel`, as loud in all as the log-mel clip ``like``.

    Args:
        roll: float32 ``[frames, n_pitches]`` binary piano roll.
        like: float32 ``[frames, n_mels]`` log-mel clip of the same moment (a
            rendering of it): the synthetic clip gets its total power.
        seed: Shape ``[2]`` int seed of the instrument.
        instrument: The ranges of the draw.
        grid: The frame grid.

    Returns:
        float32 ``[frames, n_mels]`` ``log(power + log_offset)``.
    """
    power = synth_mel(roll, seed, instrument, grid)
    target = tf.reduce_sum(tf.maximum(tf.exp(like) - grid.log_offset, 0.0))
    power *= tf.math.divide_no_nan(target, tf.reduce_sum(power))
    return tf.ensure_shape(tf.math.log(power + grid.log_offset), like.shape)

"""Recording conditions drawn at random for training mel clips: room, EQ, low-pass, noise, gain.

The records hold log-mel clips, ``log(power + log_offset)``
(:func:`tfembed.features.frontend.log_mel`), not audio, so every transform works
on the mel power, in the order a recording goes through them: a room
(:func:`reverberate`), a microphone or loudspeaker colour (:func:`equalize` with
:func:`eq_curve`), a phone or low-bitrate codec (:func:`low_pass_db`), background
noise (:func:`add_noise`) and a recording level
(:func:`tfembed.dataset.augment.random_gain`). :func:`augment_timbre` applies the
chain of a :class:`TimbreAugment`: each transform with its own probability, all
drawn with stateless random ops from one per-clip seed, so a seed gives the same
clip on every run. Nothing shifts pitch: the mel and the piano roll would no
longer describe the same notes.

The transforms are statistical models of the effects on the mel power, not
simulations of the waveform: a room is a causal per-band exponential decay of the
mel power along frames (the energy envelope of a diffuse reverberant tail), noise
is a power-law spectrum whose per-frame fluctuation follows the chi-square
statistics of the FFT bins each mel band sums.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
import tensorflow as tf

from tfembed.dataset.augment import random_gain
from tfembed.errors import ConfigError
from tfembed.features.framegrid import FrameGrid
from tfembed.features.frontend import mel_weight_matrix

_DB = math.log(10.0) / 10.0  # a power ratio of 1 dB, in natural log units
_DECAY_DB = 60.0  # RT60: the time the reverberant power takes to fall by 60 dB


@dataclasses.dataclass(frozen=True)
class TimbreAugment:
    """Probabilities and ranges of the transforms of :func:`augment_timbre`.

    Ranges are ``(low, high)`` and drawn uniformly. The defaults follow CLMR's
    chain (Spijkervet and Burgoyne, ISMIR 2021: reverb with probability 0.6, a
    high- or low-pass with 0.8 (low-pass cutoffs 2200-4000 Hz), gain with 0.3 over
    a 19 dB range, noise at signal-to-noise ratios down to 0 dB) and BYOL-A's
    mixing of a background into the log-mel through the power domain (Niizumi et
    al., IJCNN 2021: up to 40% of the mixture, about 2 dB SNR). Pitch shift, also
    in CLMR, is left out; so is polarity inversion, which leaves the mel unchanged.

    Attributes:
        reverb_probability: Chance of a room.
        rt60_seconds: Reverberation time at the lowest band.
        reverb_damping: Share by which the reverberation time falls from the
            lowest to the highest band (air and walls absorb high frequencies).
        reverb_wet: Share of the power that goes through the room.
        eq_probability: Chance of a random equaliser curve.
        eq_db: Largest boost or cut of the curve at any band, in dB.
        eq_order: Cosine terms of the curve (1 is a tilt; more, more wiggles).
        lowpass_probability: Chance of a low-pass (a phone, a low-bitrate codec).
        lowpass_hz: Cutoff frequency.
        lowpass_slope_db: Attenuation per octave above the cutoff, in dB.
        noise_probability: Chance of additive noise.
        snr_db: Signal-to-noise ratio of the clip's mel power.
        noise_exponent: Colour of the noise: power per FFT bin proportional to
            ``frequency ** -exponent`` (0 white, 1 pink, 2 brown).
        gain_probability: Chance of a gain.
        gain_db: Largest gain, up or down, in dB.
    """

    reverb_probability: float = 0.6
    rt60_seconds: tuple[float, float] = (0.2, 2.0)
    reverb_damping: tuple[float, float] = (0.0, 0.7)
    reverb_wet: tuple[float, float] = (0.1, 0.6)
    eq_probability: float = 0.5
    eq_db: float = 6.0
    eq_order: int = 4
    lowpass_probability: float = 0.4
    lowpass_hz: tuple[float, float] = (2200.0, 4000.0)
    lowpass_slope_db: tuple[float, float] = (12.0, 48.0)
    noise_probability: float = 0.3
    snr_db: tuple[float, float] = (5.0, 40.0)
    noise_exponent: tuple[float, float] = (0.0, 2.0)
    gain_probability: float = 0.3
    gain_db: float = 10.0

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name.endswith("probability") and not 0.0 <= value <= 1.0:
                raise ConfigError(f"TimbreAugment.{field.name} = {value} is not in [0, 1]")
            if isinstance(value, tuple) and not (len(value) == 2 and value[0] <= value[1]):
                raise ConfigError(f"TimbreAugment.{field.name} = {value} is not (low, high)")
        if self.rt60_seconds[0] <= 0 or not 0 <= self.reverb_damping[1] < 1:
            raise ConfigError(
                "TimbreAugment: rt60_seconds must be positive and reverb_damping in [0, 1)"
            )
        if self.lowpass_hz[0] <= 0 or self.eq_order < 1 or min(self.eq_db, self.gain_db) < 0:
            raise ConfigError(
                "TimbreAugment: lowpass_hz must be positive, eq_order at least 1, "
                "eq_db and gain_db not negative"
            )

    def response_frames(self, grid: FrameGrid) -> int:
        """Frames of the longest room response: until the power fell by 60 dB."""
        return max(1, math.ceil(self.rt60_seconds[1] * grid.frames_per_second))


@dataclasses.dataclass(frozen=True)
class _Bands:
    """Constants of a grid's mel bands (numpy, computed once per grid)."""

    centres_hz: np.ndarray  # [n_mels] centre frequency of each band
    positions: np.ndarray  # [n_mels] 0 (lowest band) .. 1 (highest)
    weights: np.ndarray  # [fft bins, n_mels] the mel filterbank
    bin_hz: np.ndarray  # [fft bins] frequency of each FFT bin (bin 0 as bin 1)
    degrees: np.ndarray  # [n_mels] effective number of FFT bins summed by each band


@functools.lru_cache(maxsize=4)
def _bands(grid: FrameGrid) -> _Bands:
    # tf.signal's filterbank is HTK's: band b spans mel points b .. b + 2, equally
    # spaced in mel = 1127 ln(1 + f / 700) between fmin and fmax; its centre is b + 1.
    low, high = (1127.0 * math.log1p(hz / 700.0) for hz in (grid.fmin, grid.fmax))
    points = np.linspace(low, high, grid.n_mels + 2)[1:-1]
    centres = 700.0 * np.expm1(points / 1127.0)
    with tf.init_scope():  # eager even when first called while tracing a tf.data map
        weights = mel_weight_matrix(grid).numpy().astype(np.float64)
    bin_hz = np.arange(weights.shape[0]) * grid.sample_rate / grid.fft_length
    bin_hz[0] = bin_hz[1]
    squares = np.square(weights).sum(axis=0)
    degrees = np.square(weights.sum(axis=0)) / np.where(squares > 0, squares, 1.0)
    return _Bands(
        centres,
        np.linspace(0.0, 1.0, grid.n_mels),
        weights,
        bin_hz,
        np.maximum(degrees, 1.0),
    )


def equalize(power: tf.Tensor, curve_db: tf.Tensor) -> tf.Tensor:
    """Multiplies each band of ``[frames, n_mels]`` mel power by a gain curve ``[n_mels]`` in dB."""
    return power * tf.exp(tf.cast(curve_db, tf.float32) * _DB)


def eq_curve(seed: tf.Tensor, max_db: float, order: int, grid: FrameGrid) -> tf.Tensor:
    """A smooth random equaliser curve over the mel bands, in dB.

    A sum of ``order`` cosines over the band positions ``x`` in [0, 1],
    ``a_k cos(pi k x)`` with ``a_k`` uniform in ``[-1/k, 1/k]`` (slow terms
    dominate: ``k = 1`` alone is a spectral tilt), scaled so that its largest
    magnitude is drawn uniformly in ``[0, max_db]``.

    Args:
        seed: Shape ``[2]`` int seed.
        max_db: Largest boost or cut at any band.
        order: Cosine terms.
        grid: The frame grid (its ``n_mels``).

    Returns:
        float32 ``[n_mels]``.
    """
    draws = tf.random.stateless_uniform([order + 1], seed)
    k = tf.range(1, order + 1, dtype=tf.float32)
    amplitudes = (2.0 * draws[1:] - 1.0) / k
    x = tf.constant(_bands(grid).positions, tf.float32)
    curve = tf.reduce_sum(amplitudes[:, None] * tf.cos(math.pi * k[:, None] * x), axis=0)
    return curve * tf.math.divide_no_nan(max_db * draws[0], tf.reduce_max(tf.abs(curve)))


def low_pass_db(cutoff_hz: tf.Tensor, slope_db: tf.Tensor, grid: FrameGrid) -> tf.Tensor:
    """The ``[n_mels]`` gain in dB of a low-pass: 0 up to the cutoff, then ``-slope_db`` per octave.

    Apply it with :func:`equalize`; bands centred at or below the cutoff are unchanged.
    """
    centres = tf.constant(_bands(grid).centres_hz, tf.float32)
    octaves = tf.math.log(centres / tf.cast(cutoff_hz, tf.float32)) / math.log(2.0)
    return -tf.cast(slope_db, tf.float32) * tf.maximum(octaves, 0.0)


def coloured_noise(
    seed: tf.Tensor, frames: int | tf.Tensor, exponent: tf.Tensor, grid: FrameGrid
) -> tf.Tensor:
    """Mel power ``[frames, n_mels]`` of noise whose FFT-bin power follows ``f ** -exponent``.

    Each band's mean is the filterbank applied to that spectrum; each frame's
    value fluctuates as a sum of the band's bins would, a gamma draw with as many
    degrees of freedom as the band effectively sums bins (frames are drawn
    independently, although overlapping windows correlate them).
    """
    bands = _bands(grid)
    spectrum = tf.pow(tf.constant(bands.bin_hz, tf.float32), -tf.cast(exponent, tf.float32))
    mean = tf.linalg.matvec(tf.constant(bands.weights, tf.float32), spectrum, transpose_a=True)
    degrees = tf.constant(bands.degrees, tf.float32)
    draws = tf.random.stateless_gamma([frames, grid.n_mels], seed, alpha=degrees) / degrees
    return draws * mean


def add_noise(power: tf.Tensor, noise: tf.Tensor, snr_db: tf.Tensor) -> tf.Tensor:
    """Adds noise scaled so that the clip's total mel power is ``snr_db`` above the noise's.

    A silent clip stays silent.
    """
    scale = tf.math.divide_no_nan(tf.reduce_sum(power), tf.reduce_sum(noise))
    return power + noise * scale * tf.exp(-tf.cast(snr_db, tf.float32) * _DB)


def room_response(
    rt60_seconds: tf.Tensor, damping: tf.Tensor, frames: int, grid: FrameGrid
) -> tf.Tensor:
    """The ``[frames, n_mels]`` power response of a room, each band summing to 1.

    Band ``b`` decays by 60 dB in ``rt60_seconds * (1 - damping * x_b)``
    (``x_b`` from 0 at the lowest band to 1 at the highest).
    """
    x = tf.constant(_bands(grid).positions, tf.float32)
    rt60 = tf.cast(rt60_seconds, tf.float32) * (1.0 - tf.cast(damping, tf.float32) * x)
    seconds = tf.range(frames, dtype=tf.float32)[:, None] / grid.frames_per_second
    decay = tf.exp(-_DECAY_DB * _DB * seconds / rt60)
    return decay / tf.reduce_sum(decay, axis=0)


def reverberate(power: tf.Tensor, response: tf.Tensor, wet: tf.Tensor) -> tf.Tensor:
    """Mixes mel power with its causal convolution along frames by a room response.

    ``(1 - wet) * power + wet * (response * power)``: the total power is kept,
    except what the room carries past the clip's last frame.

    Args:
        power: ``[frames, n_mels]`` mel power.
        response: ``[response_frames, n_mels]`` from :func:`room_response`.
        wet: Share of the power that goes through the room.
    """
    length = response.shape[0]
    padded = tf.pad(power, [[length - 1, 0], [0, 0]])[None, :, None, :]
    kernel = tf.reverse(response, [0])[:, None, :, None]
    tail = tf.nn.depthwise_conv2d(padded, kernel, [1, 1, 1, 1], "VALID")[0, :, 0, :]
    wet = tf.cast(wet, tf.float32)
    return (1.0 - wet) * power + wet * tf.maximum(tail, 0.0)


def _uniform(draw: tf.Tensor, bounds: tuple[float, float]) -> tf.Tensor:
    return bounds[0] + draw * (bounds[1] - bounds[0])


def _chance(probability: float, draw: tf.Tensor) -> bool | tf.Tensor:
    """Whether to apply a transform: a constant when the probability is 0 or 1."""
    if probability <= 0.0 or probability >= 1.0:
        return probability >= 1.0
    return draw < probability


def _apply(chosen: bool | tf.Tensor, transform, value: tf.Tensor) -> tf.Tensor:
    if isinstance(chosen, bool):
        return transform(value) if chosen else value
    return tf.cond(chosen, lambda: transform(value), lambda: value)


@tf.autograph.experimental.do_not_convert  # Python branches on settings only
def augment_timbre(
    mel: tf.Tensor, seed: tf.Tensor, augment: TimbreAugment, grid: FrameGrid
) -> tf.Tensor:
    """Applies the chain of ``augment`` to one log-mel clip.

    Room, equaliser, low-pass, noise and gain, in that order, each with its
    probability; every draw comes from ``seed``.

    Args:
        mel: float32 ``[frames, n_mels]`` log-mel clip (``log(power + log_offset)``).
        seed: Shape ``[2]`` int seed of the clip.
        augment: Probabilities and ranges.
        grid: The frame grid the clip was computed on.

    Returns:
        float32 ``[frames, n_mels]``: exactly the clip when no transform was drawn.
    """
    mel = tf.convert_to_tensor(mel, tf.float32)
    choice, room, colour, phone, noise, noise_draw, gain = tf.unstack(
        tf.random.experimental.stateless_split(seed, 7)
    )
    chances = tf.random.stateless_uniform([5], choice)
    room = tf.random.stateless_uniform([3], room)
    phone = tf.random.stateless_uniform([2], phone)
    noise = tf.random.stateless_uniform([2], noise)
    transforms = (
        (
            augment.reverb_probability,
            lambda power: reverberate(
                power,
                room_response(
                    _uniform(room[0], augment.rt60_seconds),
                    _uniform(room[1], augment.reverb_damping),
                    augment.response_frames(grid),
                    grid,
                ),
                _uniform(room[2], augment.reverb_wet),
            ),
        ),
        (
            augment.eq_probability,
            lambda power: equalize(power, eq_curve(colour, augment.eq_db, augment.eq_order, grid)),
        ),
        (
            augment.lowpass_probability,
            lambda power: equalize(
                power,
                low_pass_db(
                    _uniform(phone[0], augment.lowpass_hz),
                    _uniform(phone[1], augment.lowpass_slope_db),
                    grid,
                ),
            ),
        ),
        (
            augment.noise_probability,
            lambda power: add_noise(
                power,
                coloured_noise(
                    noise_draw, tf.shape(mel)[0], _uniform(noise[0], augment.noise_exponent), grid
                ),
                _uniform(noise[1], augment.snr_db),
            ),
        ),
    )
    chosen = [_chance(p, chances[i]) for i, (p, _) in enumerate(transforms)]

    def recorded(clip: tf.Tensor) -> tf.Tensor:
        power = tf.maximum(tf.exp(clip) - grid.log_offset, 0.0)
        for (_, transform), apply in zip(transforms, chosen, strict=True):
            power = _apply(apply, transform, power)
        return tf.math.log(power + grid.log_offset)

    undecided = [apply for apply in chosen if not isinstance(apply, bool)]
    any_chosen = any(apply is True for apply in chosen) or (
        tf.reduce_any(tf.stack(undecided)) if undecided else False
    )
    out = _apply(any_chosen, recorded, mel)
    out = _apply(
        _chance(augment.gain_probability, chances[4]),
        lambda clip: random_gain(clip, augment.gain_db, gain, grid.log_offset),
        out,
    )
    return tf.ensure_shape(out, mel.shape)

"""Log-mel front-end in core TensorFlow ops.

The same function computes the mel at preparation time, inside the training input
pipeline when a model reads raw audio, and inside exported SavedModels, so the
features are identical everywhere. Only core ``tf.signal`` ops are used: an exported
graph that contains this front-end loads without tfembed or tensorflow-io.
"""

from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf

from tfembed.features.framegrid import FrameGrid


def mel_weight_matrix(grid: FrameGrid) -> tf.Tensor:
    """Returns the ``[fft_length // 2 + 1, n_mels]`` HTK mel filterbank of ``grid``."""
    return tf.signal.linear_to_mel_weight_matrix(
        num_mel_bins=grid.n_mels,
        num_spectrogram_bins=grid.fft_length // 2 + 1,
        sample_rate=grid.sample_rate,
        lower_edge_hertz=grid.fmin,
        upper_edge_hertz=grid.fmax,
    )


def num_frames(num_samples: int, grid: FrameGrid) -> int:
    """Frames :func:`log_mel` returns for ``num_samples`` samples: ``1 + n // hop``."""
    return 1 + num_samples // grid.hop_length


def log_mel(audio: tf.Tensor, grid: FrameGrid) -> tf.Tensor:
    """Computes the centred log-mel spectrogram of mono audio.

    The signal is zero-padded by half a window on each side, so frame ``k`` is
    centred on sample ``k * hop_length``. Magnitudes are scaled so that a
    full-scale sine in one band has a mel power near 1 (log near 0); silence gives
    ``log(grid.log_offset)``.

    Args:
        audio: Float waveform at ``grid.sample_rate``, shape ``[samples]`` or
            ``[batch, samples]``, values in [-1, 1].
        grid: The frame grid.

    Returns:
        float32 tensor ``[frames, n_mels]`` (or ``[batch, frames, n_mels]``) with
        ``frames = 1 + samples // hop_length``.
    """
    audio = tf.convert_to_tensor(audio, dtype=tf.float32)
    half_window = grid.fft_length // 2
    paddings = [[0, 0]] * (audio.shape.rank - 1) + [[half_window, half_window]]
    return log_mel_of_padded(tf.pad(audio, paddings), grid)


def log_mel_of_padded(padded: tf.Tensor, grid: FrameGrid) -> tf.Tensor:
    """The log-mel frames of audio that already holds half a window before and after.

    Frame ``k`` is computed from samples ``k * hop_length`` to
    ``k * hop_length + fft_length`` of ``padded``. :func:`log_mel` pads with
    silence; long audio is cut into overlapping pieces padded with their real
    neighbouring samples instead, and gives the same frames.
    """
    padded = tf.convert_to_tensor(padded, dtype=tf.float32)
    stft = tf.signal.stft(
        padded,
        frame_length=grid.fft_length,
        frame_step=grid.hop_length,
        fft_length=grid.fft_length,
        window_fn=tf.signal.hann_window,
        pad_end=False,
    )
    magnitude = tf.abs(stft) / (grid.fft_length / 4.0)
    mel_power = tf.tensordot(tf.square(magnitude), mel_weight_matrix(grid), axes=1)
    return tf.math.log(mel_power + grid.log_offset)


def peak_normalize(audio: tf.Tensor) -> tf.Tensor:
    """Scales mono audio so that its largest magnitude is 1 (silence stays silent).

    The renderings the models are trained on are normalised this way, once per
    piece; preparation, ``embed_audio`` in exported models and the HEAR API all
    normalise with this one function.
    """
    audio = tf.convert_to_tensor(audio, dtype=tf.float32)
    return tf.math.divide_no_nan(audio, tf.reduce_max(tf.abs(audio)))


def normalized_log_mel(audio: tf.Tensor, grid: FrameGrid) -> tf.Tensor:
    """:func:`log_mel` of peak-normalised ``[samples]`` audio: the models' audio input."""
    return log_mel(peak_normalize(audio), grid)


@functools.lru_cache(maxsize=4)
def compiled_log_mel(grid: FrameGrid):
    """Returns :func:`normalized_log_mel` of ``[samples]`` audio as a graph function.

    Preparation computes its mels with it (40% faster than eager).
    """
    return tf.function(
        lambda audio: normalized_log_mel(audio, grid),
        input_signature=[tf.TensorSpec([None], tf.float32)],
    )


def rendering_log_mel(audio: np.ndarray, grid: FrameGrid, num_frames: int) -> np.ndarray:
    """The first ``num_frames`` of the log-mel of a whole piece's rendering.

    The log-mel is computed on the whole rendering (one loudness normalisation per
    piece, no release tail inside a clip); preparation and ``tfembed-embed`` both
    take their mel frames from here.

    Args:
        audio: float32 ``[samples]``, the piece rendered once.
        grid: The frame grid.
        num_frames: Frames to return (at most the rendering's, which lasts the
            piece plus a release tail).

    Returns:
        float32 ``[num_frames, n_mels]``.
    """
    return compiled_log_mel(grid)(audio).numpy()[:num_frames]

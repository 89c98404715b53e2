"""The HEAR 2021 common API for tfembed mel models.

Any HEAR evaluation kit can score an exported mel model through this module::

    hear-validator tfembed.inference.hear --model saved_models/NAME

* :func:`load_model` returns a ``tf.Module`` with ``sample_rate`` (16000),
  ``scene_embedding_size`` and ``timestamp_embedding_size`` (128);
* :func:`get_timestamp_embeddings` embeds a 3-second window centred on a
  timestamp every :data:`TIMESTAMP_HOP_FRAMES` frames (46.875 ms), the audio
  padded with half a window of silence on each side, so timestamps run from 0 to
  the end of the sound;
* :func:`get_scene_embeddings` is the mean of a sound's timestamp embeddings.

Audio arrives as ``[n_sounds, n_samples]`` at ``model.sample_rate`` in [-1, 1]
(a TensorFlow tensor, or anything ``numpy.asarray`` reads); each sound is
peak-normalised like the piano renderings the models are trained on, by the
exported graph itself. Outputs are
TensorFlow float32 tensors, as the API asks of TensorFlow models. Only TensorFlow
and numpy are imported (no tensorflow-io, note-seq or torch).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfembed.inference.embedder import Embedder
from tfembed.inference.inputs import DomainError

TIMESTAMP_HOP_FRAMES = 3
"""Frames between timestamps: 3 / 64 s = 46.875 ms, within HEAR's suggested 50 ms."""


class HearModel(tf.Module):
    """A tfembed mel model with the attributes the HEAR API asks for.

    Attributes:
        embedder: The :class:`tfembed.inference.embedder.Embedder` doing the work.
        sample_rate: Audio rate the model expects, in Hz.
        scene_embedding_size: Size of a scene embedding.
        timestamp_embedding_size: Size of a timestamp embedding.
    """

    def __init__(self, embedder: Embedder) -> None:
        super().__init__(name="tfembed_hear")
        self.embedder = embedder
        self.sample_rate = int(embedder.sample_rate)
        self.scene_embedding_size = int(embedder.embedding_size)
        self.timestamp_embedding_size = int(embedder.embedding_size)


DEFAULT_MODEL = "mel_mel"
"""The shipped model :func:`load_model` loads when given no path."""


def load_model(model_file_path: str = "") -> HearModel:
    """Loads a mel SavedModel or a joint export (its mel tower) written by ``tfembed-export``.

    Args:
        model_file_path: The SavedModel folder, or the name of a shipped mel
            model (``mel_mel`` or ``mel_sym``); empty means ``mel_mel``.

    Raises:
        ExportError: No such model (the message lists those available).
        DomainError: The model reads piano rolls.
    """
    embedder = Embedder(model_file_path or DEFAULT_MODEL)
    if not embedder.reader.reads_audio:
        raise DomainError(
            f"{model_file_path} is a {embedder.domain!r} model; HEAR needs a mel (audio) model"
        )
    return HearModel(embedder)


def _sounds(audio) -> np.ndarray:
    sounds = np.asarray(audio, dtype=np.float32)
    if sounds.ndim != 2:
        raise ValueError(f"audio must be [n_sounds, n_samples], not {list(sounds.shape)}")
    if not np.isfinite(sounds).all():
        raise ValueError("audio holds NaN or infinite samples")
    return sounds


def get_timestamp_embeddings(audio, model: HearModel) -> tuple[tf.Tensor, tf.Tensor]:
    """Embeds 3-second windows centred every 46.875 ms.

    Each sound goes through the export's own ``audio_windows`` graph (peak
    normalisation, log-mel, windows), padded with half a window of silence on
    each side.

    Args:
        audio: ``[n_sounds, n_samples]`` mono audio at ``model.sample_rate``.
        model: From :func:`load_model`.

    Returns:
        Embeddings ``[n_sounds, n_timestamps, 128]`` and timestamps
        ``[n_sounds, n_timestamps]`` in milliseconds (window centres, to within
        half a frame), both float32.
    """
    embedder = model.embedder
    grid = embedder.grid
    sounds = _sounds(audio)
    count, length = sounds.shape
    steps = length // grid.hop_length // TIMESTAMP_HOP_FRAMES + 1  # up to the last sample
    half = grid.clip_samples // 2
    embeddings = np.zeros((count, steps, embedder.embedding_size), np.float32)
    for index, sound in enumerate(sounds):  # one sound at a time: long sounds fit in memory
        padded = np.pad(sound, [half, grid.clip_samples - half])
        # Padded frame s is centred on the sound's frame s - clip_frames / 2, so
        # the window starting at s is centred on frame s (within half a frame).
        windows = embedder.embed_prepared_audio(padded, TIMESTAMP_HOP_FRAMES)
        embeddings[index] = windows.embedding[:steps]
    timestamps = np.arange(steps) * (TIMESTAMP_HOP_FRAMES * 1000.0 / grid.frames_per_second)
    return (
        tf.constant(embeddings, tf.float32),
        tf.constant(np.tile(timestamps, (count, 1)), tf.float32),
    )


def get_scene_embeddings(audio, model: HearModel) -> tf.Tensor:
    """Embeds whole sounds: the mean of their timestamp embeddings.

    Args:
        audio: ``[n_sounds, n_samples]`` mono audio at ``model.sample_rate``.
        model: From :func:`load_model`.

    Returns:
        float32 ``[n_sounds, 128]``.
    """
    embeddings, _ = get_timestamp_embeddings(audio, model)
    return tf.reduce_mean(embeddings, axis=1)

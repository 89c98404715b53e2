"""Embedding MIDI files, audio and clips with an exported SavedModel.

:class:`Embedder` (returned by :func:`tfembed.load`) wraps a folder written by
``tfembed-export``: it reads ``metadata.json`` for the model's domain and frame
grid, turns MIDI files into that domain with the preparation code itself, turns
audio (mel models only) into the same log-mel, cuts the frames into windows of
one clip with a hop, and runs them through the ``serve`` signature in batches.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from tfembed.errors import ExportError, PieceError
from tfembed.features.framegrid import FrameGrid

METADATA_NAME = "metadata.json"  # the name tfembed.export writes (kept free of its imports)
DEFAULT_BATCH_SIZE = 64


class DomainError(PieceError):
    """An input of a kind the model cannot embed (audio given to a piano-roll model)."""


@dataclasses.dataclass(frozen=True)
class Embeddings:
    """The embeddings of one input.

    Attributes:
        embedding: float32 ``[clips, embedding_size]``, one row per window.
        timestamps: float64 ``[clips]``: start time of each window in seconds.
        padded: bool ``[clips]``: the window reaches past the end of the input
            and was padded with silence.
        piece_embedding: float32 ``[embedding_size]``: the mean of the unpadded
            windows' embeddings (of all windows when every one is padded).
    """

    embedding: np.ndarray
    timestamps: np.ndarray
    padded: np.ndarray
    piece_embedding: np.ndarray

    def arrays(self) -> dict[str, np.ndarray]:
        """Returns the fields as a dict of arrays, the keys of the ``.npz`` files."""
        return dataclasses.asdict(self)


def window_starts(total_frames: int, clip_frames: int, hop_frames: int) -> np.ndarray:
    """Returns the first frames of the windows that cover ``total_frames`` frames.

    Windows of ``clip_frames`` start at frame 0 and every ``hop_frames`` after, as
    long as the earlier ones leave frames uncovered, so the last window may reach
    past the end; input shorter than one window gets one window.

    Raises:
        ValueError: No frames, or a hop below one frame.
    """
    if total_frames < 1:
        raise ValueError("no frames to embed")
    if hop_frames < 1:
        raise ValueError(f"the hop must be at least one frame, not {hop_frames}")
    count = 1 + max(0, math.ceil((total_frames - clip_frames) / hop_frames))
    return np.arange(count) * hop_frames


class Embedder:
    """A loaded SavedModel that embeds MIDI files, audio and clips.

    Attributes:
        path: The SavedModel folder.
        metadata: Its ``metadata.json``.
        domain: ``mel`` (audio) or ``roll`` (piano roll).
        grid: The frame grid the model was trained on.
        embedding_size: Size of one embedding (128).
        sample_rate: Audio rate of the model in Hz (16000).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        batch_size: int = DEFAULT_BATCH_SIZE,
        soundfont: str | os.PathLike | None = None,
    ) -> None:
        """Loads a SavedModel written by ``tfembed-export``.

        Args:
            path: The SavedModel folder (with ``metadata.json`` beside ``saved_model.pb``).
            batch_size: Clips per call of the model.
            soundfont: Soundfont to render MIDI with for mel models; found as in
                preparation when ``None``.

        Raises:
            FileNotFoundError: ``path`` is not an exported tfembed model.
            ExportError: Its ``metadata.json`` or ``saved_model.pb`` is corrupt.
        """
        self.path = Path(path)
        metadata_path = self.path / METADATA_NAME
        if not metadata_path.is_file():
            raise FileNotFoundError(
                f"{self.path} is not a tfembed SavedModel ({METADATA_NAME} is missing; "
                "write one with tfembed-export)"
            )
        try:
            self.metadata: dict[str, Any] = json.loads(metadata_path.read_text())
            self.domain: str = self.metadata["domain"]
            self.grid = FrameGrid.from_dict(self.metadata["frame_grid"])
            self.embedding_size: int = int(self.metadata["embedding_size"])
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ExportError(
                f"{metadata_path} is corrupt ({type(error).__name__}: {error}); "
                "export the model again with tfembed-export"
            ) from error
        self.sample_rate: int = self.grid.sample_rate
        self.batch_size = batch_size
        self._soundfont = soundfont
        # Keep the loaded object: its functions are only valid while it lives.
        try:
            self._model = tf.saved_model.load(str(self.path))
            self._serve = self._model.serve
        except Exception as error:  # protobuf DecodeError, OSError, tf.errors.*: all mean corrupt
            reason = getattr(error, "message", None) or str(error) or type(error).__name__
            raise ExportError(
                f"{self.path} holds a SavedModel that cannot be loaded "
                f"({type(error).__name__}: {reason.splitlines()[0][:200]}); "
                "export the model again with tfembed-export"
            ) from error

    @property
    def pad_value(self) -> float:
        """The value of a silent frame in the model's domain."""
        return math.log(self.grid.log_offset) if self.domain == "mel" else 0.0

    def hop_frames(self, hop_seconds: float | None) -> int:
        """Frames between window starts for a hop in seconds (default: one clip)."""
        if hop_seconds is None:
            return self.grid.clip_frames
        if not hop_seconds > 0:
            raise ValueError(f"the hop must be positive, not {hop_seconds}")
        hop = round(hop_seconds * self.grid.frames_per_second)
        if hop < 1:
            raise ValueError(
                f"a hop of {hop_seconds} s is below one frame (1/{self.grid.frames_per_second} s)"
            )
        return hop

    def _embed_batches(self, batches) -> np.ndarray:
        """Runs ``serve`` on an iterable of clip batches; returns ``[clips, size]``."""
        embedded = [self._serve(tf.constant(batch, tf.float32)).numpy() for batch in batches]
        if not embedded:
            return np.zeros((0, self.embedding_size), np.float32)
        return np.concatenate(embedded)

    def embed_clips(self, clips: np.ndarray) -> np.ndarray:
        """Embeds clips of the model's domain, in batches.

        Args:
            clips: float ``[n, clip_frames, 96]`` (e.g. the ``mel`` or ``roll`` of
                prepared clips).

        Returns:
            float32 ``[n, embedding_size]``.
        """
        clips = np.asarray(clips, dtype=np.float32)
        expected = (self.grid.clip_frames, self.grid.n_mels)
        if clips.ndim != 3 or clips.shape[1:] != expected:
            raise ValueError(f"clips must have shape [n, {expected[0]}, {expected[1]}]")
        return self._embed_batches(
            clips[start : start + self.batch_size]
            for start in range(0, len(clips), self.batch_size)
        )

    def embed_windows(self, frames: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """Embeds the windows of one clip that start at ``starts``, in batches.

        Only one batch of windows is held at a time. Frames past the end are
        filled with the domain's silence (:attr:`pad_value`).

        Args:
            frames: ``[frames, 96]`` features of the model's domain.
            starts: First frame of each window.

        Returns:
            float32 ``[len(starts), embedding_size]``.
        """
        clip = self.grid.clip_frames
        frames = np.asarray(frames, dtype=np.float32)
        missing = int(np.max(starts, initial=0)) + clip - len(frames)
        if missing > 0:
            silence = np.full((missing, frames.shape[1]), self.pad_value, np.float32)
            frames = np.concatenate([frames, silence])
        return self._embed_batches(
            np.stack(
                [frames[first : first + clip] for first in starts[index : index + self.batch_size]]
            )
            for index in range(0, len(starts), self.batch_size)
        )

    def embed_frames(self, frames: np.ndarray, hop_seconds: float | None = None) -> Embeddings:
        """Embeds ``[frames, 96]`` features of the model's domain window by window.

        Args:
            frames: A log-mel or piano roll on the model's frame grid.
            hop_seconds: Seconds between window starts; ``None`` for one clip
                (3 s, consecutive windows as in preparation). Smaller hops overlap.

        Raises:
            PieceError: No frames.
        """
        if not len(frames):
            raise PieceError(f"shorter than one frame (1/{self.grid.frames_per_second} s)")
        clip = self.grid.clip_frames
        starts = window_starts(len(frames), clip, self.hop_frames(hop_seconds))
        padded = starts + clip > len(frames)
        embedding = self.embed_windows(frames, starts)
        whole = embedding[~padded] if (~padded).any() else embedding
        return Embeddings(
            embedding=embedding,
            timestamps=starts / self.grid.frames_per_second,
            padded=padded,
            piece_embedding=whole.mean(axis=0),
        )

    def midi_frames(self, path: str | os.PathLike) -> np.ndarray:
        """Returns a MIDI file's frames in the model's domain, as preparation computes them.

        Raises:
            PieceError: The file cannot be read as MIDI or has no pitched notes.
        """
        from tfembed.preparation.piece import midi_features
        from tfembed.preparation.render import check_fluidsynth, find_soundfont

        soundfont = None
        if self.domain == "mel":
            check_fluidsynth()
            soundfont = find_soundfont(self._soundfont)
        return midi_features(path, self.domain, self.grid, soundfont)

    def embed_midi(self, path: str | os.PathLike, hop_seconds: float | None = None) -> Embeddings:
        """Embeds a MIDI file: rendered and log-mel for mel models, piano roll for roll models.

        Args:
            path: The MIDI file.
            hop_seconds: Seconds between window starts (default: one clip).

        Raises:
            PieceError: The file cannot be read as MIDI or has no pitched notes.
        """
        return self.embed_frames(self.midi_frames(path), hop_seconds)

    def _require_mel(self) -> None:
        if self.domain != "mel":
            raise DomainError(
                f"the model reads piano rolls (domain {self.domain!r}); "
                "audio needs a mel model, give it MIDI files"
            )

    def audio_frames(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        """Returns the log-mel of audio as the model sees it.

        The audio is downmixed to mono, resampled to the model's rate and
        peak-normalised like the piano renderings the models are trained on.

        Raises:
            DomainError: The model reads piano rolls, not audio.
            PieceError: The audio is empty, silent, or holds NaN samples.
        """
        from tfembed.features.frontend import compiled_log_mel
        from tfembed.inference.audio import check_samples, resample, to_mono

        self._require_mel()
        mono = to_mono(samples)
        check_samples(mono)
        mono = resample(mono, int(sample_rate), self.sample_rate)
        mono = mono / np.max(np.abs(mono))
        return compiled_log_mel(self.grid)(mono).numpy()

    def embed_audio(
        self, samples: np.ndarray, sample_rate: int, hop_seconds: float | None = None
    ) -> Embeddings:
        """Embeds audio (mel models only).

        Args:
            samples: float ``[samples]`` or ``[samples, channels]`` in [-1, 1].
            sample_rate: Their rate in Hz; resampled to the model's.
            hop_seconds: Seconds between window starts (default: one clip).

        Raises:
            DomainError: The model reads piano rolls.
            PieceError: The audio is empty, silent, or holds NaN samples.
        """
        return self.embed_frames(self.audio_frames(samples, sample_rate), hop_seconds)

    def embed_audio_file(
        self, path: str | os.PathLike, hop_seconds: float | None = None
    ) -> Embeddings:
        """Embeds an audio file (wav, flac, mp3, ogg) decoded with tensorflow-io.

        Raises:
            DomainError: The model reads piano rolls.
            PieceError: The file is unreadable, unsupported, corrupt, silent, or
                holds NaN samples.
        """
        from tfembed.inference.audio import read_audio

        self._require_mel()
        return self.embed_audio(read_audio(path, self.sample_rate), self.sample_rate, hop_seconds)

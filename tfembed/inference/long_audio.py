"""Embedding long audio files in bounded memory, a chunk at a time.

A whole hour of audio decoded, resampled and turned into a log-mel at once took
about 94 MB per minute (5.6 GB for an hour). Here the file is decoded and
resampled a chunk at a time into a temporary file on disk (its peak is found on
the way), then each group of windows gets its log-mel from just the samples it
spans plus half an STFT window of real neighbours on each side, and is embedded
through ``serve``. The frames, the windows and their padding are those of the
exported ``audio_windows`` graph (:mod:`tfembed.features.frontend`,
:mod:`tfembed.features.windows`), so the embeddings are the same.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tensorflow as tf

from tfembed.errors import PieceError
from tfembed.features.framegrid import EMBED_BATCH_SIZE, FrameGrid
from tfembed.features.frontend import log_mel_of_padded
from tfembed.features.windows import embed_windows, window_layout
from tfembed.inference.audio import AudioFile, check_finite, check_peak, resampled_chunks

CHUNK_SECONDS = 60.0
"""Audio decoded, and frames computed, per chunk."""


def _spool(
    audio: AudioFile, rate: int, folder: Path, chunk_seconds: float
) -> tuple[np.memmap, float]:
    """Writes the file mono at ``rate`` to ``folder``; returns it memory-mapped, and its peak."""
    path = folder / "samples.f32"
    peak, count = 0.0, 0
    with open(path, "wb") as stream:
        for chunk in resampled_chunks(audio, rate, chunk_seconds):
            if len(chunk):
                check_finite(chunk, count)
                peak = max(peak, float(np.max(np.abs(chunk))))
            stream.write(chunk.astype(np.float32).tobytes())
            count += len(chunk)
    if count == 0:
        raise PieceError("no audio samples")
    check_peak(peak)
    return np.memmap(path, np.float32, mode="r", shape=(count,)), peak


def embed_audio_in_chunks(
    serve: Callable[[tf.Tensor], tf.Tensor],
    grid: FrameGrid,
    embedding_size: int,
    audio: AudioFile,
    hop_frames: int,
    chunk_seconds: float = CHUNK_SECONDS,
    batch_size: int = EMBED_BATCH_SIZE,
    progress: Callable[[float], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Embeds a long audio file with bounded memory.

    Args:
        serve: A mel model's ``serve`` signature: clips ``[batch, frames, bins]``
            -> ``[batch, embedding_size]``.
        grid: The model's frame grid.
        embedding_size: Size of one embedding.
        audio: The file.
        hop_frames: Frames between window starts.
        chunk_seconds: Audio decoded, and frames computed, per chunk.
        batch_size: Clips per call of ``serve``.
        progress: Called after each group of windows with the share of the
            windows embedded so far (0 to 1), for a progress bar.

    Returns:
        ``embedding`` ``[windows, size]``, ``start_frame`` ``[windows]`` and
        ``padded`` ``[windows]``, as the export's ``audio_windows`` gives them.
    """
    clip, hop, half = grid.clip_frames, grid.hop_length, grid.fft_length // 2
    with tempfile.TemporaryDirectory(prefix="tfembed-audio-") as folder:
        samples, peak = _spool(audio, grid.sample_rate, Path(folder), chunk_seconds)
        total_frames = 1 + len(samples) // hop
        starts, padded = (array.numpy() for array in window_layout(total_frames, clip, hop_frames))
        per_group = max(1, round(chunk_seconds * grid.frames_per_second) // hop_frames)
        parts = []
        for first in range(0, len(starts), per_group):
            group = starts[first : first + per_group]
            begin, end = int(group[0]), min(total_frames, int(group[-1]) + clip)
            low, high = begin * hop - half, (end - 1) * hop + half
            segment = np.zeros(high - low, np.float32)
            inside = samples[max(0, low) : min(len(samples), high)]
            segment[max(0, -low) : max(0, -low) + len(inside)] = inside / peak
            frames = log_mel_of_padded(segment, grid)
            embedded = embed_windows(
                serve,
                frames,
                tf.constant(group - begin, tf.int32),
                clip,
                grid.silence("mel"),
                embedding_size,
                batch_size,
            )
            parts.append(embedded.numpy())
            if progress is not None:
                progress((first + len(group)) / len(starts))
        del samples
    return np.concatenate(parts), starts, padded

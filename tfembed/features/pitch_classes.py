"""Pitch-class maps of the two input domains: where each mel band or roll pitch falls in the octave.

Both the hand-made baseline features (:mod:`tfembed.features.handmade`) and a
tower's optional pitch-class branch (``train.pitch_classes``) fold a clip onto the
12 pitch classes with these maps: a roll pitch belongs to one class; a mel
band's power spreads over the classes its filter covers (the bands resolve
semitones only above about 500 Hz, so the mel map is coarse in the bass).
"""

from __future__ import annotations

import functools

import numpy as np

from tfembed.features.framegrid import FrameGrid
from tfembed.features.frontend import mel_weight_matrix

PITCH_CLASSES = 12


@functools.lru_cache(maxsize=4)
def band_chroma_weights(grid: FrameGrid) -> np.ndarray:
    """``[n_mels, 12]``: how each mel band's power spreads over the pitch classes.

    A band's share of pitch class ``c`` is the part of its triangular filter that
    lies on FFT bins whose nearest pitch has class ``c`` (0 = C).
    """
    weights = mel_weight_matrix(grid).numpy()[1:]
    frequencies = np.arange(1, weights.shape[0] + 1) * grid.sample_rate / grid.fft_length
    pitch_classes = np.round(69 + 12 * np.log2(frequencies / 440.0)).astype(np.int64) % 12
    shares = weights.T @ np.eye(PITCH_CLASSES)[pitch_classes]
    return shares / np.maximum(shares.sum(axis=1, keepdims=True), 1e-12)


def roll_pitch_classes(grid: FrameGrid) -> np.ndarray:
    """``[n_pitches]``: the pitch class (0 = C) of each piano-roll row."""
    return (grid.lowest_pitch + np.arange(grid.n_pitches)) % PITCH_CLASSES


def pitch_class_weights(grid: FrameGrid, domain: str) -> np.ndarray:
    """``[bins, 12]`` float32: each bin's share of every pitch class, for ``mel`` or ``roll``."""
    if domain == "mel":
        return band_chroma_weights(grid).astype(np.float32)
    return np.eye(PITCH_CLASSES, dtype=np.float32)[roll_pitch_classes(grid)]

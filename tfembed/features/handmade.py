"""Hand-made clip features: the baseline a learned embedding has to beat.

The evaluation reports them as a row; training can ask the embedding to carry
them (``train.feature_workers``, :mod:`tfembed.models.feature_workers`).

* Mel clips: mean and standard deviation of each band over time, and a 12-bin
  chroma that spreads the linear power of each band over the pitch classes its
  filter covers (:mod:`tfembed.features.pitch_classes`).
* Piano-roll clips: pitch-class histogram, lowest, highest, mean and spread of
  the sounding pitches, onsets per second, mean and largest polyphony and the
  share of frames in which something sounds.
"""

from __future__ import annotations

import numpy as np

from tfembed.features.framegrid import FrameGrid
from tfembed.features.pitch_classes import band_chroma_weights, roll_pitch_classes


def mel_features(clips: np.ndarray, grid: FrameGrid) -> np.ndarray:
    """Band statistics and chroma of log-mel clips.

    Args:
        clips: ``[n, frames, n_mels]`` log-mel clips.
        grid: Their frame grid.

    Returns:
        float32 ``[n, 2 * n_mels + 12]`` features.
    """
    power = np.exp(clips.astype(np.float64)) - grid.log_offset
    band_power = power.mean(axis=1)
    chroma = band_power @ band_chroma_weights(grid)
    chroma /= np.maximum(chroma.sum(axis=1, keepdims=True), 1e-12)
    return np.concatenate([clips.mean(axis=1), clips.std(axis=1), chroma], axis=1).astype(
        np.float32
    )


def roll_features(clips: np.ndarray, grid: FrameGrid) -> np.ndarray:
    """Pitch-class, pitch-range, onset and polyphony statistics of piano-roll clips.

    Args:
        clips: ``[n, frames, n_pitches]`` binary piano rolls.
        grid: Their frame grid.

    Returns:
        float32 ``[n, 20]`` features.
    """
    active = clips > 0
    pitches = grid.lowest_pitch + np.arange(grid.n_pitches)
    classes = roll_pitch_classes(grid)
    frames_per_pitch = active.sum(axis=1).astype(np.float64)
    sounding = frames_per_pitch.sum(axis=1, keepdims=True)
    histogram = np.stack(
        [frames_per_pitch[:, classes == pitch_class].sum(axis=1) for pitch_class in range(12)],
        axis=1,
    ) / np.maximum(sounding, 1.0)
    used = frames_per_pitch > 0
    lowest = np.where(used.any(axis=1), pitches[np.argmax(used, axis=1)], 0)
    highest = np.where(used.any(axis=1), pitches[::-1][np.argmax(used[:, ::-1], axis=1)], 0)
    share = frames_per_pitch / np.maximum(sounding, 1.0)
    mean_pitch = share @ pitches
    pitch_spread = np.sqrt(np.maximum(share @ pitches**2 - mean_pitch**2, 0.0))
    starts = active[:, 1:] & ~active[:, :-1]
    onsets = starts.sum(axis=(1, 2)) + active[:, 0].sum(axis=1)
    polyphony = active.sum(axis=2)
    clip_seconds = clips.shape[1] / grid.frames_per_second
    statistics = np.stack(
        [
            lowest,
            highest,
            mean_pitch,
            pitch_spread,
            onsets / clip_seconds,
            polyphony.mean(axis=1),
            polyphony.max(axis=1),
            (polyphony > 0).mean(axis=1),
        ],
        axis=1,
    )
    return np.concatenate([histogram, statistics], axis=1).astype(np.float32)


def handmade_groups(domain: str, grid: FrameGrid) -> tuple[int, ...]:
    """Sizes of the groups of the hand-made features of a ``mel`` or ``roll`` clip, in order.

    Mel: band means, band deviations, chroma. Roll: pitch-class histogram;
    lowest, highest, mean pitch and spread; onsets per second, mean and
    largest polyphony, share of sounding frames.
    """
    return (grid.n_mels, grid.n_mels, 12) if domain == "mel" else (12, 4, 4)


ROLL_STATISTICS = (
    "lowest pitch",
    "highest pitch",
    "mean pitch",
    "pitch spread",
    "onsets per second",
    "mean polyphony",
    "largest polyphony",
    "sounding share",
)
"""Names of the roll features after the 12-bin pitch-class histogram, in order."""


def handmade_names(domain: str, grid: FrameGrid) -> tuple[str, ...]:
    """A name for each column of the hand-made features of a ``mel`` or ``roll`` clip."""
    if domain == "mel":
        bands = range(grid.n_mels)
        return (
            *(f"band {band} mean" for band in bands),
            *(f"band {band} deviation" for band in bands),
            *(f"chroma {pitch_class}" for pitch_class in range(12)),
        )
    return (*(f"pitch class {pitch_class}" for pitch_class in range(12)), *ROLL_STATISTICS)


def handmade_size(domain: str, grid: FrameGrid) -> int:
    """Size of the hand-made features of a ``mel`` or ``roll`` clip on ``grid``."""
    return sum(handmade_groups(domain, grid))


def handmade_features(clips: np.ndarray, domain: str, grid: FrameGrid) -> np.ndarray:
    """:func:`mel_features` of ``mel`` clips, :func:`roll_features` of ``roll`` clips."""
    compute = mel_features if domain == "mel" else roll_features
    return compute(clips, grid)

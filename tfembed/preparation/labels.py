"""Clip-level labels read off a NoteSequence: key signature, tempo, note density."""

from __future__ import annotations

import numpy as np

from tfembed.dataset.vocabulary import UNKNOWN
from tfembed.features.framegrid import FrameGrid

DEFAULT_QPM = 120.0
"""The MIDI default tempo, in effect when a file has no tempo event."""

_MINOR = 1  # note_seq KeySignature.Mode.MINOR


def key_signature_at(sequence, seconds: float) -> int:
    """Returns the key signature in effect at ``seconds`` as a major-key pitch class.

    Minor keys are mapped to their relative major (A minor -> C). A key signature
    given after ``seconds`` does not count; a file without any gives ``UNKNOWN``.
    """
    in_effect = [key for key in sequence.key_signatures if key.time <= seconds]
    if not in_effect:
        return UNKNOWN
    key = max(in_effect, key=lambda change: change.time)
    return (key.key + 3) % 12 if key.mode == _MINOR else key.key % 12


def tempo_at(sequence, seconds: float) -> float:
    """Returns the quarter notes per minute in effect at ``seconds`` (120 if none)."""
    in_effect = [tempo for tempo in sequence.tempos if tempo.time <= seconds]
    if not in_effect:
        return DEFAULT_QPM
    return float(max(in_effect, key=lambda change: change.time).qpm)


def onsets_per_second(onset_frames: np.ndarray, first_frame: int, grid: FrameGrid) -> float:
    """Returns the onsets per second of the clip that starts at ``first_frame``.

    Args:
        onset_frames: Sorted onset frames of the piece's notes (as in the piano roll,
            so an onset a rounding error before a clip boundary counts where the
            roll shows it).
        first_frame: The clip's first frame.
        grid: The frame grid.
    """
    low, high = np.searchsorted(onset_frames, [first_frame, first_frame + grid.clip_frames])
    return float(high - low) / grid.clip_seconds

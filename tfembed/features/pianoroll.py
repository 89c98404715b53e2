"""Piano roll on the shared frame grid."""

from __future__ import annotations

import numpy as np

from tfembed.features.framegrid import FrameGrid


def frame_of(seconds: float, grid: FrameGrid) -> int:
    """Returns the frame whose centre is nearest to ``seconds``.

    Frame ``k`` of both domains is centred on time ``k / frames_per_second``
    (the log-mel frames are centred STFT windows), so a note that starts at
    ``t`` is switched on in frame ``round(t * fps)``.
    """
    return round(seconds * grid.frames_per_second)


def piano_roll(sequence, grid: FrameGrid, num_frames: int) -> np.ndarray:
    """Computes the binary piano roll of a sequence.

    Args:
        sequence: A ``note_seq`` NoteSequence.
        grid: Frame grid; rows cover MIDI pitches ``lowest_pitch ..
            highest_pitch`` (notes outside are left out).
        num_frames: Frames to return; notes beyond are cropped.

    Returns:
        uint8 array ``[num_frames, n_pitches]``: 1 from a note's onset frame up to
        (not including) its offset frame, and at least its onset frame.
    """
    roll = np.zeros((num_frames, grid.n_pitches), dtype=np.uint8)
    for note in sequence.notes:
        row = note.pitch - grid.lowest_pitch
        if not 0 <= row < grid.n_pitches:
            continue
        onset = frame_of(note.start_time, grid)
        offset = max(frame_of(note.end_time, grid), onset + 1)
        roll[onset:offset, row] = 1
    return roll

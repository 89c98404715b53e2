"""A MIDI file read as preparation reads it, up to the log-mel, without TensorFlow.

Parsing, cleaning, rendering and the piano roll need no TensorFlow, so
``tfembed-embed`` does them in worker processes that never import it; the log-mel
of the rendering is computed by the process that holds the model, with the
function preparation uses (:meth:`MidiPiece.frames`).
"""

from __future__ import annotations

import dataclasses
import math
import os

import numpy as np

from tfembed.errors import PieceError
from tfembed.features.framegrid import FrameGrid
from tfembed.features.pianoroll import piano_roll
from tfembed.preparation.instruments import PIANO
from tfembed.preparation.midi import clean_sequence, parse_midi
from tfembed.preparation.render import render_sequence


def pitch_range(grid: FrameGrid) -> str:
    """The piano roll's pitches, as messages name them."""
    return f"MIDI pitches {grid.lowest_pitch}-{grid.highest_pitch}"


def notes_out_of_range(sequence, grid: FrameGrid) -> list:
    """The notes of a cleaned sequence outside the piano roll's pitches.

    Raises:
        PieceError: Every note is outside: the piece has no roll to learn from or
            to embed.
    """
    outside = [
        note for note in sequence.notes if not grid.lowest_pitch <= note.pitch <= grid.highest_pitch
    ]
    if len(outside) == len(sequence.notes):
        raise PieceError(f"out of range: all {len(outside)} notes are outside {pitch_range(grid)}")
    return outside


@dataclasses.dataclass(frozen=True)
class MidiPiece:
    """A MIDI file read for one domain, all but the log-mel.

    Attributes:
        num_frames: The piece's frames on the grid, ``floor(total_time * frames_per_second)``.
        rendering: float32 samples of the whole piece rendered (``mel``), else ``None``.
        roll: float32 piano roll ``[num_frames, n_pitches]`` (``roll``), else ``None``.
        cut_at_seconds: The length the piece was cut at (``None`` when it is
            shorter than the cap).
        repairs: What was dropped or reinterpreted to read the file, one line each.
    """

    num_frames: int
    rendering: np.ndarray | None
    roll: np.ndarray | None
    cut_at_seconds: float | None
    repairs: tuple[str, ...]

    def frames(self, grid: FrameGrid) -> np.ndarray:
        """The piece's float32 ``[frames, bins]``: its roll, or its rendering's log-mel.

        The log-mel is computed on the whole rendering by the function preparation
        uses (:func:`tfembed.features.frontend.rendering_log_mel`), in the calling
        process (it imports TensorFlow).
        """
        if self.rendering is None:
            return self.roll
        from tfembed.features.frontend import rendering_log_mel

        return rendering_log_mel(self.rendering, grid, self.num_frames)


def read_midi_piece(
    path: str | os.PathLike,
    domain: str,
    grid: FrameGrid,
    soundfont: str | os.PathLike | None,
    max_seconds: float = math.inf,
    instruments: str = PIANO,
) -> MidiPiece:
    """Reads a MIDI file for one domain, exactly as preparation does.

    The file is parsed and cleaned like a prepared piece, then rendered (``mel``)
    or turned into a piano roll (``roll``); preparation's clip ``i`` is frames
    ``i * clip_frames`` to ``(i + 1) * clip_frames`` of :meth:`MidiPiece.frames`.

    Args:
        path: The MIDI file.
        domain: ``mel`` or ``roll``.
        grid: The frame grid.
        soundfont: General MIDI soundfont (used for ``mel`` only).
        max_seconds: Longer pieces are cut here, as in preparation.
        instruments: Who plays the rendering, as ``tfembed-prepare --instruments``
            (one of :data:`tfembed.preparation.instruments.INSTRUMENT_CHOICES`;
            ``mel`` only: the roll holds the pitched notes whoever plays them).

    Raises:
        PieceError: The file is unreadable, not MIDI, corrupt, has no pitched notes
            or has every note outside the piano roll's pitches (preparation
            refuses such a piece; a roll model would embed an empty roll).
    """
    if domain not in ("mel", "roll"):
        raise ValueError(f"domain must be 'mel' or 'roll', not {domain!r}")
    parsed = parse_midi(path)
    cleaned = clean_sequence(parsed.sequence, max_seconds, instruments=instruments)
    notes_out_of_range(cleaned.sequence, grid)
    num_frames = int(cleaned.sequence.total_time * grid.frames_per_second)
    rendering = roll = None
    if domain == "mel":
        rendering = render_sequence(cleaned.performance(), grid, soundfont)
    else:
        roll = piano_roll(cleaned.sequence, grid, num_frames).astype(np.float32)
    return MidiPiece(num_frames, rendering, roll, cleaned.cut_at_seconds, tuple(parsed.repairs))

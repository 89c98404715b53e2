"""The tempo a piece is rendered at: the one its file states, or one drawn for it.

Most scores of the default corpus state no tempo. Rendering them all at MIDI's
default of 120 quarter notes per minute would leave nothing to measure on the
tempo task, and would tie note density to notation habits (a piece written in
halves sounds slower than the same music in eighths). Under the ``draw``
policy, a piece without a stated tempo is rendered at a tempo drawn for it,
log-uniformly from :data:`DRAWN_QPM_RANGE`, from the sha1 of its piece id: the
same piece always gets the same tempo, and labels (tempo, note density) follow
the rendering. Under ``stated``, such a piece keeps the default of 120 and its
tempo is left out of the tempo task.
"""

from __future__ import annotations

import copy
import hashlib
import math

from tfembed.preparation.labels import DEFAULT_QPM

TEMPO_POLICIES = ("draw", "stated")
CORPUS_TEMPO_POLICY = "draw"
"""Default for the music21 corpus: scores that state no tempo get one drawn per piece."""
MIDI_DIR_TEMPO_POLICY = "stated"
"""Default for a folder of MIDI files: a file without a tempo event is played at
MIDI's 120, its own tempo by the standard, and left out of the tempo task."""
DRAWN_QPM_RANGE = (50.0, 180.0)
"""Quarter notes per minute a drawn tempo lies in."""

STATED, DRAWN, DEFAULT = "stated", "drawn", "default"
"""Where a clip's tempo label comes from: the file, a draw, or MIDI's default of 120."""


def drawn_qpm(piece_id: str) -> float:
    """The tempo drawn for a piece, in quarter notes per minute (deterministic).

    Log-uniform in :data:`DRAWN_QPM_RANGE`, so that every relative step of tempo is
    as likely, rounded to 0.1.
    """
    fraction = int.from_bytes(hashlib.sha1(piece_id.encode()).digest()[:8], "big") / 2**64
    low, high = (math.log(qpm) for qpm in DRAWN_QPM_RANGE)
    return round(math.exp(low + fraction * (high - low)), 1)


def at_tempo(sequence, qpm: float):
    """Returns a copy of a sequence without tempo events played at ``qpm``.

    Every time is scaled by ``DEFAULT_QPM / qpm`` (the file was read at MIDI's
    default of 120) and the sequence gets one tempo event, ``qpm`` at time 0.
    """
    factor = DEFAULT_QPM / qpm
    stretched = copy.deepcopy(sequence)
    for note in stretched.notes:
        note.start_time *= factor
        note.end_time *= factor
    for changes in (
        stretched.control_changes,
        stretched.pitch_bends,
        stretched.key_signatures,
        stretched.time_signatures,
        stretched.text_annotations,
    ):
        for change in changes:
            change.time *= factor
    del stretched.tempos[:]
    stretched.tempos.add(time=0.0, qpm=qpm)
    stretched.total_time *= factor
    return stretched


def apply_tempo_policy(sequence, tempo_stated: bool, piece_id: str, policy: str):
    """Returns the sequence to render and where its tempo comes from.

    Args:
        sequence: The parsed piece.
        tempo_stated: Whether the file holds a tempo event.
        piece_id: The piece's id (seeds the drawn tempo).
        policy: ``draw`` or ``stated`` (see the module docstring).

    Returns:
        The sequence (the same object unless a tempo was drawn) and ``STATED``,
        ``DRAWN`` or ``DEFAULT``.
    """
    if policy not in TEMPO_POLICIES:
        raise ValueError(f"tempo policy must be one of {TEMPO_POLICIES}, not {policy!r}")
    if tempo_stated:
        return sequence, STATED
    if policy == "stated":
        return sequence, DEFAULT
    return at_tempo(sequence, drawn_qpm(piece_id)), DRAWN

"""MIDI files to NoteSequences, with a clear problem for every kind of bad file."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

from tfembed.errors import PieceError

with warnings.catch_warnings():
    # note_seq imports pydub, which warns about ffmpeg; audio decoding is not used here.
    warnings.filterwarnings("ignore", message="Couldn't find ffmpeg", category=RuntimeWarning)
    import pretty_midi
    from note_seq import midi_io
    from note_seq.protobuf import music_pb2

_TEMPO_META_EVENT = b"\xff\x51\x03"


def read_midi(path: str | os.PathLike) -> tuple[music_pb2.NoteSequence, bool]:
    """Parses a MIDI file.

    Args:
        path: The MIDI file.

    Returns:
        The NoteSequence and whether the file holds an explicit tempo event
        (without one, MIDI assumes 120 quarter notes per minute).

    Raises:
        PieceError: The file is unreadable, empty, not MIDI, or corrupt.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise PieceError(f"cannot read the file: {error.strerror or error}") from error
    if not data:
        raise PieceError("empty file (0 bytes)")
    if not data.startswith(b"MThd"):
        raise PieceError(f"not a MIDI file (starts with {data[:4]!r}, expected b'MThd')")
    # Parsed here rather than by note-seq, whose bare ``except`` would turn a
    # Ctrl-C during parsing into "corrupt MIDI" and let the run go on.
    try:
        sequence = midi_io.midi_to_note_sequence(pretty_midi.PrettyMIDI(io.BytesIO(data)))
    except Exception as error:
        raise PieceError(f"corrupt MIDI: {type(error).__name__}: {error}") from error
    # 0xFF 0x51 0x03 is the set-tempo meta event; MIDI data bytes are < 0x80, so it
    # can only appear as an event (or, very rarely, inside a text payload).
    return sequence, _TEMPO_META_EVENT in data

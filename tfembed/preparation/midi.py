"""MIDI files to NoteSequences ready to render.

Parsing gives a clear problem for every kind of bad file and keeps the notes of a
file whose only defects are malformed meta events; cleaning applies the length cap
and chooses the instruments that play: every part as piano without drums (the
paper's rendering, the default), or the file's own General MIDI programs, with or
without its drums (:mod:`tfembed.preparation.instruments`).
"""

from __future__ import annotations

import copy
import dataclasses
import io
import os
import warnings
from pathlib import Path

from tfembed.errors import PieceError
from tfembed.preparation.instruments import AS_WRITTEN_WITH_DRUMS, INSTRUMENT_CHOICES, PIANO
from tfembed.preparation.midi_repair import repair_midi
from tfembed.utils.files import UnreadableFileError, check_regular_file

with warnings.catch_warnings():
    # note_seq imports pydub, which warns about ffmpeg; audio decoding is not used here.
    warnings.filterwarnings("ignore", message="Couldn't find ffmpeg", category=RuntimeWarning)
    import pretty_midi
    from note_seq import midi_io
    from note_seq.protobuf import music_pb2


@dataclasses.dataclass(frozen=True)
class ParsedMidi:
    """A parsed MIDI file.

    Attributes:
        sequence: The NoteSequence (without key signatures when one was malformed).
        tempo_explicit: Whether the file states its tempo with valid tempo events
            only (without one, MIDI assumes 120 quarter notes per minute).
        repairs: What was dropped from the file to read it, one line each.
    """

    sequence: music_pb2.NoteSequence
    tempo_explicit: bool
    repairs: list[str]


def read_midi(path: str | os.PathLike) -> tuple[music_pb2.NoteSequence, bool]:
    """Parses a MIDI file (see :func:`parse_midi`).

    Returns:
        The NoteSequence and whether the file states its tempo.
    """
    parsed = parse_midi(path)
    return parsed.sequence, parsed.tempo_explicit


def parse_midi(path: str | os.PathLike) -> ParsedMidi:
    """Parses a MIDI file, dropping malformed meta events rather than the piece.

    Args:
        path: The MIDI file.

    Returns:
        The parsed file. A dropped key signature leaves the piece without any (its
        key label is unknown); a dropped tempo event makes its tempo unstated.

    Raises:
        UnreadableFileError: The file cannot be read.
        PieceError: The file is empty, not MIDI, not a regular file (a named pipe
            would hang the read), its structure is corrupt (the message says
            what and where), or every note it holds has zero length.
    """
    path = Path(path)
    check_regular_file(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UnreadableFileError(f"cannot read the file: {error.strerror or error}") from error
    if not data:
        raise PieceError("empty file (0 bytes)")
    data = _unwrap_riff_midi(data)
    if not data.startswith(b"MThd"):
        raise PieceError(f"not a MIDI file (starts with {data[:4]!r}, expected b'MThd')")
    repaired = repair_midi(data)
    # Parsed here rather than by note-seq, whose bare ``except`` would turn a
    # Ctrl-C during parsing into "corrupt MIDI" and let the run go on.
    try:
        sequence = midi_io.midi_to_note_sequence(pretty_midi.PrettyMIDI(io.BytesIO(repaired.data)))
    except Exception as error:
        detail = str(error) or "no detail given"
        raise PieceError(f"corrupt MIDI: {type(error).__name__}: {detail}") from error
    if not sequence.notes and repaired.zero_length_notes:
        raise PieceError(
            f"no notes to play: all {repaired.zero_length_notes} of its notes are released "
            "at the tick they start (zero length)"
        )
    if repaired.bad_key_signature:
        del sequence.key_signatures[:]
    tempo_explicit = repaired.tempo_events > 0 and not repaired.bad_tempo
    return ParsedMidi(sequence, tempo_explicit, repaired.repairs)


def _unwrap_riff_midi(data: bytes) -> bytes:
    """The Standard MIDI File inside a RIFF MIDI file (``RIFF....RMID``, Windows' .rmi).

    Such files are often named ``.mid``; other data is returned unchanged.

    Raises:
        PieceError: A RIFF MIDI file without a ``data`` chunk.
    """
    if not (data.startswith(b"RIFF") and data[8:12] == b"RMID"):
        return data
    position = 12
    while position + 8 <= len(data):
        name, length = (
            data[position : position + 4],
            int.from_bytes(data[position + 4 : position + 8], "little"),
        )
        if name == b"data":
            return data[position + 8 : position + 8 + length]
        position += 8 + length + length % 2  # chunks are padded to an even length
    raise PieceError("corrupt MIDI: a RIFF MIDI (RMID) file without a data chunk")


@dataclasses.dataclass(frozen=True)
class CleanedSequence:
    """A sequence ready to render, and what cleaning changed.

    Attributes:
        sequence: The pitched notes, each with the program it is played by (0,
            the piano, unless the instruments are as written): what the piano
            roll and the labels are made of.
        dropped_drum_notes: Drum notes removed (none when the drums are played).
        cut_at_seconds: The length cap the sequence was cut at, or ``None``.
        drum_notes: The drum notes that are played besides (``is_drum`` set),
            empty unless the instruments are :data:`AS_WRITTEN_WITH_DRUMS`.
    """

    sequence: music_pb2.NoteSequence
    dropped_drum_notes: int
    cut_at_seconds: float | None
    drum_notes: tuple[music_pb2.NoteSequence.Note, ...] = ()

    def performance(self) -> music_pb2.NoteSequence:
        """What is rendered: the pitched notes, and the drums when they are played."""
        if not self.drum_notes:
            return self.sequence
        played = copy.deepcopy(self.sequence)
        played.notes.extend(self.drum_notes)
        played.total_time = max(played.total_time, max(note.end_time for note in self.drum_notes))
        return played


def clean_sequence(
    sequence: music_pb2.NoteSequence,
    max_seconds: float,
    long_piece_policy: str = "cut",
    instruments: str = PIANO,
) -> CleanedSequence:
    """Chooses who plays (see :data:`INSTRUMENT_CHOICES`) and applies the length cap.

    Args:
        sequence: The parsed piece (left unchanged).
        max_seconds: The longest piece kept whole.
        long_piece_policy: ``"cut"`` keeps the first ``max_seconds`` of a longer
            piece; ``"skip"`` rejects it.
        instruments: One of :data:`tfembed.preparation.instruments.INSTRUMENT_CHOICES`.

    Returns:
        The cleaned sequence.

    Raises:
        PieceError: The piece has no notes, only drum notes, no note before the
            cap, or is too long and the policy is ``"skip"``.
    """
    if long_piece_policy not in ("cut", "skip"):
        raise ValueError(f"long_piece_policy must be 'cut' or 'skip', not {long_piece_policy!r}")
    if instruments not in INSTRUMENT_CHOICES:
        raise ValueError(f"instruments must be one of {INSTRUMENT_CHOICES}, not {instruments!r}")
    if not sequence.notes:
        raise PieceError("no notes")
    pitched = [note for note in sequence.notes if not note.is_drum]
    if not pitched:
        raise PieceError(f"only drum notes ({len(sequence.notes)}), nothing pitched to render")
    cleaned = copy.deepcopy(sequence)
    del cleaned.notes[:]
    cut_at = None
    end_of_notes = max(note.end_time for note in pitched)
    if end_of_notes > max_seconds:
        if long_piece_policy == "skip":
            raise PieceError(
                f"too long ({end_of_notes:.0f} s > cap of {max_seconds:.0f} s); "
                "skipped (raise --max_piece_seconds or use --long_pieces cut)"
            )
        cut_at = max_seconds
    cleaned.notes.extend(_notes_before(pitched, cut_at))
    if instruments == PIANO:
        for note in cleaned.notes:
            note.program = 0
    drums_played = instruments == AS_WRITTEN_WITH_DRUMS
    drums = [note for note in sequence.notes if note.is_drum]
    drum_notes = tuple(_notes_before(drums, cut_at)) if drums_played else ()
    if cut_at is not None:
        for changes in (cleaned.control_changes, cleaned.tempos, cleaned.key_signatures):
            kept_changes = [change for change in changes if change.time < cut_at]
            del changes[:]
            changes.extend(kept_changes)
    if not cleaned.notes:
        first = min(note.start_time for note in pitched)
        raise PieceError(
            f"no note starts before the cap of {max_seconds:.0f} s (the first at {first:.0f} s); "
            "raise --max_piece_seconds"
        )
    cleaned.total_time = max(note.end_time for note in cleaned.notes)
    return CleanedSequence(cleaned, 0 if drums_played else len(drums), cut_at, drum_notes)


def _notes_before(
    notes: list[music_pb2.NoteSequence.Note], cut_at: float | None
) -> list[music_pb2.NoteSequence.Note]:
    """Copies of the notes that start before ``cut_at``, ended there (all when ``None``)."""
    kept = []
    for note in notes:
        if cut_at is not None and note.start_time >= cut_at:
            continue
        copied = copy.deepcopy(note)
        if cut_at is not None:
            copied.end_time = min(copied.end_time, cut_at)
        kept.append(copied)
    return kept

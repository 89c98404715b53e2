"""Writing small real MIDI files for tests: from NoteSequences (note-seq) or raw (mido)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import mido
import note_seq
from note_seq.protobuf import music_pb2


def sequence_with(
    notes: list[tuple[int, float, float]], *, tempos=(), keys=()
) -> music_pb2.NoteSequence:
    """Builds a NoteSequence.

    Args:
        notes: ``(pitch, start, end)`` in seconds, velocity 90.
        tempos: ``(time, qpm)`` tempo changes.
        keys: ``(time, key, mode)`` key signatures (mode 0 major, 1 minor).
    """
    sequence = music_pb2.NoteSequence()
    for pitch, start, end in notes:
        sequence.notes.add(pitch=pitch, start_time=start, end_time=end, velocity=90)
    for time, qpm in tempos:
        sequence.tempos.add(time=time, qpm=qpm)
    for time, key, mode in keys:
        sequence.key_signatures.add(time=time, key=key, mode=mode)
    sequence.total_time = max(end for _, _, end in notes)
    return sequence


def write_sequence(path: Path, sequence: music_pb2.NoteSequence) -> Path:
    """Writes a NoteSequence as a MIDI file (note-seq always writes a tempo event)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    note_seq.sequence_proto_to_midi_file(sequence, str(path))
    return path


def write_raw_midi(
    path: Path,
    notes: list[tuple[int, float, float]],
    *,
    channel: int = 0,
    tempo_event: bool = False,
) -> Path:
    """Writes a one-track MIDI file with mido: no key signature, a tempo event only if asked.

    Times are in seconds at the MIDI default of 120 quarter notes per minute.
    """
    ticks_per_beat = 480
    events = []
    for pitch, start, end in notes:
        events.append((round(start * 2 * ticks_per_beat), 1, "note_on", pitch, 90))
        events.append((round(end * 2 * ticks_per_beat), 0, "note_off", pitch, 0))
    track = mido.MidiTrack()
    if tempo_event:
        track.append(mido.MetaMessage("set_tempo", tempo=500000, time=0))
    now = 0
    for tick, _, kind, pitch, velocity in sorted(events):
        track.append(
            mido.Message(kind, note=pitch, velocity=velocity, channel=channel, time=tick - now)
        )
        now = tick
    path.parent.mkdir(parents=True, exist_ok=True)
    midi = mido.MidiFile(ticks_per_beat=ticks_per_beat)
    midi.tracks.append(track)
    midi.save(str(path))
    return path


def scale_notes(
    seconds: float, start: float = 0.0, step: float = 0.25
) -> list[tuple[int, float, float]]:
    """A C-major scale up and down, one note per ``step`` seconds, for ``seconds``."""
    pitches = [60, 62, 64, 65, 67, 69, 71, 72, 71, 69, 67, 65, 64, 62]
    count = int(seconds / step)
    return [
        (pitches[i % len(pitches)], start + i * step, start + (i + 1) * step) for i in range(count)
    ]


def write_bad_folder(root: Path) -> dict[str, str]:
    """Writes one good file, one long file and every kind of bad file under ``root``.

    Returns:
        Bad file name -> the problem preparation must report for it.
    """
    write_raw_midi(root / "good.mid", scale_notes(9.0))
    write_raw_midi(root / "long.midi", scale_notes(40.0))
    (root / "corrupt.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\xff\xff")
    (root / "empty.mid").write_bytes(b"")
    (root / "text.mid").write_text("not music at all\n")
    write_raw_midi(root / "no_notes.mid", [])
    write_raw_midi(root / "drums.kar", scale_notes(5.0), channel=9)
    os.symlink(root / "vanished.mid", root / "unreadable.mid")
    return {
        "corrupt.mid": "corrupt MIDI",
        "empty.mid": "empty file (0 bytes)",
        "text.mid": "not a MIDI file",
        "no_notes.mid": "no notes",
        "drums.kar": "only drum notes",
        "unreadable.mid": "cannot read the file",
    }


def write_metadata(path: Path, rows: list[dict[str, str]]) -> Path:
    """Writes a MAESTRO-style metadata CSV with the columns of the first row."""
    with open(path, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path

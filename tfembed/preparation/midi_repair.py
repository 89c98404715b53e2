"""Reading the structure of a Standard MIDI File, with exact problems and tolerant repairs.

mido (under pretty_midi) refuses a whole file for one malformed meta event (a key
signature "with 1 flats and mode 255", seen in files from a piano-tutor
program), and reports a cut file as a bare ``EOFError``. :func:`repair_midi`
walks the chunks and events itself first: a structural defect is a
:class:`~tfembed.errors.PieceError` that says what and where (a truncated track,
a chunk length past the end of the file, a running status with nothing to
run); malformed meta events (key and time signatures, tempo, any event mido
cannot decode) and channel events with bad data bytes are dropped, their time
kept, and the file is rewritten for the parser. A file timed in SMPTE frames
(absolute time, as some sequencers and video tools write) is rewritten in ticks
per quarter note at MIDI's default of 120 quarter notes per minute, so that every
event keeps its time in seconds.
"""

from __future__ import annotations

import dataclasses
import struct
from collections import Counter

from mido.midifiles.meta import build_meta_message

from tfembed.errors import PieceError

_KEY_SIGNATURE = 0x59
_TEMPO = 0x51
_TIME_SIGNATURE = 0x58
_END_OF_TRACK = b"\xff\x2f\x00"
MAX_TICKS = 50_000_000
"""Latest tick read. pretty_midi keeps a float per tick up to the last event (note-seq
lifts pretty_midi's own cap of 1e7 to 1e10), so a corrupt delta time could make it
take gigabytes and minutes; 5e7 ticks is 400 MB, over 7 hours at 960 ticks per
quarter note and 120 quarter notes per minute."""
_MAX_DENOMINATOR_POWER = 7  # 2**7 = 128th notes; note-seq keeps denominators in int32
_CHANNEL_DATA_BYTES = {0x8: 2, 0x9: 2, 0xA: 2, 0xB: 2, 0xC: 1, 0xD: 1, 0xE: 2}
_SYSTEM_DATA_BYTES = {0xF1: 1, 0xF2: 2, 0xF3: 1, 0xF6: 0, 0xF8: 0, 0xFA: 0, 0xFB: 0, 0xFC: 0}
_SYSTEM_DATA_BYTES |= {0xFE: 0}
_SMPTE_FRAMES_PER_SECOND = {24: 24.0, 25: 25.0, 29: 30_000 / 1001, 30: 30.0}
"""Frame rates a SMPTE division may give (its code is 29 for 29.97 drop-frame)."""
_DEFAULT_TEMPO = 500_000  # microseconds per quarter note: MIDI's 120 per minute
_META_NAMES = {_KEY_SIGNATURE: "key signature", _TEMPO: "tempo", _TIME_SIGNATURE: "time signature"}


@dataclasses.dataclass(frozen=True)
class RepairedMidi:
    """A MIDI file ready for the parser, and what was dropped from it.

    Attributes:
        data: The file's bytes: the original ones when nothing was dropped.
        repairs: One line per kind of thing dropped, for the user.
        bad_key_signature: A key signature was dropped (the key label is unknown).
        bad_tempo: A tempo event was dropped (the tempo label is not stated).
        tempo_events: Valid tempo events kept.
        zero_length_notes: Notes released at the tick they start; the parser
            drops them.
    """

    data: bytes
    repairs: list[str]
    bad_key_signature: bool
    bad_tempo: bool
    tempo_events: int
    zero_length_notes: int = 0


class _Reader:
    """Bytes of one chunk, read with positions for messages."""

    def __init__(self, data: bytes, start: int, end: int, where: str) -> None:
        self.data, self.position, self.end, self.where = data, start, end, where

    def byte(self) -> int:
        if self.position >= self.end:
            raise PieceError(
                f"corrupt MIDI: {self.where} ends inside an event (at byte {self.position}; "
                "the file is truncated or the track's length is wrong)"
            )
        value = self.data[self.position]
        self.position += 1
        return value

    def take(self, count: int) -> bytes:
        if self.position + count > self.end:
            raise PieceError(
                f"corrupt MIDI: an event of {count} bytes at byte {self.position} runs past "
                f"the end of {self.where} (the file is truncated or a length is wrong)"
            )
        value = self.data[self.position : self.position + count]
        self.position += count
        return value

    def number(self) -> int:
        """A variable-length quantity (at most 4 bytes, as the standard says)."""
        value = 0
        for _ in range(4):
            byte = self.byte()
            value = (value << 7) | (byte & 0x7F)
            if byte < 0x80:
                return value
        raise PieceError(
            f"corrupt MIDI: a variable-length number longer than 4 bytes at byte "
            f"{self.position} of {self.where}"
        )


def _encode_number(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def _meta_problem(kind: int, payload: bytes) -> str | None:
    """Why a meta event cannot be used, or ``None`` when it can."""
    try:
        build_meta_message(kind, list(payload), 0)
    except Exception as error:  # mido raises KeySignatureError, IndexError, ValueError...
        return str(error) or type(error).__name__
    if kind == _TEMPO and (len(payload) != 3 or int.from_bytes(payload, "big") == 0):
        return f"tempo of {int.from_bytes(payload, 'big')} microseconds per quarter note"
    if kind == _TIME_SIGNATURE and (
        len(payload) < 4 or payload[0] == 0 or payload[1] > _MAX_DENOMINATOR_POWER
    ):
        return f"time signature bytes {payload.hex(' ')}"
    if kind == _KEY_SIGNATURE and len(payload) != 2:
        return f"key signature of {len(payload)} bytes"
    return None


def _track_events(reader: _Reader, dropped: Counter, examples: dict) -> tuple[list, int]:
    """Reads one track; returns ``[(delta, event bytes)]`` with bad events merged away."""
    events: list[tuple[int, bytes]] = []
    carried = 0  # delta time of dropped events, given to the next kept one
    running = None
    tempos = 0
    tick = 0
    while reader.position < reader.end:
        delta = carried + reader.number()
        tick += delta - carried
        if tick > MAX_TICKS:
            raise PieceError(
                f"corrupt MIDI: an event of {reader.where} at tick {tick:,}, beyond the "
                f"{MAX_TICKS:,} read (a delta time or length is probably corrupt)"
            )
        status = reader.byte()
        if status < 0x80:
            if running is None:
                raise PieceError(
                    f"corrupt MIDI: data byte 0x{status:02x} where an event should start "
                    f"(byte {reader.position - 1} of {reader.where}, no running status)"
                )
            reader.position -= 1
            status = running
        elif status < 0xF0:
            running = status
        elif status != 0xFF:
            running = (
                None  # system messages cancel running status (meta events keep it, as in mido)
            )
        if status == 0xFF:
            kind = reader.byte()
            payload = reader.take(reader.number())
            problem = _meta_problem(kind, payload)
            if problem is not None:
                name = _META_NAMES.get(kind, f"meta event 0x{kind:02x}")
                dropped[name] += 1
                examples.setdefault(name, problem)
                carried = delta
                continue
            tempos += kind == _TEMPO
            event = bytes([0xFF, kind]) + _encode_number(len(payload)) + payload
            if event == _END_OF_TRACK:
                reader.position = reader.end  # anything after it is not part of the track
        elif status in (0xF0, 0xF7):
            payload = reader.take(reader.number())
            inner = payload[1:] if payload[:1] == b"\xf0" else payload
            inner = inner[:-1] if inner[-1:] == b"\xf7" else inner
            if any(byte > 0x7F for byte in inner):  # mido refuses such a system exclusive
                dropped["system exclusive"] += 1
                examples.setdefault("system exclusive", "a data byte over 0x7f")
                carried = delta
                continue
            event = bytes([status]) + _encode_number(len(payload)) + payload
        else:
            count = _CHANNEL_DATA_BYTES.get(status >> 4) if status < 0xF0 else None
            count = _SYSTEM_DATA_BYTES.get(status) if count is None else count
            if count is None:
                raise PieceError(
                    f"corrupt MIDI: undefined status byte 0x{status:02x} at byte "
                    f"{reader.position - 1} of {reader.where}"
                )
            data = reader.take(count)
            if any(byte > 0x7F for byte in data):
                dropped["channel event with a bad data byte"] += 1
                examples.setdefault("channel event with a bad data byte", data.hex(" "))
                carried = delta
                continue
            event = bytes([status]) + data
        carried = 0
        events.append((delta, event))
    if not events:
        dropped["empty track"] += 1  # pretty_midi fails on a track without any event
        examples.setdefault("empty track", "no event at all; an end of track was added")
    if not events or events[-1][1] != _END_OF_TRACK:
        events.append((carried, _END_OF_TRACK))
    return _release_held_notes(events, dropped), tempos


def _release_held_notes(events: list[tuple[int, bytes]], dropped: Counter) -> list:
    """Ends the notes a track never releases at its end, as a synthesizer plays them.

    pretty_midi drops a note without a note-off, so a file that never sends one
    (some sequencers and trackers) read as having no notes at all. It also drops
    a note released at the tick it starts; those are counted.

    Args:
        events: A track's ``[(delta, event bytes)]``, ending with its end of track.
        dropped: Counts of repairs; ``unreleased note`` and ``zero-length note``
            are added to.

    Returns:
        The events, with a note-off for every key still held just before the end.
    """
    held: dict[tuple[int, bytes], int] = {}  # key -> tick it started at
    tick = 0
    for delta, event in events:
        tick += delta
        kind, key = event[0] >> 4, (event[0] & 0x0F, event[1:2])
        if kind == 0x9 and event[2] > 0:
            held.setdefault(key, tick)
        elif kind in (0x8, 0x9) and key in held and held.pop(key) == tick:
            dropped["zero-length note"] += 1
    zero_length_at_end = sum(start == tick for start in held.values())
    if zero_length_at_end:
        dropped["zero-length note"] += zero_length_at_end
    if not held:
        return events
    dropped["unreleased note"] += len(held)
    delta, end = events[-1]
    offs = [bytes([0x80 | channel]) + note + b"\x00" for channel, note in sorted(held)]
    return [*events[:-1], (delta, offs[0]), *((0, off) for off in offs[1:]), (0, end)]


def _smpte_timing(division: int) -> tuple[int, int, str]:
    """Ticks per quarter note and tempo that keep a SMPTE-timed file's seconds.

    The file's delta times are doubled (see :func:`_in_beats`), so that one
    quarter note of ``frames x ticks per frame`` ticks lasts half a second: 120
    per minute, the tempo MIDI assumes (29.97 frames per second: a tempo 0.1%
    slower than 120).

    Returns:
        Ticks per quarter note, microseconds per quarter note, and the division
        in words.

    Raises:
        PieceError: A frame rate the standard does not define, or 0 ticks per frame.
    """
    code, ticks_per_frame = 256 - (division >> 8), division & 0xFF
    if code not in _SMPTE_FRAMES_PER_SECOND or not ticks_per_frame:
        raise PieceError(
            f"corrupt MIDI: SMPTE time division of {code} frames per second and "
            f"{ticks_per_frame} ticks per frame (the standard allows 24, 25, 29.97 and 30 "
            "frames of at least 1 tick)"
        )
    nominal = 30 if code == 29 else code
    tempo = round(_DEFAULT_TEMPO * nominal / _SMPTE_FRAMES_PER_SECOND[code])
    rate = f"{_SMPTE_FRAMES_PER_SECOND[code]:.5g} frames per second"
    return nominal * ticks_per_frame, tempo, f"{rate} x {ticks_per_frame} ticks per frame"


def _in_beats(tracks: list[list[tuple[int, bytes]]], tempo: int) -> list:
    """SMPTE-timed tracks with doubled delta times, their tempo events dropped.

    The first track starts with one tempo event of ``tempo`` microseconds per
    quarter note (see :func:`_smpte_timing`).
    """
    first = (0, bytes([0xFF, _TEMPO, 3]) + tempo.to_bytes(3, "big"))
    timed = []
    for index, events in enumerate(tracks):
        kept, carried = [first] if index == 0 else [], 0
        for delta, event in events:
            if event[:2] == bytes([0xFF, _TEMPO]):
                carried += delta
                continue
            kept.append((2 * (carried + delta), event))
            carried = 0
        timed.append(kept)
    return timed


def repair_midi(data: bytes) -> RepairedMidi:
    """Checks a MIDI file's structure and drops the events a parser would choke on.

    Args:
        data: The file's bytes (starting with ``MThd``).

    Returns:
        The bytes to parse (the original ones when nothing was dropped) and what
        was dropped.

    Raises:
        PieceError: The structure itself is broken, saying what and where.
    """
    if len(data) < 14:
        raise PieceError(f"corrupt MIDI: the file ends inside its header ({len(data)} bytes)")
    header_length = struct.unpack(">L", data[4:8])[0]
    if not 6 <= header_length <= len(data) - 8:
        raise PieceError(f"corrupt MIDI: bad header chunk length {header_length} (expected 6)")
    midi_format, declared, division = struct.unpack(">HHH", data[8:14])
    smpte = _smpte_timing(division) if division & 0x8000 else None
    if division == 0:
        raise PieceError("corrupt MIDI: the header gives 0 ticks per quarter note")
    position = 8 + header_length
    tracks: list[list[tuple[int, bytes]]] = []
    dropped: Counter = Counter()
    examples: dict[str, str] = {}
    other_chunks = tempos = 0
    # Like mido, read the tracks the header declares and ignore what follows them.
    while position + 8 <= len(data) and len(tracks) < declared:
        name, length = struct.unpack(">4sL", data[position : position + 8])
        start, end = position + 8, position + 8 + length
        where = f"track {len(tracks) + 1}" if name == b"MTrk" else f"chunk {name!r}"
        if end > len(data):
            if name != b"MTrk":
                break
            raise PieceError(
                f"corrupt MIDI: {where} is cut short: its chunk length says {length} bytes, "
                f"only {len(data) - start} remain (the file is truncated or the length is wrong)"
            )
        if name == b"MTrk":
            reader = _Reader(data, start, end, where)
            events, track_tempos = _track_events(reader, dropped, examples)
            tracks.append(events)
            tempos += track_tempos
        else:
            other_chunks += 1
        position = end
    if not tracks:
        raise PieceError("corrupt MIDI: no track chunk (MTrk) in the file")
    zero_length = dropped.pop("zero-length note", 0)  # said below, after the other repairs
    repairs = [
        (
            f"{count} empty track(s) ({examples[name]})"
            if name == "empty track"
            else f"{count} note(s) never released (no note-off): ended with their track"
            if name == "unreleased note"
            else f"dropped {count} malformed {name} event(s) ({examples[name]})"
        )
        + (": key label unknown" if name == "key signature" else "")
        + (": tempo label not used" if name == "tempo" else "")
        for name, count in sorted(dropped.items())
    ]
    if declared != len(tracks):
        repairs.append(f"the header declares {declared} track(s); the file holds {len(tracks)}")
    if other_chunks:
        repairs.append(f"ignored {other_chunks} chunk(s) that are not tracks")
    if midi_format == 2 and len(tracks) > 1:
        repairs.append(
            f"format 2 (independent patterns): its {len(tracks)} tracks are played together"
        )
    if zero_length:
        repairs.append(
            f"{zero_length} zero-length note(s) (released at the tick they start): not played"
        )
    if smpte is not None:
        division, tempo, description = smpte
        repairs.append(
            f"SMPTE time division ({description}): read in seconds; "
            f"{tempos} tempo event(s) ignored, as the standard says (tempo not stated)"
        )
        tracks = _in_beats(tracks, tempo)
        tempos = 0
    if not repairs:
        return RepairedMidi(data, [], False, False, tempos)
    body = bytearray(b"MThd" + struct.pack(">LHHH", 6, midi_format, len(tracks), division))
    for events in tracks:
        chunk = b"".join(_encode_number(delta) + event for delta, event in events)
        body += b"MTrk" + struct.pack(">L", len(chunk)) + chunk
    return RepairedMidi(
        bytes(body), repairs, "key signature" in dropped, "tempo" in dropped, tempos, zero_length
    )

"""The soundfonts of a preparation: a checked list, each with a short name and its hash.

``tfembed-prepare --soundfonts A.sf2,B.sf3`` renders every piece once per soundfont.
Every file is checked here before any piece is rendered, from its bytes alone (no
fluidsynth): it exists and can be read, it is a RIFF ``sfbk`` file (SoundFont 2, or
SoundFont 3 with Ogg-compressed samples, such as Debian's ``FluidR3Mono_GM.sf3``),
its chunks fit in the file, and its preset headers (``pdta/phdr``) hold a piano,
bank 0 preset 0, the program every note is rendered with
(:mod:`tfembed.preparation.render`). No soundfont may be listed twice, by path or
by content, unless each time with other instruments (``--instruments``, see
:mod:`tfembed.preparation.instruments`). Each rendering gets a short name for
records and manifests (the file stem, followed by ``+`` and its instruments when
they are not the piano: ``FluidR3_GM+as_written``), and the sha256 of its bytes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import struct
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import BinaryIO

from tfembed.errors import TfembedError
from tfembed.preparation.instruments import INSTRUMENT_CHOICES, PIANO

_CHUNK_HEADER = struct.Struct("<4sI")
_PRESET_HEADER = struct.Struct("<20sHHHIII")  # name, preset, bank, bag index, 3 x unused
_PIANO = (0, 0)  # (bank, preset): General MIDI acoustic grand piano


class SoundfontError(TfembedError):
    """A soundfont, or a list of them, that cannot be used; the message names the file."""


@dataclasses.dataclass(frozen=True)
class Soundfont:
    """A checked soundfont, and the instruments it renders a piece with.

    Attributes:
        path: The file, as given (user folder expanded).
        name: Short name of the rendering for records and manifests: the file stem
            (``TimGM6mb``), with ``+`` and the instruments unless they are the piano.
        sha256: Hex digest of the file's bytes.
        presets: Presets the file defines, as ``(bank, preset)`` pairs.
        instruments: Who plays (one of
            :data:`tfembed.preparation.instruments.INSTRUMENT_CHOICES`).
    """

    path: Path
    name: str
    sha256: str
    presets: frozenset[tuple[int, int]]
    instruments: str = PIANO

    def to_dict(self) -> dict[str, str]:
        """``{"name", "path", "sha256", "instruments"}``, for a manifest."""
        return {
            "name": self.name,
            "path": str(self.path),
            "sha256": self.sha256,
            "instruments": self.instruments,
        }


def split_soundfont_list(text: str) -> list[Path]:
    """Splits the ``--soundfonts`` value ``A.sf2,B.sf2`` into paths (``~`` expanded).

    Raises:
        SoundfontError: The list is empty or has an empty entry (``A.sf2,,B.sf2``).
    """
    entries = [entry.strip() for entry in text.split(",")]
    if not any(entries):
        raise SoundfontError("--soundfonts lists no soundfont; give A.sf2,B.sf2,...")
    if not all(entries):
        raise SoundfontError(f"--soundfonts {text!r} has an empty entry; remove the extra comma")
    return [Path(entry).expanduser() for entry in entries]


def read_soundfont(path: str | os.PathLike, instruments: str = PIANO) -> Soundfont:
    """Checks one soundfont file and returns it with its name, hash and presets.

    Raises:
        SoundfontError: The file is missing, a folder, unreadable, not a RIFF
            ``sfbk`` file, truncated, or has no piano preset (bank 0, preset 0).
    """
    if instruments not in INSTRUMENT_CHOICES:
        raise SoundfontError(
            f"--instruments {instruments!r} for {path} is none of {', '.join(INSTRUMENT_CHOICES)}"
        )
    path = Path(path).expanduser()
    if not path.exists():
        raise SoundfontError(f"soundfont {path} does not exist")
    if not path.is_file():
        raise SoundfontError(f"soundfont {path} is not a file")
    try:
        with path.open("rb") as stream:
            presets = _presets(stream, path)
            stream.seek(0)
            digest = hashlib.file_digest(stream, "sha256").hexdigest()
    except OSError as error:
        raise SoundfontError(f"cannot read soundfont {path}: {error.strerror or error}") from None
    if _PIANO not in presets:
        raise SoundfontError(
            f"soundfont {path} has no piano preset (bank 0, preset 0), which every note is "
            f"rendered with; it defines {len(presets)} other presets"
        )
    name = path.stem if instruments == PIANO else f"{path.stem}+{instruments}"
    return Soundfont(path, name, digest, frozenset(presets), instruments)


def read_soundfonts(
    paths: Sequence[str | os.PathLike], instruments: str | Sequence[str] = PIANO
) -> tuple[Soundfont, ...]:
    """Checks a list of soundfonts (each with :func:`read_soundfont`) and the list itself.

    Args:
        paths: The soundfonts, the reference first.
        instruments: Who plays in every rendering, or one choice per soundfont.

    Raises:
        SoundfontError: A file cannot be used; the same file is listed twice with
            the same instruments (by path, or under another path with the same
            content); two renderings share a name; or the instruments are not one
            choice or one per soundfont.
    """
    choices = [instruments] * len(paths) if isinstance(instruments, str) else list(instruments)
    if len(choices) != len(paths):
        raise SoundfontError(
            f"--instruments lists {len(choices)} choices for {len(paths)} soundfonts; "
            "give one choice, or one per soundfont"
        )
    checked: list[Soundfont] = []
    for path, choice in zip(paths, choices, strict=True):
        path = Path(path).expanduser()
        for earlier in checked:
            if earlier.path.resolve() == path.resolve() and earlier.instruments == choice:
                raise SoundfontError(f"soundfont {path} is listed twice (as {earlier.path})")
        soundfont = read_soundfont(path, choice)
        for earlier in checked:
            if earlier.sha256 == soundfont.sha256 and earlier.instruments == choice:
                raise SoundfontError(
                    f"soundfont {path} is the same file as {earlier.path} "
                    f"(sha256 {soundfont.sha256[:12]}...); list it once"
                )
            if earlier.name == soundfont.name:
                raise SoundfontError(
                    f"soundfonts {earlier.path} and {path} share the name {soundfont.name!r} "
                    "that records use; rename one"
                )
        checked.append(soundfont)
    if not checked:
        raise SoundfontError("no soundfont given")
    return tuple(checked)


def parse_soundfonts(text: str) -> tuple[Soundfont, ...]:
    """The checked soundfonts of a ``--soundfonts A.sf2,B.sf2,...`` value."""
    return read_soundfonts(split_soundfont_list(text))


def _chunks(stream: BinaryIO, start: int, end: int, path: Path) -> Iterable[tuple[bytes, int, int]]:
    """Yields ``(id, data offset, size)`` of the RIFF chunks between two offsets."""
    offset = start
    while offset + _CHUNK_HEADER.size <= end:
        stream.seek(offset)
        chunk_id, size = _CHUNK_HEADER.unpack(stream.read(_CHUNK_HEADER.size))
        data = offset + _CHUNK_HEADER.size
        if data + size > end:
            raise SoundfontError(
                f"soundfont {path} is truncated or corrupt: its {chunk_id.decode('latin-1')!r} "
                f"chunk at byte {offset} needs {data + size} bytes, the file has {end}"
            )
        yield chunk_id, data, size
        offset = data + size + (size & 1 and not _unpadded(stream, data + size))


def _unpadded(stream: BinaryIO, offset: int) -> bool:
    """Whether a chunk id starts right after an odd-sized chunk, without the RIFF pad byte.

    Some SoundFont 3 writers leave the pad byte out (Debian's ``FluidR3Mono_GM.sf3``
    after its odd-sized sample chunk); fluidsynth reads such files too.
    """
    stream.seek(offset)
    following = stream.read(4)
    return len(following) == 4 and all(32 <= byte < 127 for byte in following)


def _presets(stream: BinaryIO, path: Path) -> set[tuple[int, int]]:
    """The ``(bank, preset)`` pairs of a RIFF ``sfbk`` file's preset headers."""
    head = stream.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"sfbk":
        found = (
            f"a RIFF {head[8:12].decode('latin-1')!r} file"
            if len(head) == 12 and head[:4] == b"RIFF"
            else "no RIFF 'sfbk' header"
        )
        raise SoundfontError(
            f"{path} is not a soundfont ({found}); give a SoundFont .sf2 or .sf3 file"
        )
    size = stream.seek(0, os.SEEK_END)
    (riff_size,) = struct.unpack("<I", head[4:8])
    if 8 + riff_size > size:
        raise SoundfontError(
            f"soundfont {path} is truncated: its header announces {8 + riff_size} bytes, "
            f"the file has {size}"
        )
    for chunk_id, data, length in _chunks(stream, 12, 8 + riff_size, path):
        stream.seek(data)
        if chunk_id != b"LIST" or stream.read(4) != b"pdta":
            continue
        for sub_id, sub_data, sub_length in _chunks(stream, data + 4, data + length, path):
            if sub_id == b"phdr":
                return _preset_headers(stream, sub_data, sub_length, path)
    raise SoundfontError(f"soundfont {path} has no preset headers (no 'pdta' 'phdr' chunk)")


def _preset_headers(stream: BinaryIO, data: int, length: int, path: Path) -> set[tuple[int, int]]:
    """Reads the 38-byte preset records; the last one ("EOP") only ends the list."""
    if length % _PRESET_HEADER.size or length < 2 * _PRESET_HEADER.size:
        raise SoundfontError(
            f"soundfont {path} is corrupt: its preset header chunk has {length} bytes, "
            f"not a multiple of {_PRESET_HEADER.size} holding at least one preset"
        )
    stream.seek(data)
    records = stream.read(length - _PRESET_HEADER.size)
    return {(bank, preset) for _, preset, bank, *_ in _PRESET_HEADER.iter_unpack(records)}

"""The default data: the score corpus that ships with music21, converted to MIDI once.

Pieces are labelled by their corpus folder, which is a clean composer label (the
composer field of the corpus metadata is not). Conversions are cached on disk,
so only the first run pays for parsing the scores, and music21's conversions of
the default selection ship with the package (:data:`SHIPPED_CONVERSIONS`): a
fresh install prepares the default corpus without parsing a score.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import io
import os
import re
import zipfile
from pathlib import Path

from tfembed.dataset.manifest import PRETRAIN_SPLIT
from tfembed.errors import PieceError
from tfembed.preparation.sources import MUSIC21_ORIGIN, Piece, piece_id_for
from tfembed.utils.atomic import write_bytes_atomically

DEFAULT_COMPOSERS = (
    "bach",
    "palestrina",
    "monteverdi",
    "trecento",
    "beethoven",
    "mozart",
    "haydn",
    "josquin",
    "schumann_robert",
    "schumann_clara",
)
"""Corpus folders used by default: ten composer classes (trecento is a school)."""

SCORE_SUFFIXES = (".mxl", ".xml", ".musicxml", ".krn", ".abc", ".mid", ".midi")
"""Score formats taken from the corpus (roman-numeral analyses are left out)."""

DEFAULT_PIECES_PER_COMPOSER = 40
"""Default cap per composer: 212 pieces, 64 of them in test (see ``splits``)."""

DEFAULT_MAX_SCORE_KB = 1500
"""Largest uncompressed score taken by default (keeps 8 of Beethoven's 26 scores)."""

CACHE_ENV = "TFEMBED_CACHE"

SHIPPED_CONVERSIONS = Path(__file__).with_name("music21_conversions.zip")
"""Conversions of the default selection, as :func:`corpus_midi` caches them.

Members are named as in the cache (``music21-VERSION/PATH.mid``, or
``PATH.failed.txt`` for a score music21 cannot convert), so they serve only the
music21 version that made them; any other version converts as before. Parsing
and converting the default selection takes minutes of CPU time;
``tools/release/music21_conversions.py`` rebuilds the archive.
"""

_PALESTRINA_MASS = re.compile(r"^[A-Za-z]+(?:_[IV]+)?_(\d+)(?:_[a-z])?$")
_BACH_BWV = re.compile(r"^bwv(\d+)")


def corpus_work(relative_path: str) -> str:
    """Returns the work a corpus score belongs to.

    * A score in a subfolder of its composer is a movement of the work the
      folder names (``beethoven/opus18no1/movement2.mxl`` -> ``beethoven/opus18no1``).
    * Palestrina's mass sections share their mass number
      (``palestrina/Agnus_II_54.krn`` -> ``palestrina/mass54``).
    * Bach's chorales share their BWV number (``bach/bwv248.23-s.mxl`` ->
      ``bach/bwv248``: chorales of one cantata or oratorio are one work).
    * Any other score is a work of its own, whatever its format (the same
      movement as ``.krn`` and ``.mxl`` is one work).

    Args:
        relative_path: The score's path relative to the corpus root.
    """
    parts = relative_path.split("/")
    composer, stem = parts[0], os.path.splitext(parts[-1])[0]
    if len(parts) > 2:
        return "/".join(parts[:2])
    mass = _PALESTRINA_MASS.match(stem) if composer == "palestrina" else None
    if mass:
        return f"palestrina/mass{int(mass.group(1))}"
    bwv = _BACH_BWV.match(stem) if composer == "bach" else None
    if bwv:
        return f"bach/bwv{int(bwv.group(1))}"
    return f"{composer}/{stem}"


def cache_dir() -> Path:
    """Folder of converted scores: ``$TFEMBED_CACHE`` or ``~/.cache/tfembed``."""
    base = os.environ.get(CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "tfembed"
    )
    return Path(base)


def _uncompressed_size(path: Path) -> int:
    if path.suffix.lower() == ".mxl":
        with zipfile.ZipFile(path) as archive:
            return sum(member.file_size for member in archive.infolist())
    return path.stat().st_size


def corpus_root() -> Path:
    """Returns the folder of the score corpus installed with music21.

    Found without importing music21, which takes a second.
    """
    spec = importlib.util.find_spec("music21")
    if spec is None or spec.origin is None:
        raise ValueError("music21 is not installed: pip install music21")
    return Path(spec.origin).parent / "corpus"


def list_corpus(
    composers: tuple[str, ...] = DEFAULT_COMPOSERS,
    pieces_per_composer: int | None = None,
    max_score_kb: int | None = DEFAULT_MAX_SCORE_KB,
    pretrain_pieces_per_composer: int = 0,
) -> list[Piece]:
    """Lists corpus scores of the given composer folders.

    Args:
        composers: Corpus folder names; each is a composer class.
        pieces_per_composer: Keep at most this many per composer, chosen in a
            fixed pseudo-random order (sha1 of the path), so runs are repeatable.
        max_score_kb: Leave out scores larger than this, uncompressed (parsing
            time grows with size: a 6 MB Beethoven quartet takes minutes).
        pretrain_pieces_per_composer: Up to this many more pieces per composer,
            the next ones in the same order, for self-supervised training only:
            they get the split ``pretrain``, and a piece whose work is among the
            capped pieces' is left out, so no sibling of a test piece is trained on.
            The capped pieces, and so the splits they get, are the same with or
            without them.

    Returns:
        The pieces, sorted by path.

    Raises:
        ValueError: A composer folder does not exist in the corpus.
    """
    root = corpus_root()
    pieces = []
    for composer in composers:
        ranked = _ranked_scores(root, composer, max_score_kb)
        labelled = ranked[:pieces_per_composer]
        pieces += [_corpus_piece(relative) for relative in labelled]
        if pretrain_pieces_per_composer and pieces_per_composer is not None:
            labelled_works = {corpus_work(relative) for relative in labelled}
            extra = ranked[pieces_per_composer : pieces_per_composer + pretrain_pieces_per_composer]
            pieces += [
                _corpus_piece(relative, split=PRETRAIN_SPLIT)
                for relative in extra
                if corpus_work(relative) not in labelled_works
            ]
    return sorted(pieces, key=lambda piece: piece.path)


def _ranked_scores(root: Path, composer: str, max_score_kb: int | None) -> list[str]:
    """A composer's scores (paths relative to ``root``) in their fixed order (sha1 of the path)."""
    folder = root / composer
    if not folder.is_dir():
        available = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name[0] != "_")
        raise ValueError(
            f"music21 corpus has no folder {composer!r}; available: {', '.join(available)}"
        )
    files = [
        path
        for path in folder.rglob("*")
        if path.suffix.lower() in SCORE_SUFFIXES
        and path.is_file()
        and (max_score_kb is None or _uncompressed_size(path) <= max_score_kb * 1024)
    ]
    return sorted(
        (path.relative_to(root).as_posix() for path in files),
        key=lambda rel: hashlib.sha1(rel.encode()).hexdigest(),
    )


def _corpus_piece(relative: str, split: str | None = None) -> Piece:
    return Piece(
        piece_id_for(f"{MUSIC21_ORIGIN}/{relative}"),
        MUSIC21_ORIGIN,
        relative,
        relative.split("/")[0],
        split=split,
        work=corpus_work(relative),
    )


def corpus_midi(relative_path: str) -> Path:
    """Returns the cached MIDI of a corpus score, converting it on first use.

    A conversion shipped in :data:`SHIPPED_CONVERSIONS` for the installed music21
    is copied into the cache instead of converting the score again.

    Raises:
        PieceError: The score cannot be parsed or converted (the reason is kept
            in the cache, so a failing score is not parsed again).
    """
    version = importlib.metadata.version("music21")
    target = cache_dir() / f"music21-{version}" / f"{relative_path}.mid"
    failure = target.with_suffix(".failed.txt")
    if not target.is_file() and not failure.is_file():
        _unpack_shipped(target.relative_to(cache_dir()), failure.relative_to(cache_dir()))
    if target.is_file():
        return target
    if failure.is_file():
        raise PieceError(failure.read_text())
    try:
        data = convert_score(corpus_root() / relative_path)
    except PieceError as error:
        write_bytes_atomically(failure, [str(error).encode()])
        raise
    write_bytes_atomically(target, [data])
    return target


def _unpack_shipped(*members: Path) -> None:
    """Copies whichever of the cache entries ``members`` the shipped archive holds."""
    if not SHIPPED_CONVERSIONS.is_file():
        return
    with zipfile.ZipFile(SHIPPED_CONVERSIONS) as archive:
        for member in members:
            try:
                data = archive.read(member.as_posix())
            except KeyError:  # not shipped: another score, or another music21 version
                continue
            write_bytes_atomically(cache_dir() / member, [data])


def convert_score(path: Path) -> bytes:
    """Converts a score to MIDI bytes with music21.

    Key-signature and tempo events are written only when the score has them:
    music21 writes C major and 120 quarter notes per minute into every file,
    which would make unknown labels look known.

    Raises:
        PieceError: music21 cannot parse or convert the score.
    """
    try:
        return _convert(path)
    except Exception as error:  # music21 raises many kinds of errors on bad scores
        raise PieceError(
            f"music21 cannot convert the score: {type(error).__name__}: {error}"
        ) from error


def _convert(path: Path) -> bytes:
    import mido
    from music21 import converter, key, midi, stream, tempo

    score = converter.parse(str(path))
    if isinstance(score, stream.Opus):
        score = score.scores[0]
    has_key = bool(score.recurse().getElementsByClass(key.KeySignature))
    has_tempo = any(
        mark.number is not None and not mark.numberImplicit
        for mark in score.recurse().getElementsByClass(tempo.MetronomeMark)
    )
    data = midi.translate.streamToMidiFile(score).writestr()
    dropped = set()
    if not has_key:
        dropped.add("key_signature")
    if not has_tempo:
        dropped.add("set_tempo")
    if not dropped:
        return data
    midi_file = mido.MidiFile(file=io.BytesIO(data))
    for track in midi_file.tracks:
        kept, carried = [], 0
        for message in track:
            if message.type in dropped:
                carried += message.time
                continue
            kept.append(message.copy(time=message.time + carried))
            carried = 0
        track[:] = kept
    output = io.BytesIO()
    midi_file.save(file=output)
    return output.getvalue()

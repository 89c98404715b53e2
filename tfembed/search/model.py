"""The model of an index: finding it again, and refusing any other.

Windows embedded by two models (or by one model before and after new weights)
are not comparable, so an index records the model's identity
(:func:`tfembed.inference.resume.model_identity`: a digest of its metadata,
graph and weights index) and every later run, adding files or querying, checks it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tfembed.features.framegrid import EMBED_BATCH_SIZE
from tfembed.inference.embedder import Embedder
from tfembed.inference.inputs import DEFAULT_INSTRUMENTS
from tfembed.inference.resume import model_identity
from tfembed.search.index import SearchIndexError


def model_record(embedder: Embedder, identity: str) -> dict[str, Any]:
    """What ``search.json`` says of the model: name, folder, metadata variant and identity."""
    return {
        "name": embedder.path.name,
        "path": str(embedder.path.resolve()),
        "variant": embedder.metadata.get("variant"),
        "identity": identity,
    }


def index_embedder(
    record: dict[str, Any],
    folder: str | Path,
    model: str | Path | None = None,
    batch_size: int = EMBED_BATCH_SIZE,
    soundfont: str | Path | None = None,
    max_piece_seconds: float | None = None,
    instruments: str | None = None,
) -> Embedder:
    """The index's model (not loaded yet), with the soundfont and length cap of the index.

    Args:
        record: The index's ``search.json``.
        folder: The index folder, for messages.
        model: A model the user gave (a folder or a shipped name); ``None`` for the
            recorded one, found at its folder or else by its name.
        batch_size: Clips per call of the model.
        soundfont: Another soundfont than the index's (refused later if it differs).
        max_piece_seconds: Another length cap than the index's (likewise).
        instruments: Other players of MIDI renderings than the index's (likewise).

    Raises:
        SearchIndexError: ``model`` is not the index's model, or the recorded one
            has changed since the index was built.
        ExportError: The model cannot be found or read.
    """
    recorded = record["model"]
    settings = record["settings"]
    if model is None:
        model = recorded["path"] if Path(recorded["path"]).exists() else recorded["name"]
        given = False
    else:
        given = True
    embedder = Embedder(
        model,
        batch_size,
        settings["soundfont"] if soundfont is None else soundfont,
        settings["max_piece_seconds"] if max_piece_seconds is None else max_piece_seconds,
        load=False,
        instruments=settings.get("instruments", DEFAULT_INSTRUMENTS)
        if instruments is None
        else instruments,
    )
    identity = model_identity(embedder.path)
    if identity == recorded["identity"]:
        return embedder
    were = f"{recorded['name']} ({recorded['variant']}, identity {recorded['identity'][:12]})"
    if given:
        variant = embedder.metadata.get("variant")
        raise SearchIndexError(
            f"the model {model} ({variant}, identity {identity[:12]}) is not the model {folder} "
            f"was built with, {were}: their embeddings are not comparable; use "
            f"--model {recorded['name']} (or leave --model out), or build another index "
            f"with {model}"
        )
    raise SearchIndexError(
        f"the model {recorded['name']} at {embedder.path} has changed since {folder} was built "
        f"with {were}; it is identity {identity[:12]} now, whose embeddings are not comparable "
        "with the index's: build the index again into another folder"
    )

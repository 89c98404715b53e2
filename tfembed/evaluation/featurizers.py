"""What turns a batch of clips into feature vectors: exported towers and baselines.

Every row of a report is a :class:`Featurizer`: an exported SavedModel (called
through its ``serve`` signature, the way users call it), the same tower design
with random weights, hand-made features, or chance (random vectors).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from tfembed.errors import InputError, TfembedError
from tfembed.export.format import JOINT
from tfembed.features.framegrid import FrameGrid
from tfembed.features.handmade import handmade_features
from tfembed.inference.embedder import Embedder
from tfembed.models.towers import EMBEDDING_SIZE, PAPER_TOWER, TowerDesign, build_tower

KINDS = ("model", "random tower", "hand-made", "chance")


@dataclasses.dataclass
class Featurizer:
    """One row of a report.

    Attributes:
        name: Row name in the report.
        kind: One of ``KINDS``.
        domain: ``mel`` or ``roll``: which clips it reads.
        embed: ``[batch, frames, bins]`` float32 -> ``[batch, features]`` float32.
        metadata: The SavedModel's metadata (models only).
    """

    name: str
    kind: str
    domain: str
    embed: Callable[[np.ndarray], np.ndarray]
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)


class EvaluationError(TfembedError):
    """A SavedModel or dataset that cannot be evaluated, with the reason."""


def saved_model_featurizer(
    path: str | os.PathLike, grid: FrameGrid, name: str | None = None, domain: str | None = None
) -> Featurizer:
    """Loads an exported tower and checks that it fits the dataset's frame grid.

    A tower of a joint export embeds into the space both towers share.

    Args:
        path: The export (or a shipped model's name).
        grid: The dataset's frame grid.
        name: Row name; by default the variant, ``<variant> (<domain>)`` for a
            tower of a joint export.
        domain: ``mel`` or ``roll``: which tower of a joint export makes the row
            (required there); one-tower exports need none.

    Raises:
        ExportError: The folder is not a tfembed export.
        EvaluationError: Its frame grid differs from the dataset's, or ``domain``
            is missing for a joint export or names no tower of the export.
    """
    model = _loaded_export(path, grid)
    try:
        domain = model.clip_domain(domain)
    except InputError as error:
        raise EvaluationError(str(error)) from error
    return _tower_featurizer(model, domain, name)


def export_featurizers(
    path: str | os.PathLike, grid: FrameGrid, name: str | None = None
) -> list[Featurizer]:
    """A row per tower of an export: one, or a joint export's mel and roll towers.

    The rows are for tasks within one domain: each reads its tower's own
    features (with shared-space heads, not the space both towers share).

    Args:
        path: The export (or a shipped model's name).
        grid: The dataset's frame grid.
        name: Row name of a one-tower export (default: its variant); a joint
            export's rows are ``<name or variant> (<domain>)``.

    Raises:
        ExportError: The folder is not a tfembed export.
        EvaluationError: Its frame grid differs from the dataset's.
    """
    model = _loaded_export(path, grid)
    if model.domain != JOINT:
        return [_tower_featurizer(model, model.domains[0], name)]
    return [
        _tower_featurizer(model, domain, name and f"{name} ({domain})", within_domain=True)
        for domain in model.domains
    ]


def _loaded_export(path: str | os.PathLike, grid: FrameGrid) -> Embedder:
    """The export, checked against the dataset's frame grid."""
    model = Embedder(path)
    if model.grid != grid:
        raise EvaluationError(f"{path}: trained on frame grid {model.grid}, the dataset has {grid}")
    return model


def _tower_featurizer(
    model: Embedder, domain: str, name: str | None, within_domain: bool = False
) -> Featurizer:
    """The row of one tower of a loaded export (its own features with ``within_domain``)."""
    variant = model.metadata.get("variant", model.path.name)
    return Featurizer(
        name=name or (f"{variant} ({domain})" if model.domain == JOINT else variant),
        kind="model",
        domain=domain,
        embed=lambda clips: model.embed_clips(clips, domain, within_domain),
        metadata=model.metadata,
    )


def random_tower_featurizer(
    domain: str, grid: FrameGrid, design: TowerDesign = PAPER_TOWER, seed: int = 0
) -> Featurizer:
    """The tower design of the trained models, with random weights."""
    keras.utils.set_random_seed(seed)
    tower = build_tower(f"random_{domain}", *grid.clip_shape(domain), design)

    def embed(clips: np.ndarray) -> np.ndarray:
        return tower(clips, training=False).numpy()

    return Featurizer(f"random tower ({domain})", "random tower", domain, embed)


def handmade_featurizer(domain: str, grid: FrameGrid) -> Featurizer:
    """Band statistics and chroma for mel clips; pitch and onset statistics for rolls."""
    return Featurizer(
        f"hand-made ({domain})",
        "hand-made",
        domain,
        lambda clips: handmade_features(clips, domain, grid),
    )


def chance_featurizer(seed: int = 0) -> Featurizer:
    """Independent random vectors: what rank@100 and the probes give by chance."""
    rng = np.random.default_rng(seed)

    def embed(clips: np.ndarray) -> np.ndarray:
        return rng.normal(size=(len(clips), EMBEDDING_SIZE)).astype(np.float32)

    return Featurizer("chance (random vectors)", "chance", "mel", embed)

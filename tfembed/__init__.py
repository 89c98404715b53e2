"""tfembed: self-supervised embeddings of 3-second music clips from MIDI.

Audio (synthesized, log-mel) and symbolic (piano-roll) domains on one frame grid,
siamese convnets trained so that neighbouring clips embed close together, exported
as SavedModels and evaluated with rank@100 and probe tasks.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tfembed.inference.embedder import Embedder

__version__ = "0.1.0"


def load(path: str | os.PathLike, **options: Any) -> Embedder:
    """Loads an exported model for embedding MIDI files, audio and clips.

    TensorFlow is imported on the first call, not by ``import tfembed``.

    Args:
        path: A SavedModel folder written by ``tfembed-export``, or the name of
            a shipped model (``mel_mel``, ``sym_sym``, ``mel_sym``, ``sym_mel``, ``joint``),
            looked up as the path given, then in ``$TFEMBED_MODELS``, then among
            the models installed with tfembed; shipped files are checked against
            ``MANIFEST.json`` on first load.
        **options: ``batch_size``, ``soundfont``, ``max_midi_seconds`` and
            ``instruments`` of :class:`tfembed.inference.embedder.Embedder`.

    Returns:
        A :class:`tfembed.inference.embedder.Embedder` with ``embed_midi(path)``,
        ``embed_audio(samples, sample_rate)`` and ``embed_clips(array)``. A joint
        export (``tfembed-export --tower both``) embeds MIDI through its roll tower
        and audio through its mel tower; its ``embed_clips`` takes ``domain``.
    """
    from tfembed.inference.embedder import Embedder

    return Embedder(path, **options)

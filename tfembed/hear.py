"""Public name of the HEAR 2021 API: the validator imports ``tfembed.hear``.

The code lives in :mod:`tfembed.inference.hear`.
"""

from tfembed.inference.hear import get_scene_embeddings, get_timestamp_embeddings, load_model

__all__ = ["get_scene_embeddings", "get_timestamp_embeddings", "load_model"]

"""Public name for reading prepared datasets: ``tfembed.data.load_clips`` and friends.

The code lives in :mod:`tfembed.dataset`; this module keeps the documented name.
"""

from tfembed.dataset.clips import load_clips
from tfembed.dataset.manifest import SPLITS, DatasetError, read_manifest

__all__ = ["SPLITS", "DatasetError", "load_clips", "read_manifest"]

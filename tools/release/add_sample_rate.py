"""Gives shipped models their ``sample_rate`` attribute and metadata without the builder's paths.

    python tools/release/add_sample_rate.py saved_models

For each model listed in ``FOLDER/MANIFEST.json``: the SavedModel is loaded and
saved again with an int32 ``sample_rate`` variable (signatures and weights
unchanged: the outputs are the same bit for bit; the TFLite file, converted from
``serve``, is kept), ``metadata.json`` gets ``sample_rate`` and loses the paths of
the machine that built it, and the manifest's hashes and sizes are recomputed.
A model that already has both is left as it is. Check the result with
``tests/test_shipped_models.py`` (golden outputs).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from tfembed.export.format import METADATA_NAME, SAVED_MODEL_FILE, without_machine_paths
from tfembed.export.registry import read_manifest, refresh_manifest
from tfembed.export.tower import add_sample_rate
from tfembed.utils.atomic import write_json_atomically

SAVED_MODEL_PARTS = (SAVED_MODEL_FILE, "fingerprint.pb", "variables")


def _has_sample_rate(folder: Path) -> bool:
    import tensorflow as tf

    return hasattr(tf.saved_model.load(str(folder)), "sample_rate")


def _resave(folder: Path, sample_rate: int) -> None:
    """Replaces the SavedModel files of ``folder`` by a copy saved with ``sample_rate``."""
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=f".{folder.name}.") as scratch:
        resaved = Path(scratch) / "model"
        add_sample_rate(folder, resaved, sample_rate)
        for part in SAVED_MODEL_PARTS:
            target = folder / part
            if target.is_dir():
                shutil.rmtree(target)
            shutil.move(str(resaved / part), str(target))


def _metadata(metadata: dict, sample_rate: int) -> dict:
    """The metadata with ``sample_rate`` after ``embedding_size`` and no machine paths."""
    updated = {}
    for key, value in without_machine_paths(metadata).items():
        updated[key] = value
        if key == "embedding_size":
            updated["sample_rate"] = sample_rate
    return updated


def main(argv: list[str] | None = None) -> int:
    """Updates every model of the folder, then its manifest."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", type=Path, help="folder of models with MANIFEST.json")
    args = parser.parse_args(argv)
    for name in read_manifest(args.models)["models"]:
        folder = args.models / name
        metadata = json.loads((folder / METADATA_NAME).read_text())
        sample_rate = int(metadata["frame_grid"]["sample_rate"])
        if not _has_sample_rate(folder):
            _resave(folder, sample_rate)
            print(f"{name}: saved again with sample_rate = {sample_rate}")
        write_json_atomically(folder / METADATA_NAME, _metadata(metadata, sample_rate))
    refresh_manifest(args.models)
    print(f"recomputed the hashes and sizes of {args.models / 'MANIFEST.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

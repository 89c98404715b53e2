"""The shipped pretrained models, installed as the package ``tfembed.saved_models``.

Each subfolder is a SavedModel written by ``tools/release/build_models.sh`` with its
``metadata.json`` and ``MODEL_CARD.md`` (mel models also ``model.tflite``);
``MANIFEST.json`` lists every file's sha256 and size. ``setup.cfg`` maps this
folder into the package, so ``tfembed.load("mel_mel")`` finds them after a plain
``pip install``; :mod:`tfembed.export.registry` does the lookup and the check.
"""

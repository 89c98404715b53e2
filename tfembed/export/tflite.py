"""A TFLite conversion of an export's ``serve`` signature (``model.tflite`` beside it).

The converted model takes ``clips`` float32 ``[batch, frames, bins]`` like
``serve`` and returns the same embeddings within float rounding (the shipped
models are tested to 1e-4). It is written with the core TFLite builtin ops, so
the plain ``tf.lite.Interpreter`` (or ``ai_edge_litert``) runs it. A joint export's
``model.tflite`` holds two signatures, ``serve_mel`` and ``serve_roll``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import tensorflow as tf

from tfembed.errors import ExportError
from tfembed.utils.atomic import write_bytes_atomically

TFLITE_NAME = "model.tflite"
SIGNATURE = "serve"


def convert_serve(
    saved_model: str | os.PathLike, signatures: tuple[str, ...] = (SIGNATURE,)
) -> bytes:
    """Converts clip signatures of a SavedModel (``serve``) to one TFLite flatbuffer.

    Raises:
        ExportError: The SavedModel lacks a signature or cannot be converted.
    """
    try:
        converter = tf.lite.TFLiteConverter.from_saved_model(
            str(saved_model), signature_keys=list(signatures)
        )
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        return converter.convert()
    except (OSError, ValueError, tf.errors.OpError) as error:
        raise ExportError(
            f"{saved_model}: the {' and '.join(repr(name) for name in signatures)} "
            f"signature{'s' if len(signatures) > 1 else ''} cannot be converted to TFLite "
            f"({str(error).strip()[:200]})"
        ) from error


def write_tflite(
    saved_model: str | os.PathLike,
    out: str | os.PathLike | None = None,
    signatures: tuple[str, ...] = (SIGNATURE,),
) -> Path:
    """Writes the TFLite conversion of ``signatures``, by default as ``model.tflite`` beside it.

    Returns:
        The ``.tflite`` file.
    """
    out = Path(out) if out is not None else Path(saved_model) / TFLITE_NAME
    write_bytes_atomically(out, [convert_serve(saved_model, signatures)])
    return out


def run_tflite(
    path: str | os.PathLike, clips: np.ndarray, signature: str = SIGNATURE
) -> np.ndarray:
    """Embeds clips with a ``model.tflite`` through the TFLite interpreter.

    Args:
        path: The ``.tflite`` file.
        clips: float32 ``[n, frames, bins]``.
        signature: ``serve``, or ``serve_mel`` or ``serve_roll`` of a joint export.

    Returns:
        float32 ``[n, embedding_size]``.
    """
    interpreter = tf.lite.Interpreter(model_path=str(path))
    runner = interpreter.get_signature_runner(signature)
    outputs = runner(clips=np.asarray(clips, np.float32))
    return next(iter(outputs.values()))

"""The on-disk schema of a prepared clip: one ``tf.train.Example`` per clip.

The schema is written once, as the fields of :class:`ClipLabels` plus the two
clip arrays; serialising and parsing both derive from it. Mel clips are stored as
float16 bytes (half the disk of float32; the rounding error of a log-mel value is
below 0.01) and piano rolls as uint8 bytes; :func:`parse_clip` returns both as
float32 ``[clip_frames, bins]`` tensors.

A dataset prepared with several soundfonts holds every rendering of a clip in its
one record: the mel bytes are ``[renderings, clip_frames, n_mels]``, the
reference rendering first (the dataset's manifest names them, see
:mod:`tfembed.dataset.manifest`). Data with one rendering has the same bytes as
before renderings existed.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from tfembed.features.framegrid import FrameGrid


@dataclasses.dataclass(frozen=True)
class ClipLabels:
    """Labels of one clip.

    Attributes:
        piece_id: Identifier of the piece the clip was cut from.
        clip_index: Position of the clip within its piece (0, 1, ...); clips
            ``i`` and ``i + 1`` of a piece are adjacent in time.
        start_time: Start of the clip in seconds from the start of the piece.
        composer: Integer id in the dataset's composer vocabulary, or ``UNKNOWN``
            (the label values are in :mod:`tfembed.dataset.vocabulary`).
        composer_name: Composer name as given by the source.
        key_signature: Pitch class (C = 0) of the major key in effect, minor keys
            mapped to their relative major; ``UNKNOWN`` when the file has none.
        tempo: Quarter notes per minute in effect at the clip's midpoint.
        tempo_explicit: Whether the tempo came from a tempo event in the file
            (``False`` means the MIDI default of 120 was assumed).
        note_density: Note onsets per second within the clip.
        split: ``train``, ``validation`` or ``test``.
        tempo_source: ``stated`` (a tempo event in the file), ``drawn`` (no
            tempo stated; rendered at a tempo drawn for the piece) or ``default``
            (no tempo stated; rendered at 120). Empty in data prepared before
            this label existed.
    """

    piece_id: str
    clip_index: int
    start_time: float
    composer: int
    composer_name: str
    key_signature: int
    tempo: float
    tempo_explicit: bool
    note_density: float
    split: str
    tempo_source: str = ""


CLIP_ARRAYS = {"mel": (tf.float16, np.float16), "roll": (tf.uint8, np.uint8)}
"""Stored dtype (TensorFlow, numpy) of each clip array, kept as raw bytes."""

_STORED_DTYPES = {"str": tf.string, "int": tf.int64, "float": tf.float32, "bool": tf.int64}
"""How each label type of :class:`ClipLabels` is stored."""

LABEL_DTYPES = {
    field.name: _STORED_DTYPES[str(field.type)] for field in dataclasses.fields(ClipLabels)
}
"""Stored dtype of every label, derived from :class:`ClipLabels`."""


def _feature(value: object, type_name: str) -> tf.train.Feature:
    """One ``tf.train.Feature`` of a value stored as ``type_name`` (a label type, or bytes)."""
    if type_name == "bytes":
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
    if type_name == "str":
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[str(value).encode()]))
    if type_name == "float":
        return tf.train.Feature(float_list=tf.train.FloatList(value=[float(value)]))
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))


def serialize_clip(mel: np.ndarray, roll: np.ndarray, labels: ClipLabels) -> bytes:
    """Serialises one clip.

    Args:
        mel: Log-mel ``[clip_frames, n_mels]``, or ``[renderings, clip_frames,
            n_mels]`` for several renderings of the clip (the reference first).
        roll: Piano roll ``[clip_frames, n_pitches]`` with values in {0, 1}.
        labels: The clip's labels.

    Returns:
        A serialised ``tf.train.Example``.
    """
    arrays = {"mel": mel, "roll": roll}
    features = {
        name: _feature(np.asarray(arrays[name], dtype=dtypes[1]).tobytes(), "bytes")
        for name, dtypes in CLIP_ARRAYS.items()
    }
    for field in dataclasses.fields(ClipLabels):
        features[field.name] = _feature(getattr(labels, field.name), str(field.type))
    example = tf.train.Example(features=tf.train.Features(feature=features))
    return example.SerializeToString()


_FEATURE_SPEC = {
    **{name: tf.io.FixedLenFeature([], tf.string) for name in CLIP_ARRAYS},
    **{
        field.name: tf.io.FixedLenFeature(
            [],
            LABEL_DTYPES[field.name],
            # A label with a default (added later) reads as that default from older data.
            default_value=None
            if field.default is dataclasses.MISSING
            else (field.default.encode() if isinstance(field.default, str) else field.default),
        )
        for field in dataclasses.fields(ClipLabels)
    },
}


def parse_clip(
    serialized: tf.Tensor, grid: FrameGrid, rendering: int | None = 0
) -> dict[str, tf.Tensor]:
    """Parses a serialised clip into a dict of tensors (mel and roll as float32).

    Args:
        serialized: One record.
        grid: The dataset's frame grid.
        rendering: Which rendering ``mel`` holds (0: the reference), or ``None``
            for all of them, ``[renderings, clip_frames, n_mels]``.
    """
    parsed = tf.io.parse_single_example(serialized, _FEATURE_SPEC)
    for name, (dtype, _) in CLIP_ARRAYS.items():
        values = tf.io.decode_raw(parsed[name], dtype)
        if name == "mel":
            renderings = tf.reshape(values, [-1, *grid.clip_shape(name)])
            values = renderings if rendering is None else renderings[rendering]
        else:
            values = tf.reshape(values, grid.clip_shape(name))
        parsed[name] = tf.cast(values, tf.float32)
    for field in dataclasses.fields(ClipLabels):
        if field.type == "bool":
            parsed[field.name] = tf.cast(parsed[field.name], tf.bool)
    return parsed


_KEY_SPEC = {name: _FEATURE_SPEC[name] for name in ("piece_id", "clip_index")}


def parse_key(serialized: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Parses only ``(piece_id, clip_index)`` of a serialised clip: a fast pass over a split."""
    parsed = tf.io.parse_single_example(serialized, _KEY_SPEC)
    return parsed["piece_id"], parsed["clip_index"]

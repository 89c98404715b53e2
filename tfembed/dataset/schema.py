"""The on-disk schema of a prepared clip: one ``tf.train.Example`` per clip.

Mel clips are stored as float16 bytes (half the disk of float32; the rounding error
of a log-mel value is below 0.01) and piano rolls as uint8 bytes; :func:`parse_clip`
returns both as float32 ``[clip_frames, 96]`` tensors.
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
        composer: Integer id in the dataset's composer vocabulary, or ``UNKNOWN``.
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


def _bytes(value: bytes) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _int(value: int) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))


def _float(value: float) -> tf.train.Feature:
    return tf.train.Feature(float_list=tf.train.FloatList(value=[float(value)]))


def serialize_clip(mel: np.ndarray, roll: np.ndarray, labels: ClipLabels) -> bytes:
    """Serialises one clip.

    Args:
        mel: Log-mel ``[clip_frames, n_mels]``.
        roll: Piano roll ``[clip_frames, n_pitches]`` with values in {0, 1}.
        labels: The clip's labels.

    Returns:
        A serialised ``tf.train.Example``.
    """
    features = {
        "mel": _bytes(np.asarray(mel, dtype=np.float16).tobytes()),
        "roll": _bytes(np.asarray(roll, dtype=np.uint8).tobytes()),
        "piece_id": _bytes(labels.piece_id.encode()),
        "clip_index": _int(labels.clip_index),
        "start_time": _float(labels.start_time),
        "composer": _int(labels.composer),
        "composer_name": _bytes(labels.composer_name.encode()),
        "key_signature": _int(labels.key_signature),
        "tempo": _float(labels.tempo),
        "tempo_explicit": _int(labels.tempo_explicit),
        "note_density": _float(labels.note_density),
        "split": _bytes(labels.split.encode()),
        "tempo_source": _bytes(labels.tempo_source.encode()),
    }
    example = tf.train.Example(features=tf.train.Features(feature=features))
    return example.SerializeToString()


_FEATURE_SPEC = {
    "mel": tf.io.FixedLenFeature([], tf.string),
    "roll": tf.io.FixedLenFeature([], tf.string),
    "piece_id": tf.io.FixedLenFeature([], tf.string),
    "clip_index": tf.io.FixedLenFeature([], tf.int64),
    "start_time": tf.io.FixedLenFeature([], tf.float32),
    "composer": tf.io.FixedLenFeature([], tf.int64),
    "composer_name": tf.io.FixedLenFeature([], tf.string),
    "key_signature": tf.io.FixedLenFeature([], tf.int64),
    "tempo": tf.io.FixedLenFeature([], tf.float32),
    "tempo_explicit": tf.io.FixedLenFeature([], tf.int64),
    "note_density": tf.io.FixedLenFeature([], tf.float32),
    "split": tf.io.FixedLenFeature([], tf.string),
    "tempo_source": tf.io.FixedLenFeature([], tf.string, default_value=b""),
}


def parse_clip(serialized: tf.Tensor, grid: FrameGrid) -> dict[str, tf.Tensor]:
    """Parses a serialised clip into a dict of tensors (mel and roll as float32)."""
    parsed = tf.io.parse_single_example(serialized, _FEATURE_SPEC)
    clip_shape = [grid.clip_frames, grid.n_mels]
    mel = tf.io.decode_raw(parsed["mel"], tf.float16)
    parsed["mel"] = tf.reshape(tf.cast(mel, tf.float32), clip_shape)
    roll = tf.io.decode_raw(parsed["roll"], tf.uint8)
    parsed["roll"] = tf.reshape(tf.cast(roll, tf.float32), [grid.clip_frames, grid.n_pitches])
    parsed["tempo_explicit"] = tf.cast(parsed["tempo_explicit"], tf.bool)
    return parsed

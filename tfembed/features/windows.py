"""Cutting frames into clip-long windows with a hop, in core TensorFlow ops.

The exported ``embed_audio`` and ``audio_windows`` signatures use these, so the
SavedModel itself is the one definition of "embed this audio" (as yamnet's
export frames its input in the graph); :class:`tfembed.inference.embedder.Embedder`
uses the same rule for MIDI frames.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from tfembed.features.framegrid import EMBED_BATCH_SIZE


def window_layout(
    total_frames: tf.Tensor, clip_frames: int, hop_frames: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
    """First frames of the windows covering ``total_frames``, and which reach past the end.

    Windows start at frame 0 and every ``hop_frames`` after, as long as the
    earlier ones leave frames uncovered: the last window may reach past the end,
    and input shorter than one window gets one window.

    Returns:
        int32 ``[windows]`` starts and bool ``[windows]`` padded flags.
    """
    total_frames = tf.cast(total_frames, tf.int32)
    hop_frames = tf.cast(hop_frames, tf.int32)
    uncovered = tf.maximum(0, total_frames - clip_frames)
    count = 1 + (uncovered + hop_frames - 1) // hop_frames
    starts = tf.range(count) * hop_frames
    return starts, starts + clip_frames > total_frames


def embed_windows(
    embed: Callable[[tf.Tensor], tf.Tensor],
    frames: tf.Tensor,
    starts: tf.Tensor,
    clip_frames: int,
    pad_value: float,
    embedding_size: int,
    batch_size: int = EMBED_BATCH_SIZE,
) -> tf.Tensor:
    """Embeds the windows of ``frames`` that start at ``starts``, a batch at a time.

    Frames past the end are filled with ``pad_value`` (the domain's silence).
    Only one batch of windows is held at a time, so memory does not grow with
    the number of windows.

    Args:
        embed: ``[batch, clip_frames, bins]`` -> ``[batch, embedding_size]``.
        frames: ``[frames, bins]`` features.
        starts: int32 ``[windows]`` first frames.
        clip_frames: Frames per window.
        pad_value: Value of the padding frames.
        embedding_size: Size of one embedding.
        batch_size: Windows per call of ``embed``.

    Returns:
        float32 ``[windows, embedding_size]``.
    """
    starts = tf.cast(starts, tf.int32)
    needed = tf.reduce_max(starts) + clip_frames
    missing = tf.maximum(0, needed - tf.shape(frames)[0])
    frames = tf.pad(frames, [[0, missing], [0, 0]], constant_values=pad_value)
    count = tf.shape(starts)[0]
    offsets = tf.range(clip_frames)

    def body(index, embedded):
        batch_starts = starts[index : index + batch_size]
        windows = tf.gather(frames, batch_starts[:, tf.newaxis] + offsets)
        return index + batch_size, embedded.write(index // batch_size, embed(windows))

    parts = tf.TensorArray(tf.float32, size=0, dynamic_size=True, infer_shape=False)
    _, parts = tf.while_loop(lambda index, _: index < count, body, (0, parts))
    return tf.reshape(parts.concat(), [-1, embedding_size])

"""Neighbour pairs (clip i, clip i + 1 of one piece) streamed from prepared shards.

Nothing is duplicated on disk: each shard is read once, in order, and a ``scan``
keeps the previous clip, so every record is parsed once and a pair is emitted when
the previous clip is the same piece's clip ``i - 1``. Shards are interleaved,
pairs shuffled, batched with a fixed size and prefetched.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from tfembed.dataset.manifest import PreparedDataset
from tfembed.dataset.schema import parse_clip, parse_key
from tfembed.dataset.synth import SynthInstrument, synth_log_mel
from tfembed.dataset.timbre import TimbreAugment, augment_timbre
from tfembed.features.framegrid import DOMAINS, FrameGrid


def _pairs_of_shard(
    path: tf.Tensor, grid: FrameGrid, every_rendering: bool = False
) -> tf.data.Dataset:
    """``(piece_id, clip_index of the first clip, first, second)`` of one shard.

    ``first`` and ``second`` are dicts of both domains (``mel``, ``roll``); with
    ``every_rendering``, ``mel`` is ``[renderings, frames, n_mels]``.
    """
    rendering = None if every_rendering else 0
    clips = tf.data.TFRecordDataset(path).map(lambda record: parse_clip(record, grid, rendering))
    empty = {domain: tf.zeros(grid.clip_shape(domain), tf.float32) for domain in DOMAINS}
    if every_rendering:
        empty["mel"] = tf.zeros([0, *grid.clip_shape("mel")], tf.float32)
    initial = (tf.constant(""), tf.constant(-2, tf.int64), empty)

    def step(previous, clip):
        piece, index, earlier = previous
        is_pair = tf.logical_and(
            tf.equal(piece, clip["piece_id"]), tf.equal(index + 1, clip["clip_index"])
        )
        current = {domain: clip[domain] for domain in DOMAINS}
        return (clip["piece_id"], clip["clip_index"], current), (
            is_pair,
            piece,
            index,
            earlier,
            current,
        )

    pairs = clips.scan(initial, step)
    return pairs.filter(lambda is_pair, *rest: is_pair).map(lambda is_pair, *rest: rest)


JOINT_LAYOUT = ((0, "mel"), (0, "roll"), (1, "mel"), (1, "roll"))
"""The clips of a joint pair: clip ``i`` in both domains, then clip ``i + 1`` in both."""


def _check_domains(*domains: str) -> None:
    for domain in domains:
        if domain not in DOMAINS:
            raise ValueError(f"unknown domain {domain!r}; expected one of {DOMAINS}")


def keyed_pairs(dataset: PreparedDataset, split: str) -> tf.data.Dataset:
    """Every neighbour pair of a split once, in file order, with its key.

    Returns:
        A dataset of ``(piece_id, clip_index, first, second)``: ``clip_index`` is
        the first clip's; ``first`` and ``second`` are dicts of both domains.
    """
    paths = tf.constant(dataset.shard_paths(split), tf.string)
    files = tf.data.Dataset.from_tensor_slices(paths)
    return files.flat_map(lambda path: _pairs_of_shard(path, dataset.grid))


def _paths_of(dataset: PreparedDataset, split: str | tuple[str, ...]) -> list[str]:
    return dataset.shard_paths(*((split,) if isinstance(split, str) else split))


def neighbour_pairs(
    dataset: PreparedDataset,
    split: str | tuple[str, ...],
    left: str,
    right: str,
    batch_size: int,
    shuffle_buffer: int = 2048,
    seed: int | None = None,
    spec_augment: bool = False,
    gain_db: float = 0.0,
    timbre_augment: TimbreAugment | None = None,
    renderings: tuple[int, ...] = (0,),
    same_moment: float = 0.0,
    synth_instruments: float = 0.0,
    joint: bool = False,
    note_rolls: bool = False,
) -> tf.data.Dataset:
    """Endless batches of shuffled neighbour pairs ``(left of clip i, right of clip i + 1)``.

    Args:
        dataset: An opened prepared dataset.
        split: ``train``, ``validation``, ``test`` or ``pretrain``, or several
            of them (training reads ``("train", "pretrain")``).
        left: Domain of the first clip, ``"mel"`` or ``"roll"``.
        right: Domain of its neighbour.
        batch_size: Pairs per batch (every batch is full; at most the pairs of
            the split, see :func:`count_pairs`).
        shuffle_buffer: Pairs in the shuffle buffer.
        seed: Seed of the shard order and the shuffle; with a seed the order of
            pairs is the same on every run.
        spec_augment: Mask a random band and span of every mel clip
            (:func:`tfembed.dataset.augment.mask_mel`); roll clips are left as they are.
        gain_db: With a positive value, every mel clip gets its own random gain
            in ``[-gain_db, gain_db]`` dB (:func:`tfembed.dataset.augment.random_gain`),
            drawn from ``seed`` (0 without one), new on every pass over the split.
        timbre_augment: Recording conditions drawn for every mel clip, before
            masking (:func:`tfembed.dataset.timbre.augment_timbre`), seeded as the gain.
        renderings: Positions of the renderings mel clips are drawn from (0: the
            reference; see :attr:`PreparedDataset.renderings`): each mel clip of
            a pair gets its own, drawn uniformly, seeded as the gain.
        same_moment: Share of MEL_MEL pairs whose second clip is the first clip
            itself in another of ``renderings`` (the same moment heard on another
            instrument) instead of its neighbour; needs two renderings or more.
        synth_instruments: Share of clips whose mel is their piano roll played
            on a synthetic instrument drawn for the clip
            (:func:`tfembed.dataset.synth.synth_log_mel`, as loud as the clip's
            reference rendering) instead of a rendering; not with ``same_moment``.
        joint: Every pair in both domains (``left`` and ``right`` are then
            ignored): ``(mel of clip i, roll of clip i, mel of clip i + 1, roll
            of clip i + 1)`` (:data:`JOINT_LAYOUT`); each mel clip gets its own
            rendering and augmentation.
        note_rolls: After a pair's two clips, the piano rolls of both (the
            targets of feature workers of the notes); not with ``joint``.

    Returns:
        A dataset of ``(first, second)`` float32 ``[batch, frames, bins]``
        tensors; with ``joint``, four of them; with ``note_rolls``, ``(first,
        second, roll of first, roll of second)``.
    """
    _check_domains(left, right)
    layout = JOINT_LAYOUT if joint else ((0, left), (1, right))
    _check_renderings(dataset, renderings, same_moment, tuple(domain for _, domain in layout))
    if note_rolls and not joint:
        layout += ((0, "roll"), (1, "roll"))
    domains = tuple(domain for _, domain in layout)
    if not 0.0 <= synth_instruments <= 1.0 or (synth_instruments and same_moment):
        raise ValueError(
            f"synth_instruments must lie in [0, 1] and not go with same-moment pairs, "
            f"not {synth_instruments}"
        )
    paths = _paths_of(dataset, split)
    if not paths:
        raise ValueError(f"{dataset.root}: the {split} split has no clips")
    every_rendering = tuple(renderings) != (0,)
    files = tf.data.Dataset.from_tensor_slices(tf.constant(paths, tf.string))
    files = files.shuffle(len(paths), seed=seed)
    pairs = files.interleave(
        lambda path: _pairs_of_shard(path, dataset.grid, every_rendering),
        cycle_length=min(len(paths), 8),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=seed is not None,
    )
    if synth_instruments > 0:
        pairs = _played_by_synths(pairs, synth_instruments, seed or 0, dataset.grid)
    if every_rendering:
        pairs = _drawn_renderings(pairs, layout, renderings, same_moment, seed or 0)
    else:
        pairs = pairs.map(
            lambda piece, index, first, second: tuple(
                (first, second)[position][domain] for position, domain in layout
            )
        )
    pairs = pairs.shuffle(shuffle_buffer, seed=seed)
    if timbre_augment is not None:
        pairs = _map_mel_clips(
            pairs,
            domains,
            seed or 0,
            lambda clip, clip_seed: augment_timbre(clip, clip_seed, timbre_augment, dataset.grid),
        )
    if spec_augment:
        from tfembed.dataset.augment import mask_mel

        def augment(*clips):
            return tuple(
                mask_mel(clip) if domain == "mel" else clip
                for clip, domain in zip(clips, domains, strict=True)
            )

        pairs = pairs.map(augment, num_parallel_calls=tf.data.AUTOTUNE)
    if gain_db > 0:
        from tfembed.dataset.augment import random_gain

        log_offset = dataset.grid.log_offset
        pairs = _map_mel_clips(
            pairs,
            domains,
            seed or 0,
            lambda clip, clip_seed: random_gain(clip, gain_db, clip_seed, log_offset),
        )
    # Batches are cut within one pass over the split, then the passes repeat: a
    # batch never holds the same pair twice, so no negative is its own positive.
    batches = pairs.batch(batch_size, drop_remainder=True).repeat()
    return batches.prefetch(tf.data.AUTOTUNE)


def _check_renderings(
    dataset: PreparedDataset,
    renderings: tuple[int, ...],
    same_moment: float,
    domains: tuple[str, ...],
) -> None:
    """Checks the renderings asked for against the dataset's (``domains``: a pair's clips).

    Raises:
        ValueError: No rendering, one the dataset lacks, or same-moment pairs
            that cannot be made (not MEL_MEL, fewer than two renderings, a share
            outside [0, 1]).
    """
    count = len(dataset.renderings)
    if not renderings or any(not 0 <= index < count for index in renderings):
        raise ValueError(
            f"renderings {renderings} are not positions of {dataset.root}'s {count} renderings"
        )
    if not 0.0 <= same_moment <= 1.0:
        raise ValueError(f"same_moment must lie in [0, 1], not {same_moment}")
    if same_moment > 0 and domains != ("mel", "mel"):
        raise ValueError("same-moment pairs across renderings need mel clips on both sides")
    if same_moment > 0 and len(set(renderings)) < 2:
        raise ValueError("same-moment pairs across renderings need two renderings or more")


def _drawn_renderings(
    pairs: tf.data.Dataset,
    layout: tuple[tuple[int, str], ...],
    renderings: tuple[int, ...],
    same_moment: float,
    seed: int,
) -> tf.data.Dataset:
    """The clips of keyed pairs that ``layout`` names, each mel clip in its own drawn rendering.

    ``layout`` lists ``(position, domain)`` per clip: position 0 is clip ``i``,
    1 its neighbour. Draws come from the pair's seed (:func:`_seeded`). A
    same-moment pair (two clips, both mel) takes the first clip again, in a
    rendering other than the first's.
    """
    choices = tf.constant(sorted(set(renderings)), tf.int32)
    count = len(choices)
    sides = len(layout)

    def drawn(pair_seed, pair):
        _, _, first, second = pair
        draws = tf.random.stateless_uniform([sides + 2], pair_seed)
        scales = [count] * sides + [max(count - 1, 1)]
        picks = tf.minimum(tf.cast(draws[: sides + 1] * scales, tf.int32), count - 1)
        clips = [
            (first, second)[position][domain][choices[picks[side]]]
            if domain == "mel"
            else (first, second)[position][domain]
            for side, (position, domain) in enumerate(layout)
        ]
        if same_moment > 0:
            other = choices[(picks[0] + 1 + picks[sides]) % count]
            clips[1] = tf.where(draws[sides + 1] < same_moment, first["mel"][other], clips[1])
        return tuple(clips)

    return _seeded(pairs, seed).map(drawn, num_parallel_calls=tf.data.AUTOTUNE)


def _played_by_synths(
    pairs: tf.data.Dataset, share: float, seed: int, grid: FrameGrid
) -> tf.data.Dataset:
    """Keyed pairs whose clips each have, with chance ``share``, a synthetic instrument's mel.

    A chosen clip's mel (every rendering of it) becomes its roll played on an
    instrument drawn for it, as loud as its reference rendering. Draws come
    from the pair's seed (:func:`_seeded`), folded apart from the other draws.
    """
    instrument = SynthInstrument()

    def played(pair_seed, pair):
        piece, index, *clips = pair
        fold_in = tf.random.experimental.stateless_fold_in
        chances = tf.random.stateless_uniform([2], fold_in(pair_seed, 7))
        for side, clip in enumerate(clips):
            mel = clip["mel"]
            reference = mel if mel.shape.rank == 2 else mel[0]

            def synthetic(clip=clip, reference=reference, mel=mel, side=side):
                voice = fold_in(pair_seed, 8 + side)
                return tf.broadcast_to(
                    synth_log_mel(clip["roll"], reference, voice, instrument, grid), tf.shape(mel)
                )

            mel = tf.cond(chances[side] < share, synthetic, lambda mel=mel: mel)
            clips[side] = {**clip, "mel": tf.ensure_shape(mel, clip["mel"].shape)}
        return (piece, index, *clips)

    return _seeded(pairs, seed).map(played, num_parallel_calls=tf.data.AUTOTUNE)


def _seeded(pairs: tf.data.Dataset, seed: int) -> tf.data.Dataset:
    """``(pair_seed, pair)``: a shape ``[2]`` seed for each pair's random draws.

    The seeds come from ``seed`` and differ on every pass over the split, so a
    pair gets new draws each time it comes round, and the same on every run.
    """
    draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    return tf.data.Dataset.zip(pairs, draws).map(
        lambda pair, draw: (tf.stack([tf.constant(seed, tf.int64), draw]), pair)
    )


def _map_mel_clips(
    pairs: tf.data.Dataset,
    domains: tuple[str, ...],
    seed: int,
    transform: Callable[[tf.Tensor, tf.Tensor], tf.Tensor],
) -> tf.data.Dataset:
    """Applies ``transform(clip, clip_seed)`` to each mel clip of every pair.

    Clip seeds are the pair's seed (:func:`_seeded`) with its second element
    doubled, plus the side (0 or 1).
    """

    def transformed(pair_seed, pair):
        return tuple(
            transform(clip, pair_seed * [1, 2] + [0, side]) if domain == "mel" else clip
            for side, (clip, domain) in enumerate(zip(pair, domains, strict=True))
        )

    return _seeded(pairs, seed).map(transformed, num_parallel_calls=tf.data.AUTOTUNE)


def count_pairs(dataset: PreparedDataset, split: str | tuple[str, ...]) -> int:
    """Neighbour pairs in a split (or several); one fast pass that parses only the clips' keys."""
    records = tf.data.TFRecordDataset(tf.constant(_paths_of(dataset, split), tf.string))
    keys = records.map(parse_key, num_parallel_calls=tf.data.AUTOTUNE)

    def step(state, key):
        piece, index, count = state
        is_pair = tf.logical_and(tf.equal(piece, key[0]), tf.equal(index + 1, key[1]))
        return (key[0], key[1], count + tf.cast(is_pair, tf.int64))

    initial = (tf.constant(""), tf.constant(-2, tf.int64), tf.constant(0, tf.int64))
    return int(keys.reduce(initial, step)[2])


@dataclasses.dataclass(frozen=True)
class PairSample:
    """A fixed sample of neighbour pairs, in both domains.

    Attributes:
        first: Domain -> float32 ``[n, frames, bins]`` clips ``i``.
        second: Domain -> float32 ``[n, frames, bins]`` clips ``i + 1``.
        piece_ids: ``[n]`` piece id (bytes) of each pair.
        clip_indices: ``[n]`` index of each pair's first clip in its piece.
    """

    first: dict[str, np.ndarray]
    second: dict[str, np.ndarray]
    piece_ids: np.ndarray
    clip_indices: np.ndarray

    def __len__(self) -> int:
        return len(self.piece_ids)


def sample_pairs(dataset: PreparedDataset, split: str, count: int, seed: int = 0) -> PairSample:
    """A fixed, seeded sample of up to ``count`` pairs drawn from every piece of a split.

    Pieces are taken in a seeded random order and each gives pairs in turn
    (one from each piece, then a second from each, ...), so every piece that has a
    pair is represented before any gives two. Two passes over the split: the
    first reads the keys, the second keeps the chosen pairs.
    """
    keys: dict[bytes, list[int]] = {}
    records = tf.data.TFRecordDataset(tf.constant(dataset.shard_paths(split), tf.string))
    previous: tuple[bytes, int] = (b"", -2)
    for piece, index in records.map(parse_key).as_numpy_iterator():
        if previous == (piece, int(index) - 1):
            keys.setdefault(piece, []).append(int(index) - 1)
        previous = (piece, int(index))
    rng = np.random.default_rng(seed)
    pieces = sorted(keys)
    rng.shuffle(pieces)
    order = {piece: rng.permutation(keys[piece]).tolist() for piece in pieces}
    chosen: set[tuple[bytes, int]] = set()
    for turn in range(max((len(indices) for indices in order.values()), default=0)):
        for piece in pieces:
            if len(chosen) < count and turn < len(order[piece]):
                chosen.add((piece, order[piece][turn]))
    kept: dict[str, list] = {"piece": [], "index": []}
    firsts: dict[str, list] = {domain: [] for domain in DOMAINS}
    seconds: dict[str, list] = {domain: [] for domain in DOMAINS}
    if chosen:
        for piece, index, first, second in keyed_pairs(dataset, split).as_numpy_iterator():
            if (piece, int(index)) in chosen:
                kept["piece"].append(piece)
                kept["index"].append(int(index))
                for domain in DOMAINS:
                    firsts[domain].append(first[domain])
                    seconds[domain].append(second[domain])

    def stacked(clips: dict[str, list]) -> dict[str, np.ndarray]:
        return {
            domain: np.stack(values)
            if values
            else np.zeros((0, *dataset.grid.clip_shape(domain)), np.float32)
            for domain, values in clips.items()
        }

    return PairSample(
        stacked(firsts),
        stacked(seconds),
        np.array(kept["piece"], dtype=object),
        np.array(kept["index"], dtype=np.int64),
    )

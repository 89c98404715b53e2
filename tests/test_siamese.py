"""Neighbour pairs from real prepared shards, and every siamese variant training on them."""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest

from tfembed.dataset.clips import load_clips
from tfembed.dataset.manifest import open_dataset
from tfembed.dataset.pairs import count_pairs, keyed_pairs, neighbour_pairs, sample_pairs
from tfembed.features.framegrid import DEFAULT_GRID
from tfembed.models.siamese import VARIANTS, build_siamese

SMALL_WIDTHS = (4, 8, 8, 8, 16)


def test_pairs_are_exactly_the_adjacent_clips_of_one_piece(tiny_dataset) -> None:
    clips = list(load_clips(tiny_dataset, "train").as_numpy_iterator())
    adjacent = [
        (first, second)
        for first, second in itertools.pairwise(clips)
        if first["piece_id"] == second["piece_id"]
        and second["clip_index"] == first["clip_index"] + 1
    ]
    dataset = open_dataset(tiny_dataset)
    pairs = list(keyed_pairs(dataset, "train").as_numpy_iterator())
    assert len(pairs) == len(adjacent) == count_pairs(dataset, "train") > 0
    for (piece, index, first, second), (expected_first, expected_second) in zip(
        pairs, adjacent, strict=True
    ):
        assert (piece, index) == (expected_first["piece_id"], expected_first["clip_index"])
        np.testing.assert_array_equal(first["mel"], expected_first["mel"])
        np.testing.assert_array_equal(second["roll"], expected_second["roll"])


def test_a_batch_never_holds_one_pair_twice(tiny_dataset) -> None:
    dataset = open_dataset(tiny_dataset)
    available = count_pairs(dataset, "train")
    batches = neighbour_pairs(dataset, "train", "mel", "mel", available, seed=0)
    for first, _ in batches.take(3):
        flat = np.asarray(first).reshape(available, -1)
        assert len(np.unique(flat, axis=0)) == available


def test_the_validation_sample_is_seeded_and_spans_every_piece(tiny_dataset) -> None:
    dataset = open_dataset(tiny_dataset)
    pieces = {piece for piece, *_ in keyed_pairs(dataset, "validation").as_numpy_iterator()}
    sample = sample_pairs(dataset, "validation", len(pieces), seed=3)
    assert set(sample.piece_ids) == pieces
    again = sample_pairs(dataset, "validation", len(pieces), seed=3)
    np.testing.assert_array_equal(sample.first["mel"], again.first["mel"])
    other = sample_pairs(dataset, "validation", len(pieces), seed=4)
    assert list(other.clip_indices) != list(sample.clip_indices)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_variant_trains_on_real_pairs(tiny_dataset, variant) -> None:
    spec = VARIANTS[variant]
    pairs = neighbour_pairs(
        open_dataset(tiny_dataset), "train", spec.first, spec.second, 8, seed=0, joint=spec.joint
    )
    model = build_siamese(variant, DEFAULT_GRID, SMALL_WIDTHS, 4, 10.0, "sampled", 0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit(pairs, steps_per_epoch=3, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    first_variables = {id(v) for v in model.first_tower.trainable_variables}
    second_variables = {id(v) for v in model.second_tower.trainable_variables}
    if spec.shared:
        assert first_variables == second_variables
        assert len(model.trainable_variables) == len(first_variables)
    else:
        assert not first_variables & second_variables
        assert len(model.trainable_variables) == 2 * len(first_variables)
    embedding = model.first_tower(np.zeros([2, 192, 96], np.float32))
    assert embedding.shape == (2, 128) and embedding.dtype == "float32"


def test_mixed_precision_path_keeps_float32_embeddings(tiny_dataset) -> None:
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        pairs = neighbour_pairs(open_dataset(tiny_dataset), "train", "mel", "mel", 8, seed=0)
        model = build_siamese("MEL_MEL", DEFAULT_GRID, SMALL_WIDTHS, 4, 10.0, "sampled", 0)
        optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(1e-3))
        model.compile(optimizer=optimizer)
        history = model.fit(pairs, steps_per_epoch=3, epochs=1, verbose=0)
        embedding = model.first_tower(np.zeros([2, 192, 96], np.float32))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert np.isfinite(history.history["loss"]).all()
    assert embedding.dtype == "float32"
    assert model.first_tower.get_layer("mel_tower_conv0").compute_dtype == "float16"


def test_spec_augment_masks_mel_but_leaves_roll(tiny_dataset) -> None:
    dataset = open_dataset(tiny_dataset)
    plain = neighbour_pairs(dataset, "train", "mel", "roll", 4, seed=0)
    masked = neighbour_pairs(dataset, "train", "mel", "roll", 4, seed=0, spec_augment=True)
    (mel, roll), (masked_mel, masked_roll) = next(iter(plain)), next(iter(masked))
    np.testing.assert_array_equal(roll, masked_roll)
    changed = np.asarray(mel) != np.asarray(masked_mel)
    assert changed.any() and changed.mean() < 0.5
    np.testing.assert_array_equal(
        np.asarray(masked_mel).min(axis=(1, 2)), np.asarray(mel).min(axis=(1, 2))
    )


def test_random_gain_scales_each_mel_clip_and_leaves_roll(tiny_dataset) -> None:
    dataset = open_dataset(tiny_dataset)
    plain = neighbour_pairs(dataset, "train", "mel", "roll", 4, seed=0)
    gained = neighbour_pairs(dataset, "train", "mel", "roll", 4, seed=0, gain_db=6.0)
    again = neighbour_pairs(dataset, "train", "mel", "roll", 4, seed=0, gain_db=6.0)
    (mel, roll), (gained_mel, gained_roll) = next(iter(plain)), next(iter(gained))
    np.testing.assert_array_equal(roll, gained_roll)
    np.testing.assert_array_equal(gained_mel, next(iter(again))[0])  # seeded
    loud = np.asarray(mel) > np.log(dataset.grid.log_offset) + 8  # far above the offset
    shifts = [np.median((np.asarray(gained_mel) - mel)[i][loud[i]]) for i in range(len(mel))]
    limit = 6.0 * np.log(10) / 10
    assert all(abs(shift) <= limit + 1e-3 for shift in shifts)
    assert len({round(float(shift), 3) for shift in shifts}) == len(shifts)  # one gain per clip

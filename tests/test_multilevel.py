"""Multi-level towers (``train.multilevel``): what the embedding reads, training, export."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfembed.cli.export import main as export_main
from tfembed.cli.train import main as train_main
from tfembed.dataset.clips import load_clips
from tfembed.evaluation.evaluate import _featurizers
from tfembed.evaluation.featurizers import random_tower_featurizer
from tfembed.export.tower import load_trained
from tfembed.features.framegrid import DEFAULT_GRID
from tfembed.models.towers import TowerDesign, build_tower

WIDTHS = (4, 8, 8, 8, 16)


def _real_rolls(dataset, count: int) -> np.ndarray:
    return np.stack([clip["roll"] for clip in load_clips(dataset, "train").take(count)])


def test_the_embedding_reads_every_blocks_average_before_its_pooling(tiny_dataset) -> None:
    tower = build_tower("t", *DEFAULT_GRID.clip_shape("roll"), TowerDesign(WIDTHS, multilevel=True))
    assert tower.get_layer("t_embedding").kernel.shape == (sum(WIDTHS), 128)
    probe = keras.Model(
        tower.input,
        [tower.get_layer(f"t_relu{block}").output for block in range(len(WIDTHS))]
        + [tower.get_layer("t_levels").output, tower.output],
    )
    rolls = _real_rolls(tiny_dataset, 4)
    *activations, levels, embedding = (output.numpy() for output in probe(rolls, training=False))
    starts = np.cumsum([0, *WIDTHS[:-1]])
    for block, (start, width) in enumerate(zip(starts[:-1], WIDTHS[:-1], strict=True)):
        np.testing.assert_allclose(
            levels[:, start : start + width], activations[block].mean(axis=(1, 2)), atol=1e-5
        )
    # The last block's ReLU comes after its pooling (they commute): its output is pooled.
    assert activations[-1].shape[1:3] == (6, 3)
    np.testing.assert_allclose(
        levels[:, -WIDTHS[-1] :], activations[-1].mean(axis=(1, 2)), atol=1e-5
    )
    assert embedding.shape == (4, 128)


def test_the_paper_tower_is_unchanged_without_it() -> None:
    tower = build_tower("p", *DEFAULT_GRID.clip_shape("mel"), TowerDesign(WIDTHS))
    assert tower.get_layer("p_embedding").kernel.shape == (WIDTHS[-1], 128)
    assert not any(layer.name.startswith("p_levels") for layer in tower.layers)


@pytest.mark.slow  # a real tiny training run, export and the evaluation's baselines
def test_a_multilevel_run_exports_it_and_its_random_tower_baseline_shares_the_design(
    tiny_dataset, tmp_path, capsys
) -> None:
    arguments = ["--config", "sym_sym.gin", "--config", "tiny.gin", "--data", str(tiny_dataset)]
    arguments += ["--model_dir", str(tmp_path / "run")]
    multilevel = ["--gin_param", "train.multilevel = True"]
    multilevel += ["--gin_param", "train.pool_before_norm = False"]
    assert train_main([*arguments, *multilevel]) == 0
    model, *_ = load_trained(tmp_path / "run")
    assert model.first_tower.get_layer("roll_tower_levels") is not None
    out = tmp_path / "saved"
    assert export_main(["--model_dir", str(tmp_path / "run"), "--out", str(out)]) == 0
    assert json.loads((out / "metadata.json").read_text())["train_config"]["multilevel"] is True
    rolls = _real_rolls(tiny_dataset, 4)
    loaded = tf.saved_model.load(str(out))
    np.testing.assert_allclose(
        loaded.serve(rolls).numpy(), model.first_tower(rolls, training=False).numpy(), atol=1e-5
    )

    _, baselines, _ = _featurizers([out], DEFAULT_GRID, baselines=True)
    random_tower = next(row for row in baselines if row.kind == "random tower")
    design = TowerDesign(WIDTHS, multilevel=True, input_norm_affine=False)
    expected = random_tower_featurizer("roll", DEFAULT_GRID, design)
    np.testing.assert_allclose(random_tower.embed(rolls), expected.embed(rolls), atol=1e-5)
    single_level = TowerDesign(WIDTHS, input_norm_affine=False)
    one_level = random_tower_featurizer("roll", DEFAULT_GRID, single_level)
    assert not np.allclose(random_tower.embed(rolls), one_level.embed(rolls), atol=1e-3)

    capsys.readouterr()
    assert train_main([*arguments, "--gin_param", "train.steps = 8"]) == 1
    assert "multilevel: True -> False" in capsys.readouterr().err

"""Tower layouts (``train.pool_before_norm``, ``train.input_norm_affine``): layers, runs."""

from __future__ import annotations

import json

import gin
import numpy as np
import pytest
import tensorflow as tf

from tfembed.cli.export import main as export_main
from tfembed.cli.train import main as train_main
from tfembed.dataset.clips import load_clips
from tfembed.errors import ConfigError, RunError
from tfembed.evaluation.evaluate import _featurizers
from tfembed.evaluation.featurizers import random_tower_featurizer
from tfembed.export.tower import load_trained
from tfembed.features.framegrid import DEFAULT_GRID
from tfembed.models.towers import PAPER_TOWER, TowerDesign, build_tower
from tfembed.training.config import TrainConfig

WIDTHS = (4, 8, 8, 8, 16)
FAST = TowerDesign(WIDTHS, pool_before_norm=True, input_norm_affine=False)


def _real_clips(dataset, domain: str, count: int) -> np.ndarray:
    return np.stack([clip[domain] for clip in load_clips(dataset, "train").take(count)])


def test_pooling_before_the_norm_normalises_the_pooled_values(tiny_dataset) -> None:
    tower = build_tower("t", *DEFAULT_GRID.clip_shape("mel"), FAST)
    paper = build_tower("p", *DEFAULT_GRID.clip_shape("mel"), TowerDesign(WIDTHS))
    pooled = tower.get_layer("t_pool0").output
    assert tower.get_layer("t_norm0").input is pooled
    assert tower.get_layer("t_relu0").input is tower.get_layer("t_norm0").output
    # The same weights but the input norm's scale and offset: no trainable weight
    # before the first convolution, so training needs no gradient of its input.
    assert tower.count_params() == paper.count_params() - 2
    assert tower.get_layer("t_input_norm").trainable_weights == []
    assert len(paper.get_layer("p_input_norm").trainable_weights) == 2

    clips = _real_clips(tiny_dataset, "mel", 8)
    probe = tf.keras.Model(tower.input, tower.get_layer("t_norm0").output)
    normalised = probe(clips, training=True).numpy()
    assert normalised.shape[1:] == (96, 48, WIDTHS[0])  # a 2x2 pooling of 192 x 96
    np.testing.assert_allclose(normalised.mean(axis=(0, 1, 2)), 0.0, atol=1e-3)
    np.testing.assert_allclose(normalised.std(axis=(0, 1, 2)), 1.0, atol=2e-2)


def test_a_recorded_config_gives_the_design_it_ran_with() -> None:
    assert TowerDesign.recorded({}) == PAPER_TOWER
    with gin.unlock_config():
        gin.clear_config()
    assert TrainConfig(variant="MEL_MEL", widths=WIDTHS).tower_design() == FAST
    recorded = TrainConfig(variant="MEL_MEL", widths=WIDTHS, input_norm_affine=True).to_dict()
    assert TowerDesign.recorded(recorded) == TowerDesign(WIDTHS, pool_before_norm=True)
    assert TowerDesign.recorded({"widths": [4, 8], "multilevel": True, "steps": 10}) == (
        TowerDesign((4, 8), multilevel=True)
    )
    with pytest.raises(ConfigError, match=r"add train\.pool_before_norm = False"):
        TrainConfig(variant="MEL_MEL", multilevel=True)


@pytest.mark.slow  # a real tiny training run, export and the evaluation's baselines
def test_a_run_of_the_default_layout_exports_it_and_its_random_tower_shares_it(
    tiny_dataset, tmp_path, capsys
) -> None:
    arguments = ["--config", "mel_mel.gin", "--config", "tiny.gin", "--data", str(tiny_dataset)]
    arguments += ["--model_dir", str(tmp_path / "run")]
    assert train_main(arguments) == 0
    model, *_ = load_trained(tmp_path / "run")
    assert model.first_tower.get_layer("mel_tower_norm0").input is (
        model.first_tower.get_layer("mel_tower_pool0").output
    )
    out = tmp_path / "saved"
    assert export_main(["--model_dir", str(tmp_path / "run"), "--out", str(out)]) == 0
    recorded = json.loads((out / "metadata.json").read_text())["train_config"]
    assert (recorded["pool_before_norm"], recorded["input_norm_affine"]) == (True, False)
    mels = _real_clips(tiny_dataset, "mel", 4)
    loaded = tf.saved_model.load(str(out))
    np.testing.assert_allclose(
        loaded.serve(mels).numpy(), model.first_tower(mels, training=False).numpy(), atol=1e-5
    )

    _, baselines, _ = _featurizers([out], DEFAULT_GRID, baselines=True)
    random_tower = next(row for row in baselines if row.kind == "random tower")
    design = TowerDesign.recorded(recorded)
    assert design.pool_before_norm and not design.input_norm_affine
    expected = random_tower_featurizer("mel", DEFAULT_GRID, design)
    np.testing.assert_allclose(random_tower.embed(mels), expected.embed(mels), atol=1e-5)

    capsys.readouterr()
    paper = ["--config", "paper.gin", "--gin_param", "train.steps = 8"]
    assert train_main([*arguments, *paper]) == 1
    refused = capsys.readouterr().err
    assert "pool_before_norm: True -> False" in refused
    assert "input_norm_affine: False -> True" in refused


@pytest.mark.slow  # a real tiny training run in the paper's layout
def test_a_run_older_than_the_layout_settings_exports_the_tower_it_trained(
    tiny_dataset, tmp_path
) -> None:
    run = tmp_path / "run"
    arguments = ["--config", "mel_mel.gin", "--config", "paper.gin", "--config", "tiny.gin"]
    assert train_main([*arguments, "--data", str(tiny_dataset), "--model_dir", str(run)]) == 0
    mels = _real_clips(tiny_dataset, "mel", 4)
    trained, *_ = load_trained(run)
    expected = trained.first_tower(mels, training=False).numpy()

    # Runs written before the layout settings existed record neither.
    record = json.loads((run / "run.json").read_text())
    del record["config"]["pool_before_norm"], record["config"]["input_norm_affine"]
    (run / "run.json").write_text(json.dumps(record))
    older, config, *_ = load_trained(run)
    assert config.tower_design() == TowerDesign(WIDTHS)
    np.testing.assert_allclose(older.first_tower(mels, training=False).numpy(), expected, atol=1e-6)

    # A record that describes another tower than the checkpoint holds is refused,
    # not exported with the variables the checkpoint lacks left at random.
    record["config"]["pool_before_norm"] = True
    (run / "run.json").write_text(json.dumps(record))
    with pytest.raises(RunError, match=r"does not hold the model that .*run\.json describes"):
        load_trained(run)

"""Fast tier: every shipped gin config builds its model and trains two steps on synthetic
tensors (no fluidsynth, no music21, no prepared data), as ddsp's models_test does."""

from __future__ import annotations

import gin
import keras
import numpy as np
import pytest

from tfembed.errors import ConfigError
from tfembed.features.framegrid import DEFAULT_GRID
from tfembed.models.siamese import variant_spec
from tfembed.training.config import TrainConfig
from tfembed.training.configs import parse_configs, shipped_configs
from tfembed.training.trainer import Trainer, precision_policy

VARIANT_CONFIGS = ["mel_mel.gin", "sym_sym.gin", "mel_sym.gin", "sym_mel.gin"]


def test_the_shipped_configs_are_there() -> None:
    assert set(shipped_configs()) >= {*VARIANT_CONFIGS, "base.gin", "tiny.gin"}


@pytest.mark.parametrize("config", VARIANT_CONFIGS)
def test_every_shipped_config_builds_and_trains_two_steps(config) -> None:
    parse_configs([config, "tiny.gin"], [])
    settings = TrainConfig()
    assert settings.variant == config[:-4].upper()
    spec = variant_spec(settings.variant)
    trainer = Trainer(settings, DEFAULT_GRID)
    rng = np.random.default_rng(0)
    batch = tuple(
        rng.normal(size=(settings.batch_size, *DEFAULT_GRID.clip_shape(domain))).astype(np.float32)
        for domain in (spec.first, spec.second)
    )
    before = [variable.numpy().copy() for variable in trainer.model.trainable_variables]
    losses = [float(trainer.train_step(batch)) for _ in range(2)]
    assert np.isfinite(losses).all()
    assert int(trainer.step.numpy()) == 2
    after = trainer.model.trainable_variables
    assert any(not np.array_equal(old, new.numpy()) for old, new in zip(before, after, strict=True))
    shared = {id(v) for v in trainer.model.first_tower.trainable_variables} == {
        id(v) for v in trainer.model.second_tower.trainable_variables
    }
    assert shared == spec.shared


def test_mixed_precision_is_restored_after_an_error() -> None:
    with pytest.raises(ConfigError), precision_policy("mixed_float16"):
        assert keras.mixed_precision.global_policy().name == "mixed_float16"
        TrainConfig(variant="MEL_MEL", checkpoint_every=0)
    assert keras.mixed_precision.global_policy().name == "float32"


def test_a_misspelt_binding_fails_at_once_naming_it() -> None:
    with pytest.raises(ConfigError, match="stpes"):
        parse_configs(["mel_mel.gin"], ["train.stpes = 3"])


def test_settings_without_a_variant_say_which_config_to_add() -> None:
    with gin.unlock_config():
        gin.clear_config()
    with pytest.raises(ConfigError, match=r"train\.variant is not set"):
        TrainConfig()

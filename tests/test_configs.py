"""Fast tier: every shipped gin config builds its model and trains two steps on synthetic
tensors (no fluidsynth, no music21, no prepared data), as ddsp's models_test does."""

from __future__ import annotations

import gin
import keras
import numpy as np
import pytest
from conftest import run_installed

from tfembed.errors import ConfigError
from tfembed.features.framegrid import DEFAULT_GRID
from tfembed.models.losses import in_batch_loss
from tfembed.models.siamese import variant_spec
from tfembed.training.config import TrainConfig
from tfembed.training.configs import parse_configs, shipped_configs
from tfembed.training.trainer import Trainer, learning_rate_schedule, precision_policy

VARIANT_CONFIGS = ["mel_mel.gin", "sym_sym.gin", "mel_sym.gin", "sym_mel.gin", "joint.gin"]


def test_the_shipped_configs_are_there() -> None:
    assert set(shipped_configs()) >= {
        *VARIANT_CONFIGS,
        *("paper.gin", "tiny.gin"),
    }


OUR_RECIPE = {
    "batch_size": 32,
    "checkpoint_every": 200,
    "deterministic": True,
    "distribution": "default",
    "feature_workers": 0.0,
    "gain_db": 0.0,
    "joint_across": 1.0,
    "joint_neighbour_negatives": False,
    "joint_roll_gradient": 1.0,
    "joint_shared_head": 0,
    "joint_own_head": 0,
    "joint_same_moment": 1.0,
    "joint_within": 1.0,
    "learning_rate": 0.001,
    "log_every": 20,
    "lr_schedule": "cosine",
    "mixed_precision": "auto",
    "multilevel": False,
    "pool_before_norm": True,
    "input_norm_affine": False,
    "negatives": "in_batch",
    "num_candidates": 4,
    "pitch_classes": False,
    "pretrain": True,
    "projection": 0,
    "renderings": [],
    "same_moment_pairs": 0.0,
    "seed": 0,
    "smoothing": 10.0,
    "spec_augment": False,
    "steps": 3000,
    "timbre_augment": False,
    "synth_instruments": 0.0,
    "worker_targets": "own",
    "validate_every": 200,
    "validation_pairs": 512,
    "warmup_steps": 100,
    "widths": [16, 32, 64, 64, 128],
}
"""Our recipe: what a bare TrainConfig, and every shipped config beneath its variant's
settings, resolves to."""

VARIANT_SETTINGS = {
    "mel_mel.gin": {"variant": "MEL_MEL", "feature_workers": 1.0},
    "sym_sym.gin": {"variant": "SYM_SYM"},
    "mel_sym.gin": {"variant": "MEL_SYM"},
    "sym_mel.gin": {"variant": "SYM_MEL"},
    "joint.gin": {
        "variant": "JOINT",
        "feature_workers": 1.0,
        "joint_same_moment": 3.0,
        "joint_across": 0.0,
        "joint_neighbour_negatives": True,
        "pool_before_norm": False,
        "input_norm_affine": True,
    },
}
OVERLAY_SETTINGS = {
    "paper.gin": {
        "lr_schedule": "constant",
        "negatives": "sampled",
        "pretrain": False,
        "warmup_steps": 0,
        "feature_workers": 0.0,
        "pool_before_norm": False,
        "input_norm_affine": True,
    },
    "tiny.gin": {
        "batch_size": 8,
        "checkpoint_every": 3,
        "steps": 6,
        "validate_every": 3,
        "widths": [4, 8, 8, 8, 16],
    },
}
COMBINATIONS = [
    [variant, *overlays]
    for variant in VARIANT_CONFIGS
    for overlays in ([], ["paper.gin"], ["tiny.gin"], ["paper.gin", "tiny.gin"])
]


def _operative_config(settings: dict) -> str:
    """The operative config gin writes for these resolved settings."""
    lines = [
        f"train.{name} = {tuple(value) if isinstance(value, list) else value!r}"
        for name, value in sorted(settings.items())
    ]
    return "\n".join(["# Parameters for train:", "# " + "=" * 78, *lines]) + "\n"


@pytest.mark.parametrize("configs", COMBINATIONS, ids=" + ".join)
def test_every_shipped_config_resolves_to_its_settings(configs) -> None:
    expected = {**OUR_RECIPE, **VARIANT_SETTINGS[configs[0]]}
    for overlay in configs[1:]:
        expected.update(OVERLAY_SETTINGS[overlay])
    parse_configs(configs, [])
    assert TrainConfig().to_dict() == expected
    assert gin.operative_config_str() == _operative_config(expected)


def test_a_bare_train_config_is_our_recipe() -> None:
    with gin.unlock_config():
        gin.clear_config()
    settings = TrainConfig(variant="MEL_MEL")
    assert settings.to_dict() == {**OUR_RECIPE, "variant": "MEL_MEL"}
    assert settings.training_splits == ("train", "pretrain")


def test_a_record_older_than_the_recipe_levers_reads_as_the_paper_recipe() -> None:
    recorded = {"variant": "MEL_MEL", "steps": 800, "batch_size": 32}
    completed = TrainConfig.recorded_with_defaults(recorded)
    assert (completed["negatives"], completed["lr_schedule"], completed["warmup_steps"]) == (
        "sampled",
        "constant",
        0,
    )
    assert (completed["pool_before_norm"], completed["input_norm_affine"]) == (False, True)
    assert completed["steps"] == 800 and completed["pretrain"] is True
    assert TrainConfig.recorded_with_defaults(TrainConfig(variant="MEL_MEL").to_dict()) == {
        **OUR_RECIPE,
        "variant": "MEL_MEL",
    }


def test_a_run_shorter_than_the_warm_up_warms_up_over_all_its_steps() -> None:
    parse_configs(["mel_mel.gin", "tiny.gin"], [])
    settings = TrainConfig()
    assert settings.warmup_steps > settings.steps
    schedule = learning_rate_schedule(settings)
    rates = [float(schedule(step)) for step in range(settings.steps + 1)]
    assert rates[0] == 0.0
    assert rates == sorted(rates)
    assert rates[-1] == pytest.approx(settings.learning_rate)


@pytest.mark.parametrize("config", VARIANT_CONFIGS)
def test_paper_gin_pins_the_papers_recipe_on_every_variant(config) -> None:
    parse_configs([config, "paper.gin"], [])
    settings = TrainConfig()
    recipe = (settings.negatives, settings.num_candidates, settings.smoothing, settings.batch_size)
    assert recipe == ("sampled", 4, 10.0, 32)  # paper, section 3: |D| = 4
    assert (settings.lr_schedule, settings.learning_rate) == ("constant", 1e-3)
    assert (settings.projection, settings.gain_db, settings.feature_workers) == (0, 0.0, 0.0)
    assert not settings.multilevel and not settings.pitch_classes  # the paper's tower
    assert not settings.pool_before_norm and settings.input_norm_affine
    assert settings.training_splits == ("train",)


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
        for domain in spec.batch_domains
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


def test_a_plain_install_finds_the_configs_by_bare_name(plain_install, tmp_path) -> None:
    script = (
        "import tfembed.training.configs as c; "
        "print(c.__file__); print(c.resolve_config('sym_mel.gin'))"
    )
    printed = run_installed(plain_install, script, tmp_path)
    assert printed[0].startswith(str(plain_install))
    assert printed[1] == str(plain_install / "tfembed" / "configs" / "sym_mel.gin")


@pytest.mark.parametrize(
    ("bindings", "shared_heads"),
    [
        (["train.negatives = 'in_batch'"], None),
        (["train.projection = 32"], True),
        (["train.lr_schedule = 'cosine'", "train.warmup_steps = 1"], None),
    ],
)
def test_every_recipe_lever_trains(bindings, shared_heads) -> None:
    parse_configs(["mel_mel.gin", "paper.gin", "tiny.gin"], bindings)  # each lever alone
    settings = TrainConfig()
    trainer = Trainer(settings, DEFAULT_GRID)
    rng = np.random.default_rng(0)
    shape = (settings.batch_size, *DEFAULT_GRID.clip_shape("mel"))
    batch = (rng.normal(size=shape).astype(np.float32),) * 2
    rates = []
    for _ in range(2):
        rates.append(trainer.learning_rate())
        assert np.isfinite(float(trainer.train_step(batch)))
    if settings.lr_schedule == "cosine":
        assert rates[0] < rates[1] == pytest.approx(settings.learning_rate)  # warm-up
    if shared_heads is not None:
        first, second = trainer.model.heads
        assert (first is second) == shared_heads
        assert trainer.model.first_tower.output.shape[-1] == 128  # features before the head


def test_in_batch_loss_is_symmetric_and_rewards_matching_pairs() -> None:
    rng = np.random.default_rng(0)
    anchors = rng.normal(size=(16, 8)).astype(np.float32)
    matched = float(in_batch_loss(anchors, anchors + 0.01, 10.0))
    shuffled = float(in_batch_loss(anchors, np.roll(anchors, 1, axis=0), 10.0))
    assert matched < 0.1 < np.log(16) < shuffled
    noise = rng.normal(size=(16, 8)).astype(np.float32)
    assert float(in_batch_loss(anchors, noise, 10.0)) == pytest.approx(
        float(in_batch_loss(noise, anchors, 10.0)), rel=1e-5
    )


def test_synthetic_instruments_take_a_share_and_not_same_moment_pairs() -> None:
    renderings = ("FluidR3_GM", "TimGM6mb")
    assert TrainConfig(variant="MEL_MEL", synth_instruments=0.3).synth_instruments == 0.3
    with pytest.raises(ConfigError, match=r"train\.synth_instruments .* not 1\.5"):
        TrainConfig(variant="MEL_MEL", synth_instruments=1.5)
    with pytest.raises(ConfigError, match=r"train\.synth_instruments .*same_moment_pairs"):
        TrainConfig(
            variant="MEL_MEL", renderings=renderings, same_moment_pairs=0.5, synth_instruments=0.3
        )


def test_worker_targets_are_own_or_notes_and_notes_not_for_joint() -> None:
    assert TrainConfig(variant="MEL_MEL", worker_targets="notes").worker_targets == "notes"
    with pytest.raises(ConfigError, match=r"train\.worker_targets must be one of"):
        TrainConfig(variant="MEL_MEL", worker_targets="roll")
    with pytest.raises(ConfigError, match="not for JOINT"):
        TrainConfig(variant="JOINT", worker_targets="notes")

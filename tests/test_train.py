"""tfembed-train on a tiny real dataset: every shipped config, resume, SIGTERM, bad bindings."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tfembed.cli.train import main as train_main
from tfembed.evaluation.plots import read_scalars
from tfembed.training.configs import shipped_configs

SHIPPED = ["mel_mel.gin", "sym_sym.gin", "mel_sym.gin", "sym_mel.gin"]


def _latest_step(model_dir: Path) -> int:
    return int(Path(tf.train.latest_checkpoint(str(model_dir / "checkpoints"))).name.split("-")[1])


@pytest.mark.parametrize("config", SHIPPED)
def test_every_shipped_config_trains_and_checkpoints(tiny_dataset, tmp_path, config) -> None:
    status = train_main(
        [
            "--config",
            config,
            "--config",
            "tiny.gin",
            "--data",
            str(tiny_dataset),
            "--model_dir",
            str(tmp_path),
        ]
    )
    assert status == 0
    assert _latest_step(tmp_path) == 6
    operative = (tmp_path / "operative_config.gin").read_text()
    assert f"train.variant = '{config[:-4].upper()}'" in operative
    assert list((tmp_path / "logs").glob("events.out.tfevents.*"))
    projector = tmp_path / "logs" / "projector"
    labels = (projector / "metadata.tsv").read_text().split()
    assert labels and set(labels) <= {"bach", "haydn", "josquin", "palestrina"}
    assert (projector / "projector_config.pbtxt").is_file()


def test_the_best_validation_checkpoint_is_kept_and_exported(tiny_dataset, tmp_path) -> None:
    arguments = ["--config", "mel_mel.gin", "--config", "tiny.gin"]
    arguments += ["--data", str(tiny_dataset), "--model_dir", str(tmp_path)]
    assert train_main([*arguments, "--gin_param", "train.validate_every = 2"]) == 0
    best = json.loads((tmp_path / "best" / "best.json").read_text())
    assert best["step"] in (2, 4, 6)
    ranks = read_scalars(tmp_path / "logs", "validation/rank_at_100_am")
    assert best["validation/rank_at_100_am"] == pytest.approx(ranks[1].min())
    assert best["step"] == ranks[0][np.argmin(ranks[1])]
    metadata = json.loads((tmp_path / "saved_model" / "metadata.json").read_text())
    assert (metadata["checkpoint"], metadata["checkpoint_step"]) == ("best", best["step"])


def test_same_command_resumes_the_step_count(tiny_dataset, tmp_path, capsys) -> None:
    arguments = [
        "--config",
        "sym_sym.gin",
        "--config",
        "tiny.gin",
        "--data",
        str(tiny_dataset),
        "--model_dir",
        str(tmp_path),
    ]
    assert train_main(arguments) == 0
    assert train_main([*arguments, "--gin_param", "train.steps = 9"]) == 0
    assert f"resuming {tmp_path} from step 6" in capsys.readouterr().out
    assert _latest_step(tmp_path) == 9


def test_misspelt_binding_fails_at_once_naming_it(tiny_dataset, tmp_path, capsys) -> None:
    status = train_main(
        [
            "--config",
            "mel_mel.gin",
            "--data",
            str(tiny_dataset),
            "--model_dir",
            str(tmp_path),
            "--gin_param",
            "train.stpes = 3",
        ]
    )
    assert status == 2
    assert "'stpes'" in capsys.readouterr().err
    assert not tmp_path.joinpath("checkpoints").exists()


def test_sigterm_saves_a_usable_checkpoint(tiny_dataset, tmp_path) -> None:
    command = [
        sys.executable,
        "-m",
        "tfembed.cli.train",
        "--config",
        "mel_mel.gin",
        "--config",
        "tiny.gin",
        "--data",
        str(tiny_dataset),
        "--model_dir",
        str(tmp_path),
        "--gin_param",
        "train.steps = 100000",
        "--gin_param",
        "train.checkpoint_every = 100000",
    ]
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=environment
    )
    for line in process.stdout:
        if line.startswith("step 3:"):  # training is under way, no checkpoint yet
            break
    assert not (tmp_path / "checkpoints").exists()
    process.send_signal(signal.SIGTERM)
    stdout = process.communicate(timeout=120)[0]
    assert process.returncode == 0
    assert "stopped by signal 15" in stdout
    stopped_at = _latest_step(tmp_path)
    assert 3 <= stopped_at < 100000
    assert (
        train_main(
            [
                "--config",
                "mel_mel.gin",
                "--config",
                "tiny.gin",
                "--data",
                str(tiny_dataset),
                "--model_dir",
                str(tmp_path),
                "--gin_param",
                f"train.steps = {stopped_at + 2}",
            ]
        )
        == 0
    )
    assert _latest_step(tmp_path) == stopped_at + 2


def test_shipped_configs_exist() -> None:
    assert set(shipped_configs()) >= {*SHIPPED, "base.gin", "tiny.gin"}


def test_mixed_float16_training_runs_on_cpu(tiny_dataset, tmp_path) -> None:
    status = train_main(
        [
            "--config",
            "mel_mel.gin",
            "--config",
            "tiny.gin",
            "--data",
            str(tiny_dataset),
            "--model_dir",
            str(tmp_path),
            "--gin_param",
            "train.mixed_precision = 'mixed_float16'",
        ]
    )
    assert status == 0
    assert _latest_step(tmp_path) == 6
    exported = tf.saved_model.load(str(tmp_path / "saved_model"))
    embeddings = exported.serve(np.zeros([2, 192, 96], np.float32))
    assert embeddings.dtype == tf.float32 and np.isfinite(embeddings.numpy()).all()

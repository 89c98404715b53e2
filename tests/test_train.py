"""tfembed-train on a tiny real dataset: every shipped config, resume, SIGTERM, bad bindings."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tfembed.cli.train import main as train_main
from tfembed.evaluation.plots import read_scalars

SHIPPED = ["mel_mel.gin", "sym_sym.gin", "mel_sym.gin", "sym_mel.gin", "joint.gin"]


def _latest_step(model_dir: Path) -> int:
    return int(Path(tf.train.latest_checkpoint(str(model_dir / "checkpoints"))).name.split("-")[1])


def _arguments(config: str, data, model_dir, *bindings: str) -> list[str]:
    arguments = ["--config", config, "--config", "tiny.gin"]
    arguments += ["--data", str(data), "--model_dir", str(model_dir)]
    for binding in bindings:
        arguments += ["--gin_param", binding]
    return arguments


@pytest.mark.parametrize("config", SHIPPED)
def test_every_shipped_config_trains_and_checkpoints(tiny_dataset, tmp_path, config) -> None:
    assert train_main(_arguments(config, tiny_dataset, tmp_path)) == 0
    assert _latest_step(tmp_path) == 6
    operative = (tmp_path / "operative_config.gin").read_text()
    assert f"train.variant = '{config[:-4].upper()}'" in operative
    assert list((tmp_path / "logs").glob("events.out.tfevents.*"))
    projector = tmp_path / "logs" / "projector"
    labels = (projector / "metadata.tsv").read_text().split()
    assert labels and set(labels) <= {"bach", "haydn", "josquin", "palestrina"}
    assert (projector / "projector_config.pbtxt").is_file()


def test_the_best_validation_checkpoint_is_kept_and_exported(tiny_dataset, tmp_path) -> None:
    arguments = _arguments("mel_mel.gin", tiny_dataset, tmp_path, "train.validate_every = 2")
    assert train_main(arguments) == 0
    best = json.loads((tmp_path / "best" / "best.json").read_text())
    assert best["step"] in (2, 4, 6)
    ranks = read_scalars(tmp_path / "logs", "validation/rank_at_100_am")
    steps, values = ranks[0][1:], ranks[1][1:]  # step 0 is the untrained reference
    assert ranks[0][0] == 0 and list(steps) == [2, 4, 6]
    assert best["validation/rank_at_100_am"] == pytest.approx(values.min())
    assert best["step"] == steps[np.argmin(values)]
    metadata = json.loads((tmp_path / "saved_model" / "metadata.json").read_text())
    assert (metadata["checkpoint"], metadata["checkpoint_step"]) == ("best", best["step"])


def test_same_command_resumes_the_step_count(tiny_dataset, tmp_path, capsys) -> None:
    arguments = _arguments("sym_sym.gin", tiny_dataset, tmp_path)
    assert train_main(arguments) == 0
    assert train_main([*arguments, "--gin_param", "train.steps = 9"]) == 0
    assert f"resuming {tmp_path} from step 6" in capsys.readouterr().out
    assert _latest_step(tmp_path) == 9


def test_sigterm_saves_a_usable_checkpoint(tiny_dataset, tmp_path) -> None:
    command = [sys.executable, "-m", "tfembed.cli.train"]
    command += _arguments(
        "mel_mel.gin",
        tiny_dataset,
        tmp_path,
        "train.steps = 100000",
        "train.checkpoint_every = 100000",
    )
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
    assert process.returncode == 128 + signal.SIGTERM  # as a shell reports it; no export
    assert "stopped by signal 15" in stdout
    assert not (tmp_path / "saved_model").exists()
    stopped_at = _latest_step(tmp_path)
    assert 3 <= stopped_at < 100000
    resumed = _arguments("mel_mel.gin", tiny_dataset, tmp_path, f"train.steps = {stopped_at + 2}")
    assert train_main(resumed) == 0
    assert _latest_step(tmp_path) == stopped_at + 2


def test_mixed_float16_training_runs_on_cpu(tiny_dataset, tmp_path) -> None:
    precision = "train.mixed_precision = 'mixed_float16'"
    assert train_main(_arguments("mel_mel.gin", tiny_dataset, tmp_path, precision)) == 0
    assert _latest_step(tmp_path) == 6
    exported = tf.saved_model.load(str(tmp_path / "saved_model"))
    embeddings = exported.serve(np.zeros([2, 192, 96], np.float32))
    assert embeddings.dtype == tf.float32 and np.isfinite(embeddings.numpy()).all()


def test_resuming_with_another_model_is_refused_and_leaves_the_run(
    tiny_dataset, tmp_path, capsys
) -> None:
    assert train_main(_arguments("mel_mel.gin", tiny_dataset, tmp_path)) == 0
    before = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    for config, binding in (
        ("sym_sym.gin", "train.steps = 8"),
        ("mel_mel.gin", "train.widths = (4, 8, 8, 8, 32)"),
    ):
        assert train_main(_arguments(config, tiny_dataset, tmp_path, binding)) == 1
        assert "other model or data settings" in capsys.readouterr().err
    after = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    assert after == before
    assert train_main(_arguments("mel_mel.gin", tiny_dataset, tmp_path, "train.steps = 8")) == 0
    assert "changed settings: steps: 6 -> 8" in capsys.readouterr().err
    assert _latest_step(tmp_path) == 8


@pytest.mark.parametrize(
    ("binding", "status", "message"),
    [
        ("train.checkpoint_every = 0", 2, "train.checkpoint_every must be at least 1"),
        ("train.variant = 'MEL_MELL'", 2, "unknown variant 'MEL_MELL'"),
        ("train.batch_size = 4096", 2, "larger than the"),
        ("train.steps = (", 2, "cannot parse the gin config"),
    ],
)
def test_bad_settings_are_one_line_errors(
    tiny_dataset, tmp_path, capsys, binding, status, message
) -> None:
    assert train_main(_arguments("mel_mel.gin", tiny_dataset, tmp_path, binding)) == status
    error = capsys.readouterr().err
    assert error.startswith("tfembed-train: error: ") and message in error
    assert "Traceback" not in error
    assert not tmp_path.joinpath("run.json").exists()


def test_bad_folders_are_one_line_errors(tiny_dataset, tmp_path, capsys) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("not a folder")
    assert train_main(_arguments("mel_mel.gin", tiny_dataset, a_file)) == 1
    assert "is a file" in capsys.readouterr().err
    assert train_main(_arguments("mel_mel.gin", tmp_path / "nowhere", tmp_path / "run")) == 1
    assert "is not a finished tfembed dataset" in capsys.readouterr().err
    assert train_main(_arguments("mel_mel.gin", tiny_dataset, tiny_dataset)) == 1
    assert "is not a tfembed run" in capsys.readouterr().err


def test_the_same_seed_gives_the_same_weights(tiny_dataset, tmp_path) -> None:
    # Fresh processes, as a user runs it: ops run one at a time there, and a
    # validation pass after every step varies the timing between the two runs.
    digests = []
    for name in ("a", "b"):
        command = [sys.executable, "-m", "tfembed.cli.train"]
        command += _arguments(
            "mel_mel.gin", tiny_dataset, tmp_path / name, "train.validate_every = 1"
        )
        finished = subprocess.run(command, capture_output=True, text=True, timeout=600)
        assert finished.returncode == 0, finished.stderr
        assert "not bit-reproducible" not in finished.stderr
        digests.append(re.search(r"weights sha256 (\w+)", finished.stdout).group(1))
    assert digests[0] == digests[1]
    reader_a = tf.train.load_checkpoint(str(tmp_path / "a" / "checkpoints"))
    reader_b = tf.train.load_checkpoint(str(tmp_path / "b" / "checkpoints"))
    names = [name for name in reader_a.get_variable_to_shape_map() if "model" in name]
    assert names
    for name in names:
        np.testing.assert_array_equal(reader_a.get_tensor(name), reader_b.get_tensor(name))


def test_training_makes_the_validation_rank_clearly_better(tiny_dataset, tmp_path) -> None:
    arguments = _arguments(
        "mel_mel.gin",
        tiny_dataset,
        tmp_path / "trained",
        # The default tower (pooling before its batch norms) needs more steps than
        # the paper's at tiny.gin's widths: 320 steps, against 80.
        "train.steps = 320",
        "train.validate_every = 320",
        "train.checkpoint_every = 320",
    )
    untrained = _arguments("mel_mel.gin", tiny_dataset, tmp_path / "untrained", "train.steps = 0")
    assert train_main(untrained) == 0
    assert train_main(arguments) == 0
    reference = read_scalars(tmp_path / "untrained" / "logs", "validation/rank_at_100_am")
    ranks = read_scalars(tmp_path / "trained" / "logs", "validation/rank_at_100_am")
    assert ranks[1][0] == reference[1][0]  # step 0: the same untrained tower (seeded)
    assert ranks[1][-1] < 0.7 * reference[1][-1]


def test_a_second_training_in_the_same_folder_is_refused(tiny_dataset, tmp_path) -> None:
    command = [sys.executable, "-m", "tfembed.cli.train"]
    command += _arguments("mel_mel.gin", tiny_dataset, tmp_path, "train.steps = 100000")
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    first = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=environment
    )
    for line in first.stdout:
        if line.startswith("step 3:"):
            break
    second = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300)
    assert second.returncode == 1
    assert f"is in use by another training run (process {first.pid})" in second.stderr
    first.kill()  # SIGKILL: the kernel releases the lock, no stale lock is left
    first.wait(timeout=60)
    resumed = _arguments("mel_mel.gin", tiny_dataset, tmp_path, "train.steps = 4")
    assert train_main(resumed) == 0


def test_a_dataset_without_validation_trains_and_exports_the_latest(
    tiny_dataset, tmp_path, capsys
) -> None:
    data = tmp_path / "data"
    shutil.copytree(tiny_dataset, data)
    manifest = json.loads((data / "manifest.json").read_text())
    manifest["shards"]["validation"] = []
    (data / "manifest.json").write_text(json.dumps(manifest))
    assert train_main(_arguments("sym_sym.gin", data, tmp_path / "run")) == 0
    assert "training without validation" in capsys.readouterr().err
    assert not (tmp_path / "run" / "best").exists()
    metadata = json.loads((tmp_path / "run" / "saved_model" / "metadata.json").read_text())
    assert metadata["checkpoint_step"] == 6

"""Multi-worker training: 2 real worker processes on localhost through tools/local_cluster.py.

Each worker prints the SHA-256 of its final weights (moving statistics
included); the chief's checkpoint is reloaded here and hashed the same way.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tfembed.dataset.clips import load_clips
from tfembed.evaluation.plots import read_scalars
from tfembed.export.tower import load_trained
from tfembed.training.workers import weights_digest

pytestmark = pytest.mark.slow  # real worker processes training on the real tiny dataset

LOCAL_CLUSTER = Path(__file__).resolve().parents[1] / "tools" / "local_cluster.py"
JOB_TIMEOUT = 900


def _command(data: Path, model_dir: Path, *bindings: str) -> list[str]:
    command = [sys.executable, str(LOCAL_CLUSTER), "--workers", "2", "--"]
    command += [sys.executable, "-m", "tfembed.cli.train", "--config", "mel_mel.gin"]
    command += ["--config", "tiny.gin", "--data", str(data), "--model_dir", str(model_dir)]
    for binding in ("train.distribution = 'multi_worker'", *bindings):
        command += ["--gin_param", binding]
    return command


def _environment(scratch: Path) -> dict[str, str]:
    """The test's environment, with the workers' temporary folders in ``scratch``."""
    scratch.mkdir(exist_ok=True)
    return {**os.environ, "TMPDIR": str(scratch), "PYTHONUNBUFFERED": "1"}


def _digests(output: str) -> dict[str, str]:
    return dict(re.findall(r"^\[(worker \d)\] weights sha256 ([0-9a-f]{64})$", output, re.M))


def _latest_step(model_dir: Path) -> int:
    latest = tf.train.latest_checkpoint(str(model_dir / "checkpoints"))
    return int(latest.rsplit("-", 1)[1]) if latest else 0


def test_two_workers_end_with_identical_weights_a_falling_loss_and_an_export(
    tiny_dataset, tmp_path
) -> None:
    run = tmp_path / "run"
    bindings = ("train.steps = 30", "train.log_every = 5", "train.validate_every = 15")
    job = subprocess.run(
        _command(tiny_dataset, run, *bindings, "train.checkpoint_every = 15"),
        env=_environment(tmp_path / "scratch"),
        capture_output=True,
        text=True,
        timeout=JOB_TIMEOUT,
    )
    assert job.returncode == 0, job.stdout[-3000:]
    assert "local_cluster: all 2 workers finished" in job.stdout
    digests = _digests(job.stdout)
    model, *_ = load_trained(run, "latest")
    assert digests == {"worker 0": weights_digest(model), "worker 1": weights_digest(model)}
    assert _latest_step(run) == 30
    # Only the chief wrote the run; the other worker's temporary checkpoints are gone.
    written = {".tfembed.lock", "best", "checkpoints", "logs", "operative_config.gin"}
    assert {path.name for path in run.iterdir()} == written | {"run.json", "saved_model"}
    assert job.stdout.count("SavedModel of the test-time tower") == 1
    assert not list((tmp_path / "scratch").iterdir())
    steps, losses = read_scalars(run / "logs", "train/loss")
    assert list(steps) == [5, 10, 15, 20, 25, 30]
    assert losses[-2:].mean() < losses[:2].mean()
    clips = np.stack(
        [clip["mel"] for clip in load_clips(tiny_dataset, "test").take(5).as_numpy_iterator()]
    )
    saved_model = tf.saved_model.load(str(run / "saved_model"))
    exported = saved_model.serve(clips).numpy()
    best, *_ = load_trained(run, "best")
    assert exported.shape == (5, 128)
    np.testing.assert_allclose(exported, best.first_tower(clips, training=False), atol=1e-5)


def _wait_for(condition, what: str, log: Path, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, (
            f"no {what} after {timeout} s:\n{log.read_text()[-3000:]}"
        )
        time.sleep(0.5)


def test_a_killed_worker_fails_the_job_and_the_same_command_resumes(tiny_dataset, tmp_path) -> None:
    run = tmp_path / "run"
    environment = _environment(tmp_path / "scratch")
    log = tmp_path / "job.log"
    endless = (
        "train.steps = 100000",
        "train.checkpoint_every = 3",
        "train.validate_every = 100000",
    )
    with log.open("w") as output:
        job = subprocess.Popen(
            _command(tiny_dataset, run, *endless),
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        _wait_for(lambda: _latest_step(run) >= 3, "checkpoint", log)
        worker = int(re.search(r"worker 1 pid (\d+)", log.read_text()).group(1))
        os.kill(worker, signal.SIGKILL)
        status = job.wait(timeout=120)
    finally:
        if job.poll() is None:
            job.kill()
    output = log.read_text()
    assert status != 0
    assert "local_cluster: error: worker 1 was killed by SIGKILL; stopping the other workers" in (
        output
    )
    assert "all 2 workers finished" not in output
    resumed_from = _latest_step(run)
    target = f"train.steps = {resumed_from + 3}"
    again = subprocess.run(
        _command(tiny_dataset, run, target, "train.validate_every = 100000"),
        env=environment,
        capture_output=True,
        text=True,
        timeout=JOB_TIMEOUT,
    )
    assert again.returncode == 0, again.stdout[-3000:]
    assert f"[worker 0] resuming {run} from step {resumed_from}" in again.stdout
    assert f"[worker 1] resuming {run} from step {resumed_from} (worker 1)" in again.stdout
    assert _latest_step(run) == resumed_from + 3
    digests = _digests(again.stdout)
    assert len(digests) == 2 and len(set(digests.values())) == 1


def test_sigterm_to_the_job_stops_every_worker_after_the_same_step(tiny_dataset, tmp_path) -> None:
    run = tmp_path / "run"
    log = tmp_path / "job.log"
    endless = ("train.steps = 100000", "train.validate_every = 100000")
    with log.open("w") as output:
        job = subprocess.Popen(
            _command(tiny_dataset, run, *endless),
            env=_environment(tmp_path / "scratch"),
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        _wait_for(lambda: _latest_step(run) >= 3, "checkpoint", log)
        job.send_signal(signal.SIGTERM)
        status = job.wait(timeout=120)
    finally:
        if job.poll() is None:
            job.kill()
    output = log.read_text()
    assert status == 128 + signal.SIGTERM, output[-3000:]
    stops = re.findall(r"^\[worker (\d)\] stopped by signal 15 at step (\d+);", output, re.M)
    assert sorted(worker for worker, _ in stops) == ["0", "1"]
    assert len({step for _, step in stops}) == 1
    assert _latest_step(run) == int(stops[0][1])
    model, *_ = load_trained(run, "latest")
    assert set(_digests(output).values()) == {weights_digest(model)}

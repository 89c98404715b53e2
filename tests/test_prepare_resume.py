"""An interrupted preparation resumes and ends with exactly the records of an uninterrupted one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from midi_files import scale_notes, write_raw_midi

from tfembed.preparation.prepare import PIECES_DIR

pytestmark = pytest.mark.slow  # the real pipeline end to end

PIECES = 16


@pytest.fixture(scope="module")
def midi_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("resume_midi")
    for index in range(PIECES):
        composer = ("alpha", "beta", "gamma")[index % 3]
        write_raw_midi(
            root / composer / f"piece{index:02d}.mid",
            scale_notes(90.0 + index, step=0.2 + 0.01 * index),
        )
    return root


def _command(midi_dir: Path, out: Path, workers: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tfembed.cli.prepare",
        "--midi_dir",
        str(midi_dir),
        "--out",
        str(out),
        "--workers",
        str(workers),
    ]


def _stop_after_some_pieces(
    command: list[str], out: Path, stop: signal.Signals
) -> subprocess.CompletedProcess:
    """Starts a preparation, sends ``stop`` once 2 pieces are done, waits for the exit.

    The preparation runs at a slightly lower priority, so that on a busy machine
    this loop still sees the pieces arrive before the run has finished them all
    (a much lower one starved it: with four training jobs on 2 cores, nice 15
    had not finished 2 pieces in 300 s), and with
    SIGINT at its default action: a test session started in the background (as
    ``cmd &`` does) passes SIGINT on ignored, and Ctrl-C would then do nothing.
    """

    def child_setup() -> None:
        os.nice(5)
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=child_setup
    )
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and process.poll() is None:
        if len(list((out / PIECES_DIR).glob("*.json"))) >= 2:
            break
        time.sleep(0.05)
    process.send_signal(stop)
    stdout, stderr = process.communicate(timeout=120)
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def _records(out: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(out.glob("*.tfrecord"))}


@pytest.fixture(scope="module")
def uninterrupted(midi_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("uninterrupted") / "data"
    subprocess.run(_command(midi_folder, out, 2), check=True, capture_output=True)
    return out


@pytest.mark.parametrize(
    ("stop", "workers"), [(signal.SIGINT, 1), (signal.SIGKILL, 2), (signal.SIGTERM, 2)]
)
def test_interrupted_run_resumes_to_identical_records(
    midi_folder, uninterrupted, tmp_path, stop, workers
) -> None:
    out = tmp_path / "data"
    command = _command(midi_folder, out, workers)

    stopped = _stop_after_some_pieces(command, out, stop)

    assert stopped.returncode != 0, "the run finished before it could be interrupted"
    finished = len(list((out / PIECES_DIR).glob("*.json")))
    assert 2 <= finished < PIECES
    assert not list(out.glob("*.tfrecord"))
    if stop != signal.SIGKILL:
        assert stopped.returncode == 130
        assert "Run the same command again to resume" in stopped.stderr

    resumed = subprocess.run(command, capture_output=True, text=True, check=True)

    assert f"resuming: {finished} of {PIECES} pieces already done" in resumed.stderr
    assert not (out / PIECES_DIR).exists()
    records = _records(out)
    assert records and records == _records(uninterrupted)
    again = subprocess.run(command, capture_output=True, text=True, check=True)
    assert "already prepared; nothing to do" in again.stderr

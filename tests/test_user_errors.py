"""A user's mistakes: one line naming the problem, the documented exit status, no TensorFlow.

The command-line cases run each command in a fresh interpreter and check that it
stopped before TensorFlow was imported (what makes the error appear at once).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from midi_files import scale_notes, write_raw_midi

import tfembed
from tfembed.errors import InputError, PieceError, TfembedError, UnknownModelError
from tfembed.inference.embedder import Embedder
from tfembed.inference.inputs import DomainError

ROOT = Path(__file__).resolve().parents[1]
RUNNER = """
import sys
from tfembed.cli.{module} import main
try:
    status = main(sys.argv[1:])
except SystemExit as stop:
    status = stop.code
print("tensorflow imported:", "tensorflow" in sys.modules)
sys.exit(status)
"""


def _command(module: str, *args: str, cwd: Path) -> tuple[int, str, str, bool]:
    """Runs ``tfembed.cli.MODULE`` with ``args``; returns status, stdout, stderr, TF imported."""
    result = subprocess.run(
        [sys.executable, "-c", RUNNER.format(module=module), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )
    *out, flag = result.stdout.strip().splitlines()
    return result.returncode, "\n".join(out), result.stderr, flag.endswith("True")


@pytest.fixture
def song(tmp_path: Path) -> Path:
    return write_raw_midi(tmp_path / "song.mid", scale_notes(7.0))


@pytest.mark.parametrize(
    ("module", "args"),
    [
        ("embed", ["--saved_model", "mel_mell", "song.mid"]),
        ("search", ["index", "--model", "mel_mell", "--out", "index", "song.mid"]),
        ("evaluate", ["--saved_model", "mel_mell", "--data", "data", "--out", "report"]),
        ("train", ["--config", "mel_mell.gin", "--data", "data", "--model_dir", "run"]),
    ],
)
def test_a_misspelt_name_is_a_usage_error(module, args, song, tmp_path) -> None:
    status, _, error, loaded_tf = _command(module, *args, cwd=tmp_path)
    assert status == 2 and not loaded_tf
    program = "tfembed-eval" if module == "evaluate" else f"tfembed-{module}"
    assert error.strip().splitlines() == [error.strip()]  # one line
    assert error.startswith(f"{program}: error: ") and "mel_mell" in error
    assert "available: joint, mel_mel" in error or "shipped configs: " in error


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["gone.mid"], "failed gone.mid: no such file or folder"),
        (["notes.txt"], "failed notes.txt: unsupported file type '.txt'"),
        (["--saved_model", "sym_sym", "take.wav"], "failed take.wav: sym_sym reads piano rolls"),
    ],
)
def test_embed_reports_bad_inputs_without_loading_the_model(args, problem, tmp_path) -> None:
    (tmp_path / "notes.txt").write_text("not music")
    (tmp_path / "take.wav").write_bytes(b"RIFF")
    status, out, error, loaded_tf = _command("embed", *args, cwd=tmp_path)
    assert status == 1 and not loaded_tf
    assert f"tfembed-embed: {problem}" in error
    assert "embedded 0 of 1 inputs" in out and "clips/s" not in out


def test_other_commands_check_their_folders_first(tmp_path) -> None:
    expected = {
        "export": "tfembed-export: error: missing is not a tfembed training run",
        "evaluate": "tfembed-eval: error: missing/manifest.json not found",
        "train": "tfembed-train: error: missing/manifest.json not found",
    }
    arguments = {
        "export": ["--model_dir", "missing", "--out", "saved"],
        "evaluate": ["--saved_model", "sym_sym", "--data", "missing", "--out", "report"],
        "train": ["--config", "sym_sym.gin", "--data", "missing", "--model_dir", "run"],
    }
    for module, message in expected.items():
        status, _, error, loaded_tf = _command(module, *arguments[module], cwd=tmp_path)
        assert (status, loaded_tf) == (1, False), module
        assert error.strip().startswith(message), error


def test_a_rerun_with_nothing_to_do_does_not_load_the_model(song, tmp_path) -> None:
    status, out, error, loaded_tf = _command("embed", "song.mid", cwd=tmp_path)
    assert status == 0 and loaded_tf
    assert "model: sym_sym (the default for MIDI inputs" in error
    assert "embedded 1 of 1 inputs (3 clips, " in out and "clips/s" in out
    status, out, error, loaded_tf = _command("embed", "song.mid", cwd=tmp_path)
    assert status == 0 and not loaded_tf
    assert "embedded 1 of 1 inputs (3 clips, 1 already done)" in out and "clips/s" not in out
    index = json.loads((tmp_path / "embeddings" / "index.json").read_text())
    assert index["resumed"] == 1 and index["embedded_clips"] == 0


def test_an_index_rerun_with_nothing_new_does_not_load_the_model(song, tmp_path) -> None:
    command = ["index", "--model", "sym_sym", "--out", "index", "song.mid"]
    status, out, _, loaded_tf = _command("search", *command, cwd=tmp_path)
    assert status == 0 and loaded_tf and "3 embedded now" in out
    status, out, _, loaded_tf = _command("search", "index", "--out", "index", cwd=tmp_path)
    assert status == 0 and not loaded_tf
    assert "indexed 1 files (3 windows of 3 s every 3 s; 0 embedded now, 1 already done)" in out


@pytest.mark.parametrize("module", ["prepare", "train", "export", "embed", "evaluate", "search"])
def test_every_command_tells_its_version(module, tmp_path) -> None:
    status, out, _, loaded_tf = _command(module, "--version", cwd=tmp_path)
    program = "tfembed-eval" if module == "evaluate" else f"tfembed-{module}"
    assert (status, out, loaded_tf) == (0, f"{program} {tfembed.__version__}", False)


@pytest.fixture(scope="module")
def mel_mel() -> Embedder:
    return tfembed.load("mel_mel")


def _short(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message and len(message) < 300  # no array dump
    return message


def test_python_errors_are_tfembed_errors_with_short_messages(mel_mel, tmp_path) -> None:
    audio = np.random.default_rng(0).uniform(-0.5, 0.5, [2, 48000]).astype(np.float32)
    with pytest.raises(InputError, match=r"more channels than samples.*samples\.T") as raised:
        mel_mel.embed_audio(audio, 16000)
    _short(raised)
    with pytest.raises(InputError, match="sample rate must be a positive") as raised:
        mel_mel.embed_audio(audio.T, 0)
    _short(raised)
    with pytest.raises(InputError, match=r"clips of shape \(2, 96, 192\) given") as raised:
        mel_mel.embed_clips(np.zeros([2, 96, 192], np.float32))
    _short(raised)
    with pytest.raises(InputError, match="hop must be positive"):
        mel_mel.embed_audio(audio.T, 16000, hop_seconds=0)
    assert issubclass(InputError, TfembedError) and issubclass(InputError, ValueError)


def test_a_missing_midi_file_is_named(mel_mel, tmp_path) -> None:
    missing = tmp_path / "nowhere" / "piece.mid"
    with pytest.raises(PieceError, match=f"^{missing}: cannot read the file"):
        mel_mel.embed_midi(missing)
    with pytest.raises(PieceError, match=f"^{tmp_path / 'take.wav'}: cannot read the file"):
        mel_mel.embed_audio_file(tmp_path / "take.wav")


def test_a_misspelt_model_and_audio_for_a_roll_model(tmp_path) -> None:
    with pytest.raises(
        UnknownModelError, match="available: joint, mel_mel, mel_sym, sym_mel, sym_sym"
    ):
        tfembed.load("mel_mell")
    roll = Embedder("sym_sym", load=False)
    with pytest.raises(DomainError, match="reads piano rolls"):
        roll.embed_audio(np.zeros(16000, np.float32), 16000)

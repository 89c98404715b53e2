"""Embedding a folder: one matrix of piece embeddings, and the same outputs with any workers."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
from midi_files import scale_notes, write_raw_midi

from tfembed.cli.embed import main as embed_main
from tfembed.inference.batch_embed import (
    FILES_NAME,
    MATRIX_NAME,
    _reader_pool,
    embed_files,
    read_input,
)
from tfembed.inference.embedder import Embedder
from tfembed.inference.inputs import InputReader


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Two MIDI scales, a two-tone WAV at 44.1 kHz and a file that is not MIDI."""
    root = tmp_path_factory.mktemp("inputs") / "music"
    write_raw_midi(root / "a.mid", scale_notes(7.0))
    write_raw_midi(root / "sub" / "b.mid", scale_notes(4.0, step=0.5))
    time = np.arange(44100 * 5) / 44100
    tone = 0.3 * np.sin(2 * np.pi * 440 * time) + 0.2 * np.sin(2 * np.pi * 660 * time)
    soundfile.write(root / "c.wav", tone, 44100, subtype="PCM_16")
    (root / "d.mid").write_bytes(b"MThd but broken")
    return root


def _outputs(out: Path) -> dict[str, dict[str, np.ndarray]]:
    return {
        path.relative_to(out).as_posix(): dict(np.load(path)) for path in sorted(out.rglob("*.npz"))
    }


def test_two_workers_give_the_outputs_of_one(folder, tmp_path) -> None:
    embedder = Embedder("mel_mel")
    one = embed_files(embedder, [folder], tmp_path / "one", workers=1)
    two = embed_files(embedder, [folder], tmp_path / "two", workers=2)
    assert (one["done"], one["failed"]) == (3, 1) and (two["done"], two["failed"]) == (3, 1)
    assert [entry.get("error") for entry in one["files"]] == [
        entry.get("error") for entry in two["files"]
    ]
    first, second = _outputs(tmp_path / "one"), _outputs(tmp_path / "two")
    assert sorted(first) == ["music/a.mid.npz", "music/c.wav.npz", "music/sub/b.mid.npz"]
    for name, arrays in first.items():
        for key, array in arrays.items():
            np.testing.assert_array_equal(second[name][key], array, err_msg=f"{name} {key}")
    np.testing.assert_array_equal(
        np.load(tmp_path / "one" / MATRIX_NAME), np.load(tmp_path / "two" / MATRIX_NAME)
    )


def test_two_workers_give_a_roll_model_the_outputs_of_one(folder, tmp_path) -> None:
    embedder = Embedder("sym_sym")
    midi = [folder / "a.mid", folder / "sub" / "b.mid"]
    one = embed_files(embedder, midi, tmp_path / "one", workers=1)
    two = embed_files(embedder, midi, tmp_path / "two", workers=2)
    assert one["done"] == two["done"] == 2
    first, second = _outputs(tmp_path / "one"), _outputs(tmp_path / "two")
    for name, arrays in first.items():
        for key, array in arrays.items():
            np.testing.assert_array_equal(second[name][key], array, err_msg=f"{name} {key}")


def _read_in_worker(reader: InputReader, path: Path) -> tuple[str, bool, bool]:
    """What a worker read; whether TensorFlow, or note-seq's notebook helpers, are loaded."""
    read = read_input(reader, path)
    loaded = sys.modules
    return type(read).__name__, "tensorflow" in loaded, "note_seq.notebook_utils" in loaded


def test_workers_read_midi_and_audio_without_tensorflow_or_notebook_helpers(folder) -> None:
    paths = [folder / "a.mid", folder / "c.wav"]
    reads = []
    for model in ("mel_mel", "sym_sym"):
        reader = Embedder(model, load=False).reader
        with _reader_pool(2, 2) as pool:
            reads += [pool.submit(_read_in_worker, reader, path).result() for path in paths]
    assert reads == [
        ("MidiPiece", False, False),
        ("AudioInput", False, False),
        ("MidiPiece", False, False),
        ("str", False, False),  # a roll model cannot embed audio: the reason, as a message
    ]


def test_a_folder_run_writes_one_matrix_with_its_file_names(folder, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    assert embed_main(["--out", str(out), str(folder / "a.mid"), str(folder / "sub")]) == 0
    assert "model: sym_sym (the default for MIDI inputs" in capsys.readouterr().err
    matrix = np.load(out / MATRIX_NAME)
    files = (out / FILES_NAME).read_text().splitlines()
    assert files == [str(folder / "a.mid"), str(folder / "sub" / "b.mid")]
    assert matrix.shape == (2, 128) and matrix.dtype == np.float32
    np.testing.assert_array_equal(matrix[1], np.load(out / "sub" / "b.mid.npz")["piece_embedding"])
    index = json.loads((out / "index.json").read_text())
    assert index["matrix"] == {"embeddings": MATRIX_NAME, "files": FILES_NAME}


def test_audio_among_the_inputs_chooses_the_mel_model(folder, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    assert embed_main(["--out", str(out), str(folder / "c.wav")]) == 0
    assert "model: mel_mel (the default for audio inputs" in capsys.readouterr().err
    assert json.loads((out / "index.json").read_text())["domain"] == "mel"

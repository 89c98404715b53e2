"""The shipped models: manifest, golden outputs, TFLite, loading by name, a plain install."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import run_installed
from tool_scripts import load_tool

import tfembed
from tfembed.cli.embed import main as embed_main
from tfembed.errors import ExportError
from tfembed.export.registry import MANIFEST_NAME, MODELS_ENV, model_files, resolve_model
from tfembed.export.tflite import TFLITE_NAME, run_tflite
from tfembed.inference.hear import load_model
from tfembed.inference.inputs import DomainError

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "saved_models"
GOLDEN = REPO / "tests" / "golden"
NAMES = ("mel_mel", "sym_sym", "mel_sym", "sym_mel", "joint")
MAX_TOTAL_BYTES = 25 * 1024 * 1024
GOLDEN_OUTPUTS = load_tool("release/golden_outputs.py")


def _golden_input(name: str) -> np.ndarray:
    domain = json.loads((MODELS / name / "metadata.json").read_text())["domain"]
    return np.load(GOLDEN / "clips.npz")[domain].astype(np.float32)


def test_the_manifest_lists_every_file_with_its_hash_and_the_five_stay_small() -> None:
    manifest = json.loads((MODELS / MANIFEST_NAME).read_text())
    assert sorted(manifest["models"]) == sorted(NAMES)
    for name, entry in manifest["models"].items():
        assert model_files(MODELS / name) == entry["files"], name
        assert entry["tensorflow"]
        towers = entry["test"].values() if entry["domain"] == "joint" else [entry["test"]]
        assert all(figures["rank_am"]["mean"] > 0 for figures in towers)
        assert "saved_model.pb" in entry["files"] and "MODEL_CARD.md" in entry["files"]
        assert (TFLITE_NAME in entry["files"]) == (entry["domain"] in ("mel", "joint"))
    total = sum(path.stat().st_size for path in MODELS.rglob("*") if path.is_file())
    assert total < MAX_TOTAL_BYTES
    assert manifest["total_size"] < MAX_TOTAL_BYTES


@pytest.mark.parametrize("name", NAMES)
def test_loading_by_name_gives_the_golden_outputs(name: str) -> None:
    model = tfembed.load(name)
    assert model.path.resolve() == (MODELS / name).resolve()
    clips, expected = np.load(GOLDEN / "clips.npz"), np.load(GOLDEN / "embeddings.npz")
    for key, domain in GOLDEN_OUTPUTS.golden_keys(name, model.metadata).items():
        inputs = GOLDEN_OUTPUTS.model_input(clips, domain or model.domain)
        np.testing.assert_allclose(model.embed_clips(inputs, domain), expected[key], atol=1e-5)


@pytest.mark.parametrize("name", ["mel_mel", "mel_sym"])
def test_tflite_equals_serve_on_real_clips(name: str) -> None:
    clips = _golden_input(name)
    served = tfembed.load(name).embed_clips(clips)
    np.testing.assert_allclose(run_tflite(MODELS / name / TFLITE_NAME, clips), served, atol=1e-4)


@pytest.mark.parametrize("domain", ["mel", "roll"])
def test_tflite_of_the_joint_model_equals_each_tower_on_real_clips(domain: str) -> None:
    clips = np.load(GOLDEN / "clips.npz")[domain].astype(np.float32)
    served = tfembed.load("joint").embed_clips(clips, domain)
    tflite = run_tflite(MODELS / "joint" / TFLITE_NAME, clips, f"serve_{domain}")
    np.testing.assert_allclose(tflite, served, atol=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_plain_tensorflow_reads_the_sample_rate_and_no_builder_paths(name: str) -> None:
    import tensorflow as tf

    metadata = json.loads((MODELS / name / "metadata.json").read_text())
    assert int(tf.saved_model.load(str(MODELS / name)).sample_rate) == 16000
    assert metadata["sample_rate"] == metadata["frame_grid"]["sample_rate"] == 16000

    def strings(value):
        if isinstance(value, dict):
            return [text for item in value.values() for text in strings(item)]
        return [value] if isinstance(value, str) else []

    assert not [text for text in strings(metadata) if text.startswith(("/", "~"))]


def test_a_saved_probe_around_tfsmlayer_reloads_with_safe_mode_off(tmp_path) -> None:
    import keras

    layer = keras.layers.TFSMLayer(str(MODELS / "sym_sym"), call_endpoint="serve", trainable=False)
    probe = keras.Sequential([keras.Input((192, 96)), layer, keras.layers.Dense(2)])
    probe.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rolls = _golden_input("sym_sym")
    probe.fit(rolls, np.arange(len(rolls)) % 2, epochs=1, verbose=0)
    probe.save(tmp_path / "probe.keras")
    with pytest.raises(ValueError, match="safe_mode=False"):
        keras.models.load_model(tmp_path / "probe.keras")
    reloaded = keras.models.load_model(tmp_path / "probe.keras", safe_mode=False)
    expected = probe.predict(rolls, verbose=0)
    np.testing.assert_array_equal(reloaded.predict(rolls, verbose=0), expected)


def test_hear_loads_the_shipped_mel_models_by_name() -> None:
    assert load_model("mel_sym").sample_rate == 16000
    assert load_model().embedder.path.name == "mel_mel"
    with pytest.raises(DomainError, match="HEAR needs a mel"):
        load_model("sym_sym")


def test_an_unknown_name_lists_the_models_available() -> None:
    with pytest.raises(ExportError, match="available: joint, mel_mel, mel_sym, sym_mel, sym_sym"):
        resolve_model("mel_mell")


def test_tfembed_models_folders_come_before_the_installed_ones(tmp_path, monkeypatch) -> None:
    shutil.copytree(MODELS / "sym_sym", tmp_path / "mel_mel")
    monkeypatch.setenv(MODELS_ENV, str(tmp_path))
    assert tfembed.load("mel_mel").domain == "roll"


def test_a_changed_file_fails_the_manifest_check(tmp_path) -> None:
    shutil.copytree(MODELS / "mel_mel", tmp_path / "mel_mel")
    manifest = {"models": {"mel_mel": {"files": model_files(tmp_path / "mel_mel")}}}
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(manifest))
    variables = tmp_path / "mel_mel" / "variables" / "variables.data-00000-of-00001"
    data = bytearray(variables.read_bytes())
    data[-1] ^= 1
    variables.write_bytes(bytes(data))
    with pytest.raises(ExportError, match=r"variables\.data.* does not match its sha256"):
        resolve_model(tmp_path / "mel_mel")


def test_the_embed_cli_names_the_unknown_model_in_one_line(tmp_path, capsys) -> None:
    midi = tmp_path / "a.mid"
    midi.write_bytes(b"")
    assert embed_main(["--saved_model", "nope", str(midi), "--out", str(tmp_path / "out")]) != 0
    error = capsys.readouterr().err.strip()
    assert error.startswith("tfembed-embed: error: no model 'nope'")
    assert "available: joint, mel_mel" in error and "\n" not in error


def test_a_plain_install_loads_the_models_by_name_from_any_folder(plain_install, tmp_path) -> None:
    clips, expected = GOLDEN / "clips.npz", GOLDEN / "embeddings.npz"
    script = (
        "import numpy as np, tfembed; m = tfembed.load('sym_mel'); print(m.path); "
        f"x = np.load(r'{clips}')['roll'].astype('float32'); "
        f"print(np.abs(m.embed_clips(x) - np.load(r'{expected}')['sym_mel']).max())"
    )
    printed = run_installed(plain_install, script, tmp_path)
    assert printed[0] == str(plain_install / "tfembed" / "saved_models" / "sym_mel")
    assert float(printed[1]) <= 1e-5

"""Joint exports: both towers of a MEL_SYM run in one SavedModel; MIDI as roll, audio as mel."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile
import tensorflow as tf
from midi_files import scale_notes, sequence_with, write_sequence
from plain_tf_check import check as plain_tf_check
from tool_scripts import load_tool

import tfembed
from tfembed.cli.embed import main as embed_main
from tfembed.cli.evaluate import main as eval_main
from tfembed.cli.export import main as export_main
from tfembed.cli.train import main as train_main
from tfembed.dataset.clips import load_clips
from tfembed.errors import InputError
from tfembed.evaluation.crossmodal import joint_rows
from tfembed.evaluation.featurizers import (
    EvaluationError,
    export_featurizers,
    saved_model_featurizer,
)
from tfembed.export.registry import MANIFEST_NAME, MODELS_ENV
from tfembed.export.tflite import TFLITE_NAME, run_tflite
from tfembed.export.tower import load_trained
from tfembed.features.framegrid import DEFAULT_GRID
from tfembed.features.frontend import normalized_log_mel
from tfembed.preparation.midi_piece import read_midi_piece
from tfembed.preparation.render import find_soundfont, render_sequence
from tfembed.results.cards import card, feature_run_recipe, write_manifest

pytestmark = pytest.mark.slow  # the real pipeline end to end

REPO = Path(__file__).resolve().parents[1]
SIGNATURES = {
    "serve_mel": "mel",
    "serve_roll": "roll",
    "embed_audio": "audio",
    "audio_windows": "audio",
    "embed_roll": "roll",
    "roll_windows": "roll",
}


@pytest.fixture(scope="module")
def joint(mel_sym_run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("joint") / "joint"
    args = ["--model_dir", str(mel_sym_run), "--out", str(out), "--tower", "both", "--tflite"]
    assert export_main(args) == 0
    return out


@pytest.fixture(scope="module")
def towers(mel_sym_run):
    """The run's mel tower (first) and roll tower (second)."""
    model, *_ = load_trained(mel_sym_run)
    return model.first_tower, model.second_tower


@pytest.fixture(scope="module")
def scale(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """A 7.5-second scale as a MIDI file, and its rendering at 16 kHz."""
    sequence = sequence_with(scale_notes(7.5))
    path = write_sequence(tmp_path_factory.mktemp("scale") / "scale.mid", sequence)
    return path, render_sequence(sequence, DEFAULT_GRID, find_soundfont())


def _windows(frames: np.ndarray, silence: float, hop: int = 192) -> np.ndarray:
    """Clip-long windows every ``hop`` frames, the last one padded with ``silence``."""
    count = 1 + -(-max(0, len(frames) - 192) // hop)
    padded = np.full([(count - 1) * hop + 192, frames.shape[1]], silence, np.float32)
    padded[: len(frames)] = frames
    return np.stack([padded[start : start + 192] for start in range(0, count * hop, hop)])


def _shipped_results() -> tuple[dict, dict]:
    """The committed training and evaluation records that model cards read."""
    results = REPO / "docs" / "results"
    return tuple(
        json.loads((results / name).read_text())
        for name in ("shipped_training.json", "shipped_models.json")
    )


def _test_clips(tiny_dataset) -> dict[str, np.ndarray]:
    clips = list(load_clips(tiny_dataset, "test").take(5).as_numpy_iterator())
    return {domain: np.stack([clip[domain] for clip in clips]) for domain in ("mel", "roll")}


def test_both_towers_in_one_savedmodel_give_the_runs_embeddings_in_plain_tensorflow(
    joint, towers, tiny_dataset, tmp_path
) -> None:
    metadata = json.loads((joint / "metadata.json").read_text())
    assert (metadata["domain"], metadata["domains"], metadata["tower"]) == (
        "joint",
        ["mel", "roll"],
        "both",
    )
    assert metadata["towers"] == {"mel": "first", "roll": "second"}
    assert metadata["signature_domains"] == SIGNATURES
    assert metadata["signatures"] == list(SIGNATURES)
    assert metadata["variant"] == "MEL_SYM" and metadata["embedding_size"] == 128
    clips = _test_clips(tiny_dataset)
    whole_roll = np.concatenate(list(clips["roll"]))[:700].astype(np.float32)  # 3.6 clips
    arrays = {"mel": clips["mel"], "roll": clips["roll"], "whole_roll": whole_roll}
    np.savez(tmp_path / "inputs.npz", **arrays)
    script = textwrap.dedent(f"""
        import sys
        import numpy as np
        import tensorflow as tf
        model = tf.saved_model.load({str(joint)!r})
        x = np.load({str(tmp_path / "inputs.npz")!r})
        mel, roll = x["mel"].astype("float32"), x["roll"].astype("float32")
        windows = model.roll_windows(x["whole_roll"], hop_frames=96)
        np.savez(
            {str(tmp_path / "outputs.npz")!r},
            serve_mel=model.serve_mel(mel).numpy(),
            serve_roll=model.serve_roll(roll).numpy(),
            embed_roll=model.embed_roll(x["whole_roll"]).numpy(),
            **{{"roll_windows_" + key: value.numpy() for key, value in windows.items()}},
        )
        assert int(model.sample_rate) == 16000
        assert sorted(model.signatures) == sorted({[*SIGNATURES, "serving_default"]!r})
        assert "tfembed" not in sys.modules and "tensorflow_io" not in sys.modules
    """)
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path, capture_output=True)
    got = np.load(tmp_path / "outputs.npz")
    mel_tower, roll_tower = towers
    mel, roll = clips["mel"].astype(np.float32), clips["roll"].astype(np.float32)
    np.testing.assert_allclose(got["serve_mel"], mel_tower(mel, training=False), atol=1e-5)
    np.testing.assert_allclose(got["serve_roll"], roll_tower(roll, training=False), atol=1e-5)
    consecutive = roll_tower(_windows(whole_roll, 0.0), training=False)
    assert got["embed_roll"].shape == (4, 128)
    np.testing.assert_allclose(got["embed_roll"], consecutive, atol=1e-5)
    overlapping = roll_tower(_windows(whole_roll, 0.0, hop=96), training=False)
    np.testing.assert_allclose(got["roll_windows_embedding"], overlapping, atol=1e-5)
    assert got["roll_windows_start_frame"].tolist() == [0, 96, 192, 288, 384, 480, 576]
    assert got["roll_windows_padded"].tolist() == [False] * 6 + [True]
    # model.tflite holds both clip signatures, each equal to its SavedModel signature.
    for name, inputs in (("serve_mel", mel), ("serve_roll", roll)):
        np.testing.assert_allclose(
            run_tflite(joint / TFLITE_NAME, inputs, name), got[name], atol=1e-4
        )


def test_midi_is_embedded_as_piano_roll_by_the_roll_tower_without_rendering(
    joint, towers, scale, tmp_path
) -> None:
    midi, _ = scale
    # A soundfont that does not exist: rendering would fail, and nothing is rendered.
    model = tfembed.load(joint, soundfont=tmp_path / "no_such.sf2")
    assert (model.domain, model.domains, model.soundfont_name()) == ("joint", ("mel", "roll"), None)
    result = model.embed_midi(midi)
    roll = read_midi_piece(midi, "roll", DEFAULT_GRID, None).roll
    expected = towers[1](_windows(roll, 0.0), training=False)
    np.testing.assert_allclose(result.embedding, expected, atol=1e-5)
    assert result.padded.tolist() == [False, False, True]
    assert result.timestamps.tolist() == [0.0, 3.0, 6.0]
    plain = tf.saved_model.load(str(joint))  # kept while its functions run
    np.testing.assert_allclose(plain.embed_roll(roll).numpy(), result.embedding, atol=1e-5)


def test_audio_is_embedded_by_the_mel_tower(joint, towers, scale, tmp_path) -> None:
    _, audio = scale
    model = tfembed.load(joint)
    from_samples = model.embed_audio(audio, sample_rate=16000)
    mel = normalized_log_mel(audio.astype(np.float32), DEFAULT_GRID).numpy()
    expected = towers[0](_windows(mel, DEFAULT_GRID.silence("mel")), training=False)
    np.testing.assert_allclose(from_samples.embedding, expected, atol=1e-4)
    soundfile.write(tmp_path / "scale.wav", audio, 16000, subtype="FLOAT")
    from_file = model.embed_audio_file(tmp_path / "scale.wav")
    np.testing.assert_allclose(from_file.embedding, from_samples.embedding, atol=1e-5)


def test_clips_of_a_joint_export_need_their_domain(joint, towers, tiny_dataset) -> None:
    model = tfembed.load(joint)
    rolls = _test_clips(tiny_dataset)["roll"]
    with pytest.raises(InputError, match=r"joint export .* domain='mel' .* domain='roll'"):
        model.embed_clips(rolls)
    with pytest.raises(InputError, match="has no 'audio' tower"):
        model.embed_clips(rolls, domain="audio")
    expected = towers[1](rolls.astype(np.float32), training=False)
    np.testing.assert_allclose(model.embed_clips(rolls, domain="roll"), expected, atol=1e-5)
    with pytest.raises(EvaluationError, match="joint export"):
        saved_model_featurizer(joint, DEFAULT_GRID)
    row = saved_model_featurizer(joint, DEFAULT_GRID, domain="roll")
    assert (row.name, row.domain) == ("MEL_SYM (roll)", "roll")
    np.testing.assert_allclose(row.embed(rolls), expected, atol=1e-5)


def test_tfembed_eval_scores_each_tower_of_a_joint_export_against_its_domains_baselines(
    joint, towers, tiny_dataset, tmp_path
) -> None:
    out = tmp_path / "report"
    argv = ["--saved_model", str(joint), "--data", str(tiny_dataset), "--out", str(out)]
    argv += ["--seeds", "1", "--bootstrap_rounds", "100", "--min_test_pieces", "2"]
    assert eval_main(argv) == 0

    report = json.loads((out / "report.json").read_text())
    models = {row["name"]: row for row in report["rows"] if row["kind"] == "model"}
    assert {name: row["domain"] for name, row in models.items()} == {
        "MEL_SYM (mel)": "mel",
        "MEL_SYM (roll)": "roll",
    }
    assert {row["exports"][0]["saved_model"] for row in models.values()} == {str(joint.resolve())}
    baselines = {name: check["baseline"] for name, check in report["against_random_tower"].items()}
    assert baselines == {
        "MEL_SYM (mel)": "random tower (mel)",
        "MEL_SYM (roll)": "random tower (roll)",
    }
    saved = np.load(out / "test_embeddings.npz")
    rolls = _test_clips(tiny_dataset)["roll"]
    expected = towers[1](rolls.astype(np.float32), training=False)
    np.testing.assert_allclose(saved["MEL_SYM (roll)"][: len(rolls)], expected, atol=1e-5)
    assert not np.allclose(saved["MEL_SYM (mel)"], saved["MEL_SYM (roll)"])


def test_joint_exports_in_folders_of_one_name_get_rows_their_parents_tell_apart(
    joint, tmp_path
) -> None:
    copies = [tmp_path / run / "export" for run in ("seed0", "seed1")]
    for copy in copies:
        shutil.copytree(joint, copy)
    rows = joint_rows([*copies, joint], DEFAULT_GRID)
    assert [row.name for row in rows] == ["seed0/export", "seed1/export", joint.name]


def test_both_towers_of_a_one_tower_run_are_refused_in_one_line(
    tiny_dataset, tmp_path, capsys
) -> None:
    run = tmp_path / "mel_mel"
    config = ["--config", "mel_mel.gin", "--config", "tiny.gin", "--gin_param", "train.steps = 0"]
    assert train_main([*config, "--data", str(tiny_dataset), "--model_dir", str(run)]) == 0
    capsys.readouterr()
    out = tmp_path / "both"
    assert export_main(["--model_dir", str(run), "--out", str(out), "--tower", "both"]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("tfembed-export: error: ") and "\n" not in error
    assert "MEL_MEL run has one tower" in error and "--tower first" in error
    assert not out.exists()


def _tiny_run(config: str, tiny_dataset: Path, run: Path) -> Path:
    arguments = ["--config", config, "--config", "tiny.gin", "--gin_param", "train.steps = 3"]
    assert train_main([*arguments, "--data", str(tiny_dataset), "--model_dir", str(run)]) == 0
    return run


def test_features_from_one_domain_runs_join_the_shared_space_in_one_export(
    mel_sym_run, towers, tiny_dataset, tmp_path, capsys
) -> None:
    runs = {
        domain: _tiny_run(config, tiny_dataset, tmp_path / config.removesuffix(".gin"))
        for domain, config in (("mel", "mel_mel.gin"), ("roll", "sym_sym.gin"))
    }
    out = tmp_path / "joint_features"
    arguments = ["--model_dir", str(mel_sym_run), "--out", str(out), "--tower", "both"]
    for run in runs.values():
        arguments += ["--features_from", str(run)]
    assert export_main(arguments) == 0

    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["feature_signatures"] == {"mel": "features_mel", "roll": "features_roll"}
    feature_runs = metadata["feature_runs"]
    assert {domain: run["variant"] for domain, run in feature_runs.items()} == {
        "mel": "MEL_MEL",
        "roll": "SYM_SYM",
    }
    assert feature_runs["mel"]["run_name"] == "mel_mel" and "model_dir" not in feature_runs["mel"]
    clips = _test_clips(tiny_dataset)
    loaded = tf.saved_model.load(str(out))
    featurizers = {row.domain: row for row in export_featurizers(out, DEFAULT_GRID)}
    for side, (domain, run) in enumerate(runs.items()):
        batch = clips[domain].astype(np.float32)
        own_tower = load_trained(run)[0].first_tower
        features = own_tower(batch, training=False)
        np.testing.assert_allclose(
            loaded.signatures[f"features_{domain}"](clips=batch)["output_0"], features, atol=1e-5
        )
        np.testing.assert_allclose(featurizers[domain].embed(batch), features, atol=1e-5)
        shared = towers[side](batch, training=False)  # the joint run's towers: the shared space
        np.testing.assert_allclose(
            loaded.signatures[f"serve_{domain}"](clips=batch)["output_0"], shared, atol=1e-5
        )
    text = card("joint_features", metadata, *_shipped_results(), has_tflite=False)
    assert "the tower of a MEL_MEL run trained beside the joint one (`mel_mel`, 3 steps;" in text
    assert "the tower of a SYM_SYM run trained beside the joint one (`sym_sym`" in text

    # Refused in one line, nothing written: two runs of one domain; a joint run; no --tower both.
    refused = {
        "a second run for the mel features": [str(runs["mel"]), str(runs["mel"])],
        "not from a JOINT run": [str(_tiny_run("joint.gin", tiny_dataset, tmp_path / "joint"))],
    }
    for message, features_from in refused.items():
        bad = tmp_path / "refused"
        arguments = ["--model_dir", str(mel_sym_run), "--out", str(bad), "--tower", "both"]
        for run in features_from:
            arguments += ["--features_from", run]
        capsys.readouterr()
        assert export_main(arguments) == 1
        error = capsys.readouterr().err.strip()
        assert message in error and "\n" not in error
        assert not bad.exists()
    arguments = ["--model_dir", str(mel_sym_run), "--out", str(tmp_path / "first")]
    assert export_main([*arguments, "--features_from", str(runs["mel"])]) == 1
    assert "for a joint export (--tower both)" in capsys.readouterr().err


def test_tfembed_embed_puts_midi_and_audio_of_one_folder_into_one_space(
    joint, scale, tmp_path, capsys
) -> None:
    midi, audio = scale
    folder = tmp_path / "music"
    folder.mkdir()
    shutil.copy(midi, folder / "scale.mid")
    soundfile.write(folder / "scale.wav", audio, 16000, subtype="FLOAT")
    out = tmp_path / "out"
    command = ["--saved_model", str(joint), str(folder), "--out", str(out)]
    assert embed_main(command) == 0
    index = json.loads((out / "index.json").read_text())
    assert (index["domain"], index["domains"], index["settings"]["soundfont"]) == (
        "joint",
        ["mel", "roll"],
        None,
    )
    domains = {Path(entry["input"]).name: entry["domain"] for entry in index["files"]}
    assert domains == {"scale.mid": "roll", "scale.wav": "mel"}
    model = tfembed.load(joint)
    from_midi = np.load(out / "music" / "scale.mid.npz")
    np.testing.assert_allclose(from_midi["embedding"], model.embed_midi(midi).embedding, atol=1e-6)
    from_audio = np.load(out / "music" / "scale.wav.npz")
    expected = model.embed_audio(audio, 16000).embedding
    np.testing.assert_allclose(from_audio["embedding"], expected, atol=1e-5)
    assert np.load(out / "embeddings.npy").shape == (2, 128)
    capsys.readouterr()
    assert embed_main(command) == 0  # a rerun resumes
    assert "resumed: 2 of 2 inputs" in capsys.readouterr().err


def test_release_tooling_handles_a_joint_model(joint, tiny_dataset, tmp_path, monkeypatch) -> None:
    models = tmp_path / "models"
    shutil.copytree(joint, models / "joint")
    golden = tmp_path / "golden"
    golden_outputs = load_tool("release/golden_outputs.py")
    arguments = ["--data", str(tiny_dataset), "--models", str(models), "--out", str(golden)]
    assert golden_outputs.main([*arguments, "joint"]) == 0
    assert sorted(np.load(golden / "embeddings.npz").files) == ["joint.mel", "joint.roll"]
    assert plain_tf_check(models, golden) == []
    data, evaluation = _shipped_results()
    metadata = json.loads((models / "joint" / "metadata.json").read_text())
    text = card("joint", metadata, data, evaluation, has_tflite=True)
    assert text.startswith("# joint: tfembed MEL_SYM, both towers (mel and roll)")
    for name in SIGNATURES:
        assert f"- `{name}`" in text
    assert "TFLite conversion of `serve_mel` and `serve_roll`" in text
    assert "rows MEL_SYM (mel) and MEL_SYM (roll), not in this evaluation" in text
    (models / "joint" / "MODEL_CARD.md").write_text(text)
    write_manifest(models, evaluation)
    entry = json.loads((models / MANIFEST_NAME).read_text())["models"]["joint"]
    assert (entry["domain"], entry["domains"], entry["test"]) == (
        "joint",
        ["mel", "roll"],
        {"mel": {}, "roll": {}},
    )
    monkeypatch.setenv(MODELS_ENV, str(models))
    loaded = tfembed.load("joint")  # by name, checked against the manifest
    assert loaded.path == models / "joint" and loaded.domains == ("mel", "roll")


def test_a_feature_run_names_the_settings_that_decide_what_its_tower_hears_past() -> None:
    robust = {"variant": "MEL_MEL", "steps": 4000, "synth_instruments": 0.3, "feature_workers": 0}
    assert feature_run_recipe({"train_config": robust}) == (
        "4,000 steps, synthetic instruments on 30% of its clips, no feature workers"
    )
    default = {"variant": "MEL_MEL", "steps": 3000, "synth_instruments": 0.0, "feature_workers": 1}
    assert feature_run_recipe({"train_config": default}) == "3,000 steps"
    rolls = {"variant": "SYM_SYM", "steps": 4000, "feature_workers": 0.0}
    assert feature_run_recipe({"train_config": rolls}) == "4,000 steps"

"""Export of a trained run, reloaded without tfembed, as a TFSMLayer, and on audio."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from midi_files import scale_notes, sequence_with

import tfembed
from tfembed.cli.export import main as export_main
from tfembed.dataset.clips import load_clips
from tfembed.export.tflite import TFLITE_NAME, run_tflite
from tfembed.export.tower import load_trained
from tfembed.features.framegrid import DEFAULT_GRID
from tfembed.features.frontend import normalized_log_mel
from tfembed.preparation.render import find_soundfont, render_sequence

pytestmark = pytest.mark.slow  # the real pipeline end to end


def _test_clips(tiny_dataset, domain: str) -> np.ndarray:
    clips = load_clips(tiny_dataset, "test").take(5).as_numpy_iterator()
    return np.stack([clip[domain] for clip in clips])


def test_export_reloads_without_tfembed_and_gives_the_same_embeddings(
    mel_sym_run, tiny_dataset, tmp_path
) -> None:
    out = tmp_path / "saved"
    assert export_main(["--model_dir", str(mel_sym_run), "--out", str(out)]) == 0
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["domain"] == "mel" and metadata["variant"] == "MEL_SYM"
    best_step = json.loads((mel_sym_run / "best" / "best.json").read_text())["step"]
    assert (metadata["checkpoint"], metadata["checkpoint_step"]) == ("best", best_step)
    assert metadata["sample_rate"] == 16000 and metadata["run_name"] == mel_sym_run.name
    text = (out / "metadata.json").read_text()
    assert str(mel_sym_run) not in text and str(tiny_dataset) not in text  # no builder's paths
    clips = _test_clips(tiny_dataset, "mel")
    np.save(tmp_path / "clips.npy", clips)
    script = textwrap.dedent(f"""
        import sys
        import numpy as np
        import tensorflow as tf
        model = tf.saved_model.load({str(out)!r})
        clips = np.load({str(tmp_path / "clips.npy")!r})
        np.save({str(tmp_path / "embeddings.npy")!r}, model.serve(clips).numpy())
        assert int(model.sample_rate) == 16000
        assert "tfembed" not in sys.modules and "tensorflow_io" not in sys.modules
    """)
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path, capture_output=True)
    model, *_ = load_trained(mel_sym_run)
    expected = model.first_tower(clips, training=False).numpy()
    np.testing.assert_allclose(np.load(tmp_path / "embeddings.npy"), expected, atol=1e-5)


def test_average_exports_the_mean_of_the_kept_checkpoints(
    mel_sym_run, tiny_dataset, tmp_path
) -> None:
    out = tmp_path / "averaged"
    arguments = ["--model_dir", str(mel_sym_run), "--out", str(out), "--checkpoint", "average"]
    assert export_main(arguments) == 0
    metadata = json.loads((out / "metadata.json").read_text())
    kept = tf.train.get_checkpoint_state(str(mel_sym_run / "checkpoints"))
    names = [path.rsplit("/", 1)[-1] for path in kept.all_model_checkpoint_paths]
    assert len(names) >= 2 and metadata["averaged_checkpoints"] == names
    assert metadata["checkpoint"] == "average"

    # The mean of the towers' weights and batch-norm statistics, checkpoint by checkpoint.
    model, *_ = load_trained(mel_sym_run, "latest")
    weights = []
    for path in kept.all_model_checkpoint_paths:
        tf.train.Checkpoint(model=model).restore(path).expect_partial()
        weights.append(model.first_tower.get_weights())
    means = [np.mean(arrays, axis=0) for arrays in zip(*weights, strict=True)]
    model.first_tower.set_weights(means)
    clips = _test_clips(tiny_dataset, "mel")
    expected = model.first_tower(clips, training=False).numpy()
    loaded = tf.saved_model.load(str(out))
    exported = loaded.serve(clips).numpy()
    np.testing.assert_allclose(exported, expected, atol=1e-5)
    latest = load_trained(mel_sym_run, "latest")[0].first_tower(clips, training=False).numpy()
    assert np.abs(exported - latest).max() > 1e-4  # not merely the last checkpoint


def test_audio_signature_matches_the_prepared_mel(mel_sym_run, tmp_path) -> None:
    out = tmp_path / "saved"
    assert export_main(["--model_dir", str(mel_sym_run), "--out", str(out)]) == 0
    layer = keras.layers.TFSMLayer(str(out), call_endpoint="serve")
    audio = np.random.default_rng(0).uniform(-0.5, 0.5, 7 * 16000).astype(np.float32)
    reloaded = keras.layers.TFSMLayer(str(out), call_endpoint="embed_audio")
    from_audio = np.asarray(reloaded(audio))
    assert from_audio.shape == (3, 128)  # 7 s: two whole windows and a padded one
    mel = normalized_log_mel(audio, DEFAULT_GRID).numpy()
    silence = np.full([3 * 192 - len(mel), 96], DEFAULT_GRID.silence("mel"), np.float32)
    windows = np.concatenate([mel, silence]).reshape(3, 192, 96)
    np.testing.assert_allclose(from_audio, np.asarray(layer(windows)), atol=1e-4)


def test_bare_savedmodel_embeds_audio_as_tfembed_load_does(mel_sym_run, tmp_path) -> None:
    out = tmp_path / "saved"
    assert export_main(["--model_dir", str(mel_sym_run), "--out", str(out)]) == 0
    rendered = render_sequence(sequence_with(scale_notes(7.7)), DEFAULT_GRID, find_soundfont())
    audio = (0.3 * rendered / np.abs(rendered).max()).astype(np.float32)
    assert len(audio) % DEFAULT_GRID.clip_samples
    loaded = tf.saved_model.load(str(out))
    bare = loaded.embed_audio(audio).numpy()
    through_tfembed = tfembed.load(out).embed_audio(audio, sample_rate=16000)
    np.testing.assert_allclose(bare, through_tfembed.embedding, atol=1e-5)
    assert through_tfembed.padded.tolist() == [False, False, True]


def test_export_refuses_an_out_folder_with_other_files(mel_sym_run, tmp_path, capsys) -> None:
    out = tmp_path / "not_an_export"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert export_main(["--model_dir", str(mel_sym_run), "--out", str(out)]) == 1
    assert "not empty" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "mine"
    again = tmp_path / "saved"
    for _ in range(2):  # an earlier export is replaced whole
        assert export_main(["--model_dir", str(mel_sym_run), "--out", str(again)]) == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == ["not_an_export", "saved"]


def test_probe_head_trains_on_the_savedmodel_as_a_tfsmlayer(mel_sym_run, tmp_path) -> None:
    out = tmp_path / "saved"
    assert (
        export_main(["--model_dir", str(mel_sym_run), "--out", str(out), "--tower", "second"]) == 0
    )
    assert json.loads((out / "metadata.json").read_text())["domain"] == "roll"
    inputs = keras.Input([192, 96])
    features = keras.layers.TFSMLayer(str(out), call_endpoint="serve", trainable=False)(inputs)
    hidden = keras.layers.Dense(16, activation="relu")(features)
    probe = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(hidden))
    probe.compile("adam", "sparse_categorical_crossentropy")
    rolls = (np.random.default_rng(0).random([12, 192, 96]) > 0.97).astype(np.float32)
    history = probe.fit(rolls, np.arange(12) % 3, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_export_tflite_writes_a_conversion_equal_to_serve(
    mel_sym_run, tiny_dataset, tmp_path
) -> None:
    out = tmp_path / "with_tflite"
    assert export_main(["--model_dir", str(mel_sym_run), "--out", str(out), "--tflite"]) == 0
    clips = _test_clips(tiny_dataset, "mel")[:4]
    served = tfembed.load(out).embed_clips(clips)
    np.testing.assert_allclose(run_tflite(out / TFLITE_NAME, clips), served, atol=1e-4)

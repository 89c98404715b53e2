"""Export of a trained run, reloaded without tfembed, as a TFSMLayer, and on audio."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from tfembed.cli.export import main as export_main
from tfembed.cli.train import main as train_main
from tfembed.dataset.clips import load_clips
from tfembed.export import load_trained
from tfembed.features.framegrid import DEFAULT_GRID
from tfembed.features.frontend import log_mel


@pytest.fixture(scope="module")
def mel_run(tiny_dataset, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("mel_run")
    assert (
        train_main(
            [
                "--config",
                "mel_sym.gin",
                "--config",
                "tiny.gin",
                "--data",
                str(tiny_dataset),
                "--model_dir",
                str(run),
            ]
        )
        == 0
    )
    return run


def _test_clips(tiny_dataset, domain: str) -> np.ndarray:
    clips = load_clips(tiny_dataset, "test").take(5).as_numpy_iterator()
    return np.stack([clip[domain] for clip in clips])


def test_export_reloads_without_tfembed_and_gives_the_same_embeddings(
    mel_run, tiny_dataset, tmp_path
) -> None:
    out = tmp_path / "saved"
    assert (
        export_main(["--model_dir", str(mel_run), "--out", str(out), "--data", str(tiny_dataset)])
        == 0
    )
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["domain"] == "mel" and metadata["variant"] == "MEL_SYM"
    best_step = json.loads((mel_run / "best" / "best.json").read_text())["step"]
    assert (metadata["checkpoint"], metadata["checkpoint_step"]) == ("best", best_step)
    clips = _test_clips(tiny_dataset, "mel")
    np.save(tmp_path / "clips.npy", clips)
    script = textwrap.dedent(f"""
        import sys
        import numpy as np
        import tensorflow as tf
        model = tf.saved_model.load({str(out)!r})
        clips = np.load({str(tmp_path / "clips.npy")!r})
        np.save({str(tmp_path / "embeddings.npy")!r}, model.serve(clips).numpy())
        assert "tfembed" not in sys.modules and "tensorflow_io" not in sys.modules
    """)
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path, capture_output=True)
    model, _, _ = load_trained(mel_run)
    expected = model.first_tower(clips, training=False).numpy()
    np.testing.assert_allclose(np.load(tmp_path / "embeddings.npy"), expected, atol=1e-5)


def test_audio_signature_matches_the_prepared_mel(mel_run, tiny_dataset, tmp_path) -> None:
    out = tmp_path / "saved"
    assert export_main(["--model_dir", str(mel_run), "--out", str(out)]) == 0
    layer = keras.layers.TFSMLayer(str(out), call_endpoint="serve")
    audio = np.random.default_rng(0).uniform(-0.5, 0.5, 7 * 16000).astype(np.float32)
    reloaded = keras.layers.TFSMLayer(str(out), call_endpoint="embed_audio")
    from_audio = np.asarray(reloaded(audio))
    mel = log_mel(audio, DEFAULT_GRID).numpy()[: 2 * 192].reshape(2, 192, 96)
    np.testing.assert_allclose(from_audio, np.asarray(layer(mel)), atol=1e-4)


def test_probe_head_trains_on_the_savedmodel_as_a_tfsmlayer(mel_run, tmp_path) -> None:
    out = tmp_path / "saved"
    assert export_main(["--model_dir", str(mel_run), "--out", str(out), "--tower", "second"]) == 0
    assert json.loads((out / "metadata.json").read_text())["domain"] == "roll"
    inputs = keras.Input([192, 96])
    features = keras.layers.TFSMLayer(str(out), call_endpoint="serve", trainable=False)(inputs)
    hidden = keras.layers.Dense(16, activation="relu")(features)
    probe = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(hidden))
    probe.compile("adam", "sparse_categorical_crossentropy")
    rolls = (np.random.default_rng(0).random([12, 192, 96]) > 0.97).astype(np.float32)
    history = probe.fit(rolls, np.arange(12) % 3, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()

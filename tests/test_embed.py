"""tfembed-embed, tfembed.load and the HEAR module on real MIDI and rendered audio."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
from midi_files import scale_notes, sequence_with, write_raw_midi, write_sequence

import tfembed
from tfembed.cli.embed import main as embed_main
from tfembed.dataset.clips import load_clips
from tfembed.dataset.manifest import read_manifest
from tfembed.errors import TfembedError
from tfembed.features.framegrid import DEFAULT_GRID
from tfembed.features.frontend import normalized_log_mel
from tfembed.inference.audio import AudioFile
from tfembed.inference.long_audio import embed_audio_in_chunks
from tfembed.preparation.corpus import corpus_midi
from tfembed.preparation.render import find_soundfont, render_sequence

pytestmark = pytest.mark.slow  # the real pipeline end to end


@pytest.fixture(scope="module")
def mel(exported_models) -> tfembed.embedder.Embedder:
    return tfembed.load(exported_models["mel"])


@pytest.fixture(scope="module")
def roll(exported_models) -> tfembed.embedder.Embedder:
    return tfembed.load(exported_models["roll"])


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """A folder with a 7.5-second scale, a 1.5-second one, and the first one rendered."""
    root = tmp_path_factory.mktemp("inputs") / "music"
    scale = sequence_with(scale_notes(7.5))
    write_sequence(root / "scale.mid", scale)
    write_raw_midi(root / "sub" / "short.mid", scale_notes(1.5))
    audio = render_sequence(scale, DEFAULT_GRID, find_soundfont())
    (root / "audio").mkdir()
    soundfile.write(root / "audio" / "scale.wav", audio, 16000, subtype="FLOAT")
    # The same rendering, lossy: Ogg Vorbis in stereo at 22.05 kHz, MP3 in mono.
    import librosa

    stereo = librosa.resample(audio, orig_sr=16000, target_sr=22050)[:, np.newaxis] * [1.0, 0.5]
    soundfile.write(root / "audio" / "scale.ogg", stereo * 0.9, 22050)
    soundfile.write(root / "audio" / "scale.mp3", audio * 0.9, 16000)
    return root


def _a_test_piece(tiny_dataset) -> tuple[str, dict[str, np.ndarray]]:
    """The source MIDI of the first prepared test piece and its prepared clips."""
    clips = list(load_clips(tiny_dataset, "test").as_numpy_iterator())
    piece_id = clips[0]["piece_id"].decode()
    summary = next(
        piece for piece in read_manifest(tiny_dataset)["pieces"] if piece["piece_id"] == piece_id
    )
    assert summary["cut_at_seconds"] is None
    own = [clip for clip in clips if clip["piece_id"].decode() == piece_id]
    return str(corpus_midi(summary["file"])), {
        key: np.stack([clip[key] for clip in own]) for key in ("mel", "roll", "clip_index")
    }


def test_midi_path_gives_the_prepared_clips_and_their_embeddings(tiny_dataset, mel, roll) -> None:
    path, prepared = _a_test_piece(tiny_dataset)
    for embedder in (mel, roll):
        frames = embedder.reader.read_midi(path).frames(embedder.grid)
        indices = prepared["clip_index"]
        cut = np.stack([frames[index * 192 : (index + 1) * 192] for index in indices])
        expected = prepared[embedder.domain]
        # Prepared mels are stored as float16: the same values once rounded alike.
        np.testing.assert_array_equal(cut.astype(np.float16).astype(np.float32), expected)
        result = embedder.embed_midi(path)
        np.testing.assert_allclose(result.timestamps[indices], indices * 3.0)
        np.testing.assert_allclose(
            result.embedding[indices], embedder.embed_clips(expected), atol=2e-3, rtol=1e-3
        )
        assert not result.padded[indices].any()


def test_rendered_audio_file_embeds_like_its_midi(inputs, mel) -> None:
    from_midi = mel.embed_midi(inputs / "scale.mid")
    from_audio = mel.embed_audio_file(inputs / "audio" / "scale.wav")
    # 7.5 s of music: two full clips and a padded third.
    np.testing.assert_array_equal(from_midi.timestamps, [0.0, 3.0, 6.0])
    np.testing.assert_array_equal(from_midi.padded, [False, False, True])
    # The audio file also holds the 1-second release tail: 8.5 s, same windows.
    np.testing.assert_array_equal(from_audio.timestamps, [0.0, 3.0, 6.0])
    np.testing.assert_allclose(from_audio.embedding[:2], from_midi.embedding[:2], atol=1e-4)
    np.testing.assert_allclose(
        from_audio.piece_embedding, from_midi.embedding[:2].mean(axis=0), atol=1e-4
    )


def test_audio_is_downmixed_and_resampled(inputs, mel) -> None:
    samples, _ = soundfile.read(inputs / "audio" / "scale.wav", dtype="float32")
    reference = normalized_log_mel(mel.prepare_audio(samples, 16000), DEFAULT_GRID).numpy()
    import librosa

    stereo = np.stack([samples, samples], axis=1)
    resampled = librosa.resample(stereo.T, orig_sr=16000, target_sr=22050).T
    frames = normalized_log_mel(mel.prepare_audio(resampled, 22050), DEFAULT_GRID).numpy()
    assert abs(len(frames) - len(reference)) <= 1
    count = min(len(frames), len(reference))
    loud = reference[:count] > np.log(1e-3)  # bands with energy: resampling keeps them
    assert np.median(np.abs(frames[:count] - reference[:count])[loud]) < 0.1
    result = mel.embed_audio(resampled, 22050, hop_seconds=1.5)
    np.testing.assert_allclose(result.timestamps, np.arange(len(result.timestamps)) * 1.5)
    assert result.embedding.shape == (len(result.timestamps), 128)


def test_command_embeds_a_folder_with_overlapping_windows(
    inputs, exported_models, tmp_path
) -> None:
    out = tmp_path / "out"
    argv = [
        "--saved_model",
        str(exported_models["mel"]),
        str(inputs),
        "--out",
        str(out),
        "--hop",
        "1",
    ]
    assert embed_main(argv) == 0
    index = json.loads((out / "index.json").read_text())
    outputs = {Path(entry["input"]).name: entry for entry in index["files"]}
    assert {Path(entry["input"]).relative_to(inputs).as_posix() for entry in index["files"]} == {
        "scale.mid",
        "sub/short.mid",
        "audio/scale.wav",
        "audio/scale.ogg",
        "audio/scale.mp3",
    }
    assert index["failed"] == 0
    wav = np.load(out / "music" / "audio" / "scale.wav.npz")
    for lossy in ("scale.ogg", "scale.mp3"):
        decoded = np.load(out / "music" / "audio" / f"{lossy}.npz")
        np.testing.assert_allclose(decoded["timestamps"], wav["timestamps"])
    assert outputs["short.mid"]["output"] == "music/sub/short.mid.npz"
    assert outputs["short.mid"]["padded_clips"] == outputs["short.mid"]["clips"] == 1
    scale = np.load(out / "music" / "scale.mid.npz")
    # 480 frames, windows of 192 every 64 starting at 0..320: the last one is padded.
    np.testing.assert_allclose(scale["timestamps"], [0, 1, 2, 3, 4, 5])
    assert scale["embedding"].shape == (6, 128)
    assert scale["padded"].tolist() == [False] * 5 + [True]
    np.testing.assert_allclose(
        scale["piece_embedding"], scale["embedding"][:5].mean(axis=0), rtol=1e-5, atol=1e-6
    )
    short = np.load(out / "music" / "sub" / "short.mid.npz")
    assert short["padded"].tolist() == [True] and short["embedding"].shape == (1, 128)


def test_command_on_a_roll_model_embeds_midi(inputs, exported_models, roll, tmp_path) -> None:
    out = tmp_path / "out"
    midi = str(inputs / "scale.mid")
    assert embed_main(["--saved_model", str(exported_models["roll"]), midi, "--out", str(out)]) == 0
    saved = np.load(out / "scale.mid.npz")
    np.testing.assert_allclose(saved["embedding"], roll.embed_midi(midi).embedding, atol=1e-6)


def test_bad_inputs_are_named_and_the_others_still_done(
    inputs, exported_models, tmp_path, capsys
) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "notes.txt").write_text("not music")
    (bad / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage")
    (bad / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage")
    soundfile.write(bad / "silence.flac", np.zeros(16000, np.float32), 16000)
    with_nan = np.sin(np.arange(16000, dtype=np.float32) / 10)
    with_nan[100:110] = np.nan
    soundfile.write(bad / "nan.wav", with_nan, 16000, subtype="FLOAT")
    missing = tmp_path / "missing.mid"
    good = inputs / "scale.mid"
    names = ["notes.txt", "broken.wav", "broken.mid", "silence.flac", "nan.wav"]
    given = [str(good), str(missing), *(str(bad / name) for name in names)]
    out = tmp_path / "out"
    assert (
        embed_main(["--saved_model", str(exported_models["mel"]), *given, "--out", str(out)]) == 1
    )
    errors = capsys.readouterr().err
    index = {
        Path(entry["input"]).name: entry
        for entry in json.loads((out / "index.json").read_text())["files"]
    }
    assert index["scale.mid"]["status"] == "done" and (out / "scale.mid.npz").is_file()
    expected = {
        "missing.mid": "no such file",
        "notes.txt": "unsupported file type '.txt'",
        "broken.wav": "cannot decode .wav audio",
        "broken.mid": "corrupt MIDI",
        "silence.flac": "silent",
        "nan.wav": "10 NaN or infinite samples (the first at sample 100)",
    }
    for name, message in expected.items():
        assert index[name]["status"] == "failed" and message in index[name]["error"], name
        assert f"failed {tmp_path / name if name == 'missing.mid' else bad / name}: " in errors
    # A piano-roll model given audio.
    out = tmp_path / "roll_out"
    wav = str(inputs / "audio" / "scale.wav")
    assert (
        embed_main(
            ["--saved_model", str(exported_models["roll"]), wav, str(good), "--out", str(out)]
        )
        == 1
    )
    index = json.loads((out / "index.json").read_text())["files"]
    assert index[0]["status"] == "failed" and "audio needs a mel model" in index[0]["error"]
    assert index[1]["status"] == "done"


def test_python_api_probe_head(mel) -> None:
    import keras

    clips = np.random.default_rng(0).normal(-5, 2, [12, 192, 96]).astype(np.float32)
    features = mel.embed_clips(clips)
    assert features.shape == (12, 128)
    probe = keras.Sequential([keras.Input([128]), keras.layers.Dense(3, activation="softmax")])
    probe.compile("adam", "sparse_categorical_crossentropy")
    history = probe.fit(features, np.arange(12) % 3, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_hear_api_shapes_and_timestamps(exported_models) -> None:
    from tfembed import hear

    model = hear.load_model(str(exported_models["mel"]))
    assert (model.sample_rate, model.scene_embedding_size) == (16000, 128)
    audio = np.random.default_rng(0).uniform(-1, 1, [3, 32000]).astype(np.float32)
    embeddings, timestamps = hear.get_timestamp_embeddings(audio, model)
    assert embeddings.shape == (3, 43, 128) and timestamps.shape == (3, 43)
    np.testing.assert_allclose(timestamps[0], np.arange(43) * 46.875)
    scene = hear.get_scene_embeddings(audio, model)
    np.testing.assert_allclose(scene.numpy(), embeddings.numpy().mean(axis=1), atol=1e-6)
    with pytest.raises(TfembedError, match="HEAR needs a mel"):
        hear.load_model(str(exported_models["roll"]))


def test_import_tfembed_does_not_load_tensorflow() -> None:
    import subprocess
    import sys

    script = "import sys, tfembed; assert 'tensorflow' not in sys.modules; print(tfembed.load)"
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)


def test_a_three_hour_note_is_cut_at_the_length_cap(exported_models, tmp_path, capsys) -> None:
    path = write_raw_midi(tmp_path / "long.mid", [(60, 0.0, 3 * 3600.0)])
    assert path.stat().st_size < 100
    out = tmp_path / "out"
    arguments = ["--saved_model", str(exported_models["roll"]), str(path), "--out", str(out)]
    assert embed_main([*arguments, "--max_piece_seconds", "60"]) == 0
    assert "cut at 60 s" in capsys.readouterr().err
    index = json.loads((out / "index.json").read_text())
    assert index["files"][0]["cut_at_seconds"] == 60
    assert index["files"][0]["clips"] == 20


def test_long_audio_in_chunks_gives_the_same_embeddings(mel, tmp_path) -> None:
    rate = 44100
    rng = np.random.default_rng(0)
    tone = 0.3 * np.sin(2 * np.pi * np.cumsum(rng.uniform(200, 900, rate * 71)) / rate)
    path = tmp_path / "tone.wav"
    soundfile.write(path, np.stack([tone, 0.5 * tone], axis=1), rate, subtype="PCM_16")
    for hop_seconds in (None, 1.0):
        whole = mel.embed_audio_file(path, hop_seconds)  # one call of the export's graph
        shares = []
        embedding, starts, padded = embed_audio_in_chunks(
            mel.serve,
            mel.grid,
            mel.embedding_size,
            AudioFile(path),
            mel.hop_frames(hop_seconds),
            chunk_seconds=13.0,
            progress=shares.append,
        )
        assert shares == sorted(shares) and shares[-1] == 1.0
        np.testing.assert_allclose(embedding, whole.embedding, atol=1e-5)
        np.testing.assert_array_equal(padded, whole.padded)
        np.testing.assert_allclose(starts / 64, whole.timestamps)

"""Reliability of tfembed-embed and tfembed-eval: corrupt exports, bad --out, audio."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import wave
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile
from midi_files import scale_notes, write_raw_midi

from tfembed.cli.embed import main as embed_main
from tfembed.cli.evaluate import main as eval_main
from tfembed.errors import PieceError
from tfembed.features.framegrid import DEFAULT_GRID
from tfembed.inference.audio import AudioFile, read_audio
from tfembed.preparation.prepare import prepare

ROOT = Path(__file__).resolve().parents[1]


def _write_wav(path: Path, samples: np.ndarray, width: int, rate: int = 16000) -> Path:
    with wave.open(str(path), "wb") as stream:
        stream.setnchannels(1)
        stream.setsampwidth(width)
        stream.setframerate(rate)
        stream.writeframes(samples.tobytes())
    return path


def _corrupt_exports(root: Path) -> dict[str, Path]:
    """Two export folders: one with a corrupt metadata.json, one with a corrupt saved_model.pb."""
    bad_metadata = root / "bad_metadata"
    bad_metadata.mkdir(parents=True)
    (bad_metadata / "metadata.json").write_text('{"domain": "roll", "frame_gr')
    (bad_metadata / "saved_model.pb").write_bytes(b"")
    bad_model = root / "bad_model"
    bad_model.mkdir()
    metadata = {
        "domain": "roll",
        "frame_grid": DEFAULT_GRID.to_dict(),
        "embedding_size": 128,
        "variant": "SYM_SYM",
    }
    (bad_model / "metadata.json").write_text(json.dumps(metadata))
    (bad_model / "saved_model.pb").write_bytes(b"\x08\x01\x12\xff\xff garbage, not a protobuf")
    (bad_model / "variables").mkdir()
    return {
        "metadata.json is unreadable or corrupt": bad_metadata,
        "the SavedModel cannot be loaded": bad_model,
    }


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("small")
    for index in range(3):
        write_raw_midi(root / "midi" / "alpha" / f"p{index}.mid", scale_notes(7.0))
    prepare(root / "data", midi_dir=root / "midi")
    return root / "data"


def test_8bit_wav_is_centred_like_16bit(tmp_path: Path) -> None:
    wave_form = np.sin(2 * np.pi * 440 * np.arange(16000) / 16000) * 0.7
    unsigned = _write_wav(tmp_path / "u8.wav", np.round(wave_form * 127 + 128).astype(np.uint8), 1)
    signed = _write_wav(tmp_path / "s16.wav", np.round(wave_form * 32767).astype(np.int16), 2)

    eight, sixteen = read_audio(unsigned, 16000), read_audio(signed, 16000)

    assert abs(float(eight.mean())) < 1e-3  # was 1.0: the offset of 128 read as signal
    np.testing.assert_allclose(eight, sixteen, atol=1.5 / 128)


def test_audio_decode_error_says_what_without_tensorflow_nodes(tmp_path: Path) -> None:
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt \xff\xff\xff\x00" + b"\x00" * 40)

    with pytest.raises(PieceError, match=r"cannot decode \.wav audio") as raised:
        read_audio(broken, 16000)
    assert "function_node" not in str(raised.value) and "[Op:" not in str(raised.value)


def test_embed_refuses_corrupt_exports_and_a_file_as_out_in_one_line(
    tmp_path: Path, capsys
) -> None:
    midi = write_raw_midi(tmp_path / "a.mid", scale_notes(4.0))
    for expected, folder in _corrupt_exports(tmp_path / "exports").items():
        status = embed_main(["--saved_model", str(folder), str(midi), "--out", str(tmp_path / "o")])
        assert status == 1
        error = capsys.readouterr().err.strip().splitlines()[-1]
        assert error.startswith("tfembed-embed: error: ") and expected in error
        assert str(folder) in error and "export the model again" in error
    (tmp_path / "file").write_text("x")
    status = embed_main(["--saved_model", str(folder), str(midi), "--out", str(tmp_path / "file")])
    assert status == 1
    assert "--out" in capsys.readouterr().err and (tmp_path / "file").read_text() == "x"


def test_eval_refuses_corrupt_exports_and_a_file_as_out_in_one_line(
    small_dataset: Path, tmp_path: Path, capsys
) -> None:
    for expected, folder in _corrupt_exports(tmp_path / "exports").items():
        args = ["--saved_model", str(folder), "--data", str(small_dataset), "--no_baselines"]
        assert eval_main([*args, "--out", str(tmp_path / "report")]) == 1
        error = capsys.readouterr().err.strip().splitlines()[-1]
        assert error.startswith("tfembed-eval: error: ") and expected in error
    (tmp_path / "file").write_text("x")
    args = ["--saved_model", str(folder), "--data", str(small_dataset)]
    assert eval_main([*args, "--out", str(tmp_path / "file")]) == 1
    assert "is a file; give a folder" in capsys.readouterr().err


def _streamed(path: Path) -> Path:
    """``path`` (a WAV) with the RIFF and data lengths a streaming writer leaves: 0xffffffff."""
    data = bytearray(path.read_bytes())
    data[4:8] = data[data.index(b"data") + 4 : data.index(b"data") + 8] = b"\xff" * 4
    streamed = path.with_name("streamed.wav")
    streamed.write_bytes(bytes(data))
    return streamed


@pytest.mark.parametrize(
    ("subtype", "change"),
    [
        ("PCM_32", None),  # tensorflow-io read the integers as float32 bits: peak 3e38
        ("DOUBLE", None),  # tensorflow-io: "unsupported wBitsPerSample: 64"
        ("ULAW", None),  # tensorflow-io: "WAV file must have wFormatTag 1 or 3 or 0xFFFE"
        ("PCM_24", None),
        ("PCM_16", _streamed),  # tensorflow-io: "Read less bytes than requested"
    ],
)
def test_every_wav_encoding_decodes_like_16bit(tmp_path: Path, subtype: str, change) -> None:
    rate = 22050
    wave_form = np.sin(2 * np.pi * 440 * np.arange(rate) / rate) * 0.7
    stereo = np.stack([wave_form, 0.5 * wave_form], axis=1)
    soundfile.write(tmp_path / "s16.wav", stereo, rate, subtype="PCM_16")
    path = tmp_path / f"{subtype}.wav"
    soundfile.write(path, stereo, rate, subtype=subtype)
    path = change(path) if change else path

    decoded, reference = read_audio(path, 16000), read_audio(tmp_path / "s16.wav", 16000)

    assert len(decoded) == len(reference) == 16000  # one second, not two: stereo is averaged
    np.testing.assert_allclose(decoded, reference, atol=0.03 if subtype == "ULAW" else 1e-4)


def test_a_damaged_mp3_is_decoded_quietly_and_a_rate_of_0_is_named(tmp_path: Path, capfd) -> None:
    wave_form = np.sin(2 * np.pi * 440 * np.arange(3 * 22050) / 22050) * 0.5
    soundfile.write(tmp_path / "whole.mp3", wave_form, 22050)
    whole = (tmp_path / "whole.mp3").read_bytes()
    (tmp_path / "cut.mp3").write_bytes(whole[: len(whole) // 2])  # an interrupted download
    soundfile.write(tmp_path / "rate0.wav", wave_form, 22050, subtype="PCM_16")
    with open(tmp_path / "rate0.wav", "r+b") as stream:
        stream.seek(24)  # the sample rate field of the fmt chunk
        stream.write(b"\x00" * 4)

    cut = read_audio(tmp_path / "cut.mp3", 16000)

    assert 0.3 * 16000 < len(cut) < 2.7 * 16000 and np.abs(cut).max() > 0.4
    assert capfd.readouterr().err == ""  # libmpg123 printed "Warning: Xing stream size off..."
    with pytest.raises(PieceError, match="corrupt header: a sample rate of 0 Hz"):
        read_audio(tmp_path / "rate0.wav", 16000)  # was ZeroDivisionError


def test_dithered_silence_is_silent_but_a_quiet_recording_is_not(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    dither = rng.integers(-1, 2, 16000).astype(np.int16)  # one 16-bit step: was full-scale noise
    quiet = np.round(np.sin(np.arange(16000) / 5) * 33).astype(np.int16)  # -60 dB
    _write_wav(tmp_path / "dither.wav", dither, 2)
    _write_wav(tmp_path / "quiet.wav", quiet, 2)

    with pytest.raises(PieceError, match="silent: the loudest sample is -90 dB below full scale"):
        read_audio(tmp_path / "dither.wav", 16000)
    assert np.abs(read_audio(tmp_path / "quiet.wav", 16000)).max() == pytest.approx(33 / 32768)


def test_a_named_pipe_is_refused_not_waited_on(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.wav")
    with pytest.raises(PieceError, match=r"not a regular file but a named pipe \(FIFO\)"):
        AudioFile(tmp_path / "pipe.wav")


def test_a_folder_of_odd_files_embeds_the_good_ones_with_a_shipped_model(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    write_raw_midi(folder / "-dash and space.MID", scale_notes(7.0))
    write_raw_midi(folder / "sub" / "short.kar", scale_notes(1.0))
    os.mkfifo(folder / "pipe.mid")
    os.symlink(folder / "gone.mid", folder / "dangling.mid")
    (folder / "notes.txt").write_text("not music")
    write_raw_midi(folder / "high.mid", [(120, 0.0, 4.0), (125, 4.0, 8.0)])  # an empty roll
    write_raw_midi(tmp_path / "elsewhere" / "linked.mid", scale_notes(4.0))
    os.symlink(tmp_path / "elsewhere", folder / "linked folder")
    held = mido.MidiTrack()  # note-ons without note-offs: embedded, with a note
    held.extend(mido.Message("note_on", note=pitch, velocity=80, time=480) for pitch in (60, 64))
    held.append(mido.MetaMessage("end_of_track", time=3840))
    mido.MidiFile(ticks_per_beat=480, tracks=[held]).save(str(folder / "held.mid"))
    out = tmp_path / "out"

    command = [sys.executable, "-m", "tfembed.cli.embed", "--saved_model", "sym_sym"]
    result = subprocess.run(
        [*command, "--out", str(out), "--", str(folder)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=300,
    )

    assert result.returncode == 1 and "Traceback" not in result.stderr
    files = {
        Path(entry["input"]).name: entry
        for entry in json.loads((out / "index.json").read_text())["files"]
    }
    assert set(files) == {
        "-dash and space.MID",
        "short.kar",
        "linked.mid",
        "pipe.mid",
        "dangling.mid",
        "high.mid",
        "held.mid",
    }
    repair = "2 note(s) never released (no note-off): ended with their track"
    assert files["held.mid"]["repairs"] == [repair] and files["held.mid"]["clips"] == 2
    assert f"tfembed-embed: note: {folder / 'held.mid'}: {repair}" in result.stderr
    assert "repairs" not in files["-dash and space.MID"]
    assert files["linked.mid"]["output"] == "mine/linked folder/linked.mid.npz"
    assert files["-dash and space.MID"]["clips"] == 3 and files["short.kar"]["padded_clips"] == 1
    assert "named pipe" in files["pipe.mid"]["error"]
    assert "cannot read the file" in files["dangling.mid"]["error"]
    assert files["high.mid"]["error"] == "out of range: all 2 notes are outside MIDI pitches 21-116"
    for name in ("pipe.mid", "dangling.mid", "high.mid"):
        assert f"tfembed-embed: failed {folder / name}: " in result.stderr
    saved = np.load(out / "mine" / "-dash and space.MID.npz")
    assert np.isfinite(saved["embedding"]).all()
    assert saved["padded"].tolist() == [False, False, True]


def test_channels_first_audio_is_refused_not_embedded_as_two_samples() -> None:
    import tfembed

    model = tfembed.load("mel_mel")
    wave_form = np.sin(2 * np.pi * 440 * np.arange(4 * 22050) / 22050).astype(np.float32)
    stereo = np.stack([wave_form, 0.5 * wave_form], axis=1)

    embedded = model.embed_audio(stereo, 22050)

    assert embedded.timestamps.tolist() == [0.0, 3.0]
    with pytest.raises(ValueError, match=r"transpose a \[channels, samples\] array"):
        model.embed_audio(stereo.T, 22050)  # was one padded window of 2 samples


@pytest.mark.parametrize(
    ("suffix", "kind", "subtype"),
    [
        (".aiff", "AIFF", "PCM_16"),
        (".aif", "AIFF", "FLOAT"),
        (".opus", "OGG", "OPUS"),
        (".oga", "OGG", None),
    ],
)
def test_aiff_and_ogg_opus_decode_as_the_tone_they_hold(
    tmp_path: Path, suffix: str, kind: str, subtype: str | None
) -> None:
    rate = 48000
    wave_form = np.sin(2 * np.pi * 440 * np.arange(2 * rate) / rate) * 0.7
    path = tmp_path / f"tone{suffix}"
    soundfile.write(path, wave_form, rate, format=kind, subtype=subtype)

    decoded = read_audio(path, 16000)

    assert abs(len(decoded) - 32000) <= 400  # lossy codecs may pad a few milliseconds
    spectrum = np.abs(np.fft.rfft(decoded[:32000] if len(decoded) >= 32000 else decoded))
    assert np.argmax(spectrum) * 16000 / (2 * len(spectrum) - 2) == pytest.approx(440, abs=2)
    assert np.sqrt(np.mean(decoded[4000:28000] ** 2)) == pytest.approx(0.7 / np.sqrt(2), rel=0.05)


def test_a_truncated_flac_or_ogg_is_called_damaged_or_truncated(tmp_path: Path) -> None:
    samples = (0.3 * np.sin(np.arange(5 * 16000) * 0.05)).astype(np.float32)
    messages = {}
    for kind in ("flac", "ogg"):
        whole = tmp_path / f"whole.{kind}"
        soundfile.write(whole, samples, 16000, format=kind.upper())
        cut = tmp_path / f"cut.{kind}"
        cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
        with pytest.raises(PieceError) as error:
            read_audio(cut, 16000)
        messages[kind] = str(error.value)

    assert messages["flac"].startswith("cannot decode .flac audio: ")
    assert messages["flac"].endswith(
        "(reading 0.0 s to 5.0 s of its 5.0 s: the file is damaged or truncated)"
    )
    assert messages["ogg"] == (  # was "no audio samples": libsndfile finds no length
        "no audio samples: the file gives a length of 0 "
        "(an empty recording, or a truncated or damaged file)"
    )

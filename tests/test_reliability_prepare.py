"""Reliability of tfembed-prepare: locks, retries, odd names, bad inputs, messages."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import mido
import pytest
from midi_files import scale_notes, sequence_with, write_raw_midi, write_sequence

from tfembed.cli.prepare import main as prepare_main
from tfembed.dataset.clips import load_clips
from tfembed.dataset.manifest import SPLITS, read_manifest
from tfembed.dataset.vocabulary import UNKNOWN
from tfembed.errors import PieceError
from tfembed.preparation.midi import parse_midi
from tfembed.preparation.prepare import PIECES_DIR
from tfembed.utils.atomic import write_json_atomically
from tfembed.utils.locking import LOCK_NAME, LockError, hold_lock

ROOT = Path(__file__).resolve().parents[1]


def _run_prepare(
    *args: str, timeout: float = 600, prefix: tuple[str, ...] = ()
) -> subprocess.CompletedProcess:
    """Runs ``tfembed-prepare`` in a real process of its own (after ``prefix``, a wrapper)."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [*prefix, sys.executable, "-m", "tfembed.cli.prepare", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=timeout,
    )


def _hold_lock_in_a_process(folder: Path) -> subprocess.Popen:
    """Starts a process that holds ``folder``'s lock until killed; returns once it holds it."""
    code = (
        "import sys, time\n"
        "from tfembed.utils.locking import hold_lock\n"
        f"with hold_lock({str(folder)!r}, 'preparation'):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(600)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert process.stdout.readline().strip() == "held"
    return process


def _one_line_error(result: subprocess.CompletedProcess, command: str = "tfembed-prepare") -> str:
    """Asserts a clean failure: non-zero exit, one ``NAME: error:`` line, no traceback."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith(f"{command}: error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def three_pieces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three short MIDI files of one composer (train, test, validation)."""
    root = tmp_path_factory.mktemp("three") / "midi"
    for index in range(3):
        write_raw_midi(root / "alpha" / f"p{index}.mid", scale_notes(7.0 + index))
    return root


def test_a_second_preparation_on_one_out_is_refused_and_a_killed_one_leaves_no_lock(
    three_pieces: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    holder = _hold_lock_in_a_process(out)
    try:
        refused = _run_prepare("--midi_dir", str(three_pieces), "--out", str(out))
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()

    line = _one_line_error(refused)
    assert f"{out} is in use by another preparation (process {holder.pid})" in line
    assert not (out / PIECES_DIR).exists()
    # The holder was killed with SIGKILL: the kernel released its lock.
    assert _run_prepare("--midi_dir", str(three_pieces), "--out", str(out)).returncode == 0
    assert (out / "manifest.json").is_file()


def test_the_lock_names_a_file_given_as_folder(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with (
        pytest.raises(LockError, match="is a file, not a folder"),
        hold_lock(tmp_path / "file", "training run"),
    ):
        pass
    with hold_lock(tmp_path / "run", "training run") as lock:
        assert lock == tmp_path / "run" / LOCK_NAME
        assert lock.read_text().strip() == str(os.getpid())


def test_out_that_is_a_file_is_one_line(three_pieces: Path, tmp_path: Path) -> None:
    (tmp_path / "out").write_text("a file")
    result = _run_prepare("--midi_dir", str(three_pieces), "--out", str(tmp_path / "out"))
    assert "is a file, not a folder" in _one_line_error(result)


def test_unloadable_soundfont_stops_before_any_piece(three_pieces: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.sf2"
    broken.write_bytes(b"RIFF\x10\x00\x00\x00sfbkLIST" + b"\x00" * 64)
    out = tmp_path / "out"

    result = _run_prepare(
        "--midi_dir", str(three_pieces), "--out", str(out), "--soundfont", str(broken)
    )

    error = _one_line_error(result)  # the file's bytes are checked before fluidsynth loads it
    assert f"soundfont {broken}" in error and "no preset headers" in error
    assert not out.exists()


def test_rerun_retries_unreadable_pieces_but_not_corrupt_ones(tmp_path: Path, capsys) -> None:
    midi = tmp_path / "midi"
    (midi / "alpha").mkdir(parents=True)
    (midi / "alpha" / "corrupt.mid").write_bytes(
        b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk"
    )
    target = tmp_path / "elsewhere" / "later.mid"
    os.symlink(target, midi / "alpha" / "later.mid")  # unreadable today, there tomorrow
    out = tmp_path / "out"

    assert prepare_main(["--midi_dir", str(midi), "--out", str(out)]) == 1
    assert "no piece could be prepared (2 failed)" in capsys.readouterr().err
    write_raw_midi(target, scale_notes(8.0))
    assert prepare_main(["--midi_dir", str(midi), "--out", str(out)]) == 0

    errors = capsys.readouterr().err
    assert "retrying 1 piece(s) that failed for a reason outside the file: " in errors
    assert f"{midi / 'alpha' / 'later.mid'} (cannot read the file" in errors
    assert "resuming: 1 of 2 pieces already done" in errors
    manifest = read_manifest(out)
    assert [Path(failure["file"]).name for failure in manifest["failures"]] == ["corrupt.mid"]
    assert [Path(piece["file"]).name for piece in manifest["pieces"]] == ["later.mid"]


def test_non_utf8_file_names_are_prepared_with_the_others(tmp_path: Path) -> None:
    midi = tmp_path / "midi"
    write_raw_midi(midi / "plain" / "a.mid", scale_notes(7.0))
    odd_folder = os.fsencode(midi) + b"/compos\xe9r"
    os.makedirs(odd_folder)
    write_raw_midi(Path(os.fsdecode(odd_folder + b"/caf\xe9.mid")), scale_notes(8.0))
    out = tmp_path / "out"

    result = _run_prepare("--midi_dir", str(midi), "--out", str(out))

    assert result.returncode == 0, result.stderr
    manifest = read_manifest(out)
    assert manifest["counts"]["failed_pieces"] == 0
    assert len(manifest["pieces"]) == 2
    assert "compos\ufffdr" in manifest["vocabularies"]["composer"]


def test_an_empty_split_is_warned_about(tmp_path: Path, capsys) -> None:
    for index in range(2):  # two pieces: train and test, no validation
        write_raw_midi(tmp_path / "midi" / "alpha" / f"p{index}.mid", scale_notes(7.0))

    assert prepare_main(["--midi_dir", str(tmp_path / "midi"), "--out", str(tmp_path / "o")]) == 0

    errors = capsys.readouterr().err
    assert "warning: the validation split" in errors and "is empty" in errors
    assert "the train split" not in errors


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"canonical_composer,midi_filename\nA,alpha/p0.mid\nA\n", "row 3 has fewer fields"),
        (
            "canonical_composer,midi_filename\nDvor\u00e0k,alpha/p0.mid\n".encode("latin-1"),
            "not UTF-8",
        ),
        (b"canonical_composer,midi_filename\n", "has a header but no rows"),
        (b"composer,file\nA,alpha/p0.mid\n", "lacks column(s)"),
        (b"", "is empty"),
    ],
)
def test_bad_metadata_csv_is_one_line(
    three_pieces: Path, tmp_path: Path, data: bytes, expected: str
) -> None:
    csv_path = tmp_path / "meta.csv"
    csv_path.write_bytes(data)
    args = ["--midi_dir", str(three_pieces), "--metadata", str(csv_path)]

    line = _one_line_error(_run_prepare(*args, "--out", str(tmp_path / "out")))

    assert f"--metadata {csv_path}" in line
    assert expected in line


def test_files_the_csv_names_but_that_are_missing_are_printed(
    three_pieces: Path, tmp_path: Path, capsys
) -> None:
    csv_path = tmp_path / "meta.csv"
    csv_path.write_text(
        "canonical_composer,midi_filename,split\nA,alpha/p0.mid,train\nA,alpha/gone.mid,test\n"
    )
    out = tmp_path / "out"
    assert (
        prepare_main(
            ["--midi_dir", str(three_pieces), "--metadata", str(csv_path), "--out", str(out)]
        )
        == 0
    )
    assert f"skipped {three_pieces / 'alpha' / 'gone.mid'}: listed in the metadata but missing" in (
        capsys.readouterr().err
    )


def test_full_disk_is_one_line_and_keeps_finished_pieces(tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a small tmpfs")
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1200k", "tmpfs", str(small)])
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        midi = tmp_path / "midi"
        for index in range(4):  # ~0.7 MB of records each: the second fills the disk
            write_raw_midi(midi / f"p{index}.mid", scale_notes(12.0))
        out = small / "out"
        result = _run_prepare("--midi_dir", str(midi), "--out", str(out))
        line = _one_line_error(result)
        assert f"no space left on the device of {out}" in line
        assert "free some space and run the same command again" in line
        assert list((out / PIECES_DIR).glob("*.tfrecord"))  # what was done is kept
        assert not list(out.rglob("*.tmp"))
    finally:
        subprocess.run(["umount", str(small)], check=True)


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_atomic_files_honour_the_umask(tmp_path: Path, umask: int) -> None:
    previous = os.umask(umask)
    try:
        write_json_atomically(tmp_path / "a.json", {"a": 1})
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o666 & ~umask


def test_a_held_note_that_died_away_is_silent_and_out_of_range_is_named(
    tmp_path: Path, capsys
) -> None:
    midi = tmp_path / "midi"
    write_raw_midi(midi / "held.mid", [(60, 0.0, 90.0)])  # one note of 90 s
    write_raw_midi(midi / "high.mid", [(124, 0.0, 6.0), (125, 6.0, 12.0)])
    write_raw_midi(midi / "mixed.mid", [*scale_notes(6.0), (10, 6.0, 12.0)])
    out = tmp_path / "out"

    assert prepare_main(["--midi_dir", str(midi), "--out", str(out)]) == 0

    errors = capsys.readouterr().err
    manifest = read_manifest(out)
    pieces = {Path(piece["file"]).name: piece for piece in manifest["pieces"]}
    held = pieces["held.mid"]
    assert held["silent_clips"] > 15  # the roll holds the note for 30 clips; the sound dies
    assert held["clips"] + held["silent_clips"] == 30
    failures = {Path(failure["file"]).name: failure["problem"] for failure in manifest["failures"]}
    assert failures["high.mid"].startswith("out of range: all 2 notes are outside MIDI pitches")
    assert "silent" not in failures["high.mid"]
    assert pieces["mixed.mid"]["out_of_range_notes"] == 1
    assert "mixed.mid: 1 note(s) out of range" in errors


def _midi_with_bad_meta(path: Path) -> Path:
    """A file with a key signature of mode 255, a 0/4 time signature and a zero tempo."""
    track = mido.MidiTrack()
    for pitch, _, _ in scale_notes(8.0):
        track.append(mido.Message("note_on", note=pitch, velocity=80, time=0))
        track.append(mido.Message("note_off", note=pitch, velocity=0, time=240))
    midi = mido.MidiFile(ticks_per_beat=480)
    midi.tracks.append(track)
    path.parent.mkdir(parents=True, exist_ok=True)
    midi.save(str(path))
    data = bytearray(path.read_bytes())
    bad = (
        b"\x00\xff\x59\x02\xff\xff"  # key signature: 1 flat, mode 255
        b"\x00\xff\x58\x04\x00\x02\x18\x08"  # time signature 0/4
        b"\x00\xff\x51\x03\x00\x00\x00"  # tempo of 0 microseconds per quarter note
        b"\x00\xff\x01\x03\xe9t\xe9"  # text in Latin-1
    )
    start = data.index(b"MTrk") + 8
    data[start:start] = bad
    length = int.from_bytes(data[start - 4 : start], "big") + len(bad)
    data[start - 4 : start] = length.to_bytes(4, "big")
    path.write_bytes(bytes(data))
    return path


def test_malformed_meta_events_keep_the_notes_and_say_so_once(tmp_path: Path, capsys) -> None:
    path = _midi_with_bad_meta(tmp_path / "midi" / "tutor.mid")
    with pytest.raises(mido.KeySignatureError):
        mido.MidiFile(str(path))  # what pretty_midi refused the whole file for

    parsed = parse_midi(path)
    assert len(parsed.sequence.notes) == len(scale_notes(8.0))
    assert not parsed.sequence.key_signatures and not parsed.tempo_explicit

    out = tmp_path / "out"
    assert prepare_main(["--midi_dir", str(tmp_path / "midi"), "--out", str(out)]) == 0
    errors = capsys.readouterr().err
    assert errors.count("malformed key signature") == 1
    assert "Could not decode key with 1 flats and mode 255): key label unknown" in errors
    assert "malformed time signature" in errors and "malformed tempo" in errors
    (split,) = [split for split in SPLITS if read_manifest(out)["counts"]["pieces"][split]]
    clips = list(load_clips(out, split).as_numpy_iterator())
    assert clips and all(clip["key_signature"] == UNKNOWN for clip in clips)


@pytest.mark.parametrize(
    ("cut", "expected"),
    [
        (lambda data: data[:-7], "is cut short: its chunk length says"),
        (lambda data: data[:18] + b"\x00\x00\x00\x02\x00\x90", "runs past the end of track 1"),
        (lambda data: data[:10], "ends inside its header"),
        (lambda data: data[:18] + b"\x7f\xff\xff\xff" + data[22:], "chunk length says 2147483647"),
    ],
)
def test_corrupt_midi_says_what_is_wrong(tmp_path: Path, cut, expected: str) -> None:
    whole = write_sequence(tmp_path / "whole.mid", sequence_with(scale_notes(6.0)))
    broken = tmp_path / "broken.mid"
    broken.write_bytes(cut(whole.read_bytes()))
    from tfembed.errors import PieceError

    with pytest.raises(PieceError, match="corrupt MIDI") as raised:
        parse_midi(broken)
    assert expected in str(raised.value)
    assert "EOFError" not in str(raised.value)


def test_fluidsynth_warnings_are_summarised(tmp_path: Path, capfd) -> None:
    notes = [(30 + index % 70, 0.0, 4.0) for index in range(3000)]  # 3,000 at once
    write_sequence(tmp_path / "midi" / "cluster.mid", sequence_with(notes))

    assert prepare_main(["--midi_dir", str(tmp_path / "midi"), "--out", str(tmp_path / "o")]) == 0

    errors = capfd.readouterr().err
    assert errors.count("fluidsynth: warning") == 0
    assert "cluster.mid: fluidsynth printed" in errors
    summary = read_manifest(tmp_path / "o")["pieces"][0]["synth_warnings"]
    assert summary["count"] > 1000


def test_a_shard_left_by_a_killed_merge_is_removed(three_pieces: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert prepare_main(["--midi_dir", str(three_pieces), "--out", str(out)]) == 0
    leftover = out / ".train-00000-of-00001.tfrecord.0a1b2c3d.tmp"  # as atomic writes name it
    leftover.write_bytes(b"half a shard")
    (out / PIECES_DIR).mkdir()  # the merge had not finished

    assert prepare_main(["--midi_dir", str(three_pieces), "--out", str(out)]) == 0
    assert not leftover.exists()
    assert json.loads((out / "manifest.json").read_text())["counts"]["failed_pieces"] == 0


def test_a_piece_whose_notes_all_start_after_the_cap_is_refused_not_crashed() -> None:
    from tfembed.errors import PieceError
    from tfembed.preparation.midi import clean_sequence

    with pytest.raises(PieceError, match="no note starts before the cap of 20 s"):
        clean_sequence(
            sequence_with([(60, 30.0, 31.0)]), 20.0
        )  # found by tools/experiments/fuzz_midi.py


def _with_track_events(data: bytes, events: bytes) -> bytes:
    """``data`` with ``events`` inserted at the start of its first track."""
    start = data.index(b"MTrk") + 8
    length = int.from_bytes(data[start - 4 : start], "big") + len(events)
    return data[: start - 4] + length.to_bytes(4, "big") + events + data[start:]


@pytest.mark.parametrize(
    ("change", "repair"),
    [
        (  # an empty track chunk, declared in the header: pretty_midi fails on it
            lambda data: data[:10] + b"\x00\x02" + data[12:] + b"MTrk\x00\x00\x00\x00",
            "1 empty track(s)",
        ),
        (  # a system exclusive message with a data byte over 0x7f: mido refuses it
            lambda data: _with_track_events(data, b"\x00\xf0\x03\x41\xff\xf7"),
            "dropped 1 malformed system exclusive event(s)",
        ),
    ],
)
def test_defects_found_by_fuzzing_keep_the_notes(tmp_path: Path, change, repair: str) -> None:
    notes = scale_notes(6.0)
    whole = write_raw_midi(tmp_path / "whole.mid", notes)
    odd = tmp_path / "odd.mid"
    odd.write_bytes(change(whole.read_bytes()))

    parsed = parse_midi(odd)

    assert len(parsed.sequence.notes) == len(notes)
    assert any(line.startswith(repair) for line in parsed.repairs), parsed.repairs


def test_a_named_pipe_called_mid_is_skipped_not_waited_on(tmp_path: Path) -> None:
    midi = tmp_path / "midi"
    write_raw_midi(midi / "good.mid", scale_notes(7.0))
    os.mkfifo(midi / "pipe.mid")  # opening it for reading would wait for a writer forever
    out = tmp_path / "out"

    result = _run_prepare("--midi_dir", str(midi), "--out", str(out), timeout=120)

    assert result.returncode == 0, result.stderr
    assert f"skipped {midi / 'pipe.mid'}: not a regular file but a named pipe" in result.stderr
    manifest = read_manifest(out)
    assert [Path(piece["file"]).name for piece in manifest["pieces"]] == ["good.mid"]
    assert [Path(failure["file"]).name for failure in manifest["failures"]] == ["pipe.mid"]


def test_linked_folders_are_followed_once_and_unreadable_ones_are_named(tmp_path: Path) -> None:
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        pytest.skip("root reads any folder; needs setpriv to drop that")
    # As root, drop the capabilities that let root read a folder of mode 000.
    prefix = (
        ("setpriv", "--bounding-set=-dac_override,-dac_read_search") if os.geteuid() == 0 else ()
    )
    midi = tmp_path / "midi"
    write_raw_midi(midi / "alpha" / "a.mid", scale_notes(7.0))
    write_raw_midi(tmp_path / "elsewhere" / "b.mid", scale_notes(8.0))
    os.symlink(tmp_path / "elsewhere", midi / "beta")  # Path.rglob skipped it silently
    os.symlink(midi, midi / "alpha" / "loop")  # a link back up: read once, not forever
    write_raw_midi(midi / "closed" / "c.mid", scale_notes(9.0))
    (midi / "closed").chmod(0)
    out = tmp_path / "out"
    try:
        result = _run_prepare("--midi_dir", str(midi), "--out", str(out), prefix=prefix)
    finally:
        (midi / "closed").chmod(0o755)

    assert result.returncode == 0, result.stderr
    assert f"skipped {midi / 'closed'}: cannot read the folder: Permission denied" in result.stderr
    manifest = read_manifest(out)
    files = sorted(Path(piece["file"]).relative_to(midi).as_posix() for piece in manifest["pieces"])
    assert files == ["alpha/a.mid", "beta/b.mid"]
    assert manifest["vocabularies"]["composer"] == ["alpha", "beta"]
    assert [failure["file"] for failure in manifest["failures"]] == [str(midi / "closed")]


def test_notes_never_released_sound_until_the_end_of_their_track(tmp_path: Path, capsys) -> None:
    track = mido.MidiTrack()  # note-ons only, as some sequencers write them: was "no notes"
    for pitch, _, _ in scale_notes(7.0, step=0.5):
        track.append(mido.Message("note_on", note=pitch, velocity=80, time=480))
    track.append(mido.MetaMessage("end_of_track", time=960))
    midi = mido.MidiFile(ticks_per_beat=480)
    midi.tracks.append(track)
    path = tmp_path / "midi" / "held.mid"
    path.parent.mkdir()
    midi.save(str(path))

    parsed = parse_midi(path)

    assert len(parsed.sequence.notes) == len(scale_notes(7.0, step=0.5))
    assert max(note.end_time for note in parsed.sequence.notes) == 8.0  # the end of the track
    assert parsed.repairs == ["8 note(s) never released (no note-off): ended with their track"]
    out = tmp_path / "out"
    assert prepare_main(["--midi_dir", str(tmp_path / "midi"), "--out", str(out)]) == 0
    assert "held.mid: 8 note(s) never released" in capsys.readouterr().err
    assert read_manifest(out)["pieces"][0]["clips"] == 2


def _riff(*chunks: tuple[bytes, bytes]) -> bytes:
    """A RIFF MIDI (RMID) file of the given ``(name, payload)`` chunks."""
    body = b"RMID" + b"".join(
        name + len(data).to_bytes(4, "little") + data + b"\x00" * (len(data) % 2)
        for name, data in chunks
    )
    return b"RIFF" + len(body).to_bytes(4, "little") + body


def test_a_riff_midi_file_named_mid_is_read(tmp_path: Path) -> None:
    plain = write_raw_midi(tmp_path / "plain.mid", scale_notes(6.0)).read_bytes()
    wrapped = tmp_path / "wrapped.mid"  # was "not a MIDI file (starts with b'RIFF')"
    wrapped.write_bytes(_riff((b"INFO", b"odd"), (b"data", plain)))
    no_data = tmp_path / "no_data.mid"
    no_data.write_bytes(_riff((b"INFO", b"text")))

    assert parse_midi(wrapped).sequence == parse_midi(tmp_path / "plain.mid").sequence
    with pytest.raises(PieceError, match=r"RIFF MIDI \(RMID\) file without a data chunk"):
        parse_midi(no_data)


def test_rmi_and_smf_files_in_a_folder_are_prepared(tmp_path: Path) -> None:
    midi = tmp_path / "midi" / "alpha"
    plain = write_raw_midi(tmp_path / "plain.mid", scale_notes(7.0)).read_bytes()
    midi.mkdir(parents=True)
    (midi / "windows.RMI").write_bytes(_riff((b"data", plain)))
    (midi / "standard.smf").write_bytes(plain)
    out = tmp_path / "out"

    assert prepare_main(["--midi_dir", str(tmp_path / "midi"), "--out", str(out)]) == 0

    pieces = read_manifest(out)["pieces"]
    assert sorted(Path(piece["file"]).name for piece in pieces) == ["standard.smf", "windows.RMI"]
    assert [piece["clips"] for piece in pieces] == [2, 2]


def _four_notes_midi(path: Path, ticks: int, tempo: int) -> bytes:
    """Four 1,000-tick notes every 1,500 ticks after a tempo event; returns the bytes."""
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=tempo, time=0)])
    for index in range(4):
        track.append(mido.Message("note_on", note=60 + index, velocity=80, time=500 * (index > 0)))
        track.append(mido.Message("note_off", note=60 + index, velocity=0, time=1000))
    midi = mido.MidiFile(ticks_per_beat=ticks)
    midi.tracks.append(track)
    midi.save(str(path))
    return path.read_bytes()


@pytest.mark.parametrize(
    ("frames_code", "seconds_per_tick"),
    [(25, 1 / 1000), (24, 1 / 960), (30, 1 / 1200), (29, 1001 / 1_200_000)],
)
def test_a_smpte_timed_file_is_read_in_seconds(
    tmp_path: Path, frames_code: int, seconds_per_tick: float
) -> None:
    data = bytearray(_four_notes_midi(tmp_path / "beats.mid", 480, tempo=1_000_000))
    data[12:14] = bytes([256 - frames_code, 40])  # SMPTE: frames per second, 40 ticks per frame
    path = tmp_path / "smpte.mid"
    path.write_bytes(bytes(data))

    parsed = parse_midi(path)

    times = [time for note in parsed.sequence.notes for time in (note.start_time, note.end_time)]
    ticks = [tick for index in range(4) for tick in (1500 * index, 1500 * index + 1000)]
    assert times == pytest.approx([tick * seconds_per_tick for tick in ticks], abs=1e-6)
    assert not parsed.tempo_explicit  # SMPTE timing ignores tempo events: no musical tempo
    assert len(parsed.repairs) == 1
    assert parsed.repairs[0].startswith("SMPTE time division (")
    assert "1 tempo event(s) ignored" in parsed.repairs[0]


def test_a_smpte_division_of_an_undefined_frame_rate_is_named(tmp_path: Path) -> None:
    data = bytearray(_four_notes_midi(tmp_path / "beats.mid", 480, tempo=500_000))
    data[12:14] = bytes([256 - 23, 40])
    path = tmp_path / "odd.mid"
    path.write_bytes(bytes(data))
    with pytest.raises(PieceError, match="SMPTE time division of 23 frames per second"):
        parse_midi(path)


def test_zero_length_notes_are_named_and_a_file_of_only_them_says_so(tmp_path: Path) -> None:
    track = mido.MidiTrack()
    for index in range(4):  # on and off at one tick: pretty_midi drops such a note
        track.append(mido.Message("note_on", note=60 + index, velocity=80, time=240))
        track.append(mido.Message("note_off", note=60 + index, velocity=0, time=0))
    track.append(mido.Message("note_on", note=72, velocity=80, time=0))
    track.append(mido.Message("note_off", note=72, velocity=0, time=480))
    midi = mido.MidiFile(ticks_per_beat=480)
    midi.tracks.append(track)
    mixed = tmp_path / "mixed.mid"
    midi.save(str(mixed))
    del track[-2:]
    only = tmp_path / "only.mid"
    midi.save(str(only))

    parsed = parse_midi(mixed)

    assert [note.pitch for note in parsed.sequence.notes] == [72]
    assert parsed.repairs == ["4 zero-length note(s) (released at the tick they start): not played"]
    with pytest.raises(PieceError, match="all 4 of its notes are released at the tick they start"):
        parse_midi(only)


def test_a_format_2_file_says_its_patterns_play_together(tmp_path: Path) -> None:
    midi = mido.MidiFile(type=2, ticks_per_beat=480)
    for pitch in (60, 64):
        midi.tracks.append(
            mido.MidiTrack(
                [
                    mido.Message("note_on", note=pitch, velocity=80, time=0),
                    mido.Message("note_off", note=pitch, velocity=0, time=960),
                ]
            )
        )
    path = tmp_path / "patterns.mid"
    midi.save(str(path))

    parsed = parse_midi(path)

    assert sorted(note.pitch for note in parsed.sequence.notes) == [60, 64]
    assert parsed.repairs == ["format 2 (independent patterns): its 2 tracks are played together"]

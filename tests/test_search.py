"""tfembed-search: diagonal scoring of constructed embeddings; mel_mel end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile
from midi_files import sequence_with, write_sequence

from tfembed.cli.search import main as search_main
from tfembed.search.index import SEARCH_NAME
from tfembed.search.scoring import best_alignments, ranked, unit_rows
from tfembed.utils.locking import hold_lock

HOP = 1.5


def _files(rng: np.random.Generator, lengths: list[int], size: int = 16) -> np.ndarray:
    return unit_rows(rng.normal(size=(sum(lengths), size)))


def test_a_slice_of_a_file_finds_it_at_its_offset() -> None:
    rng = np.random.default_rng(0)
    lengths = [40, 55, 30]
    windows = _files(rng, lengths)
    query = windows[40 + 7 : 40 + 17] + 0.05 * rng.normal(size=(10, 16))  # file 1, windows 7..16

    alignments = best_alignments(windows, lengths, unit_rows(query))

    assert ranked(alignments.score, 3).tolist()[0] == 1
    assert alignments.offset[1] == 7  # the query starts at 7 hops into file 1
    assert alignments.score[1] > 0.9 > 0.5 > alignments.score[[0, 2]].max()


def test_a_file_shorter_than_the_query_matches_where_it_starts_within_it() -> None:
    rng = np.random.default_rng(1)
    lengths = [20, 4, 20]
    windows = _files(rng, lengths)
    query = _files(rng, [12])
    query[3:7] = windows[20:24]  # file 1, whole, from the query's window 3

    alignments = best_alignments(windows, lengths, query)

    assert alignments.offset[1] == -3 and alignments.score[1] == pytest.approx(1.0, abs=1e-6)
    assert ranked(alignments.score, 1).tolist() == [1]


def test_chunks_of_3_windows_give_what_one_chunk_gives() -> None:
    rng = np.random.default_rng(2)
    lengths = rng.integers(1, 30, size=40)
    windows = _files(rng, lengths.tolist()).astype(np.float16)
    query = unit_rows(rng.normal(size=(10, 16)))

    small = best_alignments(windows, lengths, query, chunk_windows=3)
    whole = best_alignments(windows, lengths, query, chunk_windows=10**5)

    np.testing.assert_array_equal(small.offset, whole.offset)
    np.testing.assert_allclose(small.score, whole.score, rtol=0, atol=1e-6)


def _brute_force(windows: np.ndarray, lengths: list[int], query: np.ndarray):
    """Every offset of every file scored one by one, as the module's docstring defines them."""
    scores, offsets, first, m = [], [], 0, len(query)
    for n in lengths:
        file = windows[first : first + n]
        first += n
        tried = range(0, n - m + 1) if m <= n else range(n - m, 1)
        means = [
            np.mean([query[k] @ file[o + k] for k in range(m) if 0 <= o + k < n]) for o in tried
        ]
        scores.append(max(means))
        offsets.append(tried[int(np.argmax(means))])
    return np.array(scores), np.array(offsets)


def test_every_offset_is_scored_as_a_brute_force_search_scores_it() -> None:
    rng = np.random.default_rng(3)
    for _ in range(30):
        lengths = rng.integers(1, 15, size=rng.integers(1, 10)).tolist()
        windows = _files(rng, lengths, 8)
        query = _files(rng, [int(rng.integers(1, 12))], 8)

        alignments = best_alignments(windows, lengths, query, int(rng.integers(1, 20)))

        scores, offsets = _brute_force(windows, lengths, query)
        np.testing.assert_allclose(alignments.score, scores, atol=1e-5)
        np.testing.assert_array_equal(alignments.offset, offsets)


def test_ranking_keeps_the_earlier_file_among_equals_and_leaves_out_the_excluded() -> None:
    score = np.array([0.5, 0.9, 0.9, 0.1], np.float32)
    assert ranked(score, 10).tolist() == [1, 2, 0, 3]
    assert ranked(score, 2, np.array([False, True, False, False])).tolist() == [2, 0]


# End to end with the shipped mel_mel: MIDI files rendered with fluidsynth, a WAV excerpt.


def _melody(seed: int, seconds: float = 16.0) -> list[tuple[int, float, float]]:
    """A random melody over a random bass, different for every seed."""
    rng = np.random.default_rng(seed)
    notes, time = [], 0.0
    low = int(rng.integers(48, 64))
    while time < seconds:
        step = float(rng.choice([0.25, 0.5, 0.75]))
        notes.append((low + int(rng.integers(0, 24)), time, time + step))
        if rng.random() < 0.3:
            notes.append((low - 12 + int(rng.integers(0, 12)), time, time + 2 * step))
        time += step
    return notes


@pytest.fixture(scope="module")
def collection(tmp_path_factory) -> dict[str, Path]:
    """Four MIDI pieces in a folder, and the third rendered as 44.1 kHz WAV from 6 s on."""
    from tfembed.features.framegrid import DEFAULT_GRID
    from tfembed.preparation.render import (
        RenderSetupError,
        check_fluidsynth,
        find_soundfont,
        render_sequence,
    )

    try:
        check_fluidsynth()
        soundfont = find_soundfont()
    except RenderSetupError as error:
        pytest.skip(str(error))
    import librosa

    root = tmp_path_factory.mktemp("search")
    sequences = [sequence_with(_melody(seed)) for seed in range(4)]
    for number, sequence in enumerate(sequences):
        write_sequence(root / "midi" / f"piece{number}.mid", sequence)
    audio = render_sequence(sequences[2], DEFAULT_GRID, soundfont)[6 * DEFAULT_GRID.sample_rate :]
    excerpt = root / "queries" / "piece2_from_6s.wav"
    excerpt.parent.mkdir()
    resampled = librosa.resample(audio, orig_sr=DEFAULT_GRID.sample_rate, target_sr=44100)
    soundfile.write(excerpt, resampled, 44100, subtype="PCM_16")
    (root / "queries" / "corrupt.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01")
    index = root / "index"
    command = ["index", "--model", "mel_mel", "--out", str(index), "--hop", str(HOP)]
    assert search_main([*command, str(root / "midi")]) == 0
    return {"root": root, "midi": root / "midi", "excerpt": excerpt, "index": index}


def test_an_audio_excerpt_finds_its_midi_file_and_where_it_starts(collection, tmp_path) -> None:
    out = tmp_path / "matches.json"

    status = search_main(
        ["query", str(collection["index"]), str(collection["excerpt"]), "--json", str(out)]
    )

    assert status == 0
    found = json.loads(out.read_text())
    assert found["model"]["name"] == "mel_mel" and found["failed"] == []
    (query,) = found["queries"]
    assert query["query"] == str(collection["excerpt"])
    best = query["matches"][0]
    assert Path(best["file"]).name == "piece2.mid"
    assert best["start"] == 6.0  # the excerpt begins on a window of the file (6 s = 4 hops)
    assert best["score"] > 0.8 > 0.5 > query["matches"][1]["score"]  # centred cosines
    assert [match["score"] for match in query["matches"]] == sorted(
        (match["score"] for match in query["matches"]), reverse=True
    )
    assert len(query["matches"]) == 4


def test_a_query_that_is_indexed_is_not_its_own_match(collection, capsys) -> None:
    piece = collection["midi"] / "piece1.mid"
    assert search_main(["query", str(collection["index"]), str(piece), "--top", "3"]) == 0
    printed = capsys.readouterr().out
    assert "piece1.mid (" in printed and printed.count("piece1.mid") == 1
    assert sum(f"piece{number}.mid" in printed for number in (0, 2, 3)) == 3


def test_a_bad_query_file_is_named_and_the_others_go_on(collection, tmp_path, capsys) -> None:
    queries = collection["root"] / "queries"
    out = tmp_path / "matches.json"
    missing = queries / "missing.mid"

    command = ["query", str(collection["index"]), str(queries), str(missing)]
    status = search_main([*command, "--json", str(out)])

    assert status == 1
    errors = capsys.readouterr().err
    assert f"failed {queries / 'corrupt.mid'}: " in errors
    assert f"failed {missing}: no such file or folder" in errors
    found = json.loads(out.read_text())
    assert [Path(query["query"]).name for query in found["queries"]] == ["piece2_from_6s.wav"]
    assert {Path(failed["query"]).name for failed in found["failed"]} == {
        "corrupt.mid",
        "missing.mid",
    }


def test_another_model_than_the_index_s_is_refused(collection, tmp_path, capsys) -> None:
    index, excerpt = collection["index"], str(collection["excerpt"])
    assert search_main(["query", str(index), excerpt, "--model", "sym_sym"]) == 1
    error = capsys.readouterr().err
    assert "sym_sym" in error and "mel_mel" in error and "not comparable" in error
    assert search_main(["index", "--out", str(index), "--model", "sym_sym"]) == 1
    assert "not comparable" in capsys.readouterr().err
    assert search_main(["index", "--out", str(index), "--hop", "3"]) == 1
    assert f"{index} was built with --hop 1.5, not --hop 3.0" in capsys.readouterr().err

    # An index whose recorded model has since changed (here: its recorded digest).
    changed = tmp_path / "changed"
    shutil.copytree(index, changed)
    record = json.loads((changed / SEARCH_NAME).read_text())
    record["model"]["identity"] = record["settings"]["model_identity"] = "0" * 64
    (changed / SEARCH_NAME).write_text(json.dumps(record))
    assert search_main(["query", str(changed), excerpt]) == 1
    assert "has changed since" in capsys.readouterr().err


def test_indexing_again_embeds_only_what_is_new(collection, tmp_path, capsys) -> None:
    index = tmp_path / "index"
    midi = tmp_path / "midi"
    midi.mkdir()
    for name in ("piece0.mid", "piece1.mid"):
        shutil.copy(collection["midi"] / name, midi / name)
    command = ["index", "--model", "mel_mel", "--out", str(index), "--hop", "3", str(midi)]
    assert search_main(command) == 0
    first = json.loads((index / SEARCH_NAME).read_text())
    capsys.readouterr()

    assert search_main(command) == 0
    assert "0 embedded now, 2 already done" in capsys.readouterr().out
    assert json.loads((index / SEARCH_NAME).read_text()) == first  # matrix not rewritten

    # A new file in an indexed folder: a run without inputs lists the folder again.
    shutil.copy(collection["midi"] / "piece3.mid", midi / "piece3.mid")
    assert search_main(["index", "--out", str(index)]) == 0
    assert "2 already done" in capsys.readouterr().out
    record = json.loads((index / SEARCH_NAME).read_text())
    assert [Path(entry["path"]).name for entry in record["files"]] == [
        "piece0.mid",
        "piece1.mid",
        "piece3.mid",
    ]
    assert record["hop_seconds"] == 3.0 and record["sources"] == [str(midi)]
    assert record["mean"] != first["mean"]  # the index's mean window, with the new file
    assert record["matrix"] != first["matrix"] and not (index / first["matrix"]).exists()
    windows = np.load(index / record["matrix"])
    assert windows.shape == (sum(entry["windows"] for entry in record["files"]), 128)
    np.testing.assert_allclose(np.linalg.norm(windows.astype(np.float32), axis=1), 1, atol=1e-3)
    assert all(entry["seconds"] > 15 and entry["kind"] == "midi" for entry in record["files"])


def test_a_second_indexing_run_into_one_index_is_refused(tmp_path, capsys) -> None:
    index = tmp_path / "index"
    with hold_lock(index, "indexing run"):
        status = search_main(["index", "--model", "mel_mel", "--out", str(index), str(tmp_path)])
    assert status == 1
    assert f"{index} is in use by another indexing run" in capsys.readouterr().err
    assert not (index / SEARCH_NAME).exists()


def test_every_finite_float16_is_read_exactly() -> None:
    from tfembed.search.scoring import _float32

    every = np.arange(2**16, dtype=np.uint32).astype(np.uint16).view(np.float16)
    finite = every[np.isfinite(every)].reshape(-1, 1)
    np.testing.assert_array_equal(_float32(finite), finite.astype(np.float32))

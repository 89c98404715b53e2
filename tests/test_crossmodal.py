"""The cross-modal evaluation: retrieval, piece identification and alignment across domains."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tfembed.cli.evaluate import main as evaluate_main
from tfembed.dataset.manifest import open_dataset
from tfembed.evaluation.crossmodal import (
    CROSSMODAL_JSON,
    TESTED_DIRECTIONS,
    CrossModalRow,
    align_excerpts,
    crossmodal_baselines,
    crossmodal_markdown,
    evaluate_crossmodal,
    excerpt_rows,
    pitch_class_featurizer,
    write_crossmodal_report,
)
from tfembed.evaluation.featurizers import saved_model_featurizer
from tfembed.evaluation.identical_rolls import identical_roll_counts
from tfembed.evaluation.robustness import gallery_ranks
from tfembed.features.framegrid import DEFAULT_GRID
from tfembed.features.frontend import log_mel
from tfembed.models.towers import TowerDesign


def _pieces(*lengths: int) -> tuple[np.ndarray, np.ndarray]:
    """Piece ids and clip indices of pieces with these numbers of clips, clips in order."""
    piece_ids = np.repeat([f"piece{number}".encode() for number in range(len(lengths))], lengths)
    clip_indices = np.concatenate([np.arange(length) for length in lengths])
    return piece_ids, clip_indices


def test_excerpts_are_non_overlapping_runs_of_consecutive_clips() -> None:
    piece_ids = np.array([b"b"] * 16 + [b"a"] * 12)
    # Piece b lost its clip 5 (silent); its clips are stored out of order.
    b_indices = np.array([0, 1, 2, 3, 4, *range(6, 17)])[::-1]
    clip_indices = np.concatenate([b_indices, np.arange(12)])
    excerpts = excerpt_rows(piece_ids, clip_indices, length=10)
    assert excerpts.shape == (2, 10)
    assert clip_indices[excerpts[0]].tolist() == list(range(10))  # piece a first
    assert set(piece_ids[excerpts[0]]) == {b"a"}
    assert clip_indices[excerpts[1]].tolist() == list(range(6, 16))  # after the gap
    assert set(piece_ids[excerpts[1]]) == {b"b"}
    piece_ids, clip_indices = _pieces(35, 20)
    assert len(excerpt_rows(piece_ids, clip_indices)) == 5
    drawn = excerpt_rows(piece_ids, clip_indices, most=3, seed=1)
    assert len(drawn) == 3 and np.array_equal(
        drawn, excerpt_rows(piece_ids, clip_indices, most=3, seed=1)
    )
    assert len(excerpt_rows(*_pieces(9, 4))) == 0


def test_a_perfect_space_finds_every_moment_and_piece() -> None:
    piece_ids, clip_indices = _pieces(23, 10, 14, 6)
    rng = np.random.default_rng(0)
    roll = rng.normal(size=(len(piece_ids), 16))
    mel = 3.0 * roll  # cosine ignores the scale
    assert gallery_ranks(mel, roll).tolist() == [1] * len(roll)
    excerpts = excerpt_rows(piece_ids, clip_indices)
    assert len(excerpts) == 2 + 1 + 1
    found = align_excerpts(mel, roll, piece_ids, clip_indices, excerpts)
    assert found.piece_ranks.tolist() == [1, 1, 1, 1]
    assert found.offset_errors.tolist() == [0, 0, 0, 0]
    assert not found.window_errors.any()


def test_a_shifted_excerpt_is_found_one_clip_late() -> None:
    piece_ids, clip_indices = _pieces(12, 10)
    roll = np.eye(22)
    mel = roll.copy()
    mel[:10] = roll[1:11]  # the audio of clips 0..9 of piece 0 sounds like the next clip's roll
    ranks = gallery_ranks(mel, roll)
    # Clips 0..9: their own roll is orthogonal, tied with 20 others, behind the next clip's.
    assert ranks.tolist() == [22] * 10 + [1] * 12
    # Roll 0 matches no audio, rolls 1..9 the previous clip's, roll 10 two clips' (a tie).
    assert gallery_ranks(roll, mel).tolist() == [22] * 10 + [2] + [1] * 11
    excerpts = excerpt_rows(piece_ids, clip_indices)
    found = align_excerpts(mel, roll, piece_ids, clip_indices, excerpts)
    assert found.piece_ranks.tolist() == [1, 1]
    assert found.offset_errors.tolist() == [1, 0]  # best diagonal: offset 1 (mean cosine 1)
    assert found.window_errors.tolist() == [[1] * 10, [0] * 10]


def test_ties_count_against_the_excerpt() -> None:
    piece_ids, clip_indices = _pieces(12, 10)
    constant = np.ones((22, 4))
    excerpts = excerpt_rows(piece_ids, clip_indices)
    found = align_excerpts(constant, constant, piece_ids, clip_indices, excerpts)
    assert found.piece_ranks.tolist() == [2, 2]  # both pieces score alike
    assert found.offset_errors.tolist() == [2, 0]  # piece 0: offsets 0, 1, 2 tie; 2 is farthest
    # Each clip's farthest roll clip of its piece.
    assert found.window_errors[0].tolist() == [max(j, 11 - j) for j in range(10)]
    assert found.window_errors[1].tolist() == [max(j, 9 - j) for j in range(10)]


def test_a_piece_must_face_half_the_excerpt_to_compete() -> None:
    piece_ids = np.repeat([b"a", b"c", b"d"], [10, 4, 5])
    clip_indices = np.concatenate([np.arange(10), np.arange(4), np.arange(5)])
    basis = np.eye(40)
    mel = np.zeros((19, 40))
    mel[:10] = 0.6 * basis[:10] + 0.8 * basis[20:30]  # cosine 0.6 with its own roll
    roll = np.zeros((19, 40))
    roll[:10] = basis[:10]
    roll[10:14] = mel[:4]  # piece c: the excerpt's first 4 clips exactly (cosine 1)
    roll[14:19] = basis[30:35]  # piece d: unrelated
    excerpts = excerpt_rows(piece_ids, clip_indices)
    found = align_excerpts(mel, roll, piece_ids, clip_indices, excerpts)
    assert found.piece_ranks.tolist() == [1]  # c faces 4 of 10 clips: not a candidate
    roll[14:19] = mel[:5]  # piece d: the first 5 exactly, half the excerpt
    found = align_excerpts(mel, roll, piece_ids, clip_indices, excerpts)
    assert found.piece_ranks.tolist() == [2]


def test_chroma_of_the_audio_faces_the_pitch_classes_of_the_roll() -> None:
    """A rendered C major chord and its roll share their pitch classes; an F# chord does not."""
    grid = DEFAULT_GRID
    seconds = np.arange(grid.clip_samples) / grid.sample_rate
    mel, roll = pitch_class_featurizer("mel", grid), pitch_class_featurizer("roll", grid)
    chords = {"C": (72, 76, 79), "F#": (78, 82, 85)}
    audio_clips, roll_clips = [], []
    for pitches in chords.values():
        tones = sum(
            np.sin(2 * np.pi * 440 * 2 ** ((pitch - 69) / 12) * seconds) for pitch in pitches
        )
        audio_clips.append(log_mel(tones.astype(np.float32), grid).numpy()[: grid.clip_frames])
        clip = np.zeros(grid.clip_shape("roll"), np.float32)
        clip[:, np.array(pitches) - grid.lowest_pitch] = 1.0
        roll_clips.append(clip)
    audio, rolls = mel.embed(np.stack(audio_clips)), roll.embed(np.stack(roll_clips))
    assert audio.shape == rolls.shape == (2, 12)
    assert np.allclose(np.linalg.norm(audio, axis=1), 1.0)
    similarity = audio @ rolls.T
    assert similarity[0, 0] > 0.8 and similarity[1, 1] > 0.8
    assert similarity[0, 1] < 0.3 and similarity[1, 0] < 0.3


def test_a_one_tower_model_is_refused_before_any_work(tmp_path: Path, capsys) -> None:
    args = ["--saved_model", "mel_mel", "--data", str(tmp_path / "none"), "--out", str(tmp_path)]
    assert evaluate_main([*args, "--crossmodal"]) == 2
    error = capsys.readouterr().err.strip()
    assert error == (
        "tfembed-eval: error: mel_mel is not a joint model (domain mel); "
        "--crossmodal needs an export of both towers"
    )
    assert not list(tmp_path.iterdir())


def test_identical_rolls_bound_audio_to_roll_recall() -> None:
    rng = np.random.default_rng(0)
    rolls = (rng.random((6, 20, 96)) < 0.05).astype(np.float32)
    rolls[4] = rolls[1]  # a repeat that starts on a clip boundary
    rolls[5] = rolls[1]
    counts = identical_roll_counts(rolls)
    assert counts == {
        "clips": 6,
        "clips_with_an_identical_roll": 3,
        "audio_to_roll_recall_at_1_bound": 0.5,
    }
    # Even a perfect audio tower (each mel embedded as its own roll) ties on them.
    ranks = gallery_ranks(rolls.reshape(6, -1), rolls.reshape(6, -1))
    assert np.mean(ranks == 1) == counts["audio_to_roll_recall_at_1_bound"]


def test_the_baselines_are_scored_across_domains_and_renderings(
    tiny_renderings: Path, tmp_path: Path
) -> None:
    dataset = open_dataset(tiny_renderings)
    tables = write_crossmodal_report(
        [], tiny_renderings, tmp_path, ["TimGM6mb"], bootstrap_rounds=200, min_test_works=2
    )
    result = json.loads((tmp_path / CROSSMODAL_JSON).read_text())
    assert (tmp_path / "crossmodal.md").read_text() == tables
    assert "## Audio rendered with FluidR3_GM (the reference)" in tables
    assert "## Audio rendered with TimGM6mb" in tables
    assert "| chroma vs pitch classes |" in tables and "| random towers |" in tables
    assert list(result["results"]) == result["renderings"] == ["FluidR3_GM", "TimGM6mb"]
    names = [row["name"] for row in result["rows"]]
    assert names == ["chroma vs pitch classes", "random towers"]
    identical = result["identical_rolls"]
    assert identical["clips"] == dataset.clip_count("test")
    assert (
        f"so audio -> roll R@1 is at most {identical['audio_to_roll_recall_at_1_bound']:.3f}"
        in tables
    )
    for section in result["results"].values():
        counts = section["counts"]
        clips = counts["test_clips"]
        assert clips == dataset.clip_count("test") and counts["excerpts"] >= 1
        chroma, random = (section["metrics"][name] for name in names)
        chance = np.mean(1 / np.arange(1, clips + 1))
        # The same notes, heard and written: pitch classes find the moment far above chance.
        assert chroma["audio_to_roll_mrr"]["mean"] > 3 * chance
        assert chroma["roll_to_audio_mrr"]["mean"] > 3 * chance
        for metrics in (chroma, random):
            assert 1 <= metrics["audio_to_roll_median_rank"]["mean"] <= clips
            assert 0 <= metrics["piece_top1"]["mean"] <= 1
            assert 0 <= metrics["alignment_median_error_s"]["mean"] <= 60
            assert metrics["window_median_error_s"]["mean"] % 1.5 == 0  # half-clip steps
        assert section["significance"] and set(section["significance"]) <= set(TESTED_DIRECTIONS)
        for metric, comparison in section["significance"].items():
            assert comparison["best"] in names
            assert "se" in chroma[metric] and "se" in random[metric]


def test_the_two_towers_of_a_two_domain_model_make_one_row(
    tiny_dataset: Path, exported_models: dict[str, Path]
) -> None:
    dataset = open_dataset(tiny_dataset)
    towers = {
        domain: saved_model_featurizer(path, dataset.grid)
        for domain, path in exported_models.items()
    }
    assert towers["mel"].name == towers["roll"].name == "MEL_SYM"
    widths = tuple(towers["mel"].metadata["train_config"]["widths"])
    rows = [
        CrossModalRow("MEL_SYM", towers["mel"], towers["roll"]),
        *crossmodal_baselines(dataset.grid, TowerDesign(widths)),
    ]
    result = evaluate_crossmodal(dataset, rows, bootstrap_rounds=100, min_test_works=2)
    section = result["results"][dataset.renderings[0]]
    clips = section["counts"]["test_clips"]
    assert result["rows"][0] == {
        "name": "MEL_SYM",
        "kind": "model",
        "mel": "MEL_SYM",
        "roll": "MEL_SYM",
    }
    metrics = section["metrics"]["MEL_SYM"]
    for direction in ("audio_to_roll", "roll_to_audio"):
        assert 0 <= metrics[f"{direction}_recall_at_1"]["mean"] <= 1
        assert 1 <= metrics[f"{direction}_median_rank"]["mean"] <= clips
    tables = crossmodal_markdown(result)
    assert "| MEL_SYM |" in tables and "| *baselines* |" in tables

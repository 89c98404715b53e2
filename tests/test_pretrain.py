"""The pretrain split: more corpus works for self-supervised training, kept out of evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.midi_files import sequence_with, write_metadata, write_sequence
from tfembed.cli.train import main as train_main
from tfembed.dataset.manifest import PRETRAIN_SPLIT, SPLITS, open_dataset
from tfembed.dataset.pairs import count_pairs
from tfembed.preparation.corpus import list_corpus
from tfembed.preparation.prepare import PrepareError, prepare
from tfembed.preparation.sources import list_midi_dir
from tfembed.preparation.splits import assign_splits


def test_pretraining_pieces_leave_the_labelled_pieces_and_their_splits_as_they_were():
    labelled = assign_splits(list_corpus(pieces_per_composer=40))
    both = assign_splits(list_corpus(pieces_per_composer=40, pretrain_pieces_per_composer=50))
    pretrain = [piece for piece in both if piece.split == PRETRAIN_SPLIT]
    assert [piece for piece in both if piece.split != PRETRAIN_SPLIT] == labelled
    assert len(pretrain) > 100
    assert not {piece.work for piece in pretrain} & {piece.work for piece in labelled}
    for composer in {piece.composer_name for piece in pretrain}:
        assert sum(piece.composer_name == composer for piece in pretrain) <= 50


def test_pretraining_pieces_need_the_corpus_and_a_cap(tmp_path: Path):
    with pytest.raises(PrepareError, match="needs a --pieces_per_composer cap"):
        prepare(
            tmp_path / "data",
            corpus="music21",
            pieces_per_composer=0,
            pretrain_pieces_per_composer=5,
        )
    with pytest.raises(PrepareError, match="needs --corpus; with --midi_dir"):
        prepare(tmp_path / "data", midi_dir=tmp_path, pretrain_pieces_per_composer=5)


@pytest.fixture(scope="module")
def dataset_with_pretraining(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pretrain") / "data"
    prepare(
        out,
        corpus="music21",
        composers=["bach", "josquin"],
        pieces_per_composer=4,
        pretrain_pieces_per_composer=3,
        max_piece_seconds=40,
        workers=2,
    )
    return out


@pytest.mark.slow  # prepares real data
def test_the_pretrain_split_is_prepared_apart_from_the_evaluated_splits(dataset_with_pretraining):
    manifest = json.loads((dataset_with_pretraining / "manifest.json").read_text())
    assert manifest["source"]["pretrain_pieces_per_composer"] == 3
    assert manifest["counts"]["clips"][PRETRAIN_SPLIT] > 0
    assert manifest["shards"][PRETRAIN_SPLIT]
    evaluated = {work for split in SPLITS for work in manifest["works"].get(split, [])}
    assert manifest["works"][PRETRAIN_SPLIT]
    assert not set(manifest["works"][PRETRAIN_SPLIT]) & evaluated


@pytest.mark.slow  # prepares and trains
def test_training_reads_the_pretrain_split_unless_told_not_to(
    dataset_with_pretraining, tmp_path, capsys
):
    dataset = open_dataset(dataset_with_pretraining)
    train_pairs = count_pairs(dataset, "train")
    assert count_pairs(dataset, ("train", PRETRAIN_SPLIT)) > train_pairs + 1
    arguments = ["--config", "mel_mel.gin", "--config", "tiny.gin"]
    arguments += ["--data", str(dataset_with_pretraining)]
    # A batch one pair larger than the train split holds: only the pretrain split makes it fit.
    larger = [
        "--gin_param",
        f"train.batch_size = {train_pairs + 1}",
        "--gin_param",
        "train.steps = 2",
    ]
    without = ["--gin_param", "train.pretrain = False"]
    assert (
        train_main([*arguments, "--model_dir", str(tmp_path / "without"), *larger, *without]) != 0
    )
    assert (
        f"larger than the {train_pairs} neighbour pairs of the train split of"
        in capsys.readouterr().err
    )
    assert train_main([*arguments, "--model_dir", str(tmp_path / "with"), *larger]) == 0
    record = json.loads((tmp_path / "with" / "run.json").read_text())
    assert record["dataset"]["training_clips"] == dataset.clip_count("train", PRETRAIN_SPLIT)


def test_a_metadata_csv_may_give_the_pretrain_split_and_nothing_else_unknown(tmp_path: Path):
    rows = []
    for index, split in enumerate(["pretrain", "", "train", "holdout"]):
        name = f"piece{index}.mid"
        write_sequence(tmp_path / name, sequence_with([(60 + index, 0.0, 1.0)]))
        rows.append({"canonical_composer": "C", "canonical_title": name, "split": split})
        rows[-1]["midi_filename"] = name
    metadata = write_metadata(tmp_path / "meta.csv", rows)
    pieces, problems = list_midi_dir(tmp_path, metadata)
    assert [piece.split for piece in pieces] == [PRETRAIN_SPLIT, None, "train"]
    assert [problem["problem"] for problem in problems] == ["unknown split 'holdout' in metadata"]

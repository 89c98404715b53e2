"""Splits by work: work ids of every source, and no work in two splits."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from tests.midi_files import sequence_with, write_metadata, write_sequence
from tfembed.preparation.corpus import corpus_work, list_corpus
from tfembed.preparation.sources import list_midi_dir
from tfembed.preparation.splits import assign_splits, work_of, works_per_split


def _splits_of_works(pieces) -> dict[str, set[str]]:
    splits = defaultdict(set)
    for piece in pieces:
        splits[work_of(piece)].add(piece.split)
    return splits


def test_corpus_work_ids():
    assert corpus_work("beethoven/opus18no1/movement2.mxl") == "beethoven/opus18no1"
    assert corpus_work("beethoven/opus18no1/movement2.krn") == "beethoven/opus18no1"
    assert corpus_work("palestrina/Agnus_II_54.krn") == "palestrina/mass54"
    assert corpus_work("palestrina/Kyrie_54_b.krn") == "palestrina/mass54"
    assert corpus_work("palestrina/Benedictus_01_a.krn") == "palestrina/mass1"
    assert corpus_work("bach/bwv248.23-s.mxl") == "bach/bwv248"
    assert corpus_work("bach/bwv248.35-3c.mxl") == "bach/bwv248"
    assert corpus_work("monteverdi/madrigal.3.1.mxl") == "monteverdi/madrigal.3.1"


def test_no_work_of_the_whole_corpus_straddles_splits():
    pieces = assign_splits(list_corpus())
    splits = _splits_of_works(pieces)
    assert all(len(names) == 1 for names in splits.values())
    # Works once divided between splits are each whole now.
    for work in ("beethoven/opus18no1", "haydn/opus1no1", "mozart/k458", "palestrina/mass31"):
        assert len(splits[work]) == 1, work


def test_default_corpus_has_enough_test_pieces_for_every_composer():
    pieces = assign_splits(list_corpus(pieces_per_composer=40))
    test = [piece for piece in pieces if piece.split == "test"]
    assert len(test) >= 60
    composers = {piece.composer_name for piece in pieces}
    per_composer = {name: sum(p.composer_name == name for p in test) for name in composers}
    assert min(per_composer.values()) >= 1
    for composer in ("bach", "palestrina", "monteverdi", "trecento", "josquin", "mozart"):
        assert per_composer[composer] >= 3, composer
    assert all(len(names) == 1 for names in _splits_of_works(pieces).values())


def test_assignment_does_not_depend_on_file_order():
    pieces = list_corpus(composers=("mozart", "haydn", "josquin"))
    forward = {p.piece_id: p.split for p in assign_splits(pieces)}
    backward = {p.piece_id: p.split for p in assign_splits(pieces[::-1])}
    assert forward == backward


def test_plain_folder_piece_is_its_own_work(tmp_path: Path):
    notes = [(60, 0.0, 1.0)]
    for name in ("a/one.mid", "a/two.mid", "a/three.mid", "a/four.mid"):
        write_sequence(tmp_path / name, sequence_with(notes))
    pieces, _ = list_midi_dir(tmp_path)
    assert [piece.work for piece in pieces] == [
        "a/four.mid",
        "a/one.mid",
        "a/three.mid",
        "a/two.mid",
    ]
    assert {piece.split for piece in assign_splits(pieces)} == {"train", "validation", "test"}


def test_maestro_performances_of_one_title_share_a_work(tmp_path: Path):
    notes = [(60, 0.0, 1.0)]
    rows = []
    for index in range(6):
        name = f"2018/perf{index}.midi"
        write_sequence(tmp_path / name, sequence_with(notes))
        title = "Sonata No. 8" if index < 3 else f"Etude {index}"
        rows.append(
            {
                "canonical_composer": "Chopin",
                "canonical_title": title,
                "split": "",
                "midi_filename": name,
            }
        )
    metadata = write_metadata(tmp_path / "meta.csv", rows)
    pieces, problems = list_midi_dir(tmp_path, metadata)
    assert not problems
    assert {piece.work for piece in pieces[:3]} == {"Chopin/Sonata No. 8"}
    assigned = assign_splits(pieces)
    assert len({piece.split for piece in assigned[:3]}) == 1
    works = works_per_split((piece.split, work_of(piece)) for piece in assigned)
    assert sum(len(names) for names in works.values()) == 4

"""The three worked examples of the README's "Using the embeddings in your project"."""

from __future__ import annotations

import shutil
from pathlib import Path

import music21
import numpy as np
import pytest
import soundfile
from tool_scripts import load_tool

from tfembed.cli.embed import main as embed_main

MODEL = "joint"  # the shipped joint model, by name


def _example(name: str):
    return load_tool(f"examples/{name}.py")


@pytest.mark.slow  # prepares the tiny dataset
def test_a_composer_classifier_trains_on_tfsmlayer_features(tiny_dataset) -> None:
    scores = _example("composer_classifier").main(str(tiny_dataset), "mel_mel", epochs=20)
    assert 0.0 < scores["chance"] < scores["accuracy"] <= 1.0  # measured: 0.474 < 0.724


def test_nearest_neighbours_over_a_folder_of_midi_files(tmp_path) -> None:
    folder = tmp_path / "midi"
    folder.mkdir()
    for work in (
        "bach/bwv66.6",
        "bach/bwv4.8",
        "bach/bwv269",
        "josquin/laDeplorationDeLaMorteDeJohannesOckeghem",
    ):
        music21.corpus.parse(work).write("midi", fp=folder / (work.replace("/", "_") + ".mid"))
    shutil.copy(folder / "bach_bwv66.6.mid", folder / "copy_of_bwv66.6.mid")
    out = tmp_path / "embeddings"
    assert embed_main(["--saved_model", "sym_sym", str(folder), "--out", str(out)]) == 0
    found = _example("nearest_pieces").nearest(out)
    assert len(found) == len(list(folder.glob("*.mid")))  # an opus writes one file per work
    assert found["copy_of_bwv66.6.mid"][0] == "bach_bwv66.6.mid"
    assert found["copy_of_bwv66.6.mid"][1] == pytest.approx(1.0, abs=1e-5)
    assert all(
        name != neighbour and -1 <= cosine <= 1 + 1e-5
        for name, (neighbour, cosine) in found.items()
    )


def test_a_real_recording_embeds_with_embed_audio() -> None:
    embedding = _example("embed_recording").main()
    assert embedding.shape == (7, 128)  # 20 s of audio in 3-second windows
    assert np.isfinite(embedding).all()


@pytest.mark.slow  # renders a recording and indexes five pieces
def test_a_recording_in_a_soundfont_never_heard_in_training_finds_its_midi_and_offset(
    tmp_path,
) -> None:
    from tfembed.features.framegrid import DEFAULT_GRID
    from tfembed.preparation.midi_piece import read_midi_piece
    from tfembed.preparation.render import (
        RenderSetupError,
        check_fluidsynth,
        find_soundfont,
    )

    held_out = Path("/usr/share/sounds/sf3/FluidR3Mono_GM.sf3")  # not among joint's renderings
    try:
        check_fluidsynth()
        soundfont = find_soundfont(held_out if held_out.is_file() else None)
    except RenderSetupError as error:
        pytest.skip(str(error))
    folder = tmp_path / "midi"
    folder.mkdir()
    for work in (  # test-split works of the default corpus: the model never trained on them
        "monteverdi/madrigal.3.15",
        "palestrina/Kyrie_II_24_b",
        "josquin/milleRegrets",
        "schumann_clara/polonaise_op1n3",
        "bach/bwv846",
    ):
        music21.corpus.parse(work).write("midi", fp=folder / (work.replace("/", "_") + ".mid"))
    piece = read_midi_piece(folder / "palestrina_Kyrie_II_24_b.mid", "mel", DEFAULT_GRID, soundfont)
    rate = DEFAULT_GRID.sample_rate
    take = tmp_path / "take.wav"
    soundfile.write(take, piece.rendering[15 * rate : 45 * rate], rate)

    results = _example("find_recording").find(folder, [take], tmp_path / "index", MODEL)

    (result,) = results
    assert result.error is None and result.windows == 10
    best = result.matches[0]
    assert Path(best["file"]).name == "palestrina_Kyrie_II_24_b.mid"
    assert abs(best["start"] - 15.0) <= 3.0  # within one window
    assert best["score"] > result.matches[1]["score"]

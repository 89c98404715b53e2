"""The three worked examples of the README's "Using the embeddings in your project"."""

from __future__ import annotations

import shutil

import music21
import numpy as np
import pytest
from tool_scripts import load_tool

from tfembed.cli.embed import main as embed_main


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

"""tfembed-embed resumes: an interrupted or repeated run embeds only what is not done."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from midi_files import scale_notes, write_raw_midi

from tfembed.cli.embed import main as embed_main
from tfembed.inference.batch_embed import embed_files
from tfembed.inference.embedder import Embedder
from tfembed.inference.inputs import InputReader
from tfembed.inference.resume import JOURNAL_NAME
from tfembed.utils.locking import hold_lock


def _folder(root: Path, count: int) -> Path:
    """``count`` short scales of different lengths in ``root/midi``."""
    for index in range(count):
        write_raw_midi(root / "midi" / f"p{index}.mid", scale_notes(4.0 + index))
    return root / "midi"


def _outputs_changed(out: Path, before: dict[str, int]) -> set[str]:
    """Names of the ``.npz`` files rewritten since ``before`` (name -> mtime_ns)."""
    return {name for name, stamp in before.items() if (out / name).stat().st_mtime_ns != stamp}


def _stamps(out: Path) -> dict[str, int]:
    return {
        path.relative_to(out).as_posix(): path.stat().st_mtime_ns for path in out.rglob("*.npz")
    }


def test_a_rerun_embeds_only_new_and_changed_inputs(tmp_path: Path, capsys) -> None:
    midi = _folder(tmp_path, 2)
    out = tmp_path / "out"
    assert embed_main(["--saved_model", "sym_sym", "--out", str(out), str(midi)]) == 0
    before = _stamps(out)
    first = json.loads((out / "index.json").read_text())
    write_raw_midi(midi / "p2.mid", scale_notes(6.0))  # new
    write_raw_midi(midi / "p1.mid", scale_notes(8.0))  # changed: longer
    os.utime(midi / "p1.mid", ns=(1, 1))
    capsys.readouterr()

    assert embed_main(["--saved_model", "sym_sym", "--out", str(out), str(midi)]) == 0

    index = json.loads((out / "index.json").read_text())
    assert index["resumed"] == 1 and index["done"] == 3
    assert _outputs_changed(out, before) == {"midi/p1.mid.npz"}
    clips = {Path(entry["input"]).name: entry["clips"] for entry in index["files"]}
    assert clips == {"p0.mid": 2, "p1.mid": 3, "p2.mid": 2}
    assert first["files"][0] == next(e for e in index["files"] if e["input"].endswith("p0.mid"))
    assert "resumed: 1 of 3 inputs were already embedded" in capsys.readouterr().err
    assert not (out / JOURNAL_NAME).exists()

    # Another hop changes every output: nothing is reused.
    assert (
        embed_main(["--saved_model", "sym_sym", "--out", str(out), "--hop", "1.5", str(midi)]) == 0
    )
    index = json.loads((out / "index.json").read_text())
    assert index["resumed"] == 0 and index["hop_seconds"] == 1.5
    assert np.load(out / "midi" / "p0.mid.npz")["timestamps"].tolist() == [0.0, 1.5]


class _InterruptingReader(InputReader):
    """Reads like the shipped roll model, interrupted (as by Ctrl-C) at a given input."""

    def read(self, path):
        if Path(path).name == "p2.mid":
            raise KeyboardInterrupt
        return super().read(path)


def _interrupted_after_p1() -> Embedder:
    embedder = Embedder("sym_sym")
    embedder.reader = _InterruptingReader(**vars(embedder.reader))
    return embedder


def test_an_interrupted_run_resumes_where_it_stopped(tmp_path: Path) -> None:
    midi = _folder(tmp_path, 4)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        embed_files(_interrupted_after_p1(), [str(midi)], out, None)
    assert not (out / "index.json").exists()
    journal = (out / JOURNAL_NAME).read_text().splitlines()
    assert [json.loads(line)["input"] for line in journal[1:]] == [
        str(midi / "p0.mid"),
        str(midi / "p1.mid"),
    ]
    before = _stamps(out)

    index = embed_files(Embedder("sym_sym"), [str(midi)], out, None)

    assert index["resumed"] == 2 and index["done"] == 4
    assert _outputs_changed(out, before) == set()
    assert sorted(_stamps(out)) == [f"midi/p{index}.mid.npz" for index in range(4)]
    assert not (out / JOURNAL_NAME).exists()


def test_a_second_run_into_one_out_is_refused(tmp_path: Path, capsys) -> None:
    midi = _folder(tmp_path, 1)
    out = tmp_path / "out"
    with hold_lock(out, "embedding run"):
        assert embed_main(["--saved_model", "sym_sym", "--out", str(out), str(midi)]) == 1
    assert f"{out} is in use by another embedding run" in capsys.readouterr().err
    assert not (out / "index.json").exists()

"""A file without a tempo is rendered at a tempo drawn for it, recorded with its source."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.midi_files import scale_notes, sequence_with, write_raw_midi
from tfembed.dataset.clips import load_clips
from tfembed.evaluation.probes import probe_tasks
from tfembed.preparation.prepare import prepare
from tfembed.preparation.sources import piece_id_for
from tfembed.preparation.tempo import DRAWN_QPM_RANGE, apply_tempo_policy, at_tempo, drawn_qpm


def test_drawn_tempo_is_deterministic_and_spread_over_the_range():
    ids = [f"piece-{index}" for index in range(500)]
    tempos = [drawn_qpm(piece_id) for piece_id in ids]
    assert tempos == [drawn_qpm(piece_id) for piece_id in ids]
    assert min(tempos) >= DRAWN_QPM_RANGE[0] and max(tempos) <= DRAWN_QPM_RANGE[1]
    assert min(tempos) < 60 and max(tempos) > 160  # the whole range is used
    assert len(set(tempos)) > 300


def test_at_tempo_stretches_every_time():
    sequence = sequence_with([(60, 1.0, 2.0), (62, 2.0, 4.0)], keys=[(2.0, 2, 0)])
    slow = at_tempo(sequence, 60.0)
    assert [(note.start_time, note.end_time) for note in slow.notes] == [(2.0, 4.0), (4.0, 8.0)]
    assert slow.key_signatures[0].time == 4.0
    assert slow.total_time == 8.0
    assert [(tempo.time, tempo.qpm) for tempo in slow.tempos] == [(0.0, 60.0)]
    assert sequence.total_time == 4.0  # the original is left alone


def test_policy_keeps_a_stated_tempo():
    sequence = sequence_with([(60, 0.0, 1.0)], tempos=[(0.0, 90.0)])
    assert apply_tempo_policy(sequence, True, "x", "draw") == (sequence, "stated")
    assert apply_tempo_policy(sequence, False, "x", "stated") == (sequence, "default")
    with pytest.raises(ValueError, match="tempo policy"):
        apply_tempo_policy(sequence, False, "x", "guess")


def _clips(data_dir: Path) -> list[dict]:
    clips = []
    for split in ("train", "validation", "test"):
        clips += list(load_clips(data_dir, split).as_numpy_iterator())
    return clips


def test_prepared_labels_follow_the_drawn_tempo(tmp_path: Path):
    # 4 onsets per second at 120 qpm, no tempo event; a second file states 120.
    write_raw_midi(tmp_path / "midi" / "plain.mid", scale_notes(12.0))
    write_raw_midi(tmp_path / "midi" / "stated.mid", scale_notes(12.0), tempo_event=True)
    qpm = drawn_qpm(piece_id_for("plain.mid"))

    manifest = prepare(tmp_path / "out", midi_dir=tmp_path / "midi", tempo_policy="draw")

    summaries = {piece["file"].split("/")[-1]: piece for piece in manifest["pieces"]}
    assert summaries["plain.mid"]["tempo_source"] == "drawn"
    assert summaries["plain.mid"]["rendered_qpm"] == qpm
    assert summaries["stated.mid"]["tempo_source"] == "stated"
    clips = _clips(tmp_path / "out")
    plain = [clip for clip in clips if clip["piece_id"].decode().startswith("plain")]
    stated = [clip for clip in clips if clip["piece_id"].decode().startswith("stated")]
    assert len(plain) == int(12.0 * 120 / qpm / 3)  # the rendering lasts 12 s * 120 / qpm
    assert {clip["tempo_source"] for clip in plain} == {b"drawn"}
    assert [clip["tempo"] for clip in plain] == pytest.approx([qpm] * len(plain), rel=1e-4)
    assert {clip["tempo_source"] for clip in stated} == {b"stated"}
    # Density follows the rendering: 4 onsets per second at 120, 4 * qpm / 120 at qpm.
    for clip in plain:
        assert clip["note_density"] == pytest.approx(4 * qpm / 120, abs=0.34)
    # The tempo task reads drawn and stated tempos, not a default.
    tempo_task = next(task for task in probe_tasks(1) if task.name == "tempo")
    labels = {
        "tempo": [c["tempo"] for c in plain + stated],
        "tempo_explicit": [c["tempo_explicit"] for c in plain + stated],
        "tempo_source": [c["tempo_source"] for c in plain + stated],
    }
    assert tempo_task.known({name: np.array(values) for name, values in labels.items()}).all()


def test_stated_policy_keeps_120_and_leaves_the_tempo_unknown(tmp_path: Path):
    write_raw_midi(tmp_path / "midi" / "plain.mid", scale_notes(7.0))

    prepare(tmp_path / "out", midi_dir=tmp_path / "midi", tempo_policy="stated")

    clips = _clips(tmp_path / "out")
    assert {clip["tempo"] for clip in clips} == {120.0}
    assert {clip["tempo_source"] for clip in clips} == {b"default"}


def test_a_folder_of_midi_files_keeps_its_own_tempo_by_default(tmp_path: Path):
    write_raw_midi(tmp_path / "midi" / "plain.mid", scale_notes(12.0))
    manifest = prepare(tmp_path / "out", midi_dir=tmp_path / "midi")
    assert manifest["tempo_policy"] == "stated"
    assert manifest["pieces"][0]["tempo_source"] == "default"
    assert manifest["pieces"][0]["rendered_qpm"] == 120.0

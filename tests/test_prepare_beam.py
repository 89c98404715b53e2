"""Preparation on Apache Beam (DirectRunner) gives the local pool's results.

Skipped when apache_beam is not installed (it is the ``tfembed[beam]`` extra).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

beam = pytest.importorskip("apache_beam")

from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline  # noqa: E402
from apache_beam.testing.util import assert_that, equal_to  # noqa: E402
from midi_files import scale_notes, write_bad_folder, write_raw_midi  # noqa: E402

from tfembed.cli.prepare import main as prepare_main  # noqa: E402
from tfembed.dataset.manifest import read_manifest  # noqa: E402
from tfembed.dataset.vocabulary import UNKNOWN  # noqa: E402
from tfembed.features.framegrid import DEFAULT_GRID  # noqa: E402
from tfembed.preparation import PrepareError  # noqa: E402
from tfembed.preparation.beam_pipeline import build_pipeline, pipeline_options  # noqa: E402
from tfembed.preparation.corpus import corpus_midi, list_corpus  # noqa: E402
from tfembed.preparation.job import PieceJob  # noqa: E402
from tfembed.preparation.render import find_soundfont  # noqa: E402
from tfembed.preparation.sources import list_midi_dir  # noqa: E402
from tfembed.preparation.splits import assign_splits  # noqa: E402

RUN_DEPENDENT = ("created", "time")
"""Manifest fields that differ between any two runs (the date, the timings)."""
PIECE_RUN_DEPENDENT = ("processing_seconds", "worker_peak_rss_mb")


def _mixed_folder(root: Path) -> set[str]:
    """Real corpus pieces in composer folders, a long piece and bad files; returns the bad."""
    for piece in list_corpus(("bach", "josquin"), pieces_per_composer=3):
        target = root / piece.composer_name / Path(piece.path).with_suffix(".mid").name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(corpus_midi(piece.path), target)
    return set(write_bad_folder(root / "odd"))


def _comparable(manifest: dict) -> dict:
    kept = {key: value for key, value in manifest.items() if key not in RUN_DEPENDENT}
    kept["pieces"] = [
        {key: value for key, value in piece.items() if key not in PIECE_RUN_DEPENDENT}
        for piece in manifest["pieces"]
    ]
    return kept


@pytest.mark.slow
def test_beam_run_writes_the_local_runs_records_and_manifest(tmp_path: Path, capsys) -> None:
    expected_failures = _mixed_folder(tmp_path / "midi")
    common = ["--midi_dir", str(tmp_path / "midi"), "--max_piece_seconds", "20"]

    assert prepare_main([*common, "--out", str(tmp_path / "local"), "--workers", "2"]) == 0
    capsys.readouterr()
    assert prepare_main([*common, "--out", str(tmp_path / "beam"), "--runner", "beam",
                         "--workers", "2"]) == 0  # fmt: skip
    errors = capsys.readouterr().err

    local, on_beam = read_manifest(tmp_path / "local"), read_manifest(tmp_path / "beam")
    assert _comparable(on_beam) == _comparable(local)
    assert len(local["pieces"]) == 8  # 6 corpus pieces, good.mid and long.midi (cut)
    assert {Path(failure["file"]).name for failure in local["failures"]} == expected_failures
    shards = sorted(path.name for path in (tmp_path / "local").glob("*.tfrecord"))
    assert shards == sorted(path.name for path in (tmp_path / "beam").glob("*.tfrecord"))
    for name in shards:
        local_bytes = (tmp_path / "local" / name).read_bytes()
        assert (tmp_path / "beam" / name).read_bytes() == local_bytes, name
    for failure in local["failures"]:
        assert f"skipped {failure['file']}: {failure['problem']}" in errors
    assert "long.midi at 20 s" in errors
    counts = local["counts"]
    assert (
        f"beam counters: prepared pieces 8, failed pieces {counts['failed_pieces']}, "
        f"cut pieces {counts['cut_pieces']}" in errors
    )


def test_bad_files_go_to_the_failed_side_output_without_failing_the_bundle(
    tmp_path: Path,
) -> None:
    write_raw_midi(tmp_path / "midi" / "good.mid", scale_notes(4.0))
    (tmp_path / "midi" / "empty.mid").write_bytes(b"")
    (tmp_path / "midi" / "text.mid").write_text("not music at all\n")
    pieces = assign_splits(list_midi_dir(tmp_path / "midi")[0])
    (tmp_path / "pieces").mkdir()
    jobs = [
        PieceJob(
            piece,
            UNKNOWN,
            str(tmp_path / "pieces"),
            (str(find_soundfont()),),
            DEFAULT_GRID,
            60,
            "cut",
        )
        for piece in pieces
    ]

    with BeamTestPipeline() as pipeline:
        outputs = build_pipeline(pipeline, jobs, threads=1)
        names = {
            kind: outputs[kind] | f"{kind}Names" >> beam.Map(lambda s: Path(s["file"]).name)
            for kind in ("prepared", "failed")
        }
        assert_that(names["prepared"], equal_to(["good.mid"]), label="prepared")
        assert_that(names["failed"], equal_to(["empty.mid", "text.mid"]), label="failed")
    assert (tmp_path / "pieces" / f"{pieces[1].piece_id}.tfrecord").is_file()  # good.mid


def test_default_options_are_the_direct_runner_in_multi_processing_mode() -> None:
    options = pipeline_options(None, 3).get_all_options()
    assert options["runner"] == "DirectRunner"
    assert options["direct_running_mode"] == "multi_processing"
    assert options["direct_num_workers"] == 3
    chosen = pipeline_options("--runner=DirectRunner --direct_num_workers=1", 3).get_all_options()
    assert chosen["direct_num_workers"] == 1
    flink = pipeline_options("--runner=FlinkRunner --flink_master=localhost:8081", 3)
    assert flink.get_all_options()["runner"] == "FlinkRunner"
    with pytest.raises(PrepareError, match="pipeline_options"):
        pipeline_options("--runner='DataflowRunner", 3)

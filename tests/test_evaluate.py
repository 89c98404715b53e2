"""tfembed-eval end to end on tiny real runs, and its parts on known inputs."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
from midi_files import sequence_with
from tool_scripts import load_tool

from tfembed.cli.evaluate import main as eval_main
from tfembed.dataset.clips import load_clips
from tfembed.evaluation.evaluate import (
    _row_names,
    distinct_tails,
    neighbour_queries,
    variant_rows,
)
from tfembed.evaluation.featurizers import EvaluationError, Featurizer, handmade_featurizer
from tfembed.evaluation.probes import REGRESSION_GRID, probe_tasks, train_mlp_probes
from tfembed.evaluation.report import METRIC_DIRECTIONS
from tfembed.evaluation.significance import clip_weights, compare, piece_draws
from tfembed.evaluation.split_features import featurize_split
from tfembed.evaluation.table1 import PAPER
from tfembed.export.registry import resolve_model
from tfembed.features.framegrid import DEFAULT_GRID
from tfembed.features.frontend import log_mel
from tfembed.features.handmade import handmade_names, handmade_size, mel_features, roll_features
from tfembed.features.pianoroll import piano_roll

TABLE1_METRICS = [
    "rank_am",
    "rank_gm",
    "composer_micro_f1",
    "composer_macro_f1",
    "key_micro_f1",
    "key_macro_f1",
    "density_mae",
    "density_r2",
]


@pytest.fixture(scope="module")
def saved_models(exported_models) -> list[Path]:
    return [exported_models["mel"], exported_models["roll"]]


@pytest.fixture(scope="module")
def report_dir(saved_models, tiny_dataset, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    argv = []
    for saved in saved_models:
        argv += ["--saved_model", str(saved)]
    argv += ["--data", str(tiny_dataset), "--out", str(out), "--seeds", "2"]
    assert eval_main([*argv, "--bootstrap_rounds", "200", "--min_test_pieces", "2"]) == 0
    return out


def test_report_has_every_row_metric_and_plot(report_dir, tiny_dataset) -> None:
    report = json.loads((report_dir / "report.json").read_text())
    names = [row["name"] for row in report["rows"]]
    assert names == [
        "MEL_SYM (mel)",
        "MEL_SYM (roll)",
        "chance (random vectors)",
        "random tower (mel)",
        "hand-made (mel)",
        "random tower (roll)",
        "hand-made (roll)",
    ]
    for name in names:
        for metric in TABLE1_METRICS:
            assert np.isfinite(report["metrics"][name][metric]["mean"]), (name, metric)
    test_clips = json.loads((tiny_dataset / "manifest.json").read_text())["counts"]["clips"]["test"]
    candidates = min(100, test_clips - 1)
    assert report["counts"]["rank"]["candidates"] == candidates
    chance = report["metrics"]["chance (random vectors)"]["rank_am"]["mean"]
    assert abs(chance - (candidates + 1) / 2) < candidates / 6
    composer = report["counts"]["composer"]["test"]
    assert composer["used"] + composer["left_out"] == test_clips
    model = report["metrics"]["MEL_SYM (mel)"]
    assert model["rank_am"]["std"] == 0.0  # rank@100 has no probe seeds to spread over
    assert 0.0 <= model["composer_micro_f1"]["std"] < 0.25
    for plot in ("projection.png", "training_curves.png"):
        assert (report_dir / plot).read_bytes()[:4] == b"\x89PNG"
    markdown = (report_dir / "report.md").read_text()
    assert "| MEL_SYM (mel) |" in markdown and "Rank@100 AM" in markdown


def test_significance_marks_the_best_row_models_and_baselines_together(report_dir) -> None:
    report = json.loads((report_dir / "report.json").read_text())
    assert {"rank_am", "composer_micro_f1", "density_r2"} <= set(report["significance"])
    names = [row["name"] for row in report["rows"]]
    for metric, comparison in report["significance"].items():
        values = {name: report["metrics"][name][metric]["mean"] for name in names}
        best = max(values, key=lambda name: values[name] * (1 if METRIC_DIRECTIONS[metric] else -1))
        assert comparison["best"] == best
        assert comparison["winners"][0] == best
        assert set(comparison["p_values"]) == set(names) - {best}  # baselines are tested too
        assert comparison["alpha"] == pytest.approx(0.05 / (len(names) - 1))
        for name in names:
            assert report["metrics"][name][metric]["se"] >= 0


@pytest.mark.parametrize(
    ("key", "kind"), [("against_random_tower", "random tower"), ("against_hand_made", "hand-made")]
)
def test_each_model_is_checked_against_its_baselines_with_both_probes(
    report_dir, key: str, kind: str
) -> None:
    report = json.loads((report_dir / "report.json").read_text())
    checks = report[key]
    assert checks
    for name, check in checks.items():
        domain = name.split("(")[-1].rstrip(")")
        assert check["baseline"] == f"{kind} ({domain})"
        main = {"composer_micro_f1", "key_micro_f1", "density_mae"}
        assert {"rank_am"} | main | {f"linear_{metric}" for metric in main} <= set(check["better"])
        for metric, better in check["better"].items():
            sign = 1 if METRIC_DIRECTIONS[metric] else -1
            own = report["metrics"][name][metric]["mean"]
            theirs = report["metrics"][check["baseline"]][metric]["mean"]
            assert better == (sign * (own - theirs) > 0)
            assert 0 < check["p_values"][metric] <= 1
    heading = "with random weights" if kind == "random tower" else "hand-made features of"
    assert f"{heading}" in (report_dir / "report.md").read_text()


def test_the_demo_benchmark_reads_the_first_models_figures_and_its_random_tower(
    report_dir,
) -> None:
    bench_demo = load_tool("benchmarks/bench_demo.py")
    report = json.loads((report_dir / "report.json").read_text())
    rows, p_values, beaten = bench_demo.demo_rows(report)
    model = next(row["name"] for row in report["rows"] if row["kind"] == "model")
    check = report["against_random_tower"][model]
    assert [row["row"] for row in rows] == [f"demo: {model}", check["baseline"], "paper MEL_MEL"]
    assert rows[0]["rank_at_100_am"] == round(report["metrics"][model]["rank_am"]["mean"], 2)
    baseline_key = report["metrics"][check["baseline"]]["key_micro_f1"]["mean"]
    assert rows[1]["key_micro_f1"] == round(baseline_key, 3)
    assert rows[2]["rank_at_100_am"] == PAPER["MEL_MEL"][0]
    assert p_values["mlp"]["key"] == round(check["p_values"]["key_micro_f1"], 3)
    scored = [probe for probe in bench_demo.PROBES if probe in check["p_values"]]
    assert set(p_values["linear"]) == {probe.split("_")[0] for probe in scored} >= {"composer"}
    assert beaten == sum(
        check["better"][probe] and check["p_values"][probe] < 0.05 for probe in scored
    )


def test_saved_test_embeddings_are_the_savedmodels_output(report_dir, saved_models, tiny_dataset):
    stored = np.load(report_dir / "test_embeddings.npz")
    clips = next(load_clips(tiny_dataset, "test").batch(8).as_numpy_iterator())
    layer = keras.layers.TFSMLayer(str(saved_models[1]), call_endpoint="serve")
    np.testing.assert_allclose(
        stored["MEL_SYM (roll)"][:8], np.asarray(layer(clips["roll"])), atol=1e-5
    )


def test_a_probe_head_through_tfsmlayer_tells_composers_of_unseen_pieces(tiny_dataset) -> None:
    keras.utils.set_random_seed(0)
    train, test = (
        next(load_clips(tiny_dataset, split).batch(4096).as_numpy_iterator())
        for split in ("train", "test")
    )
    inputs = keras.Input([192, 96])
    layer = keras.layers.TFSMLayer(
        str(resolve_model("mel_mel")), call_endpoint="serve", trainable=False
    )
    features = layer(inputs)
    hidden = keras.layers.Dense(64, activation="relu")(keras.layers.BatchNormalization()(features))
    probe = keras.Model(inputs, keras.layers.Dense(4)(hidden))
    probe.compile(
        keras.optimizers.Adam(1e-2),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    probe.fit(train["mel"], train["composer"], epochs=40, verbose=0)

    # Scored on the test split: pieces the probe never saw (splits are by work).
    accuracy = probe.evaluate(test["mel"], test["composer"], verbose=0)[1]
    chance = np.bincount(test["composer"]).max() / len(test["composer"])
    assert accuracy > 2 * chance  # measured: 0.80-0.83 against 0.33 (seeds 0-2)


def test_neighbour_queries_pair_consecutive_clips_of_one_piece() -> None:
    labels = {
        "piece_id": np.array([b"a", b"a", b"a", b"b", b"b", b"a"]),
        "clip_index": np.array([0, 1, 3, 0, 1, 4]),
    }
    queries, neighbours = neighbour_queries(labels)
    assert sorted(zip(queries.tolist(), neighbours.tolist(), strict=True)) == [
        (0, 1),
        (2, 5),
        (3, 4),
    ]


def test_roll_features_of_a_known_chord() -> None:
    chord = sequence_with([(60, 0.0, 3.0), (64, 0.0, 3.0), (67, 0.0, 1.5), (67, 2.0, 3.0)])
    roll = piano_roll(chord, DEFAULT_GRID, 192)[np.newaxis]
    features = dict(
        zip(handmade_names("roll", DEFAULT_GRID), roll_features(roll, DEFAULT_GRID)[0], strict=True)
    )
    histogram = np.array([features[f"pitch class {pitch_class}"] for pitch_class in range(12)])
    lowest, highest, onsets = (
        features[name] for name in ("lowest pitch", "highest pitch", "onsets per second")
    )
    polyphony, most, active = (
        features[name] for name in ("mean polyphony", "largest polyphony", "sounding share")
    )
    assert histogram.argmax() in (0, 4) and histogram[[1, 2, 3, 5, 6, 8, 9, 10, 11]].sum() == 0
    assert histogram.sum() == pytest.approx(1.0)
    assert (lowest, highest, most, active) == (60, 67, 3, 1.0)
    assert onsets == pytest.approx(4 / 3)
    assert 2.5 < polyphony < 3.0


def test_every_handmade_column_has_its_own_name() -> None:
    for domain in ("mel", "roll"):
        names = handmade_names(domain, DEFAULT_GRID)
        assert len(set(names)) == len(names) == handmade_size(domain, DEFAULT_GRID)


def test_mel_chroma_of_a_sine_peaks_at_its_pitch_class() -> None:
    # 96 mel bands at 16 kHz are narrower than a semitone only above about 500 Hz.
    seconds = np.arange(3 * 16000) / 16000
    for frequency, pitch_class in ((523.25, 0), (659.26, 4), (880.0, 9), (1174.66, 2), (1568.0, 7)):
        audio = (0.5 * np.sin(2 * np.pi * frequency * seconds)).astype(np.float32)
        mel = log_mel(audio, DEFAULT_GRID).numpy()[np.newaxis, :192]
        chroma = mel_features(mel, DEFAULT_GRID)[0, -12:]
        assert chroma.argmax() == pitch_class


def test_density_probe_on_roll_statistics_predicts_note_density(tiny_dataset) -> None:
    featurizer = handmade_featurizer("roll", DEFAULT_GRID)
    splits = {
        split: featurize_split(tiny_dataset, split, [featurizer])
        for split in ("train", "validation", "test")
    }
    density = next(task for task in probe_tasks(4) if task.name == "density")

    def pairs(split):
        return splits[split].features[featurizer.name], splits[split].labels["note_density"]

    (predict,), chosen = train_mlp_probes(density, pairs("train"), pairs("validation"), seeds=1)
    features, truth = pairs("test")
    # Chance is 0; on these 253 train clips the chosen head explains about half the variance.
    assert density.score(truth, predict(features))["density_r2"] > 0.4
    assert chosen in REGRESSION_GRID  # a regression task has its own grid


def test_compare_finds_clear_and_absent_differences() -> None:
    piece_ids = np.repeat(np.arange(20), 10)
    pieces, counts = piece_draws(piece_ids, 300)
    weights = clip_weights(pieces, counts, piece_ids)
    rng = np.random.default_rng(0)
    good, bad = rng.normal(1.0, 0.3, 200), rng.normal(0.0, 0.3, 200)
    same = good + rng.normal(0, 1e-3, 200)

    def draws(values):
        return weights @ values / weights.sum(axis=1)

    clear = compare(
        {"good": good.mean(), "bad": bad.mean()}, {"good": draws(good), "bad": draws(bad)}, True
    )
    assert clear.best == "good" and clear.winners == ["good"] and clear.p_values["bad"] < 0.01
    tied = compare(
        {"good": good.mean(), "same": same.mean()}, {"good": draws(good), "same": draws(same)}, True
    )
    assert sorted(tied.winners) == ["good", "same"]


def test_a_folder_that_is_not_an_export_is_reported(tiny_dataset, tmp_path, capsys) -> None:
    status = eval_main(
        ["--saved_model", str(tmp_path), "--data", str(tiny_dataset), "--out", str(tmp_path / "r")]
    )
    assert status == 1
    assert str(tmp_path) in capsys.readouterr().err


def test_domain_keeps_the_towers_and_baselines_of_one_domain(
    saved_models, tiny_dataset, tmp_path, capsys
) -> None:
    argv = ["--data", str(tiny_dataset), "--seeds", "1", "--bootstrap_rounds", "50"]
    for saved in saved_models:
        argv += ["--saved_model", str(saved)]
    assert eval_main([*argv, "--domain", "roll", "--out", str(tmp_path / "roll")]) == 0
    report = json.loads((tmp_path / "roll" / "report.json").read_text())
    names = [row["name"] for row in report["rows"]]
    assert names == [
        "MEL_SYM",
        "chance (random vectors)",
        "random tower (roll)",
        "hand-made (roll)",
    ]
    assert {row["domain"] for row in report["rows"] if row["kind"] != "chance"} == {"roll"}
    only_mel = ["--saved_model", str(saved_models[0]), "--data", str(tiny_dataset)]
    assert eval_main([*only_mel, "--domain", "roll", "--out", str(tmp_path / "none")]) == 1
    assert f"none of the models has a roll tower: {saved_models[0]}" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stopped:
        eval_main([*only_mel, "--crossmodal", "--domain", "mel", "--out", str(tmp_path / "x")])
    assert stopped.value.code == 2


def export(variant: str, domain: str, seed: int, negatives: str = "sampled") -> Featurizer:
    """An export's featurizer as evaluation sees it: its variant, domain and training settings."""
    config = {"variant": variant, "seed": seed, "negatives": negatives, "steps": 800}
    metadata = {"variant": variant, "train_config": config}
    return Featurizer(variant, "model", domain, embed=np.asarray, metadata=metadata)


def test_exports_make_one_row_per_variant_and_recipe_seeds_merged() -> None:
    models = [export("MEL_MEL", "mel", seed) for seed in range(2)]
    models[0].metadata["train_config"]["gain_db"] = 0.0  # recorded or not, the default
    models[1].metadata["train_config"]["deterministic"] = False  # scheduling, not the recipe
    models += [export("MEL_MEL", "mel", seed, "in_batch") for seed in range(2)]
    models[3].metadata["dataset"] = {"data_dir": "/moved/away"}  # uncounted, as unrecorded
    models += [export("MEL_SYM", "mel", 0), export("MEL_SYM", "roll", 0)]
    models += [export("SYM_SYM", "roll", seed) for seed in range(3)]
    more_data = [export("MEL_MEL", "mel", seed, "in_batch") for seed in range(2)]
    for model in more_data:  # the same settings on more clips: another recipe
        model.metadata["dataset"] = {"training_clips": 29927}
    models += more_data
    folders = ["paper-seed0", "paper-seed1", "in_batch-seed0", "in_batch-seed1"]
    folders += ["mel_sym-mel", "mel_sym-roll", "s0", "s1", "s2", "pretrain-seed0", "pretrain-seed1"]
    paths = [Path("runs") / folder for folder in folders]
    names = [f"row {index}" for index in range(len(models))]

    rows = variant_rows(models, names, paths)

    assert rows == {
        "MEL_MEL (paper)": ["row 0", "row 1"],
        "MEL_MEL (in_batch)": ["row 2", "row 3"],
        "row 4": ["row 4"],  # one export keeps its own name
        "row 5": ["row 5"],
        "SYM_SYM": ["row 6", "row 7", "row 8"],
        "MEL_MEL (pretrain)": ["row 9", "row 10"],
    }


def test_models_in_training_folders_get_unique_row_names() -> None:
    paths = [Path(f"runs/{run}/saved_model") for run in ("a", "b")]
    paths += [Path("x/seed1"), Path("y/seed1"), Path("elsewhere/saved_model")]
    variants = ["SYM_SYM", "SYM_SYM", "MEL_MEL", "MEL_MEL", "MEL_SYM"]

    names = _row_names(paths, variants)

    assert names == [
        "SYM_SYM (a)",  # the run folder names an export at RUN/saved_model
        "SYM_SYM (b)",
        "MEL_MEL (x/seed1)",  # as many folders as tell them apart
        "MEL_MEL (y/seed1)",
        "MEL_SYM",
    ]
    with pytest.raises(EvaluationError, match="given twice"):
        _row_names([Path("runs/a/saved_model"), Path("runs/a/../a/saved_model")], variants[:2])
    joint = [Path("runs/j/saved_model")] * 2  # a joint export's two towers: one path, two rows
    assert _row_names(joint, ["JOINT (mel)", "JOINT (roll)"]) == ["JOINT (mel)", "JOINT (roll)"]


def test_distinct_tails_name_each_path_by_the_fewest_folders_that_tell_it_apart() -> None:
    paths = [Path("runs/a/export"), Path("runs/b/export"), Path("x/a/seed1"), Path("y/a/seed1")]
    assert distinct_tails(paths) == ["a/export", "b/export", "x/a/seed1", "y/a/seed1"]
    assert distinct_tails([Path("one")]) == ["one"]


def test_seeds_exported_in_their_training_folders_make_one_row_named_after_the_run() -> None:
    models = [export("MEL_MEL", "mel", seed, "in_batch") for seed in range(2)]
    models += [export("MEL_MEL", "mel", seed) for seed in range(2)]
    runs = ["in_batch-seed0", "in_batch-seed1", "paper-seed0", "paper-seed1"]
    paths = [Path("runs") / run / "saved_model" for run in runs]

    rows = variant_rows(models, _row_names(paths, ["MEL_MEL"] * 4), paths)

    assert rows == {
        "MEL_MEL (in_batch)": ["MEL_MEL (in_batch-seed0)", "MEL_MEL (in_batch-seed1)"],
        "MEL_MEL (paper)": ["MEL_MEL (paper-seed0)", "MEL_MEL (paper-seed1)"],
    }


def test_exports_of_averaged_checkpoints_make_a_row_beside_the_runs_own_exports() -> None:
    models = [export("MEL_MEL", "mel", seed) for seed in range(4)]
    for model in models[2:]:
        model.metadata["averaged_checkpoints"] = ["ckpt-2600", "ckpt-2800", "ckpt-3000"]
    paths = [Path(f"runs/seed{seed}/saved_model") for seed in range(2)]
    paths += [Path(f"runs/seed{seed}/averaged") for seed in range(2)]

    rows = variant_rows(models, _row_names(paths, ["MEL_MEL"] * 4), paths)

    assert list(rows.values()) == [
        ["MEL_MEL (seed0)", "MEL_MEL (seed1)"],
        ["MEL_MEL (seed0/averaged)", "MEL_MEL (seed1/averaged)"],
    ]


def test_a_collection_of_one_composer_skips_the_composer_task(saved_models, tmp_path) -> None:
    from tfembed.preparation.prepare import prepare

    data = tmp_path / "data"
    prepare(
        data,
        corpus="music21",
        composers=("josquin",),
        pieces_per_composer=4,
        max_piece_seconds=60,
        workers=1,
    )
    out = tmp_path / "eval"
    argv = ["--saved_model", str(saved_models[0]), "--data", str(data), "--out", str(out)]
    assert eval_main([*argv, "--seeds", "1", "--bootstrap_rounds", "50"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert "one class only" in report["skipped_tasks"]["composer"]
    for row in report["metrics"].values():  # the model and the baselines
        assert {"rank_am", "key_micro_f1", "density_r2"} <= set(row)

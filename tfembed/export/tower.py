"""Exporting a trained tower, or both towers of a run, as a SavedModel with signatures and metadata.

Signatures of a one-tower export (core TensorFlow ops only, so the export loads
with plain ``tf.saved_model.load`` without tfembed or tensorflow-io):

* ``serve``: ``clips`` float32 ``[batch, frames, bins]`` -> float32 ``[batch, 128]``;
* ``embed_audio`` (mel towers only): ``audio`` float32 ``[samples]``, mono at the
  grid's sample rate (16 kHz), any level -> float32 ``[clips, 128]``: the audio
  is peak-normalised, its log-mel computed exactly as in preparation, and cut
  into consecutive 3-second windows, the last one padded with silence;
* ``audio_windows`` (mel towers only): ``audio`` and ``hop_frames`` (int32) ->
  ``embedding`` ``[windows, 128]``, ``start_frame`` ``[windows]`` and ``padded``
  ``[windows]``: the same with windows every ``hop_frames`` frames.

The SavedModel also holds ``sample_rate``, an int32 variable (16000): the rate
the audio signatures expect. They cannot tell the rate of what they are given,
so a plain TensorFlow user resamples first, e.g. with
``scipy.signal.resample_poly(audio, 16000 // g, rate // g)`` where
``g = math.gcd(16000, rate)`` (what ``tfembed.load(...).embed_audio`` does), or
``librosa.resample(audio, orig_sr=rate, target_sr=16000)``. Audio at 44.1 kHz
given as is would be read as 2.76 times longer and an octave and a half lower.

A joint export (``tower="both"``, for runs whose towers read different domains,
``MEL_SYM`` and ``SYM_MEL``) holds both towers, which embed into one space:

* ``serve_mel`` and ``serve_roll``: clips of each domain -> ``[batch, 128]``;
* ``embed_audio`` and ``audio_windows``: as above, through the mel tower;
* ``embed_roll``: ``roll`` float32 ``[frames, pitches]``, a whole piano roll on
  the frame grid, any length -> ``[clips, 128]``, consecutive clip-long windows,
  the last one padded with silence (zeros); ``roll_windows``: ``roll`` and
  ``hop_frames`` -> ``embedding``, ``start_frame``, ``padded``, as ``audio_windows``.

Its ``metadata.json`` has ``domain`` ``joint``, ``domains`` ``["mel", "roll"]``,
``towers`` (which of the run's towers reads each domain) and
``signature_domains`` (the input domain of each signature: ``mel``, ``roll`` or
``audio``).

A ``JOINT`` run trained with heads has two spaces. With shared-space heads
(``train.joint_shared_head``) the signatures above are each tower followed by
its head; with own-domain heads (``train.joint_own_head``) the features for
tasks within one domain are each tower followed by that head. The export then
adds ``features_mel`` and ``features_roll``: clips -> the features of their
domain (the towers' own outputs without own-domain heads). Its metadata names
them in ``feature_signatures`` (``{"mel": "features_mel", ...}``).

A joint export can also take each domain's features from a run trained within
that domain alone (``features_from``: a MEL_MEL run for ``features_mel``, a
SYM_SYM run for ``features_roll``), in place of the joint run's own. One
SavedModel then embeds audio and MIDI into one space and gives, for tasks
within one domain, features exactly as good as that domain's own model; the
metadata records those runs in ``feature_runs``.

``metadata.json`` beside it records the domain, frame grid, settings, the data
it was trained on, the checkpoint step and tool versions. The export is
written to a temporary sibling folder and renamed into place, so a reader sees
a whole export or none.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from tfembed.errors import ExportError, RunError
from tfembed.export.format import (
    JOINT,
    METADATA_NAME,
    claim_out,
    serve_signature,
    without_machine_paths,
)
from tfembed.export.tflite import TFLITE_NAME, write_tflite
from tfembed.features.framegrid import DOMAINS, FrameGrid
from tfembed.features.frontend import normalized_log_mel
from tfembed.features.windows import embed_windows, window_layout
from tfembed.models.siamese import JointModel, SiameseModel, variant_spec
from tfembed.training.config import TrainConfig
from tfembed.training.run_folder import RunFolder
from tfembed.training.trainer import build_model
from tfembed.utils.atomic import write_json_atomically
from tfembed.utils.versions import tool_versions

TOWERS = ("first", "second", "both")

AVERAGE = "average"
"""The checkpoint choice that exports the mean of the run's kept checkpoints (its last
three): every float variable averaged, batch-norm statistics included, as checkpoint
averaging in machine translation (Vaswani et al., 2017) and stochastic weight
averaging (Izmailov et al., 2018) do. Measured on the `joint` recipe at 4,000 steps,
three seeds: the mean of steps 3,600-4,000 found the same moment more often than the
best-validation checkpoint on average over the seeds, not on every seed (docs/results.md)."""


def load_trained(
    model_dir: str | os.PathLike, checkpoint: str = "best"
) -> tuple[SiameseModel, TrainConfig, FrameGrid, dict[str, Any], int]:
    """Rebuilds a run's siamese model from its ``run.json`` and a checkpoint.

    The caller's gin config is not touched: the run's settings are read from
    ``run.json``.

    Args:
        model_dir: The training run.
        checkpoint: ``best`` (the best validation metric: rank@100, a joint
            run's audio -> roll R@1; the latest one when the run has no
            validation), ``latest``, or ``average`` (:data:`AVERAGE`).

    Returns:
        The model, its settings, the frame grid, the run record and the step.

    Raises:
        RunError: Not a run, no checkpoint, or a checkpoint that lacks variables
            of the model ``run.json`` describes.
    """
    run = RunFolder.at(model_dir)
    return _load(run, run.checkpoint_paths(checkpoint))


def _load(
    run: RunFolder, paths: list[str]
) -> tuple[SiameseModel, TrainConfig, FrameGrid, dict[str, Any], int]:
    """:func:`load_trained` from the checkpoints ``paths`` (their mean if several)."""
    record = run.read_record()
    config = TrainConfig.from_dict(record["config"])
    grid = FrameGrid.from_dict(record["dataset"]["frame_grid"])
    model = build_model(config, grid)
    step = tf.Variable(0, dtype=tf.int64)
    _restore_mean(tf.train.Checkpoint(model=model, step=step), model, paths, run)
    return model, config, grid, record, int(step.numpy())


def _restore(saved: tf.train.Checkpoint, path: str, run: RunFolder) -> None:
    """Restores ``path``; refuses a checkpoint that lacks variables of the model."""
    status = saved.restore(path)
    try:
        status.assert_existing_objects_matched()
    except AssertionError as error:
        status.expect_partial()  # the error says it; no warning per value at exit
        unmatched = re.search(r"Found (\d+) Python objects", str(error))
        missing = f"{unmatched.group(1)} of its variables" if unmatched else "some of its variables"
        raise RunError(
            f"{path} does not hold the model that {run.record} describes: {missing} have no "
            "value there (was run.json edited, or the run trained by another tfembed version?)"
        ) from error
    status.expect_partial()  # the optimizer's slots are not needed


def _restore_mean(
    saved: tf.train.Checkpoint, model: keras.Model, paths: list[str], run: RunFolder
) -> None:
    """Restores ``paths``, one checkpoint or the mean of several (see :data:`AVERAGE`)."""
    _restore(saved, paths[0], run)
    if len(paths) == 1:
        return
    totals = [variable.numpy() for variable in model.variables]
    for path in paths[1:]:
        _restore(saved, path, run)
        values = [variable.numpy() for variable in model.variables]
        totals = [total + value for total, value in zip(totals, values, strict=True)]
    for variable, total in zip(model.variables, totals, strict=True):
        if tf.as_dtype(variable.dtype).is_floating:  # the rest keep the last checkpoint's
            variable.assign(total / len(paths))


WHOLE_INPUTS = {"mel": "audio", "roll": "roll"}
"""What the whole-input signatures of a tower take: audio for mel, a piano roll for roll."""


def _add_window_endpoints(
    archive: keras.export.ExportArchive, network: keras.Model, grid: FrameGrid, domain: str
) -> None:
    """Adds ``embed_<input>`` and ``<input>_windows``: a whole input cut into clip-long windows.

    The input is audio for a mel tower (its log-mel computed in the graph) and a
    piano roll for a roll tower; frames past the end are the domain's silence.
    """
    embedding_size = int(network.output.shape[-1])

    def windows(whole: tf.Tensor, hop_frames: tf.Tensor) -> dict[str, tf.Tensor]:
        frames = normalized_log_mel(whole, grid) if domain == "mel" else whole
        starts, padded = window_layout(tf.shape(frames)[0], grid.clip_frames, hop_frames)
        embedding = embed_windows(
            lambda clips: network(clips, training=False),
            frames,
            starts,
            grid.clip_frames,
            grid.silence(domain),
            embedding_size,
        )
        return {"embedding": embedding, "start_frame": starts, "padded": padded}

    # The argument names are those a plain TensorFlow caller gives as keywords.
    if domain == "mel":

        def whole_windows(audio: tf.Tensor, hop_frames: tf.Tensor) -> dict[str, tf.Tensor]:
            return windows(audio, hop_frames)

        def embed_whole(audio: tf.Tensor) -> tf.Tensor:
            return windows(audio, tf.constant(grid.clip_frames))["embedding"]

        whole_spec = tf.TensorSpec([None], tf.float32, name="audio")
    else:

        def whole_windows(roll: tf.Tensor, hop_frames: tf.Tensor) -> dict[str, tf.Tensor]:
            return windows(roll, hop_frames)

        def embed_whole(roll: tf.Tensor) -> tf.Tensor:
            return windows(roll, tf.constant(grid.clip_frames))["embedding"]

        whole_spec = tf.TensorSpec([None, grid.bins(domain)], tf.float32, name="roll")
    kind = WHOLE_INPUTS[domain]
    archive.add_endpoint(
        f"{kind}_windows",
        whole_windows,
        input_signature=[whole_spec, tf.TensorSpec([], tf.int32, name="hop_frames")],
    )
    archive.add_endpoint(f"embed_{kind}", embed_whole, input_signature=[whole_spec])


def _replace_folder(written: Path, out: Path) -> None:
    """Moves a finished export onto ``out``, replacing an earlier export there."""
    if out.exists():
        previous = _sibling(out, "old")
        out.rename(previous)
        written.rename(out)
        shutil.rmtree(previous)
    else:
        written.rename(out)


def export_tower(
    model_dir: str | os.PathLike,
    out: str | os.PathLike,
    tower: str = "first",
    checkpoint: str = "best",
    tflite: bool = False,
    features_from: Sequence[str | os.PathLike] = (),
) -> Path:
    """Exports the test-time tower (``first``), the other one (``second``) or ``both``.

    Args:
        model_dir: The training run.
        out: SavedModel folder to write (new, empty, or an earlier export).
        tower: ``first`` (the test-time tower: mel for MEL_SYM, roll for SYM_MEL),
            ``second``, or ``both`` (a joint export of a run whose towers read
            different domains; see the module docstring).
        checkpoint: ``best`` (the best validation metric), ``latest``, or
            ``average`` (:data:`AVERAGE`; ``metadata.json`` names the checkpoints).
        tflite: Also write ``model.tflite``, the TFLite conversion of ``serve``
            (of ``serve_mel`` and ``serve_roll``, two signatures of one file, for ``both``).
        features_from: With ``both``: runs of one domain (MEL_MEL, SYM_SYM) whose
            test-time tower, at its best checkpoint, gives the features of that
            domain (``features_mel``, ``features_roll``) in place of the joint
            run's; at most one per domain.

    Returns:
        The SavedModel folder.

    Raises:
        RunError: Not a run, or no checkpoint.
        ExportError: ``out`` cannot take the export, ``both`` was asked of a
            run whose towers read one domain, or ``features_from`` holds a
            joint run, a run on another frame grid, two runs of one domain, or
            is given without ``both``.
    """
    if tower not in TOWERS:
        raise ExportError(f"tower must be 'first', 'second' or 'both', not {tower!r}")
    out = Path(out)
    claim_out(out)
    run = RunFolder.at(model_dir)
    paths = run.checkpoint_paths(checkpoint)
    model, config, grid, record, step = _load(run, paths)
    spec = variant_spec(config.variant)
    if tower == "both" and spec.first == spec.second:
        raise ExportError(
            f"{model_dir}: exporting both towers needs a run whose towers read different "
            f"domains, such as MEL_SYM; this {config.variant} run has one tower, reading "
            f"{spec.first}: export it with --tower first"
        )
    if features_from and tower != "both":
        raise ExportError("features from other runs are for a joint export (--tower both)")
    feature_towers, feature_runs = _feature_towers(features_from, grid, model_dir)
    if step == 0:
        print(
            f"tfembed-export: warning: {model_dir} was never trained (step 0); "
            "the export holds random weights",
            file=sys.stderr,
        )
    metadata = _metadata(run, config, grid, record, step, checkpoint)
    if checkpoint == AVERAGE:
        metadata["averaged_checkpoints"] = [Path(path).name for path in paths]
    if tower == "both":
        towers = {spec.first: "first", spec.second: "second"}
        networks = _networks_into(model, towers, "shared")
        features = {**_networks_into(model, towers, "own"), **feature_towers}
        archive = _joint_archive(networks, grid)
        signatures = _joint_signatures()
        if any(networks[domain] is not features[domain] for domain in DOMAINS):
            feature_signatures = _add_feature_endpoints(archive, features, grid)
            signatures.update({name: domain for domain, name in feature_signatures.items()})
            metadata.update(feature_signatures=feature_signatures)
        if feature_runs:
            metadata.update(feature_runs=feature_runs)
        metadata.update(
            domain=JOINT,
            domains=list(DOMAINS),
            tower=tower,
            towers={domain: towers[domain] for domain in DOMAINS},
            embedding_size=int(networks["mel"].output.shape[-1]),  # both: one space
            signatures=list(signatures),
            signature_domains=signatures,
        )
        served = tuple(serve_signature(domain, joint=True) for domain in DOMAINS)
    else:
        network = _network(model, tower)
        domain = spec.first if tower == "first" else spec.second
        archive = _archive(network, grid, domain)
        metadata.update(
            domain=domain,
            tower=tower,
            embedding_size=int(network.output.shape[-1]),
            signatures=list(SIGNATURES[domain]),
        )
        served = (serve_signature(domain, joint=False),)
    tflite_signatures = served if tflite else ()
    _write_export(out, lambda staging: _write_files(archive, staging, metadata, tflite_signatures))
    return out


def _feature_towers(
    runs: Sequence[str | os.PathLike], grid: FrameGrid, model_dir: str | os.PathLike
) -> tuple[dict[str, keras.Model], dict[str, dict[str, Any]]]:
    """The test-time towers of one-domain runs, by domain, and what metadata records of each.

    Args:
        runs: Training runs; each one's first tower reads one domain.
        grid: The joint run's frame grid, which every run must share.
        model_dir: The joint run (named in errors).

    Raises:
        ExportError: A joint run, another frame grid, or two runs of one domain.
    """
    towers, records = {}, {}
    for run in runs:
        model, config, run_grid, record, step = load_trained(run)
        spec = variant_spec(config.variant)
        if spec.joint:
            raise ExportError(
                f"{run}: features come from a run within one domain (MEL_MEL, SYM_SYM), "
                "not from a JOINT run"
            )
        if run_grid != grid:
            raise ExportError(
                f"{run}: its frame grid differs from that of {model_dir}; the features of a "
                "joint export must read the same clips as its towers"
            )
        if spec.first in towers:
            raise ExportError(f"{run}: a second run for the {spec.first} features; give one")
        towers[spec.first] = model.first_tower
        records[spec.first] = without_machine_paths(
            {
                "model_dir": str(Path(run).resolve()),
                "variant": config.variant,
                "checkpoint": "best",
                "checkpoint_step": step,
                "train_config": config.to_dict(),
                "dataset": record["dataset"],
            }
        )
    return towers, records


def _network(model: SiameseModel, tower: str) -> keras.Model:
    """The run's ``first`` or ``second`` tower."""
    return model.first_tower if tower == "first" else model.second_tower


def _networks_into(
    model: SiameseModel, towers: dict[str, str], space: str
) -> dict[str, keras.Model]:
    """Each domain's network into ``space``: its tower, then that space's head if any.

    Args:
        model: The run's model.
        towers: Which of the run's towers (``first``, ``second``) reads each domain.
        space: ``shared`` (the space both domains share, where the cross-domain
            terms act) or ``own`` (the features of the tower's own domain).

    Returns:
        The towers themselves where the model has no head for ``space``.
    """
    networks = {domain: _network(model, tower) for domain, tower in towers.items()}
    if not isinstance(model, JointModel):
        return networks
    heads = model.shared_heads if space == "shared" else model.own_heads
    if heads is None:
        return networks
    into = model.to_shared_space if space == "shared" else model.to_own_space
    for domain, tower in list(networks.items()):
        clips = keras.Input(tower.input.shape[1:], name=f"{domain}_clips")
        side = 0 if towers[domain] == "first" else 1
        networks[domain] = keras.Model(clips, into(tower(clips), side), name=f"{domain}_{space}")
    return networks


def _add_feature_endpoints(
    archive: keras.export.ExportArchive, towers: dict[str, keras.Model], grid: FrameGrid
) -> dict[str, str]:
    """Adds ``features_<domain>``: clips -> that domain's features. Returns the names by domain."""
    names = {}
    for domain, tower in towers.items():
        names[domain] = f"features_{domain}"
        clip_spec = tf.TensorSpec([None, *grid.clip_shape(domain)], tf.float32, name="clips")
        archive.add_endpoint(names[domain], _serving(tower), input_signature=[clip_spec])
    return names


def _metadata(
    run: RunFolder,
    config: TrainConfig,
    grid: FrameGrid,
    record: dict[str, Any],
    step: int,
    checkpoint: str,
) -> dict[str, Any]:
    """What ``metadata.json`` records of the run (no path of the machine that built it)."""
    return without_machine_paths(
        {
            "variant": config.variant,
            "sample_rate": grid.sample_rate,
            "frame_grid": grid.to_dict(),
            "train_config": config.to_dict(),
            "operative_config": run.operative_config.read_text()
            if run.operative_config.is_file()
            else "",
            "model_dir": str(run.path.resolve()),
            "checkpoint": checkpoint,
            "checkpoint_step": step,
            "dataset": record["dataset"],
            "versions": tool_versions(),
        }
    )


SIGNATURES = {"mel": ("serve", "embed_audio", "audio_windows"), "roll": ("serve",)}
"""The signatures of a one-tower export, by domain."""


def _joint_signatures() -> dict[str, str]:
    """The signatures of a joint export, each with the domain of its input (``audio`` for audio)."""
    signatures = {serve_signature(domain, joint=True): domain for domain in DOMAINS}
    for domain in DOMAINS:
        kind = WHOLE_INPUTS[domain]
        signatures.update({f"embed_{kind}": kind, f"{kind}_windows": kind})
    return signatures


def _serving(network: keras.Model):
    """The clip signature's function of a tower: ``clips`` -> embeddings."""
    return lambda clips: network(clips, training=False)


def _archive(network: keras.Model, grid: FrameGrid, domain: str) -> keras.export.ExportArchive:
    """The tower with its signatures (``serve``; for mel towers the audio ones too)."""
    archive = keras.export.ExportArchive()
    archive.track(network)
    clip_spec = tf.TensorSpec([None, *grid.clip_shape(domain)], tf.float32, name="clips")
    archive.add_endpoint("serve", _serving(network), input_signature=[clip_spec])
    if domain == "mel":
        _add_window_endpoints(archive, network, grid, domain)
    return archive


def _joint_archive(networks: dict[str, keras.Model], grid: FrameGrid) -> keras.export.ExportArchive:
    """Both towers with their signatures (``serve_mel`` first: the ``serving_default``)."""
    archive = keras.export.ExportArchive()
    for network in networks.values():
        archive.track(network)
    for domain, network in networks.items():
        clip_spec = tf.TensorSpec([None, *grid.clip_shape(domain)], tf.float32, name="clips")
        archive.add_endpoint(
            serve_signature(domain, joint=True), _serving(network), input_signature=[clip_spec]
        )
    for domain, network in networks.items():
        _add_window_endpoints(archive, network, grid, domain)
    return archive


def _write_files(
    archive: keras.export.ExportArchive,
    folder: Path,
    metadata: dict[str, Any],
    tflite_signatures: tuple[str, ...],
) -> None:
    """Writes the SavedModel with its ``sample_rate``, ``model.tflite`` if asked, the metadata.

    ``model.tflite`` holds the conversion of ``tflite_signatures`` (none: no file).
    """
    written = _sibling(folder, "keras")
    try:
        archive.write_out(str(written), verbose=False)
        add_sample_rate(written, folder, metadata["sample_rate"])
    finally:
        if written.exists():
            shutil.rmtree(written)
    if tflite_signatures:
        write_tflite(folder, folder / TFLITE_NAME, tflite_signatures)
    write_json_atomically(folder / METADATA_NAME, metadata)


def add_sample_rate(source: str | os.PathLike, out: str | os.PathLike, sample_rate: int) -> None:
    """Saves the SavedModel ``source`` again as ``out`` with a ``sample_rate`` attribute.

    ``tf.saved_model.load(out).sample_rate`` is then an int32 variable holding
    the rate in Hz that the audio signatures expect, readable by any TensorFlow
    program. Signatures, functions and weights are those of ``source``: the
    outputs are the same bit for bit.
    """
    loaded = tf.saved_model.load(str(source))
    loaded.sample_rate = tf.Variable(
        int(sample_rate), trainable=False, dtype=tf.int32, name="sample_rate"
    )
    tf.saved_model.save(loaded, str(out), signatures=dict(loaded.signatures))


def _write_export(out: Path, write: Callable[[Path], None]) -> None:
    """Has ``write`` fill a staged folder beside ``out``, then puts it in place of ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = _sibling(out, "tmp")
    staging.mkdir(mode=0o777)  # the mode less the umask, like any folder a user makes
    try:
        write(staging)
        _replace_folder(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def _sibling(out: Path, kind: str) -> Path:
    """An unused hidden path beside ``out`` for a staged or a replaced export."""
    return out.parent / f".{out.name}.{kind}.{os.getpid()}.{uuid.uuid4().hex[:8]}"

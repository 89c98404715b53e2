"""Fuzzes preparation's per-piece path with mutated real MIDI files.

Each mutant of a real MIDI file (bit flips, truncations, chunk lengths set to
other values, inserted or deleted bytes, scrambled meta events) goes through what
``tfembed-prepare`` does with one file: parse, clean, piano roll and labels of
every clip; one mutant in ``--render_every`` is also rendered and cut into clips
(``prepare_piece``), which takes about a second. Inputs run in a worker process
with a per-input timeout, so a hang is seen and the run goes on.

An input is *handled* when it is prepared or refused with a ``PieceError`` /
``TfembedError`` (the message the user sees); any other exception is a *crash*,
and running past the timeout a *hang*. Crashing and hanging mutants are saved in
``--out`` to reproduce them; the counts go to ``--out/fuzz_midi.json``.

Usage::

    python tools/experiments/fuzz_midi.py --mutants 10000 --out /tmp/fuzz
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import re
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

MUTATIONS = ("bit_flips", "truncation", "chunk_length", "insertion", "deletion", "meta_scramble")


DEFAULT_SEED_BYTES = 32_000
"""Default seed files are at most this big: one larger file (67 KB, 6,000 notes)
takes a second to parse and would take half the run's time."""


def default_seeds() -> list[Path]:
    """Real MIDI files shipped with music21 (its MIDI test files, from several programs)."""
    import music21

    folder = Path(music21.__file__).parent / "midi" / "testPrimitive"
    return sorted(
        path for path in folder.glob("*.mid") if path.stat().st_size <= DEFAULT_SEED_BYTES
    )


def mutate(data: bytes, kind: str, rng: random.Random) -> bytes:
    """Returns a mutant of ``data`` made with one kind of mutation."""
    buffer = bytearray(data)
    if kind == "bit_flips":
        for _ in range(rng.randint(1, 8)):
            position = rng.randrange(len(buffer))
            buffer[position] ^= 1 << rng.randrange(8)
    elif kind == "truncation":
        del buffer[rng.randrange(len(buffer)) :]
    elif kind == "chunk_length":
        starts = [i for i in range(len(buffer) - 8) if buffer[i : i + 4] in (b"MThd", b"MTrk")]
        start = rng.choice(starts) if starts else 0
        length = int.from_bytes(buffer[start + 4 : start + 8], "big")
        new = rng.choice(
            [
                0,
                1,
                5,
                length - rng.randint(1, 16),
                length + rng.randint(1, 16),
                2**31 - 1,
                2**32 - 1,
            ]
        )
        buffer[start + 4 : start + 8] = (new % 2**32).to_bytes(4, "big")
    elif kind == "insertion":
        position = rng.randrange(len(buffer) + 1)
        buffer[position:position] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    elif kind == "deletion":
        position = rng.randrange(len(buffer))
        del buffer[position : position + rng.randint(1, 16)]
    else:  # meta_scramble: garble the type, length or payload of a meta event
        metas = [i for i in range(len(buffer) - 3) if buffer[i] == 0xFF]
        if metas:
            start = rng.choice(metas)
            for offset in range(1, rng.randint(2, 6)):
                if start + offset < len(buffer):
                    buffer[start + offset] = rng.randrange(256)
    return bytes(buffer)


def run_one(job: tuple[bytes, bool, str]) -> tuple[str, str]:
    """Runs one input through the per-piece path; returns ``(outcome, detail)``.

    Runs in the worker process; the outcome is ``prepared``, ``refused`` or ``crash``.
    """
    import os
    import tempfile

    import numpy as np

    from tfembed.errors import TfembedError
    from tfembed.features.framegrid import DEFAULT_GRID
    from tfembed.features.pianoroll import piano_roll
    from tfembed.preparation.labels import key_signature_at, tempo_at
    from tfembed.preparation.midi import clean_sequence, parse_midi
    from tfembed.preparation.piece import PieceInfo, prepare_piece
    from tfembed.preparation.prepare import DEFAULT_MAX_PIECE_SECONDS

    data, render, soundfont = job
    handle, name = tempfile.mkstemp(suffix=".mid")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        parsed = parse_midi(name)
        cleaned = clean_sequence(parsed.sequence, DEFAULT_MAX_PIECE_SECONDS)
        if render:
            info = PieceInfo("fuzz", 0, "fuzz", "train", parsed.tempo_explicit)
            prepared = prepare_piece(
                cleaned, info, DEFAULT_GRID, [(soundfont, cleaned.performance())]
            )
            return "prepared", f"{len(prepared.records)} clips (rendered)"
        grid = DEFAULT_GRID
        frames = int(cleaned.sequence.total_time * grid.frames_per_second)
        roll = piano_roll(cleaned.sequence, grid, frames)
        for start in np.arange(0, frames, grid.clip_frames) / grid.frames_per_second:
            key_signature_at(cleaned.sequence, start)
            tempo_at(cleaned.sequence, start)
        return "prepared", f"{roll.shape[0]} frames"
    except TfembedError as error:
        return "refused", str(error)
    except Exception as error:
        return "crash", "".join(traceback.format_exception(error))
    finally:
        os.unlink(name)


def _init_worker() -> None:
    import warnings

    warnings.filterwarnings("ignore")  # pretty_midi warns about odd files; outcomes are counted


def _warm_up() -> None:
    """Imports what :func:`run_one` uses (TensorFlow included: seconds, more on a busy machine)."""
    import importlib

    for module in ("tfembed.preparation.piece", "tfembed.preparation.prepare"):
        importlib.import_module(module)


def _new_pool(context) -> multiprocessing.pool.Pool:
    """A one-worker pool, warmed up so that import time is not counted against an input."""
    pool = context.Pool(1, initializer=_init_worker)
    pool.apply(_warm_up)
    return pool


def fuzz(
    seeds: list[Path],
    mutants: int,
    out: Path,
    seed: int,
    timeout: float,
    render_every: int,
    soundfont: str,
) -> dict:
    """Runs ``mutants`` mutants of the ``seeds`` files; returns the counts (also in ``out``)."""
    rng = random.Random(seed)
    originals = [(path, path.read_bytes()) for path in seeds]
    context = multiprocessing.get_context("spawn")
    pool = _new_pool(context)
    outcomes: Counter = Counter()
    by_mutation: dict[str, Counter] = {kind: Counter() for kind in MUTATIONS}
    refusals: Counter = Counter()
    examples = []
    rendered = 0
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    try:
        for index in range(mutants):
            path, original = rng.choice(originals)
            kind = rng.choice(MUTATIONS)
            data = mutate(original, kind, rng)
            render = render_every > 0 and index % render_every == 0
            rendered += render
            try:
                outcome, detail = pool.apply_async(run_one, ((data, render, soundfont),)).get(
                    timeout
                )
            except multiprocessing.TimeoutError:
                outcome, detail = "hang", f"no answer within {timeout} s"
                pool.terminate()
                pool = _new_pool(context)
            outcomes[outcome] += 1
            by_mutation[kind][outcome] += 1
            if outcome == "refused":
                refusals[re.sub(r"0x[0-9a-f]+|b'.*'|[\d,]+", "N", detail)[:80]] += 1
            elif outcome in ("crash", "hang"):
                saved = out / f"{outcome}-{index:05d}-{path.stem}-{kind}.mid"
                saved.write_bytes(data)
                examples.append({"input": str(saved), "outcome": outcome, "detail": detail})
            if (index + 1) % 500 == 0:
                print(f"{index + 1} mutants, {dict(outcomes)}", file=sys.stderr, flush=True)
    finally:
        pool.terminate()
    result = {
        "inputs_tried": mutants,
        "handled": outcomes["prepared"] + outcomes["refused"],
        "prepared": outcomes["prepared"],
        "refused_cleanly": outcomes["refused"],
        "crashes": outcomes["crash"],
        "hangs": outcomes["hang"],
        "rendered": rendered,
        "seed": seed,
        "timeout_seconds": timeout,
        "seed_files": [str(path) for path in seeds],
        "by_mutation": {kind: dict(counter) for kind, counter in by_mutation.items()},
        "most_common_refusals": dict(refusals.most_common(15)),
        "examples": examples[:50],
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    (out / "fuzz_midi.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def print_table(result: dict) -> None:
    """Prints the counts, overall and per mutation."""
    columns = ("prepared", "refused", "crash", "hang")
    print(f"{'mutation':<14}" + "".join(f"{column:>10}" for column in columns))
    for kind, counter in result["by_mutation"].items():
        print(f"{kind:<14}" + "".join(f"{counter.get(column, 0):>10}" for column in columns))
    print(
        f"\ninputs tried {result['inputs_tried']}, handled {result['handled']} "
        f"(prepared {result['prepared']}, refused cleanly {result['refused_cleanly']}), "
        f"crashes {result['crashes']}, hangs {result['hangs']}; "
        f"{result['rendered']} rendered; {result['wall_seconds']} s"
    )


def main(argv: list[str] | None = None) -> int:
    """Runs the fuzzer; exits 1 if any input crashed or hung."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mutants", type=int, default=1000, help="inputs to try")
    parser.add_argument("--out", type=Path, required=True, help="folder for the JSON and repros")
    parser.add_argument("--seeds", type=Path, nargs="*", help="MIDI files to mutate")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per input")
    parser.add_argument(
        "--render_every", type=int, default=100, help="render one mutant in N (0: never)"
    )
    parser.add_argument("--soundfont", help="soundfont for rendered mutants")
    args = parser.parse_args(argv)
    from tfembed.preparation.render import find_soundfont

    seeds = args.seeds or default_seeds()
    if not seeds:
        parser.error("no seed MIDI files: give --seeds FILE ...")
    soundfont = str(find_soundfont(args.soundfont))
    result = fuzz(
        seeds, args.mutants, args.out, args.seed, args.timeout, args.render_every, soundfont
    )
    print_table(result)
    print(f"details: {args.out / 'fuzz_midi.json'}")
    return 1 if result["crashes"] or result["hangs"] else 0


if __name__ == "__main__":
    sys.exit(main())

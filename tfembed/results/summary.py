"""A small, committed summary of an evaluation, with its provenance.

It keeps the figures of a ``report.json`` with the date, commit, command and
machine that produced them.
"""

from __future__ import annotations

import datetime
import os
import subprocess
from pathlib import Path
from typing import Any

REPORT_KEYS = (
    "rows",
    "seeds",
    "train_stride",
    "bootstrap_rounds",
    "counts",
    "test_works",
    "test_pieces",
    "skipped_tasks",
    "probe_protocol",
    "probe_choices",
    "metrics",
    "significance",
    "against_random_tower",
    "against_hand_made",
)
"""What a summary keeps of ``report.json`` (no paths, embeddings, plots or timings)."""

VECTOR_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16")
"""CPU flags a measurement names: they decide which kernels TensorFlow runs."""


def machine(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> dict[str, Any]:
    """CPU model, core count and vector flags of this machine.

    Args:
        cpuinfo: Linux's CPU description; elsewhere the model is unknown and no flag is listed.

    Returns:
        ``{"cpu": str, "cores": int, "flags": [str]}``.
    """
    model, flags = "unknown CPU", set()
    path = Path(cpuinfo)
    if path.is_file():
        for line in path.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model == "unknown CPU":
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    return {
        "cpu": model,
        "cores": os.cpu_count() or 1,
        "flags": [flag for flag in VECTOR_FLAGS if flag in flags],
    }


def head_commit(repo: str | os.PathLike) -> str:
    """The commit checked out in ``repo`` (``unknown`` outside a git checkout)."""
    try:
        result = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return result.stdout.strip()


def provenance(
    command: str, commit: str, date: str | None = None, cpu: dict[str, Any] | None = None
) -> dict[str, Any]:
    """What every measurement states: its date, commit, command and machine."""
    return {
        "date": date or datetime.date.today().isoformat(),
        "commit": commit,
        "command": command,
        "machine": cpu or machine(),
    }


def summarize(report: dict[str, Any], title: str, data: str, origin: dict[str, Any]) -> dict:
    """The committed summary of one ``tfembed-eval`` report.

    Args:
        report: ``report.json`` as ``tfembed-eval`` wrote it.
        title: A heading for the tables written from it.
        data: The evaluated dataset as a reader would name it (``data/default``), not
            a local path.
        origin: :func:`provenance` of the evaluation.

    Returns:
        A JSON-ready dict: ``title``, ``data``, ``provenance`` and ``report`` (the
        report's figures, in the form :func:`tfembed.evaluation.report.markdown` reads;
        exports named by their folder, no local path).
    """
    kept = {key: report[key] for key in REPORT_KEYS if key in report}
    kept["rows"] = [
        {
            **row,
            **(
                {
                    "exports": [
                        {**export, "saved_model": Path(export["saved_model"]).name}
                        for export in row["exports"]
                    ]
                }
                if "exports" in row
                else {}
            ),
        }
        for row in report["rows"]
    ]
    kept.update(data=data, plots=[])
    return {"title": title, "data": data, "provenance": origin, "report": kept}

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

from tfembed.utils.machine import this_machine

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

"""CPU flags a measurement names: they decide which kernels TensorFlow runs."""


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
        "machine": cpu or this_machine().to_dict(),
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

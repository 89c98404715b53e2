"""The demo benchmark's parts: the stage times tools/demo.sh prints.

Its rows from a real report are tested with the report of test_evaluate.py.
"""

from __future__ import annotations

import re

import pytest
from tool_scripts import TOOLS, load_tool

bench_demo = load_tool("benchmarks/bench_demo.py")


def test_the_stage_times_are_read_as_demo_sh_prints_them() -> None:
    script = (TOOLS / "demo.sh").read_text()
    assert 'echo "   $1 took $((SECONDS - stage_started)) s"' in script
    assert re.findall(r'^stage_done "(.+)"$', script, re.MULTILINE) == list(bench_demo.STAGES)
    stages = enumerate(bench_demo.STAGES, 7)
    printed = "".join(f"== stage\n   {stage} took {seconds} s\n" for seconds, stage in stages)
    assert bench_demo.stage_seconds(f"{printed}all three stages took 30 s\n") == {
        "preparation": 7,
        "training_and_export": 8,
        "evaluation": 9,
        "all_stages": 24,
    }


def test_a_stage_without_its_time_is_an_error() -> None:
    with pytest.raises(ValueError, match="no time for its training and export stage"):
        bench_demo.stage_seconds("   preparation took 5 s\n")

"""The training benchmark's parts: FLOP counts, the machine's description, interleaved rounds."""

import pytest

from tfembed.models.towers import build_tower
from tfembed.training.benchmark import (
    Rounds,
    forward_flops,
    profiler_forward_flops,
    training_flops_per_pair,
)
from tfembed.utils.machine import this_machine


def test_default_tower_flops():
    tower = build_tower("mel_tower")
    # 3x3 convolutions 1-16-32-64-64-128 on 192x96, each halving both axes, then 128 -> 128.
    convolutions = [
        (192 * 96, 1, 16),
        (96 * 48, 16, 32),
        (48 * 24, 32, 64),
        (24 * 12, 64, 64),
        (12 * 6, 64, 128),
    ]
    expected = sum(2 * cells * 9 * inputs * outputs for cells, inputs, outputs in convolutions)
    expected += 2 * 128 * 128
    assert forward_flops(tower) == expected
    assert round(expected / 1e6, 1) == 122.1
    assert training_flops_per_pair(tower, tower) == 6 * expected
    # TensorFlow's profiler counts every op; batch norm, ReLU and pooling add a little.
    assert expected < profiler_forward_flops(tower) < 1.05 * expected


def test_machine_description(monkeypatch):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    machine = this_machine()
    assert machine.cores >= 1 and machine.cpu_model
    assert machine.onednn_isa == "AVX2"
    assert not machine.native_bf16  # capped at AVX2, whatever the CPU has
    assert "oneDNN kernels capped at AVX2" in machine.describe()


def test_rounds_interleave_and_ratio():
    calls = []

    def entry(name, value):
        def measure():
            calls.append(name)
            return value

        return measure

    rounds = Rounds()
    rounds.run({"peak": entry("peak", 100.0), "step": entry("step", 40.0)}, rounds=3)
    assert calls == ["peak", "step"] * 3
    assert rounds.summary("step") == {"median": 40.0, "min": 40.0, "max": 40.0, "rounds": 3}
    assert rounds.ratio("step", "peak")["median"] == pytest.approx(0.4)

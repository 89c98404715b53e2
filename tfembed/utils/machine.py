"""The CPU a measurement ran on: model, cores, vector flags and oneDNN's ISA cap."""

from __future__ import annotations

import dataclasses
import os
import platform
from pathlib import Path
from typing import Any

VECTOR_FLAGS = (
    "avx2",
    "fma",
    "avx512f",
    "avx512_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_bf16",
)
"""The CPU flags (as ``/proc/cpuinfo`` spells them) that decide TensorFlow's CPU kernels."""

ISA_CAP_VARIABLE = "ONEDNN_MAX_CPU_ISA"
"""oneDNN's cap on the instruction sets its kernels use (e.g. ``AVX2`` on an AVX-512 CPU)."""


@dataclasses.dataclass(frozen=True)
class Machine:
    """The CPU a measurement ran on.

    Attributes:
        cpu_model: ``model name`` of ``/proc/cpuinfo`` (the platform's processor elsewhere).
        cores: Logical CPUs this process may use.
        flags: Those of :data:`VECTOR_FLAGS` the CPU has.
        onednn_isa: ``ONEDNN_MAX_CPU_ISA`` when set (oneDNN kernels capped to it), else ``""``.
    """

    cpu_model: str
    cores: int
    flags: tuple[str, ...]
    onednn_isa: str

    @property
    def native_bf16(self) -> bool:
        """Whether oneDNN may use bfloat16 instructions (the CPU has them and no cap hides them)."""
        has = "avx512_bf16" in self.flags or "amx_bf16" in self.flags
        cap = self.onednn_isa.upper()
        return has and (not cap or "BF16" in cap or "AMX" in cap or cap == "ALL")

    def describe(self) -> str:
        """One line: model, cores, flags and the ISA cap."""
        return describe_machine(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {**dataclasses.asdict(self), "flags": list(self.flags)}


def describe_machine(machine: dict[str, Any] | str) -> str:
    """``AMD EPYC, 2 cores, flags avx2 fma`` (and the ISA cap); a machine given as text as is."""
    if isinstance(machine, str):
        return machine
    flags = " ".join(machine["flags"]) or "none"
    cap = machine.get("onednn_isa")
    capped = f"; oneDNN kernels capped at {cap}" if cap else ""
    return f"{machine['cpu_model']}, {machine['cores']} cores, flags {flags}{capped}"


def this_machine(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> Machine:
    """The :class:`Machine` this process runs on.

    Args:
        cpuinfo: Linux's CPU description; elsewhere the platform's processor and no flags.
    """
    model, flags = platform.processor() or platform.machine(), set()
    path = Path(cpuinfo)
    if path.is_file():
        for line in path.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return Machine(
        model,
        int(cores or 1),
        tuple(flag for flag in VECTOR_FLAGS if flag in flags),
        os.environ.get(ISA_CAP_VARIABLE, ""),
    )

"""The peak resident memory of this process."""

from __future__ import annotations

from pathlib import Path


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (0 where unknown).

    Read from ``VmHWM`` in ``/proc/self/status``: unlike ``ru_maxrss``, it is not
    inherited from the parent through fork and exec, so it is the process's own.
    """
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0

"""Console entry points: thin wrappers over library functions."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

# TensorFlow's C++ start-up chatter (CPU features, missing CUDA) hides our own messages.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

USAGE_ERROR = 2
"""Exit status of a bad option or config (as argparse exits on a bad command line)."""
ERROR = 1
"""Exit status of any other error a user can cause."""


def run_reporting_errors(program: str, body: Callable[[], int]) -> int:
    """Runs a command's body; an error a user caused becomes one line, not a traceback.

    Every :class:`tfembed.errors.TfembedError` is printed as
    ``PROGRAM: error: MESSAGE`` on stderr; the exit status is 2 for a bad option
    or config and 1 otherwise.
    """
    from tfembed.errors import ConfigError, TfembedError

    try:
        return body()
    except TfembedError as error:
        print(f"{program}: error: {error}", file=sys.stderr)
        return USAGE_ERROR if isinstance(error, ConfigError) else ERROR


def add_version(parser: argparse.ArgumentParser) -> None:
    """Adds ``--version``: prints ``PROGRAM VERSION`` and exits 0 (no TensorFlow loaded)."""
    from tfembed import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")

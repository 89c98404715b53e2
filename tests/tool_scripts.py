"""Loads a script under ``tools/`` as a module, for tests of its functions."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

TOOLS = Path(__file__).resolve().parents[1] / "tools"


def load_tool(relative_path: str) -> ModuleType:
    """Imports ``tools/<relative_path>`` (for example ``examples/embed_folder.py``)."""
    path = TOOLS / relative_path
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

"""The versions of the tools that wrote a dataset, a run or an export."""

from __future__ import annotations

import platform
from importlib import metadata

CORE_PACKAGES = ("tfembed", "tensorflow", "tensorflow-cpu", "keras", "numpy")
"""Packages recorded everywhere; callers add the ones their stage uses."""


def tool_versions(*extra_packages: str) -> dict[str, str]:
    """Python's version and each installed package's (packages not installed are left out)."""
    versions = {"python": platform.python_version()}
    for name in (*CORE_PACKAGES, *extra_packages):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions

"""The package reads in the order the data flows, every part has a rule, and no import circles.

An import counts wherever it is written: at the top of a module, inside a function,
or under ``if TYPE_CHECKING:``. A function-level import still ties the two modules
together, and a type-only one ties their designs, so a cycle through either is still
a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tfembed"

ROOT_FACADES = ("tfembed", "tfembed.data", "tfembed.hear")
"""The public names at the package root: entry points for users, never for the package itself."""

TRAINING_MACHINERY = sorted(
    path.stem
    for path in (PACKAGE / "training").glob("*.py")
    if path.stem not in ("__init__", "config", "run_folder")
)
LATER_THAN_TRAINING = ("export", "inference", "evaluation", "search", "cli")

FORBIDDEN = {
    "errors": ("",),
    "utils": (
        "features",
        "preparation",
        "dataset",
        "models",
        "training",
        *LATER_THAN_TRAINING,
    ),
    "features": ("preparation", "dataset", "models", "training", *LATER_THAN_TRAINING),
    "preparation": ("models", "training", *LATER_THAN_TRAINING),
    "dataset": ("preparation", "models", "training", *LATER_THAN_TRAINING),
    "models": ("preparation", "dataset", "training", *LATER_THAN_TRAINING),
    "training": ("preparation", *LATER_THAN_TRAINING),
    "export": ("preparation", "inference", "evaluation", "search", "cli"),
    "inference": (
        "training",
        "export.tower",
        "export.tflite",
        "evaluation",
        "models",
        "search",
        "cli",
    ),
    "evaluation": (
        "preparation",
        *(f"training.{module}" for module in TRAINING_MACHINERY),
        "export.tower",
        "export.tflite",
        "models.siamese",
        "models.losses",
        "search",
        "cli",
    ),
    "search": (
        "preparation",
        "dataset",
        "models",
        "training",
        "export",
        "evaluation",
        "results",
        "cli",
    ),
    "results": (
        "preparation",
        "dataset",
        "models",
        *(f"training.{module}" for module in TRAINING_MACHINERY),
        "export.tower",
        "inference",
        "search",
        "cli",
    ),
    "cli": (),
    "tfembed": ("preparation", "models", "training", "export.tower", "export.tflite", "evaluation"),
    "tfembed.data": ("preparation", "models", "training", "export", "inference", "evaluation"),
    "tfembed.hear": ("preparation", "models", "training", "export.tower", "evaluation"),
}
"""Per package (by folder) or root module (by name), what it must not import, relative to
``tfembed.`` (``""``: nothing of tfembed). Besides, no package imports a root facade, and
only the command line imports ``tfembed.cli`` (the command line reads ``tfembed.__version__``).

Allowed on purpose: evaluation builds the random-weight baseline tower through
``models.towers`` and ranks with ``models.ranking``; it reads ``training.config`` for the
defaults of settings an older export lacks and ``training.run_folder`` for the names in a
run folder. Results (the generated tables and model cards) read evaluation reports
and export metadata. Inference and evaluation read exports through ``export.format`` and
``export.registry`` only. Search builds on inference (the embedder, the batch embedding
of a folder, its journal) and reads exports only through it. Every part may import
``tfembed.errors`` and ``tfembed.utils`` except where listed."""


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {
    _module_name(path): path
    for path in sorted(PACKAGE.rglob("*.py"))
    if "configs" not in path.relative_to(PACKAGE).parts
}


def _owner(module: str) -> str:
    """The key of :data:`FORBIDDEN` whose rule applies to ``module``."""
    parts = module.split(".")
    if len(parts) > 1 and (PACKAGE / parts[1]).is_dir():
        return parts[1]
    if module == "tfembed.errors":
        return "errors"
    return module


def imports_of(module: str) -> set[str]:
    """The tfembed modules ``module`` imports, anywhere in it.

    ``from tfembed.a import b`` counts as importing ``tfembed.a.b`` where that is a module,
    else ``tfembed.a``.
    """
    names = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                names.add(submodule if submodule in MODULES else node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name == "tfembed" or name.startswith("tfembed.")}


def _within(name: str, target: str) -> bool:
    prefix = f"tfembed.{target}" if target else "tfembed"
    return name == prefix or name.startswith(f"{prefix}.")


def test_every_package_and_root_module_has_a_rule() -> None:
    owners = {_owner(module) for module in MODULES}
    assert owners == set(FORBIDDEN)


@pytest.mark.parametrize("owner", sorted(FORBIDDEN))
def test_no_part_imports_what_its_rule_forbids(owner) -> None:
    offending = [
        f"{module} imports {name}"
        for module in MODULES
        if _owner(module) == owner
        for name in sorted(imports_of(module))
        for target in FORBIDDEN[owner]
        if _within(name, target)
    ]
    assert not offending


def test_no_package_imports_a_root_facade_or_the_command_line() -> None:
    offending = [
        f"{module} imports {name}"
        for module in MODULES
        if _owner(module) not in ROOT_FACADES
        for name in sorted(imports_of(module))
        if (name in ROOT_FACADES and not (_owner(module) == "cli" and name == "tfembed"))
        or (_within(name, "cli") and _owner(module) != "cli")
    ]
    assert not offending


def import_cycles() -> list[frozenset[str]]:
    """The strongly connected groups of tfembed modules that import each other (Tarjan)."""
    graph = {module: sorted(imports_of(module) & MODULES.keys()) for module in MODULES}
    index: dict[str, int] = {}
    lowest: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def visit(module: str) -> None:
        index[module] = lowest[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph[module]:
            if imported not in index:
                visit(imported)
                lowest[module] = min(lowest[module], lowest[imported])
            elif imported in on_stack:
                lowest[module] = min(lowest[module], index[imported])
        if lowest[module] == index[module]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == module:
                    break
            if len(group) > 1 or module in graph[module]:
                cycles.append(frozenset(group))

    for module in graph:
        if module not in index:
            visit(module)
    return cycles


def test_no_import_cycles() -> None:
    assert not [sorted(cycle) for cycle in import_cycles()]


def test_function_level_and_type_checking_imports_count() -> None:
    # prepare imports the Beam runner inside a function, only when asked for it
    assert "tfembed.preparation.beam_pipeline" in imports_of("tfembed.preparation.prepare")
    # the root names the embedder's type under TYPE_CHECKING and imports it in load()
    assert imports_of("tfembed") == {"tfembed.inference.embedder"}

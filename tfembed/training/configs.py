"""Finding and parsing the gin configs: shipped ones by bare name, or any path."""

from __future__ import annotations

import importlib.resources
import logging
import tokenize
from pathlib import Path

import gin

from tfembed.errors import ConfigError


def shipped_config_dir() -> Path:
    """The folder of the configs installed with tfembed (``configs/`` of the repository)."""
    return Path(str(importlib.resources.files("tfembed.configs")))


def shipped_configs() -> list[str]:
    """Names of the shipped gin files."""
    return sorted(path.name for path in shipped_config_dir().glob("*.gin"))


def resolve_config(name: str) -> Path:
    """Returns a config path: as given if it exists, else the shipped config of that name.

    Raises:
        ConfigError: Neither exists; the message lists the shipped configs.
    """
    path = Path(name)
    if path.is_file():
        return path
    shipped = shipped_config_dir() / path.name
    if shipped.is_file():
        return shipped
    raise ConfigError(f"config {name} not found (shipped configs: {', '.join(shipped_configs())})")


def parse_configs(names: list[str], bindings: list[str]) -> None:
    """Replaces the global gin config with ``names`` (in order) plus ``bindings``.

    Includes resolve against the shipped folder as well as the including file's.

    Raises:
        ConfigError: A config is missing, or gin cannot parse a file or a binding
            (syntax error, misspelt or unknown name).
    """
    paths = [resolve_config(name) for name in names]
    gin.add_config_file_search_path(str(shipped_config_dir()))
    # gin logs an error for every search path an include is not found in before it
    # finds it; a real failure still raises.
    logging.disable(logging.ERROR)
    try:
        with gin.unlock_config():
            gin.clear_config()  # a second call in one process starts from scratch
            gin.parse_config_files_and_bindings(
                [str(path) for path in paths], bindings, finalize_config=False
            )
    except (OSError, ValueError, KeyError, TypeError, SyntaxError, tokenize.TokenError) as error:
        raise ConfigError(f"cannot parse the gin config: {error}") from error
    finally:
        logging.disable(logging.NOTSET)

"""Registry of platformctl command groups (one module per concern)."""

from __future__ import annotations

import importlib

import click

# module path -> attribute holding a click command or group (sorted by module path)
COMMANDS: list[tuple[str, str]] = [
    ("scripts.state.cli", "state_group"),
]


def register_all(cli: click.Group) -> None:
    for module_name, attr in COMMANDS:
        cli.add_command(getattr(importlib.import_module(module_name), attr))

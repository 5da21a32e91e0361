"""Registry of platformctl command groups (one module per concern)."""

from __future__ import annotations

import importlib

import click

# module path -> attribute holding a click command or group
COMMANDS: list[tuple[str, str]] = [
    ("scripts.vault.cli", "vault"),
    ("scripts.vault.cli", "secrets"),
]


def register_all(cli: click.Group) -> None:
    for module_name, attr in COMMANDS:
        cli.add_command(getattr(importlib.import_module(module_name), attr))

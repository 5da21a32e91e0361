"""Registry of platformctl command groups (one module per concern)."""

from __future__ import annotations

import importlib

import click

# (module path, attribute holding a click command or group), in help order.
COMMANDS: list[tuple[str, str]] = [
    ("scripts.commands.core", "doctor"),
    ("scripts.commands.core", "validate"),
    ("scripts.commands.core", "local"),
    ("scripts.commands.core", "deploy"),
    ("scripts.commands.core", "diff"),
    ("scripts.migrate.cli", "migrate"),
    ("scripts.jobs.cli", "job"),
    ("scripts.vault.cli", "vault"),
    ("scripts.vault.cli", "secrets"),
    ("scripts.state.cli", "state_group"),
    ("scripts.ci.cli", "ci"),
]


def register_all(cli: click.Group) -> None:
    for module_name, attr in COMMANDS:
        cli.add_command(getattr(importlib.import_module(module_name), attr))
    # `state bootstrap` joins the `state` group (recovery commands live there too).
    from scripts.commands.core import bootstrap_cmd

    state = cli.commands.get("state")
    if not isinstance(state, click.Group):
        state = click.Group("state", help="Terraform state: bootstrap, versions, diff, restore.")
        cli.add_command(state)
    state.add_command(bootstrap_cmd)
    # `secrets rotate` / `secrets rotate-master` join the `secrets` group of scripts/vault/cli.py.
    from scripts.rotation.cli import rotate, rotate_master

    secrets_group = cli.commands["secrets"]
    assert isinstance(secrets_group, click.Group)
    secrets_group.add_command(rotate)
    secrets_group.add_command(rotate_master)

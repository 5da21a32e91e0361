"""Composition root: every environment's stacks in one cdktf App.

`python -m app` (what `cdktf synth`/`cdktf deploy` run) validates every environment file first:
invalid configuration stops here, before Terraform is involved.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from app.config import load_all, load_environment
from app.contracts.names import ENVIRONMENTS_ENV
from app.literals import for_synthesis
from app.schema import EnvironmentConfig
from modules.cdk import App
from stacks.database import DatabaseStack
from stacks.network import NetworkStack
from stacks.service import ServiceStack
from stacks.state import StateStack
from stacks.vault import VaultStack

ENV_FILTER = ENVIRONMENTS_ENV


def environment_filter(value: str | None = None) -> list[str]:
    """The names PLATFORM_ENVIRONMENTS asks for, in order, each once ([]: every environment)."""
    raw = os.environ.get(ENV_FILTER, "") if value is None else value
    return list(dict.fromkeys(name.strip() for name in raw.split(",") if name.strip()))


def selected_environments() -> list[EnvironmentConfig]:
    """Only the asked environments are loaded and built: a synth pays ~0.4 s per environment, and
    every project command (deploy, diff, bootstrap) asks for one."""
    wanted = environment_filter()
    if wanted:
        return [load_environment(name) for name in wanted]
    return load_all()


def build_app(envs: Sequence[EnvironmentConfig], outdir: str | None = None) -> App:
    app = App(outdir=outdir) if outdir else App()
    for env in envs:
        build_environment(app, env)
    return app


def build_environment(app: App, env: EnvironmentConfig) -> None:
    """Deploy order: state -> network -> database -> vault -> service. Cross-stack references imply
    dependencies; explicit ones cover what has no reference (the state bucket, an existing VPC
    given by ids).

    The stacks get the configuration only through `for_synthesis`: every string as a Terraform
    literal (docs/adr/0018)."""
    env = for_synthesis(env)
    state = StateStack(app, env)
    network = NetworkStack(app, env)
    network.add_dependency(state)
    database = DatabaseStack(app, env, network)
    database.add_dependency(network)
    # Vault's clients are the database stack's client security groups (attached to the tasks).
    vault = VaultStack(app, env, network, [sg.id for sg in database.clients.values()])
    vault.add_dependency(database)
    if env.services:  # an environment may run only the platform (no workloads yet)
        service = ServiceStack(app, env, network, database, vault_address=vault.address)
        service.add_dependency(vault)


def synth(outdir: str | None = None) -> Path:
    from scripts.tfmirror import write_lock_files

    envs = selected_environments()
    app = build_app(envs, outdir)
    app.synth()
    out = Path(app.outdir)
    write_lock_files(out)
    return out

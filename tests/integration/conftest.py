"""Fixtures shared by the integration packages."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from scripts.localtarget.postgres import PostgresServer
from tests.integration.scripts.migrate.ecs_faults import FakeEcs
from tests.integration.stacks.service.deployment import LocalBase


@pytest.fixture(scope="session")
def fake_ecs_server() -> Iterator[FakeEcs]:
    """One in-process emulator per session (moto's backends are process-global anyway)."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per emulator request otherwise
    fake = FakeEcs()
    fake.server.start()
    try:
        yield fake
    finally:
        fake.server.stop()


@pytest.fixture(scope="session")
def local_base(
    fake_ecs_server: FakeEcs, postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> LocalBase:
    """`local-network` + `local-database` applied once per test process (deployment.py, ADR 0022)."""
    s = postgres_server
    return LocalBase(
        fake_ecs_server, s.dsn(), lambda name: f"postgresql://{s.user}:{s.password}@{s.host}:{s.port}/{name}",
        tmp_path_factory.mktemp,
    )

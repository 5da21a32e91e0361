"""Fixtures shared by the integration packages."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.integration.scripts.migrate.ecs_faults import FakeEcs


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

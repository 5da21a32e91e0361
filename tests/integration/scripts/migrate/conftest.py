"""Fixtures for the migration gate's integration tests: the in-process emulator with scripted tasks
(`fake_ecs_server`, shared with tests/integration/service, lives in tests/integration/conftest.py)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tests.integration.scripts.migrate.ecs_faults import FakeEcs, ServiceFixture, create_service

_names = itertools.count()


@pytest.fixture()
def fake_ecs(fake_ecs_server: FakeEcs) -> Iterator[FakeEcs]:
    with fake_ecs_server.installed():
        try:
            yield fake_ecs_server
        finally:
            fake_ecs_server.reset()


@pytest.fixture()
def ecs_service(fake_ecs: FakeEcs) -> ServiceFixture:
    """A fresh service per test (unique names), so tests never see each other's tasks."""
    return create_service(fake_ecs, name=f"svc{next(_names)}")


@pytest.fixture()
def fake_aws_env(fake_ecs: FakeEcs, monkeypatch: pytest.MonkeyPatch) -> FakeEcs:
    """Point boto3 clients created by the CLI at the in-process emulator."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", fake_ecs.endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    return fake_ecs

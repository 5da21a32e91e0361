"""Fixtures for the rotation tests: the session's real OpenBao and PostgreSQL (tests/conftest.py:
`openbao_server`, `postgres_server`), and the in-process ECS emulator with rolling deployments."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import hvac
import pytest

from scripts.localtarget.openbao import OpenBaoServer
from scripts.localtarget.postgres import PostgresServer
from tests.integration.scripts.migrate.ecs_faults import FakeEcs
from tests.integration.scripts.rotation.ecs_rollouts import Rollouts
from tests.integration.scripts.rotation.scenario import Scenario, build_scenario, drop_leftovers

_ids = itertools.count(1)


@pytest.fixture(scope="package", autouse=True)
def _clean_up_after_the_package(postgres_server: PostgresServer) -> Iterator[None]:
    yield
    drop_leftovers(postgres_server)  # the session's PostgreSQL is shared with other packages


@pytest.fixture()
def rollouts(fake_ecs_server: FakeEcs) -> Iterator[Rollouts]:
    with Rollouts(fake_ecs_server).installed() as r:
        yield r


@pytest.fixture()
def scenario(
    openbao_server: OpenBaoServer,
    postgres_server: PostgresServer,
    fake_ecs_server: FakeEcs,
    rollouts: Rollouts,
    tmp_path: Path,
) -> Scenario:
    """A fresh environment `rotN`: KV mount, database, legacy logins + slots (bootstrap), ECS service."""
    client = hvac.Client(url=openbao_server.address, token=openbao_server.root_token)
    return build_scenario(
        next(_ids), client, openbao_server.root_token, postgres_server, fake_ecs_server, rollouts, tmp_path
    )


os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

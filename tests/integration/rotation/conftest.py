"""Fixtures for the rotation tests: a real OpenBao (dev mode, with a file audit device), the real
PostgreSQL of tests/conftest.py, and the in-process ECS emulator with rolling deployments.

`openbao` is this package's own server (issue 10 adds a session fixture for the platform; the two
can be merged: this one only needs an address, a root token and the audit log path).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import hvac
import pytest

from scripts.localtarget.postgres import PostgresServer
from tests.helpers import openbao_dev as openbao_helper
from tests.helpers.openbao_dev import OpenBao
from tests.integration.migrate.ecs_faults import FakeEcs
from tests.integration.rotation.ecs_rollouts import Rollouts
from tests.integration.rotation.scenario import Scenario, build_scenario, drop_leftovers

_ids = itertools.count(1)


@pytest.fixture(scope="session")
def openbao(session_tmp: Path) -> Iterator[OpenBao]:
    """`bao server -dev` on a free loopback port, with a file audit device."""
    try:
        server = openbao_helper.start(session_tmp / "openbao", token="rotation-tests-root")
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield server
    finally:
        server.stop()


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
    openbao: OpenBao, postgres_server: PostgresServer, fake_ecs_server: FakeEcs, rollouts: Rollouts, tmp_path: Path
) -> Scenario:
    """A fresh environment `rotN`: KV mount, database, legacy logins + slots (bootstrap), ECS service."""
    client = hvac.Client(url=openbao.address, token=openbao.token)
    return build_scenario(next(_ids), client, openbao.token, postgres_server, fake_ecs_server, rollouts, tmp_path)


os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

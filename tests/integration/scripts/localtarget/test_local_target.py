"""`platformctl local up|status|env|down`: idempotent, honest, and it stops only what it started."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from scripts.localtarget import target
from scripts.localtarget.procs import free_port, pid_alive, terminate
from scripts.platformctl import _register, cli

pytestmark = pytest.mark.integration
_register()


def vault_port() -> int:
    """A free port whose successor (OpenBao's cluster port) is free too."""
    from scripts.localtarget.procs import port_open

    while True:
        port = free_port()
        if port < 65535 and not port_open(port + 1):
            return port


@pytest.fixture()
def home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    # Directly below /tmp: pytest's tmp_path sits in a 0700 directory the postgres user cannot enter.
    with tempfile.TemporaryDirectory(prefix="platform-local-") as d:
        Path(d).chmod(0o755)
        monkeypatch.setenv("PLATFORM_HOME", f"{d}/home")
        yield Path(d) / "home"
        target.down()  # never leave servers behind, whatever the test did


def test_postgres_in_a_private_directory_fails_with_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    if os.geteuid() != 0:
        pytest.skip("only root hands the server over to the postgres OS user")
    tmp_path.parent.chmod(0o700)
    monkeypatch.setenv("PLATFORM_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(cli, ["local", "up", "--aws-port", str(free_port()), "--pg-port", str(free_port()),
                                      "--vault-port", str(vault_port())])
    target.down()
    assert result.exit_code == 1
    assert "the 'postgres' OS user cannot reach" in result.output and "PLATFORM_HOME" in result.output


def test_up_is_idempotent_env_points_at_it_and_down_stops_it(home: Path) -> None:
    runner = CliRunner()
    aws_port, pg_port, bao_port = free_port(), free_port(), vault_port()
    up_args = ["local", "up", "--aws-port", str(aws_port), "--pg-port", str(pg_port), "--vault-port", str(bao_port)]
    first = runner.invoke(cli, up_args)
    assert first.exit_code == 0, first.output
    assert f"started AWS emulator at http://127.0.0.1:{aws_port}" in first.output
    assert f"started PostgreSQL on 127.0.0.1:{pg_port}" in first.output
    pids = target.load().aws_pid

    second = runner.invoke(cli, up_args)
    assert second.exit_code == 0
    assert "already running" in second.output and "started" not in second.output
    assert target.load().aws_pid == pids

    status = runner.invoke(cli, ["local", "status"])
    assert status.exit_code == 0 and "running" in status.output

    exports = runner.invoke(cli, ["local", "env"])
    assert f"export AWS_ENDPOINT_URL=http://127.0.0.1:{aws_port}" in exports.output
    assert f"export PGPORT={pg_port}" in exports.output
    state = target.load()
    assert state.pg_password() not in exports.output  # the password stays in the 0600 PGPASSFILE
    pgpass = Path(exports.output.split("PGPASSFILE=")[1].split()[0])
    assert pgpass.stat().st_mode & 0o777 == 0o600
    with psycopg.connect(state.database_url()) as conn:  # the app database exists
        assert conn.execute("select current_database()").fetchone() == ("app",)

    down = runner.invoke(cli, ["local", "down"])
    assert down.exit_code == 0
    assert "stopped AWS emulator" in down.output and "stopped PostgreSQL" in down.output
    assert not pid_alive(pids or -1)
    assert runner.invoke(cli, ["local", "status"]).exit_code == 1


def test_down_never_kills_a_process_it_did_not_start(home: Path) -> None:
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        # A stale record whose pid now belongs to some other program.
        target.save(target.TargetState(aws_pid=stranger.pid, aws_port=free_port()))
        result = CliRunner().invoke(cli, ["local", "down"])
        assert result.exit_code == 0
        assert stranger.poll() is None, "down killed a process that is not the emulator"
    finally:
        terminate(stranger.pid)


def test_up_refuses_a_port_taken_by_someone_else(home: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(cli, ["local", "up", "--aws-port", str(port), "--pg-port", str(free_port()),
                                          "--vault-port", str(vault_port())])
    assert result.exit_code == 1
    assert f"port {port} is already in use" in result.output
    assert target.load().aws_pid is None  # nothing recorded as ours

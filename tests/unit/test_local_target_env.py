"""What the local target exports: the shell gets PGPASSFILE (never the password); only the
in-process deploy path sets DATABASE_URL for the local migration gate."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from scripts.localtarget import target
from scripts.localtarget.target import TargetState

PASSWORD = "throwaway-pw-1234"


@pytest.fixture()
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TargetState:
    monkeypatch.setenv("PLATFORM_HOME", str(tmp_path / "home"))
    data_dir = tmp_path / "pg"
    data_dir.mkdir()
    (tmp_path / "pg.pw").write_text(PASSWORD + "\n")
    st = TargetState(aws_pid=1, aws_port=45666, pg_data_dir=str(data_dir), pg_port=54329)
    target.save(st)
    return st


def test_shell_exports_carry_no_password_and_no_database_url(state: TargetState) -> None:
    exports = target.shell_exports(state)
    assert "DATABASE_URL" not in exports
    assert exports["PGPASSFILE"].endswith("pgpass")
    assert not [k for k, v in exports.items() if PASSWORD in v]


def test_local_env_command_does_not_print_the_password(
    state: TargetState, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scripts.commands.core import env_cmd

    monkeypatch.setattr(TargetState, "aws_running", lambda self: True)
    result = CliRunner().invoke(env_cmd, [])
    assert result.exit_code == 0, result.output
    assert "PGPASSFILE" in result.stdout
    assert PASSWORD not in result.output and "DATABASE_URL" not in result.output


def test_deploy_path_exports_the_local_database_url(state: TargetState, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://someone@prod-db.example.com/app")  # stale, from a shell
    for key in target.shell_exports(state):
        monkeypatch.delenv(key, raising=False)
    target.apply_to_environ(state)
    assert os.environ["DATABASE_URL"] == f"postgresql://postgres:{PASSWORD}@127.0.0.1:54329/app"
    assert os.environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:45666"

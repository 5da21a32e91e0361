"""`platformctl deploy` passes the migration gate's exit code through and tells the story once.

The chain is the real one below cdktf: `platformctl deploy` -> (a stand-in for the cdktf CLI that
runs) real `terraform apply` -> the gate's local-exec step -> `platformctl migrate run --local`.
Only cdktf's synth is left out: the gate is a hand-written `terraform_data` with the same kind of
local-exec step the service stack synthesizes. Terraform exits 1 whatever the step returned
and repeats the step's output in its error; the deploy must still exit 7, 5 or 1 as the
migration did, and show the failing migration's last lines exactly once.
"""

from __future__ import annotations

import json
import shlex
import stat
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from scripts.commands import core
from scripts.migrate.lockfile import migration_lock
from scripts.migrate.outcome import EXIT_ALREADY_RUNNING, EXIT_FAILED, EXIT_TIMEOUT, EXIT_USAGE

UNIQUE = "ValueError: migration 0007 broke on purpose"


def gate_config(workdir: Path, locks: Path, command: list[str], timeout: int) -> None:
    gate = ["platformctl", "migrate", "run", "--local", "--service", "local-app", "--lock-dir", str(locks),
            "--timeout", str(timeout), "--", *command]  # fmt: skip
    config = {
        "resource": {
            "terraform_data": {
                # As the stack synthesizes it: the argv without a shell (docs/adr/0018).
                "gate": {"provisioner": [{"local-exec": {"interpreter": gate[:-1], "command": gate[-1]}}]},
            }
        }
    }
    (workdir / "main.tf.json").write_text(json.dumps(config))


def fake_cdktf(tmp_path: Path, workdir: Path) -> Path:
    script = tmp_path / "cdktf"
    script.write_text(
        "#!/bin/sh\n"
        f"cd {shlex.quote(str(workdir))} || exit 1\n"
        "terraform init -input=false -no-color >/dev/null || exit 1\n"
        "exec terraform apply -auto-approve -input=false -no-color\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


@pytest.fixture()
def deploy_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    workdir = tmp_path / "stack"
    workdir.mkdir()
    monkeypatch.setenv("PLATFORM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DATABASE_URL", "postgresql://user@127.0.0.1:1/unused")
    monkeypatch.setattr("scripts.deploy.cdktf_cli_path", lambda: fake_cdktf(tmp_path, workdir))
    monkeypatch.setattr(core, "_prepare_target", lambda env: None)  # no emulator is needed here
    return workdir


def deploy(capfd: pytest.CaptureFixture[str]) -> tuple[int, str]:
    result = CliRunner().invoke(core.deploy, ["--env", "local", "--skip-bootstrap"])
    captured = capfd.readouterr()  # terraform's output (a subprocess) reaches the real fds
    return result.exit_code, captured.out + captured.err + result.output


def failing_migration(tmp_path: Path, lines: int = 30) -> list[str]:
    # A script file, so the command line Terraform echoes does not contain the output itself.
    script = tmp_path / "migration.py"
    body = "\n".join(f"print('traceback line {i}')" for i in range(lines))
    script.write_text(f"{body}\nprint({UNIQUE!r})\nraise SystemExit(1)\n")
    return [sys.executable, str(script)]


def test_a_failed_migration_exits_1_and_shows_its_last_lines_once(
    deploy_env: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    gate_config(deploy_env, tmp_path / "locks", failing_migration(tmp_path), timeout=60)
    code, out = deploy(capfd)
    assert code == EXIT_FAILED, out
    assert out.count(UNIQUE) == 1, out
    assert out.count("traceback line 29") == 1 and "traceback line 10\n" not in out  # the last 20 lines
    assert "migration failed (service local-app, exit 1): the migration exited with code 1" in out
    assert "in the checkout and deploy again" in out and "full migration output:" in out
    assert "the previous version keeps serving" in out


def test_a_timeout_exits_3(deploy_env: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    sleeper = [sys.executable, "-c", "import time; print('waiting for lock', flush=True); time.sleep(60)"]
    gate_config(deploy_env, tmp_path / "locks", sleeper, timeout=1)
    code, out = deploy(capfd)
    assert code == EXIT_TIMEOUT, out
    assert "migration timed out" in out and out.count("| waiting for lock") == 1


def test_another_migration_running_exits_4(deploy_env: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    gate_config(deploy_env, tmp_path / "locks", [sys.executable, "-c", "print('ran')"], timeout=60)
    with migration_lock(tmp_path / "locks", "local-app") as lock:
        lock.record(pid=12345, child_pid=12346, started_at="2026-01-01T00:00:00+00:00")
        code, out = deploy(capfd)
    assert code == EXIT_ALREADY_RUNNING, out
    assert "another migration is running" in out and "Nothing was started" in out
    assert "build a new image" not in out and "in the checkout" not in out


def test_a_configuration_error_in_the_gate_exits_2(
    deploy_env: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    gate_config(deploy_env, tmp_path / "locks", [sys.executable, "-c", "print('ran')"], timeout=60)
    monkeypatch.delenv("DATABASE_URL")
    code, out = deploy(capfd)
    assert code == EXIT_USAGE, out
    assert "$DATABASE_URL is not set" in out and "Nothing was started" in out
    assert "build a new image" not in out and "in the checkout" not in out

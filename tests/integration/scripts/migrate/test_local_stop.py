"""The local runner never leaves a migration behind: signals, abandoned migrations, wrong paths.

The runner is a real process receiving real signals; the "migration" is a Python process that
starts a grandchild (as alembic plugins may) and records both pids, so the test can prove the
whole process group is gone and the lock released.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from scripts.migrate.cli import migrate
from scripts.migrate.local_runner import run_local_migration
from scripts.migrate.lockfile import OVERDUE_GRACE_S, lock_path, read_holder
from scripts.migrate.outcome import MigrationAlreadyRunning

ROOT = Path(__file__).resolve().parents[4]
URL = "postgresql://user@127.0.0.1:1/unused"  # the fake migration never connects


def long_migration(pid_file: Path) -> list[str]:
    script = (
        "import subprocess, sys, time; "
        "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
        f"open({str(pid_file)!r}, 'w').write(str(g.pid)); print('migrating...', flush=True); time.sleep(120)"
    )
    return [sys.executable, "-c", script]


def runner_process(lock_dir: Path, command: list[str], timeout: int = 120) -> subprocess.Popen[str]:
    argv = [
        sys.executable, "-m", "scripts.platformctl", "migrate", "run", "--local", "--service", "web",
        "--lock-dir", str(lock_dir), "--timeout", str(timeout), "--", *command,
    ]  # fmt: skip
    env = {**os.environ, "DATABASE_URL": URL}
    return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for(predicate: object, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purposes
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().split(")")[-1].split()[0] != "Z"


def lock_is_free(lock_dir: Path) -> bool:
    fd = os.open(lock_path(lock_dir, "web"), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_a_signal_kills_the_migration_group_and_releases_the_lock(tmp_path: Path, sig: signal.Signals) -> None:
    pid_file, locks = tmp_path / "grandchild.pid", tmp_path / "locks"
    proc = runner_process(locks, long_migration(pid_file))
    try:
        wait_for(pid_file.exists)
        wait_for(lambda: read_holder(lock_path(locks, "web")).get("child_pid"))
        child = read_holder(lock_path(locks, "web"))["child_pid"]
        proc.send_signal(sig)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + sig, output
    assert "migration runner interrupted" in output and "process group was killed" in output
    grandchild = int(pid_file.read_text())
    assert not alive(child) and not alive(grandchild)
    assert lock_is_free(locks)


def test_next_run_kills_a_migration_whose_runner_died(tmp_path: Path) -> None:
    pid_file, locks = tmp_path / "grandchild.pid", tmp_path / "locks"
    proc = runner_process(locks, long_migration(pid_file), timeout=5)
    wait_for(pid_file.exists)
    wait_for(lambda: read_holder(lock_path(locks, "web")).get("child_pid"))
    holder = read_holder(lock_path(locks, "web"))
    proc.kill()  # SIGKILL: no handler runs, the migration keeps running and holds the lock
    proc.wait()
    grandchild = int(pid_file.read_text())
    try:
        assert alive(holder["child_pid"]) and not lock_is_free(locks)
        # within its deadline (+ grace) the migration is respected ...
        with pytest.raises(MigrationAlreadyRunning):
            run_local_migration(["true"], service="web", database_url=URL, timeout_s=10, lock_dir=locks)
        # ... past it, the next run kills it and migrates
        later = holder["deadline_unix"] + OVERDUE_GRACE_S + 1
        result = run_local_migration(
            [sys.executable, "-c", "print('fresh run')"], service="web", database_url=URL, timeout_s=10,
            lock_dir=locks, wall_clock=lambda: later,
        )  # fmt: skip
        assert result.exit_code == 0 and result.last_lines == ["fresh run"]
        assert not alive(holder["child_pid"]) and not alive(grandchild)
    finally:
        for pid in (holder["child_pid"], grandchild):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_wrong_working_directory_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A relative --cwd is taken from the repository root (so the current directory does not matter);
    one that does not exist there is named with the path it resolved to."""
    from app.contracts.workspace import PROJECT_ROOT

    monkeypatch.setenv("DATABASE_URL", URL)
    monkeypatch.chdir(tmp_path)
    args = ["run", "--local", "--service", "web", "--cwd", "examples/no-such-app", "--lock-dir",
            str(tmp_path / "l"), "--", "alembic", "upgrade", "head"]  # fmt: skip
    result = CliRunner().invoke(migrate, args)
    assert result.exit_code == 64
    assert f"the migration working directory {PROJECT_ROOT / 'examples/no-such-app'} does not exist" in result.stderr
    assert "repository root" in result.stderr and "Nothing was started" in result.stderr
    assert "image" not in result.stderr and "previous version" not in result.stderr


def test_a_missing_migration_command_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", URL)
    args = ["run", "--local", "--service", "web", "--cwd", str(tmp_path), "--lock-dir", str(tmp_path / "l"),
            "--", "no-such-migration-tool", "upgrade"]  # fmt: skip
    result = CliRunner().invoke(migrate, args)
    assert result.exit_code == 64
    assert "'no-such-migration-tool' was not found" in result.stderr and str(tmp_path) in result.stderr

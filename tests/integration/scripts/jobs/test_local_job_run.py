"""`job run` on the local target (issue 20 item 2), on the real OpenBao and PostgreSQL: the job runs
as its own vault-issued login, exits with its command's exit code, a second run while the first is
still going is refused with exit 5 naming the holder, and the next run after it proceeds."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from app.contracts import exitcodes
from scripts.jobs import local
from scripts.vault import bootstrap
from scripts.vault.spec import SpecOptions, build_spec
from tests.integration.scripts.vault.conftest import Scenario, bao_scenario  # noqa: F401 (fixture)

# Records its login, then runs until told to stop, and exits with the code it was given.
HOLDER = textwrap.dedent(
    """
    import os, pathlib, sys, time
    import psycopg
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        user = conn.execute("select current_user").fetchone()[0]
    pathlib.Path(sys.argv[1]).write_text(f"{user} {os.getpid()}")
    while not pathlib.Path(sys.argv[2]).exists():
        time.sleep(0.05)
    sys.exit(int(sys.argv[3]))
    """
)


@pytest.fixture()
def bootstrapped(bao_scenario: Scenario, tmp_path: Path) -> tuple[Scenario, Path]:  # noqa: F811
    home = tmp_path / "home"
    options = SpecOptions(**{**bao_scenario.options.__dict__, "approle_credentials_dir": str(home / "local/approle")})
    caps = bootstrap.server_capabilities(bao_scenario.vault, options.aws_auth_mount)
    spec = build_spec(bao_scenario.env, {}, {}, options, auth="approle")
    bootstrap.run(spec, bao_scenario.vault, bao_scenario.db, None, caps=caps, master=bao_scenario.extra["master"])
    return bao_scenario, home


def job_run(s: Scenario, home: Path, job: str, command: list[str], timeout_s: int = 120) -> tuple[list[str], dict]:
    """What `platformctl job run --env local <job>` executes, for this scenario's environment."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "PG", "DATABASE_URL"))}
    inherited["PLATFORM_HOME"] = str(home)
    env = local.run_environment(inherited, s.vault.address, s.env.name, s.env.vault.kv_mount, {})
    return local.run_argv(s.env.name, s.env.vault.kv_mount, job, timeout_s, command), env


def wait_for(path: Path, proc: subprocess.Popen[str]) -> None:
    while not path.exists():
        assert proc.poll() is None, f"the first run ended early: {proc.communicate()}"
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=0.1)


def test_one_run_at_a_time_with_the_jobs_own_login_and_its_exit_code(
        bootstrapped: tuple[Scenario, Path], tmp_path: Path) -> None:
    s, home = bootstrapped
    job = s.workloads[1]
    holder, started, release = tmp_path / "holder.py", tmp_path / "started", tmp_path / "release"
    holder.write_text(HOLDER)
    argv, env = job_run(s, home, job, [sys.executable, str(holder), str(started), str(release), "3"])
    first = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(started, first)
        assert started.read_text().startswith(f"{job}_app")  # the job's own vault-issued DML login

        marker = tmp_path / "second-ran"
        argv2, env2 = job_run(s, home, job, [sys.executable, "-c", f"open({str(marker)!r}, 'w')"])
        second = subprocess.run(argv2, env=env2, capture_output=True, text=True, timeout=120, check=False)
        assert second.returncode == exitcodes.LOCKED, second.stdout + second.stderr
        assert f"job {job!r} of {s.env.name!r} is already running" in second.stderr
        assert f"platform-job:{job} pid=" in second.stderr  # who holds it
        assert not marker.exists()
        assert s.vault.token not in second.stdout + second.stderr
    finally:
        release.write_text("")
        out, err = first.communicate(timeout=120)
    assert first.returncode == 3, out + err  # the command's own exit code

    argv3, env3 = job_run(s, home, job, [sys.executable, "-c", "import sys; sys.exit(0)"])
    third = subprocess.run(argv3, env=env3, capture_output=True, text=True, timeout=120, check=False)
    assert third.returncode == exitcodes.OK, third.stdout + third.stderr  # the lock went with the first run


def test_a_run_past_its_timeout_is_stopped_and_the_lock_is_free_again(
        bootstrapped: tuple[Scenario, Path], tmp_path: Path) -> None:
    s, home = bootstrapped
    job = s.workloads[1]
    argv, env = job_run(s, home, job, [sys.executable, "-c", "import time; time.sleep(600)"], timeout_s=2)
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == exitcodes.TIMEOUT, result.stdout + result.stderr
    assert "still running after 2s; stopping it" in result.stderr
    argv2, env2 = job_run(s, home, job, [sys.executable, "-c", "import sys; sys.exit(4)"])
    again = subprocess.run(argv2, env=env2, capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 4, again.stdout + again.stderr
    argv3, env3 = job_run(s, home, job, [str(tmp_path / "no-such-program")])
    missing = subprocess.run(argv3, env=env3, capture_output=True, text=True, timeout=120, check=False)
    assert missing.returncode == exitcodes.USAGE, missing.stdout + missing.stderr
    assert "cannot start" in missing.stderr and "No such file or directory" in missing.stderr


def test_a_run_killed_outright_frees_the_lock_and_takes_its_command_with_it(
        bootstrapped: tuple[Scenario, Path], tmp_path: Path) -> None:
    """`job exec` SIGKILLed (OOM, kill -9): its lock session ends, and its command dies with it, so
    no command ever runs without the lock beside the next run."""
    s, home = bootstrapped
    job = s.workloads[1]
    holder, started = tmp_path / "holder.py", tmp_path / "started"
    holder.write_text(HOLDER)
    argv, env = job_run(s, home, job, [sys.executable, str(holder), str(started), str(tmp_path / "never"), "0"])
    first = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(started, first)
    command_pid = int(started.read_text().split()[1])
    os.kill(first.pid, signal.SIGKILL)  # `secrets exec` exec'd into `job exec`: same pid
    first.communicate(timeout=60)
    give_up = time.monotonic() + 60  # a bound for a hung test, not a timing assertion
    while True:  # the kernel delivers the parent-death signal asynchronously
        try:
            os.kill(command_pid, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < give_up, "the command outlived its `job exec` (and its lock)"
        time.sleep(0.05)
    argv2, env2 = job_run(s, home, job, [sys.executable, "-c", "import sys; sys.exit(0)"])
    second = subprocess.run(argv2, env=env2, capture_output=True, text=True, timeout=120, check=False)
    assert second.returncode == exitcodes.OK, second.stdout + second.stderr

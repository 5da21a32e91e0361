"""`platformctl job` refusals that need no server: exit codes from the one table, messages that say
what to do, nothing started."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from app.contracts import exitcodes, jobs
from scripts.jobs import local
from scripts.platformctl import _register, cli


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    _register()
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.output


def test_job_run_of_a_service_that_is_no_job_is_a_usage_error_listing_the_jobs() -> None:
    code, out = invoke("job", "run", "--env", "local", "app")
    assert code == exitcodes.USAGE
    assert "local has no job 'app' (its jobs: none)" in out


def test_job_exec_outside_secrets_exec_says_where_the_login_comes_from(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    code, out = invoke("job", "exec", "--environment", "local", "--job", "cleanup", "--timeout", "60", "--",
                       "touch", str(marker), env={"DATABASE_URL": ""})  # fmt: skip
    assert code == exitcodes.USAGE
    assert "DATABASE_URL is not set: run `job exec` below `platformctl secrets exec`" in out
    assert not marker.exists()


def test_a_local_run_is_the_containers_chain_with_the_jobs_own_role() -> None:
    argv = local.run_argv("local", "platform", "cleanup", 900, ["python", "manage.py", "clearsessions"])
    login, wrapped = argv[: argv.index("--")], argv[argv.index("--") + 1 :]
    assert login[-10:] == ["secrets", "exec", "--auth", "approle", "--role", "local-cleanup", "--mount", "platform",
                           "--path", "cleanup/database"]  # fmt: skip
    # The same `job exec` argv as the task definition's command, run by this checkout's platformctl.
    assert wrapped[3:] == jobs.exec_argv("local", "cleanup", 900, ["python", "manage.py", "clearsessions"])[1:]


def test_the_local_run_gets_no_operator_credentials() -> None:
    operator = {"PATH": "/bin", "VAULT_TOKEN": "root", "PGPASSWORD": "x", "AWS_SECRET_ACCESS_KEY": "y", "LC_ALL": "C"}
    env = local.run_environment(operator, "http://127.0.0.1:1", "local", "platform", {"MODE": "batch"})
    assert env == {"PATH": "/bin", "LC_ALL": "C", "MODE": "batch", "VAULT_ADDR": "http://127.0.0.1:1",
                   "PLATFORM_ENV": "local", "VAULT_KV_MOUNT": "platform", "PYTHONUNBUFFERED": "1"}  # fmt: skip


def test_platformctl_validate_refuses_a_job_without_a_schedule_and_one_with_a_bad_one(tmp_path: Path) -> None:
    from app.config import DEFAULT_CONFIG_DIR

    job = '\n[services.cleanup]\nkind = "job"\nimage = "registry.example/app:1"\ncommand = ["true"]\n'
    text = (DEFAULT_CONFIG_DIR / "local.toml").read_text()
    (tmp_path / "local.toml").write_text(text + job)
    (tmp_path / "dev.toml").write_text(
        (DEFAULT_CONFIG_DIR / "dev.toml").read_text() + job + 'schedule = "rate(1 hours)"\n')
    code, out = invoke("validate", env={"PLATFORM_CONFIG_DIR": str(tmp_path)})
    assert code == exitcodes.USAGE
    assert "local.toml: services.cleanup.schedule: a job needs a schedule" in out
    assert "dev.toml: services.cleanup.schedule: write `rate(1 hour)` for one and the plural for more" in out

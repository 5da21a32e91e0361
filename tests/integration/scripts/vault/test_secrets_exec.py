"""`secrets exec`: a workload's AWS identity resolves its secrets into the child's environment, and
nothing the command itself prints or logs contains a secret value."""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
from pathlib import Path

import boto3
import hvac
import pytest

from scripts.runtime import secrets_exec
from scripts.runtime.vault_client import VaultError
from scripts.vault import bootstrap
from scripts.vault.spec import build_spec
from tests.integration.scripts.vault.conftest import Scenario

SECRET_VALUE = "s3cr3t-value-that-must-never-leak"


@pytest.fixture()
def ready(scenario: Scenario) -> Scenario:
    """Bootstrapped scenario with an extra API key for the first workload."""
    spec = build_spec(scenario.env, scenario.role_arns, options=scenario.options)
    bootstrap.run(spec, scenario.vault, scenario.db, scenario.boto("secretsmanager"))
    client = hvac.Client(url=scenario.vault.address, token=scenario.vault.token)
    client.secrets.kv.v2.create_or_update_secret(f"{scenario.workloads[0]}/api",
                                                 secret={"api-key": SECRET_VALUE},
                                                 mount_point=scenario.env.vault.kv_mount)
    return scenario


def _session(sc: Scenario, workload: str) -> boto3.Session:
    creds = sc.assume(workload)
    return boto3.Session(aws_access_key_id=creds["access_key"], aws_secret_access_key=creds["secret_key"],
                         aws_session_token=creds["session_token"], region_name="us-east-1")


def _request(sc: Scenario, *paths: str, prefix: str = "") -> secrets_exec.ExecRequest:
    return secrets_exec.ExecRequest(sc.vault.address, f"{sc.env.name}-{sc.workloads[0]}", paths,
                                    sc.env.vault.kv_mount, prefix, sc.options.aws_auth_mount)


def test_resolve_environment_exports_secrets_without_logging_values(
        ready: Scenario, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    app = ready.workloads[0]
    caplog.set_level(logging.DEBUG)
    env = secrets_exec.resolve_environment(_request(ready, f"{app}/api", f"{app}/database", prefix="X_"),
                                           {"PATH": "/usr/bin"}, session=_session(ready, app))
    assert env["X_API_KEY"] == SECRET_VALUE
    assert env["X_DATABASE_USER"] == f"{app}_app" and env["X_DATABASE_PASSWORD"]
    assert env["PATH"] == "/usr/bin"
    out = capsys.readouterr()
    everything = caplog.text + out.out + out.err
    assert "X_API_KEY" in everything  # names are logged, so the log is meaningful ...
    for value in (SECRET_VALUE, env["X_DATABASE_PASSWORD"]):  # ... values never
        assert value not in everything


def test_another_workloads_path_is_refused_with_a_hint(ready: Scenario) -> None:
    app, jobs = ready.workloads
    with pytest.raises(VaultError, match=r"may not read .*rerun `platformctl vault bootstrap`"):
        secrets_exec.resolve_environment(_request(ready, f"{jobs}/database"), {},
                                         session=_session(ready, app))


def test_login_with_an_identity_not_bound_to_the_role_fails(ready: Scenario) -> None:
    jobs = ready.workloads[1]
    with pytest.raises(VaultError, match="denied the AWS IAM login"):
        secrets_exec.resolve_environment(_request(ready, f"{ready.workloads[0]}/api"), {},
                                         session=_session(ready, jobs))


def _platformctl(sc: Scenario, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real CLI as the workload's ECS task would: task-role credentials in the environment."""
    app = sc.workloads[0]
    creds = sc.assume(app)
    env = {**os.environ, "AWS_ACCESS_KEY_ID": creds["access_key"],
           "AWS_SECRET_ACCESS_KEY": creds["secret_key"], "AWS_SESSION_TOKEN": creds["session_token"],
           "VAULT_ADDR": sc.vault.address, **(extra_env or {})}
    env.pop("VAULT_TOKEN", None)
    env.pop("PORT", None)
    command = [sys.executable, "-m", "scripts.platformctl", "-v", "secrets", "exec",
               "--role", f"{sc.env.name}-{app}", "--mount", sc.env.vault.kv_mount,
               "--aws-auth-mount", sc.options.aws_auth_mount, *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def test_cli_execs_the_child_with_secrets_and_prints_no_values(ready: Scenario) -> None:
    child = "import hashlib, os; print('sha', hashlib.sha256(os.environ['API_KEY'].encode()).hexdigest())"
    result = _platformctl(ready, "--path", f"{ready.workloads[0]}/api", "--", sys.executable, "-c", child)
    assert result.returncode == 0, result.stderr
    assert f"sha {hashlib.sha256(SECRET_VALUE.encode()).hexdigest()}" in result.stdout
    assert "API_KEY" in result.stderr
    assert SECRET_VALUE not in result.stdout + result.stderr


def test_the_task_definitions_read_paths_bring_the_login_and_a_granted_secret(ready: Scenario) -> None:
    """Issue 20: VAULT_READ_PATHS as the service stack sets it (the login plus each concrete
    read path) is all the entrypoint needs; no --path, no application-side list of paths."""
    from app.contracts.names import ENV_VAULT_READ_PATHS, task_read_paths

    app = ready.workloads[0]
    paths = task_read_paths(app, [f"{app}/*", f"{app}/api"])
    child = ("import os; print(sorted(k for k in os.environ if k in ('API_KEY', 'DATABASE_URL', 'DATABASE_PORT',"
             " 'PORT')))")
    env_paths = {ENV_VAULT_READ_PATHS: ",".join(paths)}
    result = _platformctl(ready, "--", sys.executable, "-c", child, extra_env=env_paths)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['API_KEY', 'DATABASE_PORT', 'DATABASE_URL']"


def test_cli_reports_a_missing_path_and_does_not_run_the_child(ready: Scenario) -> None:
    app = ready.workloads[0]
    result = _platformctl(ready, "--path", f"{app}/nothing-here", "--",
                          sys.executable, "-c", "print('child ran')")
    assert result.returncode == 1
    assert "child ran" not in result.stdout
    assert f"no secret at {ready.env.vault.kv_mount}/{app}/nothing-here" in result.stderr


def test_a_secret_cannot_set_the_childs_loader_even_with_override(bao_scenario: Scenario, tmp_path: Path) -> None:
    """Issue 18 item 5, on the real OpenBao: whoever may write the workload's KV path cannot make
    `secrets exec` start the child with LD_PRELOAD/PYTHONPATH/NODE_OPTIONS of their choosing."""
    from dataclasses import replace

    from scripts.runtime import approle

    s = bao_scenario
    options = replace(s.options, approle_credentials_dir=str(tmp_path / "approle"))
    caps = bootstrap.server_capabilities(s.vault, options.aws_auth_mount)
    spec = build_spec(s.env, {}, {}, options, auth="approle")
    bootstrap.run(spec, s.vault, s.db, None, caps=caps, master=s.extra["master"])
    app, role = s.workloads[0], f"{s.env.name}-{s.workloads[0]}"
    root = hvac.Client(url=s.vault.address, token=s.vault.token)
    marker = tmp_path / "child-ran"
    for key in ("LD_PRELOAD", "pythonpath", "NODE_OPTIONS"):
        root.secrets.kv.v2.create_or_update_secret(f"{app}/api", secret={key: SECRET_VALUE, "api-key": "k"},
                                                   mount_point=s.env.vault.kv_mount)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "LD_", "PYTHONPATH", "NODE_"))}
        result = subprocess.run(
            [sys.executable, "-m", "scripts.platformctl", "-v", "secrets", "exec", "--vault-addr", s.vault.address,
             "--auth", "approle", "--approle-file", str(approle.credentials_file(role, tmp_path / "approle")),
             "--role", role, "--mount", s.env.vault.kv_mount, "--path", f"{app}/api", "--override", "--",
             sys.executable, "-c", f"open({str(marker)!r}, 'w')"],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )
        assert result.returncode == 1, result.stdout + result.stderr
        assert f"loader/interpreter variable(s) {key.upper()} (from {app}/api)" in result.stderr
        assert not marker.exists()
        assert SECRET_VALUE not in result.stdout + result.stderr

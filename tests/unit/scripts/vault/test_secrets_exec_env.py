"""`secrets exec`'s environment: DATABASE_URL from the database login, no silent override of the
variables the process already has, defaults from the task definition's variables (app/contracts/names.py).

The Vault reads are replaced by a fixed answer here; the real login and reads run against OpenBao
in tests/integration/scripts/vault/test_secrets_exec.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from scripts.runtime import secrets_exec
from scripts.runtime.vault_client import VaultError

LOGIN = {"host": "db.internal", "port": 5432, "dbname": "app", "username": "app_app", "password": "p@ss/w:rd"}


@pytest.fixture()
def answers(monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, Any]]:
    data: dict[str, dict[str, Any]] = {"app/database": dict(LOGIN), "app/config": {}}
    monkeypatch.setattr(secrets_exec, "aws_login", lambda request, session=None: object())
    monkeypatch.setattr(secrets_exec, "read_paths", lambda client, request: {p: data[p] for p in request.paths})
    return data


def _request(**kw: Any) -> secrets_exec.ExecRequest:
    return secrets_exec.ExecRequest("https://vault:8200", "prod-app", ("app/database", "app/config"), **kw)


def test_database_login_is_exported_as_a_url_with_quoted_credentials(answers: dict[str, Any]) -> None:
    env = secrets_exec.resolve_environment(_request(), {"HOME": "/srv/app-home"})
    assert env["DATABASE_URL"] == "postgresql://app_app:p%40ss%2Fw%3Ard@db.internal:5432/app"
    assert env["HOME"] == "/srv/app-home" and env["DATABASE_USER"] == "app_app"
    prefixed = secrets_exec.resolve_environment(_request(prefix="APP_"), {})
    assert "APP_DATABASE_URL" in prefixed and "DATABASE_URL" not in prefixed


def test_the_database_login_never_sets_port_only_documented_database_names(answers: dict[str, Any]) -> None:
    """Issue 20: `PORT` from the login made gunicorn (no --bind) listen on the database's port."""
    task = {"PLATFORM_HTTP_PORT": "8000", "DATABASE_HOST": "db.internal", "DATABASE_NAME": "app"}
    env = secrets_exec.resolve_environment(_request(), task)
    assert {"PORT", "HOST", "DBNAME", "USERNAME", "PASSWORD"}.isdisjoint(env)
    assert {k: env[k] for k in ("DATABASE_HOST", "DATABASE_PORT", "DATABASE_NAME", "DATABASE_USER")} == {
        "DATABASE_HOST": "db.internal", "DATABASE_PORT": "5432", "DATABASE_NAME": "app", "DATABASE_USER": "app_app"}
    assert env["DATABASE_PASSWORD"] == LOGIN["password"] and env["PLATFORM_HTTP_PORT"] == "8000"
    answers["app/database"]["sslmode"] = "require"  # any other key of the login: DATABASE_<KEY>
    assert secrets_exec.resolve_environment(_request(), {})["DATABASE_SSLMODE"] == "require"
    # An application secret keeps its own key names.
    answers["app/config"]["port"] = "9000"
    assert secrets_exec.resolve_environment(_request(), {})["PORT"] == "9000"


def test_the_login_replaces_the_task_definitions_database_names_but_no_other_variable(
    answers: dict[str, Any],
) -> None:
    env = secrets_exec.resolve_environment(_request(), {"DATABASE_HOST": "old.internal", "DATABASE_NAME": "x"})
    assert env["DATABASE_HOST"] == "db.internal" and env["DATABASE_NAME"] == "app"
    with pytest.raises(VaultError, match=r"would replace existing variable\(s\) DATABASE_PORT"):
        secrets_exec.resolve_environment(_request(), {"DATABASE_PORT": "6543"})
    answers["app/config"]["database-host"] = "elsewhere"  # not the login: no replacing without --override
    only_config = secrets_exec.ExecRequest("https://vault:8200", "prod-app", ("app/config",))
    with pytest.raises(VaultError, match=r"would replace existing variable\(s\) DATABASE_HOST"):
        secrets_exec.resolve_environment(only_config, {"DATABASE_HOST": "db.internal"})


@pytest.mark.parametrize("existing", ["PORT", "LOG_LEVEL"])
def test_a_secret_never_replaces_an_existing_variable_unless_told(answers: dict[str, Any], existing: str) -> None:
    answers["app/config"][existing.lower()] = "/evil"
    with pytest.raises(VaultError, match=rf"would replace existing variable\(s\) {existing}"):
        secrets_exec.resolve_environment(_request(), {existing: "/usr/bin"})
    assert secrets_exec.resolve_environment(_request(override=True), {existing: "/usr/bin"})[existing] == "/evil"


LOADER_KEYS = ["LD_PRELOAD", "ld-library-path", "LD_AUDIT", "DYLD_INSERT_LIBRARIES", "PYTHONPATH", "pythonstartup",
               "PYTHONHOME", "NODE_OPTIONS", "NODE_PATH", "PERL5LIB", "PERL5OPT", "RUBYOPT", "RUBYLIB",
               "JAVA_TOOL_OPTIONS", "BASH_ENV", "ENV", "PATH", "IFS", "GLIBC_TUNABLES", "HOME"]  # fmt: skip


@pytest.mark.parametrize("key", LOADER_KEYS)
@pytest.mark.parametrize("override", [False, True])
@pytest.mark.parametrize("present", [False, True])
def test_a_secret_never_sets_a_loader_or_interpreter_variable(
    answers: dict[str, Any], key: str, override: bool, present: bool
) -> None:
    """Issue 18 item 5: not with --override, not when the process lacks the variable."""
    answers["app/config"][key] = "/tmp/evil.so-VALUE"
    name = secrets_exec.env_name(key)
    with pytest.raises(VaultError, match=rf"loader/interpreter variable\(s\) {name} \(from app/config\)") as err:
        secrets_exec.resolve_environment(_request(override=override), {name: "/usr/lib"} if present else {})
    assert "evil" not in str(err.value) and "VALUE" not in str(err.value)


def test_a_prefix_cannot_make_a_key_a_loader_variable(answers: dict[str, Any]) -> None:
    answers["app/config"]["preload"] = "/tmp/evil.so"
    with pytest.raises(VaultError, match=r"LD_DATABASE_USER .*LD_PRELOAD"):
        secrets_exec.resolve_environment(_request(prefix="LD_"), {})
    assert secrets_exec.resolve_environment(_request(prefix="APP_"), {})["APP_PRELOAD"] == "/tmp/evil.so"


def test_defaults_come_from_the_task_definitions_variables(
    answers: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from scripts.runtime.exec_cli import exec_cmd as exec_

    seen: dict[str, Any] = {}
    monkeypatch.setattr(secrets_exec, "exec_child", lambda cmd, env: seen.update(cmd=list(cmd), env=env))
    task_env = {"VAULT_ADDR": "https://vault:8200", "VAULT_ROLE": "prod-app", "VAULT_READ_PATHS": "app/database",
                "VAULT_KV_MOUNT": "kv"}  # fmt: skip
    monkeypatch.setenv("VAULT_READ_PATHS", task_env["VAULT_READ_PATHS"])
    result = CliRunner().invoke(exec_, ["--", "gunicorn", "app:wsgi"], env=task_env)
    assert result.exit_code == 0, result.output
    assert seen["cmd"] == ["gunicorn", "app:wsgi"]
    assert seen["env"]["DATABASE_URL"].startswith("postgresql://app_app:")

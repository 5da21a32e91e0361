"""Which logins and ECS services a rotation of a workload acts on, from the environment file
(`[services.*]` are the Vault workloads; docs/adr/0011) — the names `vault bootstrap` and the
service stack use."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from app.config import ConfigError, parse_environment
from app.schema import EnvironmentConfig
from scripts.rotation.adapter import grants, logins_of, services_reading
from scripts.vault.spec import build_spec

REPO = Path(__file__).resolve().parents[4]


def local_data() -> dict[str, Any]:
    return tomllib.loads((REPO / "app/environments/local.toml").read_text())


def env_of(data: dict[str, Any]) -> EnvironmentConfig:
    return parse_environment(data, "local.toml", expected_name="local")


def test_each_service_restarts_only_itself_by_default() -> None:
    env = env_of(local_data())
    assert services_reading(env, "app") == ("local-cluster", ("local-app",))
    assert services_reading(env, "worker") == ("local-cluster", ("local-worker",))


def test_a_service_can_no_longer_be_granted_another_workloads_login() -> None:
    """Before ADR 0017 another service could read `app/database` (and was restarted with it)."""
    data = local_data()
    data["services"]["worker"]["read_paths"] = ["worker/*", "app/database"]
    with pytest.raises(ConfigError, match=r"services\.worker\.read_paths\[1\]"):
        env_of(data)


def test_renamed_services_and_extra_workloads() -> None:
    data = local_data()
    data["services"] = {"web": data["services"]["app"], "jobs": data["services"]["worker"]}
    data["vault"]["workloads"] = [{"name": "reports", "read_paths": ["reports/*"]}]
    env = env_of(data)
    assert services_reading(env, "web") == ("local-cluster", ("local-web",))
    assert services_reading(env, "jobs") == ("local-cluster", ("local-jobs",))
    # A workload that is not a service has no task to replace.
    assert services_reading(env, "reports") == (None, ())
    assert services_reading(env, "app") == (None, ())


def test_rotation_logins_are_the_ones_bootstrap_creates() -> None:
    data = local_data()
    data["vault"]["workloads"] = [{"name": "batchreports"}]
    env = env_of(data)
    spec = build_spec(env, {}, auth="approle")
    created = {(lg.workload, lg.kind): (lg.username, lg.kv_path, lg.kv_mount) for lg in spec.database_logins}
    workloads = ("app", "worker", "batchreports")
    mounts = {False: "platform", True: "platform-internal"}
    rotated = {
        (w, lg.kind): (lg.group, lg.kv_path, mounts[lg.internal]) for w in workloads for lg in logins_of(env, w)
    }
    assert rotated == created
    # One application (docs/adr/0027): the worker has its own DML login but no migration login.
    assert ("worker", "app") in created and ("worker", "migration") not in created
    assert created[("batchreports", "app")] == ("batchreports_app", "batchreports/database", "platform")
    assert created[("batchreports", "migration")] == (
        "batchreports_migrator", "migration/batchreports/database", "platform-internal")


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("app/*", "app/database", True),
        ("app/database", "app/database", True),
        ("app/data*", "app/database", True),
        ("+/database", "app/database", True),
        ("*", "app/database", True),
        ("a*", "app/database", True),
        ("app/migration-database", "app/database", False),
        ("worker/*", "app/database", False),
        ("app", "app/database", False),
        ("app/database/x", "app/database", False),
        ("+/+/*", "app/database", False),
    ],
)
def test_vault_glob_rules(pattern: str, path: str, expected: bool) -> None:
    assert grants(pattern, path) is expected

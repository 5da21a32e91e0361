"""One name rule and one read-path rule for `[services.*]` and `[[vault.workloads]]` (ADR 0017):
what a workload may read is its own prefix and `shared/`, refused otherwise before Terraform or
Vault, naming the file and the field - in production too."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from app.config import DEFAULT_CONFIG_DIR, ConfigError, parse_environment
from app.contracts import names as contracts

LOCAL = tomllib.loads((DEFAULT_CONFIG_DIR / "local.toml").read_text())
PROD = tomllib.loads((DEFAULT_CONFIG_DIR / "prod.toml").read_text())
# The reproductions of issue 18 and their neighbours.
BAD_READ_PATHS = [
    "*",
    "+/migration-database",
    "platform-admin/database",
    "rotation/*",
    "worker/database",  # another workload's login
    "worker/*",
    "a*",  # a top-level glob matching `app/...` and any other `a...` workload
    "app*",  # would match `app2/...`
    "app/+",
    "app/+/database",
    "shared*",
    "shared/../worker/database",
    "app/./x",
    "app//x",
    "/app/x",
    "app/x y",
    "admin/database",
    "migration/app/database",
]


def problems(data: dict[str, Any], name: str) -> dict[str, str]:
    with pytest.raises(ConfigError) as exc:
        parse_environment(data, f"{name}.toml", name)
    assert exc.value.source == f"{name}.toml"
    return {p.field: p.message for p in exc.value.problems}


@pytest.mark.parametrize("base", ["local", "prod"])
@pytest.mark.parametrize("path", BAD_READ_PATHS)
def test_a_service_may_read_only_its_own_prefix_and_shared(base: str, path: str) -> None:
    data = copy.deepcopy(LOCAL if base == "local" else PROD)
    service = sorted(data["services"])[0]
    data["services"][service]["read_paths"] = [f"{service}/*", path.replace("app", service)]
    found = problems(data, base)
    assert f"services.{service}.read_paths[1]" in found, found


@pytest.mark.parametrize("path", BAD_READ_PATHS)
def test_a_vault_workload_may_read_only_its_own_prefix_and_shared(path: str) -> None:
    data = copy.deepcopy(LOCAL)
    data["vault"]["workloads"] = [{"name": "reports", "read_paths": ["reports/*", path.replace("app", "reports")]}]
    found = problems(data, "local")
    assert "vault.workloads[0].read_paths[1]" in found, found


@pytest.mark.parametrize(
    "paths", [["app/*"], ["app", "app/*"], ["app/database", "shared/*"], ["shared/stripe/key"], ["shared/"], []]
)
def test_own_and_shared_paths_are_accepted(paths: list[str]) -> None:
    data = copy.deepcopy(LOCAL)
    data["services"]["app"]["read_paths"] = paths
    env = parse_environment(data, "local.toml", "local")
    assert env.services["app"].read_paths == paths


@pytest.mark.parametrize(
    "name",
    [
        "migration",
        "app-migration",
        "platform-admin",
        "rotation",
        "shared",
        "admin",
        "pg",
        "platform",
        "cluster",
        "migrate",
        "Api",
        "batch-reports",
        "batch_reports",
        "a" * 21,
        "1app",
    ],
)
def test_services_and_vault_workloads_share_one_name_rule(name: str) -> None:
    service = copy.deepcopy(LOCAL)
    service["services"][name] = {**service["services"].pop("worker"), "read_paths": []}
    assert f"services.{name}" in problems(service, "local")
    workload = copy.deepcopy(LOCAL)
    workload["vault"]["workloads"] = [{"name": name}]
    assert "vault.workloads[0].name" in problems(workload, "local")


def test_reserved_names_are_declared_once_and_cover_every_platform_prefix() -> None:
    for prefix in ("rotation", "migration", "admin", "shared", "platform"):
        assert prefix in contracts.RESERVED_WORKLOAD_NAMES


def test_a_derived_postgres_login_may_not_be_the_master_user() -> None:
    data = copy.deepcopy(LOCAL)
    data.setdefault("database", {})["master_username"] = "reports_app"
    data["vault"]["workloads"] = [{"name": "reports"}]
    found = problems(data, "local")
    assert "already used by database.master_username" in found["vault.workloads[0].name"], found


@pytest.mark.parametrize("mount", ["platform-internal", "platform-internal/x", "a/b-internal"])
def test_a_workload_mount_may_not_be_or_lie_in_an_internal_mount(mount: str) -> None:
    data = copy.deepcopy(LOCAL)
    data["vault"]["kv_mount"] = mount
    assert "vault.kv_mount" in problems(data, "local")


def test_platformctl_validate_names_the_file_and_field_for_prod(tmp_path: Path) -> None:
    """The issue's reproduction: `read_paths = ["*"]` in prod passed `platformctl validate`."""
    data = (DEFAULT_CONFIG_DIR / "prod.toml").read_text()
    service = sorted(PROD["services"])[0]
    data += '\n[[vault.workloads]]\nname = "reports"\nread_paths = ["rotation/*"]\n'
    data = data.replace(f"[services.{service}]", f'[services.{service}]\nread_paths = ["*"]', 1)
    (tmp_path / "prod.toml").write_text(data)
    env = {**os.environ, "PLATFORM_CONFIG_DIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "scripts.platformctl", "validate"], env=env, capture_output=True,
                          text=True, check=False, timeout=120)
    assert proc.returncode == 64, proc.stdout + proc.stderr
    assert f"prod.toml: services.{service}.read_paths[0]:" in proc.stderr
    assert "vault.workloads[0].read_paths[0]:" in proc.stderr

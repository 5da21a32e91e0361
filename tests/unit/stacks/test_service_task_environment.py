"""What the service stack puts into each task definition's environment: the Vault paths the
entrypoint reads (the login plus concrete `read_paths`)."""

from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from app.config import DEFAULT_CONFIG_DIR, parse_environment
from app.contracts import names as c

LOCAL = tomllib.loads((DEFAULT_CONFIG_DIR / "local.toml").read_text())


def synthesized_environments(tmp_path: Path, data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """family -> the container's environment, from the synthesized local-service stack."""
    from app.main import build_app

    env = parse_environment(data, "local.toml", "local")
    build_app([env], str(tmp_path)).synth()
    stack = json.loads((tmp_path / "stacks" / "local-service" / "cdk.tf.json").read_text())
    out = {}
    for td in stack["resource"]["aws_ecs_task_definition"].values():
        (cdef,) = json.loads(td["container_definitions"])
        out[td["family"]] = {e["name"]: e["value"] for e in cdef["environment"]}
    return out


@pytest.fixture(scope="module")
def shared_secret(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    data = copy.deepcopy(LOCAL)
    data["services"]["app"]["read_paths"] = ["app/*", "shared/django", "shared/", "app/database"]
    data["services"]["worker"]["read_paths"] = ["worker/*", "shared/reports/*", "shared/django"]
    return synthesized_environments(tmp_path_factory.mktemp("synth"), data)


def test_concrete_read_paths_reach_the_entrypoint_wildcards_do_not(shared_secret: dict[str, Any]) -> None:
    """Issue 20: `shared/django` was granted by the policy but never read by `secrets exec`."""
    assert shared_secret["local-app"][c.ENV_VAULT_READ_PATHS] == "app/database,shared/django"
    assert shared_secret["local-worker"][c.ENV_VAULT_READ_PATHS] == "worker/database,shared/django"
    # The migration reads its own login only, whatever the services may read.
    assert shared_secret["local-migrate"][c.ENV_VAULT_READ_PATHS] == "migration/app/database"


def test_default_read_paths_are_a_grant_only(tmp_path: Path) -> None:
    envs = synthesized_environments(tmp_path, copy.deepcopy(LOCAL))
    assert envs["local-app"][c.ENV_VAULT_READ_PATHS] == "app/database"
    assert envs["local-worker"][c.ENV_VAULT_READ_PATHS] == "worker/database"

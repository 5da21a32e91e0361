"""What the service stack puts into each task definition's environment: the Vault paths the
entrypoint reads (the login plus concrete `read_paths`), and for a service behind the load balancer
its port, public hosts and origins (issue 20)."""

from __future__ import annotations

import copy
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from app.config import DEFAULT_CONFIG_DIR, ConfigError, parse_environment
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


ALB_DNS = re.compile(r"^\$\{aws_lb\.[A-Za-z0-9_-]+\.dns_name\}$")


def test_a_web_service_learns_its_port_hosts_and_origins(shared_secret: dict[str, Any]) -> None:
    """Local: no certificate, so the origins are http://; the hosts are the load balancer's own name."""
    app = shared_secret["local-app"]
    assert app[c.ENV_HTTP_PORT] == "8000"
    assert ALB_DNS.match(app[c.ENV_PUBLIC_HOSTS]), app[c.ENV_PUBLIC_HOSTS]
    assert app[c.ENV_PUBLIC_ORIGINS] == "http://" + app[c.ENV_PUBLIC_HOSTS]
    worker = shared_secret["local-worker"]
    assert not {c.ENV_HTTP_PORT, c.ENV_PUBLIC_HOSTS, c.ENV_PUBLIC_ORIGINS} & set(worker)
    assert not {c.ENV_HTTP_PORT, c.ENV_PUBLIC_HOSTS, c.ENV_PUBLIC_ORIGINS} & set(shared_secret["local-migrate"])


def test_host_headers_and_a_certificate_make_https_origins(tmp_path: Path) -> None:
    data = copy.deepcopy(LOCAL)
    data["services"]["app"].update(host_headers=["shop.example.com", "*.shop.example.com"], container_port=8080)
    certificate = "arn:aws:acm:us-east-1:000000000000:certificate/0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e"
    data["load_balancer"] = {**data.get("load_balancer", {}), "certificate_arn": certificate}
    app = synthesized_environments(tmp_path, data)["local-app"]
    assert app[c.ENV_HTTP_PORT] == "8080"
    shop, wildcard, alb = app[c.ENV_PUBLIC_HOSTS].split(",")
    assert (shop, wildcard) == ("shop.example.com", "*.shop.example.com") and ALB_DNS.match(alb)
    assert app[c.ENV_PUBLIC_ORIGINS] == f"https://shop.example.com,https://*.shop.example.com,https://{alb}"


def test_a_service_may_not_set_the_public_variables_itself() -> None:
    data = copy.deepcopy(LOCAL)
    data["services"]["app"]["environment"] = {c.ENV_PUBLIC_HOSTS: "evil.example"}
    with pytest.raises(ConfigError) as exc:
        parse_environment(data, "local.toml", "local")
    assert f"local.toml: services.app.environment.{c.ENV_PUBLIC_HOSTS}: " in str(exc.value)
    assert "set by the platform" in str(exc.value)

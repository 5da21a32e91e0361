"""`[services.*]`, `[load_balancer]`, `[migration]`: names, kinds, routes and secrets are checked
before Terraform, every problem at once with its field."""

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

LOCAL = tomllib.loads((DEFAULT_CONFIG_DIR / "local.toml").read_text())
PROD = tomllib.loads((DEFAULT_CONFIG_DIR / "prod.toml").read_text())


def problems(data: dict[str, Any], name: str = "local") -> dict[str, str]:
    with pytest.raises(ConfigError) as exc:
        parse_environment(data, f"{name}.toml", name)
    return {p.field: p.message for p in exc.value.problems}


def with_service(name: str, **fields: Any) -> dict[str, Any]:
    data = copy.deepcopy(LOCAL)
    data["services"][name] = {"image": "img:1", "autoscaling": {"enabled": False}, **fields}
    return data


def test_local_runs_a_web_service_and_a_worker_gated_by_one_migration() -> None:
    env = parse_environment(copy.deepcopy(LOCAL), "local.toml", "local")
    assert {n: s.kind for n, s in env.services.items()} == {"app": "web", "worker": "worker"}
    assert env.gated_services == ["app", "worker"]
    assert env.migration_owner == "app" and env.migration_image == env.services["app"].image
    assert [w.name for w in env.vault.workloads] == ["app", "worker"]
    assert env.services["worker"].read_paths == ["worker/*"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Web", "must be 1-20 lowercase letters/digits"),
        ("web-api", "must be 1-20 lowercase letters/digits"),
        ("a" * 21, "must be 1-20 lowercase letters/digits"),
        ("migration", "is reserved"),
        ("cluster", "is reserved"),
    ],
)
def test_service_names_follow_every_derived_name_rule(name: str, message: str) -> None:
    found = problems(with_service(name, kind="worker"))
    assert message in found[f"services.{name}"]


def test_a_worker_cannot_take_web_settings() -> None:
    found = problems(with_service("jobs", kind="worker", container_port=9000, path_patterns=["/jobs/*"]))
    assert "only for kind = 'web'" in found["services.jobs.container_port"]
    assert "only for kind = 'web'" in found["services.jobs.path_patterns"]


def test_only_one_web_service_may_take_the_default_route() -> None:
    found = problems(with_service("api", kind="web"))
    assert "app, api" in found["services"] or "api, app" in found["services"]
    env = parse_environment(with_service("api", kind="web", path_patterns=["/api/*"]), "local.toml", "local")
    assert env.services["api"].path_patterns == ["/api/*"]


@pytest.mark.parametrize("key", ["DB_PASSWORD", "STRIPE_KEY", "API_TOKEN"])
def test_secret_looking_environment_variables_are_refused(key: str) -> None:
    found = problems(with_service("jobs", kind="worker", environment={key: "s3cr3t-value", "LOG_LEVEL": "info"}))
    assert "looks like a secret" in found[f"services.jobs.environment.{key}"]
    assert all("s3cr3t-value" not in m for m in found.values())


def test_platform_variables_cannot_be_redefined() -> None:
    found = problems(with_service("jobs", kind="worker", environment={"VAULT_ROLE": "prod-admin"}))
    assert "set by the platform" in found["services.jobs.environment.VAULT_ROLE"]


def test_a_pasted_secret_in_a_wrong_place_is_never_echoed() -> None:
    pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"
    data = with_service("jobs", kind="worker", cpu=pem, image="postgres://admin:hunter2@db/app x")
    with pytest.raises(ConfigError) as exc:
        parse_environment(data, "local.toml", "local")
    text = str(exc.value)
    assert "services.jobs.cpu: must be an integer" in text
    assert "MIIE" not in text and "BEGIN" not in text and "hunter2" not in text


def test_migration_image_from_must_name_a_service_and_vault_workloads_cannot_shadow_one() -> None:
    data = copy.deepcopy(LOCAL)
    data["migration"]["image_from"] = "web"
    data["vault"]["workloads"] = [{"name": "app", "read_paths": ["app/*"]}]
    found = problems(data)
    assert "names no service of this file (services: app, worker)" in found["migration.image_from"]
    assert "is a service already" in found["vault.workloads"]


def test_unknown_fields_in_a_service_list_the_known_ones() -> None:
    found = problems(with_service("jobs", kind="worker", replicas=3))
    known = "unknown field (known fields: autoscaling, command, container_port, cpu"
    assert found["services.jobs.replicas"].startswith(known)


def test_every_problem_of_every_service_at_once() -> None:
    data = with_service("jobs", kind="worker", cpu=256, memory=4096, desired_count=0, log_retention_days=8)
    data["services"]["app"]["health_check_path"] = "healthz"
    found = problems(data)
    assert {"services.jobs.memory", "services.jobs.desired_count", "services.jobs.log_retention_days",
            "services.app.health_check_path"} <= set(found)  # fmt: skip


def test_prod_worker_image_must_be_pinned_unless_overridden() -> None:
    data = copy.deepcopy(PROD)
    data["services"]["worker"]["image"] = "public.ecr.aws/acme/app:latest"
    assert "pinned by digest" in problems(data, "prod")["services.worker.image"]
    data["unsafe_overrides"] = {"services.worker.image": "canary build, OPS-9"}
    assert parse_environment(data, "prod.toml", "prod").services["worker"].image.endswith(":latest")


def test_an_environment_without_services_is_the_platform_only() -> None:
    data = copy.deepcopy(LOCAL)
    data.pop("services")
    env = parse_environment(data, "local.toml", "local")
    assert env.services == {} and env.vault.workloads == []


# --- issue 18 item 6: image references, task counts and the migration timeout -------------------

DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(
    "image",
    ["nginx", "nginx:1.25", "acme/app:Latest", f"app@{DIGEST}", f"app:1.2@{DIGEST}", "localhost:5000/app:v1",
     "registry.example.com:5000/team/app-web_v2:2024.01-rc1", "a__b/c--d/e.f", "[::1]:5000/app",
     f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app@sha512:{'ab' * 64}", "x" * 255],
)  # fmt: skip
def test_image_references_of_the_real_grammar_are_accepted(image: str) -> None:
    env = parse_environment(with_service("jobs", kind="worker", image=image), "local.toml", "local")
    assert env.services["jobs"].image == image


@pytest.mark.parametrize(
    ("image", "why"),
    [
        ("Acme/App:Latest", "must be lowercase"),
        ("acme/App", "must be lowercase"),
        ("Acme/app", "must be lowercase"),  # `Acme` is no registry (no '.', ':'): a Docker Hub path
        ("registry.example.com/Team/app:1", "must be lowercase"),
        ("app:", "the tag must be"),
        ("app:-rc1", "the tag must be"),
        ("app:" + "t" * 129, "the tag must be"),
        ("app:1.0:2", "path component"),
        ("app@sha256:" + "0" * 63, "the digest must be"),
        ("app@sha256:" + "A" * 64, "the digest must be"),
        ("app@md5:" + "0" * 32, "the digest must be"),
        (f"app@{DIGEST}@{DIGEST}", "the digest must be"),
        ("acme//app", "path component"),
        ("/app", "path component"),
        ("acme/app/", "path component"),
        ("a___b", "path component"),
        ("a..b", "path component"),
        ("-app", "path component"),
        ("reg.example.com:port/app", "the registry must be"),
        ("my app:1", "path component"),
        ("app:${file(\"/etc/passwd\")}", "the registry must be"),
        ("app:${var.x}", "the tag must be"),
        ("", "has no repository name"),
        ("x" * 256, "longer than 255"),
    ],
)
def test_bad_image_references_are_refused_naming_file_and_field(image: str, why: str) -> None:
    found = problems(with_service("jobs", kind="worker", image=image))
    assert why in found["services.jobs.image"], found
    assert found["services.jobs.image"].startswith("not a container image reference")


def test_the_migration_and_vault_images_follow_the_same_grammar() -> None:
    data = copy.deepcopy(LOCAL)
    data["migration"]["image"] = "Acme/Migrate:1"
    assert "must be lowercase" in problems(data)["migration.image"]
    prod = copy.deepcopy(PROD)
    prod["vault"]["image"] = f"HashiCorp/Vault:1.17.6@{DIGEST}"
    with pytest.raises(ConfigError) as exc:
        parse_environment(prod, "prod.toml", "prod")
    assert "prod.toml: vault.image: not a container image reference (the repository must be lowercase" in str(exc.value)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"desired_count": 100000}, "desired_count"),
        ({"desired_count": 5001}, "desired_count"),
        ({"autoscaling": {"enabled": True, "min_capacity": 2, "max_capacity": 100000}}, "autoscaling.max_capacity"),
        ({"autoscaling": {"enabled": True, "min_capacity": 6000, "max_capacity": 6000}}, "autoscaling.min_capacity"),
        ({"autoscaling": {"enabled": False, "min_capacity": 2, "max_capacity": 10**9}}, "autoscaling.max_capacity"),
    ],
)
def test_task_counts_above_the_ecs_per_service_quota_are_refused(fields: dict[str, Any], field: str) -> None:
    data = copy.deepcopy(PROD)
    data["services"]["worker"].update(fields)
    with pytest.raises(ConfigError) as exc:
        parse_environment(data, "prod.toml", "prod")
    found = {p.field: p.message for p in exc.value.problems}
    assert "ECS runs at most 5000 tasks per service" in found[f"services.worker.{field}"], found
    assert f"prod.toml: services.worker.{field}: ECS runs at most 5000" in str(exc.value)


def test_the_quota_itself_is_accepted() -> None:
    data = copy.deepcopy(PROD)
    data["services"]["worker"].update(
        {"desired_count": 5000, "autoscaling": {"enabled": True, "min_capacity": 5000, "max_capacity": 5000}}
    )
    assert parse_environment(data, "prod.toml", "prod").services["worker"].desired_count == 5000


def test_a_self_hosted_vault_count_above_the_quota_is_refused() -> None:
    data = copy.deepcopy(PROD)
    data["vault"]["desired_count"] = 100000
    with pytest.raises(ConfigError, match=r"prod\.toml: vault\.desired_count: ECS runs at most 5000"):
        parse_environment(data, "prod.toml", "prod")


@pytest.mark.parametrize("seconds", [1_000_000_000, 86_401])
def test_a_migration_timeout_beyond_a_day_is_refused(seconds: int) -> None:
    data = copy.deepcopy(LOCAL)
    data["migration"]["timeout_seconds"] = seconds
    assert "at most 86400 (24 h)" in problems(data)["migration.timeout_seconds"]
    data["migration"]["timeout_seconds"] = 86_400
    assert parse_environment(data, "local.toml", "local").migration.timeout_seconds == 86_400


def test_the_gate_refuses_a_timeout_beyond_a_day_from_its_flag_or_variable() -> None:
    from click.testing import CliRunner

    from scripts.migrate.cli import migrate

    for args, env in ((["--timeout", "1000000000"], {}), ([], {"PLATFORM_MIGRATION_TIMEOUT": "86401"})):
        result = CliRunner().invoke(migrate, ["run", "--local", "--service", "s", *args, "--", "true"], env=env)
        assert result.exit_code == 64 and "86400" in result.output, result.output


def _differing_images(**migration: Any) -> dict[str, Any]:
    data = copy.deepcopy(LOCAL)
    data["services"]["worker"]["image"] = "registry.example/shop:worker-8"
    data["migration"].update(migration)
    return data


def test_differing_images_without_an_owner_warn_naming_file_and_field(capsys: pytest.CaptureFixture[str]) -> None:
    """Item 3 of issue 20: a warning on stderr, and the file is still valid."""
    env = parse_environment(_differing_images(), "local.toml", "local")
    assert env.migration_owner == "app"
    err = capsys.readouterr().err
    assert err.startswith("local.toml: warning: migration.image_from: not set while the gated services' images differ")
    assert "'registry.example/shop:worker-8'" in err and "runs with the image of 'app' only" in err


@pytest.mark.parametrize("choice", [{"image_from": "worker"}, {"image_from": "app"}, {"image": "registry.example/m:1"}])
def test_an_explicit_migration_image_silences_the_warning(
    capsys: pytest.CaptureFixture[str], choice: dict[str, str]
) -> None:
    parse_environment(_differing_images(**choice), "local.toml", "local")
    parse_environment(copy.deepcopy(LOCAL), "local.toml", "local")  # equal images: nothing to choose
    assert capsys.readouterr().err == ""


def test_platformctl_validate_prints_the_warning_and_succeeds(tmp_path: Path) -> None:
    text = (DEFAULT_CONFIG_DIR / "local.toml").read_text()
    head, worker = text.split("[services.worker]", 1)
    worker = worker.replace('image = "platform-example-app:local"', 'image = "platform-example-app:worker"', 1)
    (tmp_path / "local.toml").write_text(head + "[services.worker]" + worker)
    env = {**os.environ, "PLATFORM_CONFIG_DIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "scripts.platformctl", "validate"], env=env, capture_output=True,
                          text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "local.toml: warning: migration.image_from: not set" in proc.stderr


@pytest.mark.parametrize("key", ["DATABASE_URL", "DATABASE_PORT", "DATABASE_USER"])
def test_the_names_secrets_exec_sets_from_the_database_login_cannot_be_redefined(key: str) -> None:
    found = problems(with_service("jobs", kind="worker", environment={key: "5433"}))
    assert "set by the platform" in found[f"services.jobs.environment.{key}"]

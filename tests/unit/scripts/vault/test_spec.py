"""The desired state derived from the environment config: names, bindings, least privilege."""

from __future__ import annotations

import copy
import re
import tomllib

import pytest

from app.config import DEFAULT_CONFIG_DIR, parse_environment
from app.schema import EnvironmentConfig, VaultWorkloadConfig
from scripts.vault.spec import SpecError, SpecOptions, build_spec

APP_ARN = "arn:aws:iam::123456789012:role/ecs/app-task"


def test_one_role_and_policy_per_workload_bound_to_its_task_role(local_env: EnvironmentConfig) -> None:
    spec = build_spec(local_env, {"app": APP_ARN})
    assert [(r.name, r.bound_iam_principal_arn, r.policies) for r in spec.roles] == [
        ("local-app", APP_ARN, ("local-app",))]
    assert [p.name for p in spec.policies] == ["local-app", "local-app-migration"]
    assert spec.kv_mount.path == "platform" and spec.kv_mount.options == {"version": "2"}
    assert spec.internal_mount.path == "platform-internal" and spec.internal_mount.options == {"version": "2"}
    assert spec.audit.options == {"file_path": "stdout"}
    assert [(lg.username, lg.kv_mount, lg.kv_path) for lg in spec.database_logins] == [
        ("app_app", "platform", "app/database"), ("app_migrator", "platform-internal", "migration/app/database")]


def test_workload_policy_reads_only_its_paths_and_never_the_migration_login(
        local_env: EnvironmentConfig) -> None:
    policy = build_spec(local_env, {"app": APP_ARN}).policies[0].text
    assert 'path "platform/data/app/*" {\n  capabilities = ["read"]\n}' in policy
    assert 'path "platform/metadata/app/*" {\n  capabilities = ["read", "list"]\n}' in policy
    for broad in ("create", "update", "delete", "sudo", '"*"', 'path "platform/*"', "internal", "migration"):
        assert broad not in policy


def test_each_migration_policy_reads_only_its_own_login(local_env: EnvironmentConfig) -> None:
    workloads = [VaultWorkloadConfig(name="app", read_paths=["app/*"]), VaultWorkloadConfig(name="jobs")]
    env = local_env.model_copy(update={"vault": local_env.vault.model_copy(update={"workloads": workloads})})
    policies = {p.name: p.text for p in build_spec(env, {}, auth="approle").policies}
    assert policies["local-jobs-migration"] == (
        "# managed by platformctl: schema migrations of jobs\n"
        'path "platform-internal/data/migration/jobs/database" {\n  capabilities = ["read"]\n}\n')
    assert "local-migration" not in policies


@pytest.mark.parametrize(
    ("name", "paths", "expected"),
    [
        ("app", ["*"], "read path '*' of workload 'app' must start with 'app/'"),
        ("app", ["+/migration-database"], "read path '+/migration-database'"),
        ("app", ["platform-admin/database"], "read path 'platform-admin/database'"),
        ("app", ["rotation/*"], "read path 'rotation/*'"),
        ("app", ["app*"], "read path 'app*'"),
        ("app", ["app/+/x"], "never '+'"),
        ("app", ["shared/../x"], "'..'"),
        ("rotation", ["rotation/*"], "workload name 'rotation' is reserved"),
        ("app-migration", [], "workload name 'app-migration' must be"),
        ("platform-admin", [], "workload name 'platform-admin' must be"),
        ("migration", [], "workload name 'migration' is reserved"),
    ],
)
def test_spec_refuses_what_validation_refuses(
        local_env: EnvironmentConfig, name: str, paths: list[str], expected: str) -> None:
    """A configuration that skipped app validation still cannot produce a broader policy."""
    env = local_env.model_copy(update={"vault": local_env.vault.model_copy(
        update={"workloads": [VaultWorkloadConfig(name=name, read_paths=paths)]})})
    with pytest.raises(SpecError, match=re.escape(expected)):
        build_spec(env, {}, auth="approle")


def test_every_input_problem_is_reported_at_once(local_env: EnvironmentConfig) -> None:
    workloads = [VaultWorkloadConfig(name="app", read_paths=["app/*"]),
                 VaultWorkloadConfig(name="jobs", read_paths=["/abs"])]
    env = local_env.model_copy(update={"vault": local_env.vault.model_copy(update={"workloads": workloads})})
    with pytest.raises(SpecError) as err:
        build_spec(env, {"app": "not-an-arn", "ghost": APP_ARN})
    message = str(err.value)
    assert "unknown workload 'ghost'" in message
    assert "no task role ARN given for workload 'jobs'" in message
    assert "task role ARN of 'app' is not an IAM role ARN" in message
    assert "read path '/abs' of workload 'jobs'" in message


def test_migration_role_gets_the_migration_policy_and_client_config_only_when_set(
        local_env: EnvironmentConfig) -> None:
    spec = build_spec(local_env, {"app": APP_ARN}, {"app": "arn:aws:iam::123456789012:role/app-migrate"},
                      SpecOptions(sts_endpoint="http://127.0.0.1:5000"))
    assert spec.roles[1].name == "local-app-migration" and spec.roles[1].policies == ("local-app-migration",)
    assert spec.aws_client_config == {"sts_endpoint": "http://127.0.0.1:5000"}
    assert build_spec(local_env, {"app": APP_ARN}).aws_client_config == {}


def test_approle_spec_needs_no_role_arns_and_binds_the_same_policies(local_env: EnvironmentConfig) -> None:
    spec = build_spec(local_env, {}, options=SpecOptions(approle_mount="approle"), auth="approle")
    assert spec.login_auth == "approle" and spec.roles == ()
    assert spec.approle_auth is not None and spec.approle_auth.type == "approle"
    assert [(r.name, r.policies) for r in spec.approle_roles] == [
        ("local-app", ("local-app",)), ("local-app-migration", ("local-app-migration",))]
    # The policies are the very ones AWS IAM auth would bind.
    assert spec.policies == build_spec(local_env, {"app": APP_ARN}).policies


def test_aws_spec_still_requires_a_task_role_per_workload(local_env: EnvironmentConfig) -> None:
    with pytest.raises(SpecError, match="no task role ARN given for workload 'app'"):
        build_spec(local_env, {})


def test_process_types_share_the_application_schema_each_with_its_own_login() -> None:
    """docs/adr/0027: one migration login owns schema `app`; the worker's DML login works in it."""
    data = tomllib.loads((DEFAULT_CONFIG_DIR / "local.toml").read_text())
    mailer = {"kind": "worker", "image": "img:1", "database": False, "autoscaling": {"enabled": False}}
    data["services"]["mailer"] = mailer
    env = parse_environment(copy.deepcopy(data), "local.toml", "local")
    spec = build_spec(env, {}, auth="approle")
    logins = spec.database_logins
    # Only the application migrates: no migration policy or role for the worker (or the mailer).
    assert sorted(p.name for p in spec.policies) == ["local-app", "local-app-migration", "local-mailer", "local-worker"]
    assert sorted(r.name for r in spec.approle_roles) == ["local-app", "local-app-migration", "local-mailer",
                                                          "local-worker"]
    assert [(lg.username, lg.kind, lg.schema, lg.kv_mount, lg.kv_path) for lg in logins] == [
        ("app_app", "app", "app", "platform", "app/database"),
        ("app_migrator", "migration", "app", "platform-internal", "migration/app/database"),
        ("worker_app", "app", "app", "platform", "worker/database"),
    ]

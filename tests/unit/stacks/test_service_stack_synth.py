"""`<env>-service` as synthesized by `python -m app` (the session's one synth of every environment):
rolling-deploy settings, the gate ordering, which runner each environment's gate uses, the
cross-stack wiring to network/database, no secret values, and checkov on prod."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from app.config import ConfigError, parse_environment
from tests.helpers.checkov import run_checkov
from tests.helpers.synth import Synth, synth_all

REPO = Path(__file__).resolve().parents[3]
SECRET_MARKERS = ("PASSWORD", "PASSWD", "SECRET", "TOKEN", "KEY", "CREDENTIAL", "PRIVATE")


def resources(s: Synth, stack: str, rtype: str) -> dict[str, dict[str, Any]]:
    return s.resources(stack, rtype)


def by_path(s: Synth, stack: str, rtype: str, suffix: str) -> tuple[str, dict[str, Any]]:
    found = [(n, r) for n, r in resources(s, stack, rtype).items() if r["//"]["metadata"]["path"].endswith(suffix)]
    assert len(found) == 1, f"{rtype} */{suffix} in {stack}: {[n for n, _ in found]}"
    return found[0]


def local_exec(resource: dict[str, Any]) -> dict[str, Any]:
    (prov,) = resource["provisioner"]
    return dict(prov["local-exec"])


def argv(step: dict[str, Any]) -> list[str]:
    """The gate's argv: executed without a shell, `interpreter` + `command` (docs/adr/0018)."""
    return [*step["interpreter"], step["command"]]


def option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def cross_stack(stack: str, output_fragment: str) -> re.Pattern[str]:
    return re.compile(
        rf"data\.terraform_remote_state\.cross-stack-reference-input-{stack}\.outputs\.[^,\]\}}]*{output_fragment}"
    )


def ecs_services(s: Synth, stack: str) -> dict[str, dict[str, Any]]:
    """ECS service name -> body."""
    return {r["name"]: r for r in resources(s, stack, "aws_ecs_service").values()}


@pytest.mark.parametrize("env", ["prod", "staging", "dev", "local"])
def test_rolling_deploy_keeps_full_capacity_and_rolls_back(synthesized: Synth, env: str) -> None:
    svcs = ecs_services(synthesized, f"{env}-service")
    assert f"{env}-app" in svcs
    for svc in svcs.values():
        assert svc["deployment_minimum_healthy_percent"] == 100
        assert svc["deployment_maximum_percent"] == 200
        assert svc["deployment_circuit_breaker"] == {"enable": True, "rollback": True}
        assert svc["wait_for_steady_state"] is True
        assert svc["launch_type"] == "FARGATE"


@pytest.mark.parametrize("env", ["prod", "local"])
def test_every_service_update_depends_on_the_one_migration_gate(synthesized: Synth, env: str) -> None:
    stack = f"{env}-service"
    gate_name, gate = by_path(synthesized, stack, "terraform_data", "migration/gate")
    svcs = ecs_services(synthesized, stack)
    assert set(svcs) == {f"{env}-app", f"{env}-worker"}
    for svc in svcs.values():
        assert f"terraform_data.{gate_name}" in svc["depends_on"]
    tds = {}
    for name in ("app", "worker"):
        _, td = by_path(synthesized, stack, "aws_ecs_task_definition", f"{name}-task-definition/task-definition")
        assert td["depends_on"] == [f"terraform_data.{gate_name}"]
        tds[name] = td
    mig_td, _ = by_path(synthesized, stack, "aws_ecs_task_definition", "migration-task-definition/task-definition")
    # A new migration *or* a new image of any gated service runs the migration (once) first.
    assert gate["triggers_replace"] == {
        "migration_task_definition": f"${{aws_ecs_task_definition.{mig_td}.arn}}",
        "image_app": json.loads(tds["app"]["container_definitions"])[0]["image"],
        "image_worker": json.loads(tds["worker"]["container_definitions"])[0]["image"],
    }


def test_prod_gate_runs_the_ecs_runner_with_the_migration_network(synthesized: Synth) -> None:
    _, gate = by_path(synthesized, "prod-service", "terraform_data", "migration/gate")
    step = local_exec(gate)
    args = argv(step)
    assert args[:9] == ["platformctl", "migrate", "run", "--environment", "prod", "--service", "prod-app",
                        "--region", "eu-west-1"]  # fmt: skip
    assert "--local" not in args
    assert option(args, "--task-definition").startswith("${aws_ecs_task_definition.migration-task-definition_")
    assert option(args, "--container") == "app"
    assert option(args, "--cluster").startswith("${aws_ecs_cluster.")
    subnets, sgs = option(args, "--subnets"), option(args, "--security-groups")
    # Private subnets of prod-network (3 AZs), the migration client SG of prod-database + its own egress SG.
    assert len(cross_stack("prod-network", "network_private-").findall(subnets)) == 3
    assert cross_stack("prod-database", "migration-client-sg").search(sgs)
    assert "app-client-sg" not in sgs
    assert "aws_security_group.migration-network_task-sg" in sgs
    assert "working_dir" not in step


def test_prod_checks_the_rollout_of_each_service_after_it(synthesized: Synth) -> None:
    svcs = {r["name"]: n for n, r in resources(synthesized, "prod-service", "aws_ecs_service").items()}
    for name in ("app", "worker"):
        _, check = by_path(synthesized, "prod-service", "terraform_data", f"migration/rollout-check-{name}")
        assert check["depends_on"] == [f"aws_ecs_service.{svcs[f'prod-{name}']}"]
        args = argv(local_exec(check))
        assert args[:5] == ["platformctl", "migrate", "verify-rollout", "--region", "eu-west-1"]
        assert option(args, "--service") == f"prod-{name}"
        assert option(args, "--task-definition").startswith(f"${{aws_ecs_task_definition.{name}-task-definition_")


def test_local_gate_runs_the_local_runner_without_a_machine_path(synthesized: Synth) -> None:
    _, gate = by_path(synthesized, "local-service", "terraform_data", "migration/gate")
    step = local_exec(gate)
    assert argv(step) == [
        "platformctl", "migrate", "run", "--environment", "local", "--service", "local-app", "--local",
        "--cwd", "examples/webapp",
    ]  # fmt: skip
    # `--cwd` is resolved against the repository by platformctl at run time: nothing of this
    # checkout's location is synthesized, so a second clone produces identical JSON.
    assert "working_dir" not in step
    assert "environment" not in step  # DATABASE_URL is inherited from the deploying process, never synthesized
    # The emulator never rolls a deployment record forward: no rollout check on local.
    paths = [r["//"]["metadata"]["path"] for r in resources(synthesized, "local-service", "terraform_data").values()]
    assert paths == ["local-service/migration/gate"]


def test_no_stack_names_the_checkout_path(synthesized: Synth) -> None:
    for stack in synthesized.stack_names():
        text = (synthesized.stack_dir(stack) / "cdk.tf.json").read_text()
        assert str(REPO) not in text, stack


def test_local_shape_no_autoscaling_no_deletion_protection_http_only(synthesized: Synth) -> None:
    assert not resources(synthesized, "local-service", "aws_appautoscaling_target")
    assert synthesized.one("local-service", "aws_lb")["enable_deletion_protection"] is False
    (listener,) = resources(synthesized, "local-service", "aws_lb_listener").values()
    assert (listener["port"], listener["protocol"]) == (80, "HTTP")
    assert "certificate_arn" not in listener
    # prod: the opposite on every count
    assert resources(synthesized, "prod-service", "aws_appautoscaling_target")
    assert synthesized.one("prod-service", "aws_lb")["enable_deletion_protection"] is True
    assert {r["port"] for r in resources(synthesized, "prod-service", "aws_lb_listener").values()} == {80, 443}


@pytest.mark.parametrize("env", ["prod", "local"])
def test_each_service_carries_its_own_database_client_group(synthesized: Synth, env: str) -> None:
    for name in ("app", "worker"):
        net = ecs_services(synthesized, f"{env}-service")[f"{env}-{name}"]["network_configuration"]
        assert net["assign_public_ip"] is False
        assert all(cross_stack(f"{env}-network", "network_private-").search(s) for s in net["subnets"])
        groups = " ".join(net["security_groups"])
        assert cross_stack(f"{env}-database", f"{name}-client-sg").search(groups)
        others = {"app", "worker", "migration"} - {name}
        assert not any(f"{o}-client-sg" in groups for o in others), groups


def containers(s: Synth, stack: str) -> dict[str, dict[str, Any]]:
    out = {}
    for td in resources(s, stack, "aws_ecs_task_definition").values():
        (cdef,) = json.loads(td["container_definitions"])
        out[td["family"]] = cdef
    return out


def test_a_worker_has_no_load_balancer_a_web_service_has_one(synthesized: Synth) -> None:
    svcs = ecs_services(synthesized, "prod-service")
    assert "load_balancer" not in svcs["prod-worker"]
    assert "health_check_grace_period_seconds" not in svcs["prod-worker"]
    (lb,) = svcs["prod-app"]["load_balancer"]
    assert lb["container_port"] == 8000
    assert len(resources(synthesized, "prod-service", "aws_lb")) == 1
    assert len(resources(synthesized, "prod-service", "aws_lb_target_group")) == 1
    cdefs = containers(synthesized, "prod-service")
    assert "portMappings" not in cdefs["prod-worker"] and cdefs["prod-worker"]["command"] == ["python", "worker.py"]
    # Nothing reaches the worker's tasks: its security group has no ingress rule.
    _, worker_sg = by_path(synthesized, "prod-service", "aws_security_group", "worker/task-sg")
    ingress = resources(synthesized, "prod-service", "aws_vpc_security_group_ingress_rule")
    assert not [n for n, r in ingress.items() if "worker_task-sg" in r["security_group_id"]]
    assert worker_sg["description"].endswith("nothing reaches them")


def test_each_service_has_its_own_roles_and_log_group(synthesized: Synth) -> None:
    roles = {r["name"] for r in resources(synthesized, "prod-service", "aws_iam_role").values()}
    for name in ("prod-app", "prod-worker", "prod-migrate"):
        assert {f"{name}-ecs-task", f"{name}-ecs-execution"} <= roles
    groups = {r["name"] for r in resources(synthesized, "prod-service", "aws_cloudwatch_log_group").values()}
    assert groups == {"/ecs/prod-app", "/ecs/prod-worker", "/ecs/prod-migrate"}


def test_local_gate_reads_the_login_the_migration_task_would(synthesized: Synth) -> None:
    """The local runner stands in for the migration task: same Vault role, same KV path."""
    from app.config import load_environment
    from app.contracts import names as contracts
    from scripts.vault import local

    env = {e["name"]: e["value"] for e in containers(synthesized, "local-service")["local-migrate"]["environment"]}
    gate = local.gate_environment(load_environment("local"), "http://127.0.0.1:8200")
    assert gate[local.ROLE_ENV] == env[contracts.ENV_VAULT_ROLE] == "local-app-migration"
    assert gate[local.PATH_ENV] == env[contracts.ENV_VAULT_READ_PATHS] == "migration/app/database"
    # The migration login is on the internal mount (ADR 0017); the services read the workload mount.
    assert gate[local.MOUNT_ENV] == env[contracts.ENV_VAULT_KV_MOUNT] == "platform-internal"
    app = {e["name"]: e["value"] for e in containers(synthesized, "local-service")["local-app"]["environment"]}
    assert app[contracts.ENV_VAULT_KV_MOUNT] == "platform"


@pytest.mark.parametrize("env", ["prod", "staging", "dev", "local"])
def test_the_migration_task_gets_only_the_platforms_variables(synthesized: Synth, env: str) -> None:
    """Issue 18 item 5: a migration gets what it needs (where its vault login is), never a service's
    `environment` or anything of whoever deploys; RunTask overrides only the command."""
    from app.contracts import names as c

    names = {e["name"] for e in containers(synthesized, f"{env}-service")[f"{env}-migrate"]["environment"]}
    assert names == {c.ENV_PLATFORM_ENV, c.ENV_DATABASE_HOST, c.ENV_DATABASE_NAME, c.ENV_VAULT_KV_MOUNT,
                     c.ENV_VAULT_ROLE, c.ENV_VAULT_ADDR, c.ENV_VAULT_READ_PATHS}


def test_no_secret_value_anywhere_in_the_service_stacks(synthesized: Synth) -> None:
    for env in ("prod", "staging", "dev", "local"):
        text = (synthesized.stack_dir(f"{env}-service") / "cdk.tf.json").read_text()
        assert "DATABASE_URL" not in text
        assert not re.search(r"postgres(ql)?://[^\s\"']*:[^\s\"']*@", text)


def test_checkov_passes_the_prod_service_stack(synthesized: Synth, tmp_path: Path) -> None:
    stack_dir = tmp_path / "prod-service"
    shutil.copytree(synthesized.stack_dir("prod-service"), stack_dir)
    failed, passed = run_checkov(stack_dir)
    assert failed == [], failed
    assert passed > 50


def _env_data(name: str) -> dict[str, Any]:
    import tomllib

    from app.config import DEFAULT_CONFIG_DIR

    return tomllib.loads((DEFAULT_CONFIG_DIR / f"{name}.toml").read_text())


def test_only_the_local_tier_may_use_the_local_runner() -> None:
    data = _env_data("staging")
    data["migration"] = {"runner": "local"}
    with pytest.raises(ConfigError, match=r"migration\.runner: 'local' runs the migration"):
        parse_environment(data, "staging.toml", "staging")
    assert parse_environment(_env_data("staging"), "staging.toml").migration.runner == "ecs"
    assert parse_environment(_env_data("local"), "local.toml").migration.runner == "local"


def test_prod_cannot_switch_off_the_rollout_check_without_an_override() -> None:
    data = _env_data("prod")
    data["services"]["worker"]["verify_rollout"] = False
    field = "services.worker.verify_rollout"
    with pytest.raises(ConfigError, match=rf'{re.escape(field)}: .*unsafe_overrides\."{re.escape(field)}"'):
        parse_environment(data, "prod.toml", "prod")
    data["unsafe_overrides"] = {field: "ECS API outage drill, OPS-7"}
    assert parse_environment(data, "prod.toml", "prod").services["worker"].verify_rollout is False
    assert parse_environment(_env_data("local"), "local.toml").services["app"].verify_rollout is False


def test_self_hosted_vault_address_reaches_the_tasks_by_its_private_name(synthesized: Synth) -> None:
    """prod runs a self-hosted Vault: tasks get its private DNS name (the vault stack's `address`, which
    the certificate covers; issue 14 item 10); they reach :8200 through their database client SG
    (egress by reference, stacks/vault.py), not to 0.0.0.0/0."""
    cdefs = containers(synthesized, "prod-service")
    for family, cdef in cdefs.items():
        addr = {e["name"]: e["value"] for e in cdef["environment"]}["VAULT_ADDR"]
        assert addr == "https://vault.prod.internal:8200", (family, addr)
    to_anywhere = sorted(
        (r["from_port"], r["to_port"])
        for r in resources(synthesized, "prod-service", "aws_vpc_security_group_egress_rule").values()
        if "cidr_ipv4" in r or "cidr_ipv6" in r
    )
    # HTTPS only (AWS APIs, ECR: their addresses are AWS's), for the app, worker and migration SGs.
    assert to_anywhere == [(443, 443)] * 3, to_anywhere


def test_service_exports_the_role_maps_vault_bootstrap_reads(synthesized: Synth) -> None:
    outputs = synthesized.stack("prod-service")["output"]
    assert set(outputs["vault_task_role_arns"]["value"]) == {"app", "worker"}
    assert set(outputs["vault_migration_role_arns"]["value"]) == {"app"}  # the migration's owner


@pytest.mark.parametrize("env", ["prod", "staging", "dev"])
def test_real_environments_keep_full_drift_detection(synthesized: Synth, env: str) -> None:
    """Emulator read-back gaps are ignored only for `local` (stacks/emulator.py)."""
    from stacks.emulator import EMULATOR_IGNORED_CHANGES

    for rtype, ignored in EMULATOR_IGNORED_CHANGES.items():
        for name, body in resources(synthesized, f"{env}-service", rtype).items():
            kept = body.get("lifecycle", {}).get("ignore_changes", [])
            assert not set(ignored) & set(kept if isinstance(kept, list) else []), f"{env}: {rtype}.{name}"


def test_local_ignores_only_the_emulator_read_back_gaps(synthesized: Synth) -> None:
    service = ecs_services(synthesized, "local-service")["local-app"]
    assert {"health_check_grace_period_seconds", "enable_ecs_managed_tags"} <= set(
        service["lifecycle"]["ignore_changes"]
    )


def test_task_definitions_are_replaced_before_the_old_revision_leaves_state(synthesized: Synth) -> None:
    """A failed gate must leave the serving revision in state (issue 14, item 6); on the upgrade
    from the single-service layout that needs the old migration resources moved, not orphaned."""
    local = synthesized.stack("local-service")
    for name, td in local["resource"]["aws_ecs_task_definition"].items():
        assert td["lifecycle"]["create_before_destroy"] is True, name
        assert td["skip_destroy"] is True, name
    moved = {m["from"]: m["to"] for m in local["moved"]}
    mig = "migration-task-definition"
    migration_td, _ = by_path(synthesized, "local-service", "aws_ecs_task_definition", f"{mig}/task-definition")
    migration_role, _ = by_path(synthesized, "local-service", "aws_iam_role", f"{mig}/task-role")
    td_address = f"aws_ecs_task_definition.{migration_td}"
    assert moved["aws_ecs_task_definition.migration_task-definition_AE117705"] == td_address
    assert moved["aws_iam_role.migration_task-role_CDEDB0F5"] == f"aws_iam_role.{migration_role}"


def test_a_service_without_database_reads_no_login_and_has_no_path_to_the_database(tmp_path: Path) -> None:
    """docs/adr/0027: `database = false` — no `<name>/database` to read at start (it does not
    exist), no route to PostgreSQL; its client group stays (it also admits it to Vault)."""
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    text = (Path(__file__).resolve().parents[3] / "app/environments/local.toml").read_text()
    text = text.replace('command = ["python", "worker.py"]', 'command = ["python", "worker.py"]\ndatabase = false')
    (cfg / "local.toml").write_text(text)
    s = synth_all(tmp_path / "out", {"PLATFORM_CONFIG_DIR": str(cfg), "PLATFORM_ENVIRONMENTS": "local"})
    env = {c["name"]: {e["name"]: e["value"] for e in c.get("environment", [])} for c in
           [json.loads(td["container_definitions"])[0] | {"name": td["family"]}
            for td in s.resources("local-service", "aws_ecs_task_definition").values()]}
    assert env["local-app"]["VAULT_READ_PATHS"] == "app/database"
    assert env["local-worker"]["VAULT_READ_PATHS"] == ""  # secrets exec then starts it without a login
    db_rules = {**s.resources("local-database", "aws_vpc_security_group_egress_rule"),
                **s.resources("local-database", "aws_vpc_security_group_ingress_rule")}
    text_rules = json.dumps(db_rules)
    assert "app-client-sg" in text_rules and "worker-client-sg" not in text_rules
    assert any("worker-client-sg" in k for k in s.resources("local-database", "aws_security_group"))

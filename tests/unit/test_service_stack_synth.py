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
from tests.helpers.synth import Synth

REPO = Path(__file__).resolve().parents[2]
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


def cross_stack(stack: str, output_fragment: str) -> re.Pattern[str]:
    return re.compile(
        rf"data\.terraform_remote_state\.cross-stack-reference-input-{stack}\.outputs\.[^,\]\}}]*{output_fragment}"
    )


@pytest.mark.parametrize("env", ["prod", "staging", "dev", "local"])
def test_rolling_deploy_keeps_full_capacity_and_rolls_back(synthesized: Synth, env: str) -> None:
    svc = synthesized.one(f"{env}-service", "aws_ecs_service")
    assert svc["name"] == f"{env}-app"
    assert svc["deployment_minimum_healthy_percent"] == 100
    assert svc["deployment_maximum_percent"] == 200
    assert svc["deployment_circuit_breaker"] == {"enable": True, "rollback": True}
    assert svc["wait_for_steady_state"] is True
    assert svc["launch_type"] == "FARGATE"


@pytest.mark.parametrize("env", ["prod", "local"])
def test_service_update_depends_on_the_migration_gate(synthesized: Synth, env: str) -> None:
    stack = f"{env}-service"
    gate_name, gate = by_path(synthesized, stack, "terraform_data", "migration/gate")
    svc = synthesized.one(stack, "aws_ecs_service")
    assert f"terraform_data.{gate_name}" in svc["depends_on"]
    _, app_td = by_path(synthesized, stack, "aws_ecs_task_definition", "service/task-definition")
    assert app_td["depends_on"] == [f"terraform_data.{gate_name}"]
    mig_td, _ = by_path(synthesized, stack, "aws_ecs_task_definition", "migration/task-definition")
    assert gate["triggers_replace"] == {"migration_task_definition": f"${{aws_ecs_task_definition.{mig_td}.arn}}"}


def test_prod_gate_runs_the_ecs_runner_with_the_migration_network(synthesized: Synth) -> None:
    _, gate = by_path(synthesized, "prod-service", "terraform_data", "migration/gate")
    step = local_exec(gate)
    cmd = step["command"]
    assert cmd.startswith("platformctl migrate run --environment prod --service prod-app --region eu-west-1 ")
    assert "--local" not in cmd
    assert "--task-definition '${aws_ecs_task_definition.migration_task-definition_" in cmd
    assert "--container app" in cmd
    assert "--cluster '${aws_ecs_cluster." in cmd
    subnets = re.search(r"--subnets '([^']*)'", cmd)
    sgs = re.search(r"--security-groups '([^']*)'", cmd)
    assert subnets and sgs, cmd
    # Private subnets of prod-network (3 AZs), the migration client SG of prod-database + the tasks' SG.
    assert len(cross_stack("prod-network", "network_private-").findall(subnets.group(1))) == 3
    assert cross_stack("prod-database", "migration-client-sg").search(sgs.group(1))
    assert "app-client-sg" not in sgs.group(1)
    assert "aws_security_group.service_task-sg" in sgs.group(1)
    assert "working_dir" not in step


def test_prod_checks_the_rollout_after_the_service(synthesized: Synth) -> None:
    _, check = by_path(synthesized, "prod-service", "terraform_data", "migration/rollout-check")
    svc_name = next(iter(resources(synthesized, "prod-service", "aws_ecs_service")))
    assert check["depends_on"] == [f"aws_ecs_service.{svc_name}"]
    cmd = local_exec(check)["command"]
    assert cmd.startswith("platformctl migrate verify-rollout --region eu-west-1 --cluster ")
    assert "--service prod-app --task-definition '${aws_ecs_task_definition.service_task-definition_" in cmd


def test_local_gate_runs_the_local_runner_in_the_example_app(synthesized: Synth) -> None:
    _, gate = by_path(synthesized, "local-service", "terraform_data", "migration/gate")
    step = local_exec(gate)
    assert step["command"] == (
        "platformctl migrate run --environment local --service local-app --local --cwd examples/webapp"
    )
    assert Path(step["working_dir"]) == REPO  # --cwd is relative to the repository
    assert "environment" not in step  # DATABASE_URL is inherited from the deploying process, never synthesized
    # The emulator never rolls a deployment record forward: no rollout check on local.
    paths = [r["//"]["metadata"]["path"] for r in resources(synthesized, "local-service", "terraform_data").values()]
    assert paths == ["local-service/migration/gate"]


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
def test_tasks_run_in_private_subnets_with_the_app_client_sg(synthesized: Synth, env: str) -> None:
    net = synthesized.one(f"{env}-service", "aws_ecs_service")["network_configuration"]
    assert net["assign_public_ip"] is False
    assert all(cross_stack(f"{env}-network", "network_private-").search(s) for s in net["subnets"])
    groups = " ".join(net["security_groups"])
    assert cross_stack(f"{env}-database", "app-client-sg").search(groups)
    assert "migration-client-sg" not in groups


def containers(s: Synth, stack: str) -> dict[str, dict[str, Any]]:
    out = {}
    for td in resources(s, stack, "aws_ecs_task_definition").values():
        (cdef,) = json.loads(td["container_definitions"])
        out[td["family"]] = cdef
    return out


@pytest.mark.parametrize("env", ["prod", "local"])
def test_containers_get_vault_coordinates_and_no_secret_values(synthesized: Synth, env: str) -> None:
    cdefs = containers(synthesized, f"{env}-service")
    assert set(cdefs) == {f"{env}-app", f"{env}-app-migrate"}
    for family, cdef in cdefs.items():
        assert "secrets" not in cdef, family
        env_vars = {e["name"]: e["value"] for e in cdef["environment"]}
        assert not [n for n in env_vars if any(m in n for m in SECRET_MARKERS)], family
        assert not [v for v in env_vars.values() if re.search(r"postgres(ql)?://|password", v, re.I)], family
        assert env_vars["PLATFORM_ENV"] == env
        assert env_vars["VAULT_KV_MOUNT"] == "platform"
    app, mig = (
        {e["name"]: e["value"] for e in cdefs[f"{env}-app"]["environment"]},
        {e["name"]: e["value"] for e in cdefs[f"{env}-app-migrate"]["environment"]},
    )
    assert (app["VAULT_ROLE"], app["VAULT_READ_PATHS"]) == (f"{env}-app", "app/database")
    assert (mig["VAULT_ROLE"], mig["VAULT_READ_PATHS"]) == (f"{env}-app-migration", "app/migration-database")
    assert cdefs[f"{env}-app-migrate"]["command"] == ["alembic", "upgrade", "head"]
    if env == "local":
        assert app["VAULT_ADDR"] == "http://127.0.0.1:8200"


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
    data["service"]["migration_runner"] = "local"
    with pytest.raises(ConfigError, match=r"service\.migration_runner: 'local' runs the migration"):
        parse_environment(data, "staging.toml", "staging")
    assert parse_environment(_env_data("staging"), "staging.toml").service.migration_runner == "ecs"
    assert parse_environment(_env_data("local"), "local.toml").service.migration_runner == "local"


def test_prod_cannot_switch_off_the_rollout_check_without_an_override() -> None:
    data = _env_data("prod")
    data["service"]["verify_rollout"] = False
    with pytest.raises(ConfigError, match=r'service\.verify_rollout: .*unsafe_overrides\."service\.verify_rollout"'):
        parse_environment(data, "prod.toml", "prod")
    data["unsafe_overrides"] = {"service.verify_rollout": "ECS API outage drill, OPS-7"}
    assert parse_environment(data, "prod.toml", "prod").service.verify_rollout is False
    assert parse_environment(_env_data("local"), "local.toml").service.verify_rollout is False


def test_self_hosted_vault_address_reaches_the_tasks_by_reference(synthesized: Synth) -> None:
    """prod runs a self-hosted Vault: tasks get its address from the vault stack and may reach :8200."""
    cdefs = containers(synthesized, "prod-service")
    for family, cdef in cdefs.items():
        addr = {e["name"]: e["value"] for e in cdef["environment"]}["VAULT_ADDR"]
        # https://<the vault stack's internal load balancer>:8200, resolved from its remote state
        assert addr.startswith("https://") and addr.endswith(":8200"), (family, addr)
        assert cross_stack("prod-vault", "dns_name").search(addr), (family, addr)
    egress_ports = {
        r.get("from_port")
        for r in resources(synthesized, "prod-service", "aws_vpc_security_group_egress_rule").values()
    }
    assert 8200 in egress_ports, egress_ports


def test_service_exports_the_role_maps_vault_bootstrap_reads(synthesized: Synth) -> None:
    outputs = synthesized.stack("prod-service")["output"]
    assert set(outputs["vault_task_role_arns"]["value"]) == {"app"}
    assert set(outputs["vault_migration_role_arns"]["value"]) == {"app"}


@pytest.mark.parametrize("env", ["prod", "staging", "dev"])
def test_real_environments_keep_full_drift_detection(synthesized: Synth, env: str) -> None:
    """Emulator read-back gaps are ignored only for `local` (stacks/emulator.py)."""
    from stacks.emulator import EMULATOR_IGNORED_CHANGES

    for rtype, ignored in EMULATOR_IGNORED_CHANGES.items():
        for name, body in resources(synthesized, f"{env}-service", rtype).items():
            kept = body.get("lifecycle", {}).get("ignore_changes", [])
            assert not set(ignored) & set(kept if isinstance(kept, list) else []), f"{env}: {rtype}.{name}"


def test_local_ignores_only_the_emulator_read_back_gaps(synthesized: Synth) -> None:
    (service,) = resources(synthesized, "local-service", "aws_ecs_service").values()
    assert {"health_check_grace_period_seconds", "enable_ecs_managed_tags"} <= set(
        service["lifecycle"]["ignore_changes"]
    )

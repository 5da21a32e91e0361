"""FargateService + MigrationGate, asserted on the synthesized Terraform JSON.

One synth per module (~15 s) with two stacks: `full` (production-shaped: certificate, WAF,
access logs, autoscaling, migration gate and rollout check) and `minimal` (no certificate,
autoscaling off — the local/dev shape).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modules import aws
from modules.cdk import App, TerraformStack
from modules.migration_gate import MigrationGate, MigrationGateProps
from modules.service import TLS_POLICY, FargateService, FargateServiceProps, SecretInEnvironmentError
from tests.helpers.checkov import run_checkov

REPO = Path(__file__).resolve().parents[2]
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:1.2.3"
CERT = "arn:aws:acm:eu-west-1:123456789012:certificate/abc"
WAF = "arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/web/abc"
GATE = ["platformctl", "migrate", "run", "--environment", "prod", "--cluster", "web", "--service", "web",
        "--task-definition", "{task_definition}", "--container", "app", "--region", "eu-west-1"]
VERIFY = ["platformctl", "migrate", "verify-rollout", "--cluster", "web", "--service", "web",
          "--task-definition", "{task_definition}", "--timeout", "900", "--region", "eu-west-1"]


def service_props(**overrides: Any) -> FargateServiceProps:
    values: dict[str, Any] = dict(
        name="web", image=IMAGE, vpc_id="vpc-0abc", public_subnet_ids=["subnet-pub-a", "subnet-pub-b"],
        private_subnet_ids=["subnet-prv-a", "subnet-prv-b"], environment={"LOG_LEVEL": "info"},
        vault_address="https://vault.internal:8200", vault_secret_paths=["web/database"],
        task_security_group_ids=["sg-dbclient"],
    )
    values.update(overrides)
    return FargateServiceProps(**values)


def gate_props(**overrides: Any) -> MigrationGateProps:
    values: dict[str, Any] = dict(
        migration_command=["alembic", "upgrade", "head"], gate_command=GATE, verify_command=VERIFY,
        security_group_id="sg-migrate", vault_address="https://vault.internal:8200",
        vault_secret_paths=["web/migration-database"],
    )
    values.update(overrides)
    return MigrationGateProps(**values)


class Synth:
    def __init__(self, outdir: Path, stack: str):
        self.dir = outdir / "stacks" / stack
        self.doc = json.loads((self.dir / "cdk.tf.json").read_text())

    def resources(self, rtype: str) -> dict[str, dict[str, Any]]:
        return self.doc.get("resource", {}).get(rtype, {})

    def one(self, rtype: str, path_suffix: str) -> tuple[str, dict[str, Any]]:
        found = [(name, r) for name, r in self.resources(rtype).items()
                 if r["//"]["metadata"]["path"].endswith(path_suffix)]
        assert len(found) == 1, f"{rtype} at */{path_suffix}: {[n for n, _ in found]}"
        return found[0]


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Synth]]:
    outdir = tmp_path_factory.mktemp("service-synth")
    app = App(outdir=str(outdir))
    full = TerraformStack(app, "full")
    aws.provider.AwsProvider(full, "aws", region="eu-west-1")
    svc = FargateService(full, "web", service_props(certificate_arn=CERT, waf_web_acl_arn=WAF,
                                                    alb_access_logs_bucket="alb-logs"))
    MigrationGate(full, "migrate", gate_props(), svc)

    minimal = TerraformStack(app, "minimal")
    aws.provider.AwsProvider(minimal, "aws", region="eu-west-1")
    small = FargateService(minimal, "web", service_props(autoscaling_enabled=False, alb_deletion_protection=False,
                                                         desired_count=1))
    MigrationGate(minimal, "migrate", gate_props(verify_command=None), small)
    app.synth()
    yield {"full": Synth(outdir, "full"), "minimal": Synth(outdir, "minimal")}


def addr(rtype: str, name: str) -> str:
    return f"{rtype}.{name}"


def test_deployment_keeps_full_capacity_rolls_back_and_waits(synth: dict[str, Synth]) -> None:
    _, svc = synth["full"].one("aws_ecs_service", "web/service")
    assert svc["deployment_minimum_healthy_percent"] == 100
    assert svc["deployment_maximum_percent"] == 200
    assert svc["deployment_circuit_breaker"] == {"enable": True, "rollback": True}
    assert svc["wait_for_steady_state"] is True
    assert svc["health_check_grace_period_seconds"] == 60
    assert svc["propagate_tags"] == "SERVICE"
    net = svc["network_configuration"]
    assert net["assign_public_ip"] is False
    assert net["subnets"] == ["subnet-prv-a", "subnet-prv-b"]
    assert "sg-dbclient" in net["security_groups"]
    assert svc["load_balancer"][0]["container_port"] == 8000  # typed struct: no field lost
    assert svc["load_balancer"][0]["container_name"] == "app"


def test_service_update_waits_for_the_migration_gate(synth: dict[str, Synth]) -> None:
    s = synth["full"]
    gate_name, gate = s.one("terraform_data", "migrate/gate")
    _, svc = s.one("aws_ecs_service", "web/service")
    assert addr("terraform_data", gate_name) in svc["depends_on"]
    # Bare addresses only: Terraform rejects interpolations in depends_on.
    assert all(not d.startswith("${") for d in svc["depends_on"])
    # No new service revision is registered before the migration succeeded; old ones stay ACTIVE.
    _, app_td = s.one("aws_ecs_task_definition", "web/task-definition")
    assert app_td["depends_on"] == [addr("terraform_data", gate_name)]
    assert app_td["skip_destroy"] is True

    mig_name, _ = s.one("aws_ecs_task_definition", "migrate/task-definition")
    mig_arn = "${" + addr("aws_ecs_task_definition", mig_name) + ".arn}"
    assert gate["triggers_replace"] == {"migration_task_definition": mig_arn}
    command = gate["provisioner"][0]["local-exec"]["command"]
    assert command.startswith("platformctl migrate run --environment prod --cluster web --service web ")
    assert f"--task-definition '{mig_arn}' --container app" in command


def test_rollout_check_runs_after_the_service_on_each_new_revision(synth: dict[str, Synth]) -> None:
    s = synth["full"]
    _, check = s.one("terraform_data", "migrate/rollout-check")
    svc_name, _ = s.one("aws_ecs_service", "web/service")
    td_name, _ = s.one("aws_ecs_task_definition", "web/task-definition")
    td_arn = "${" + addr("aws_ecs_task_definition", td_name) + ".arn}"
    assert check["depends_on"] == [addr("aws_ecs_service", svc_name)]
    assert check["triggers_replace"] == {"service_task_definition": td_arn}
    command = check["provisioner"][0]["local-exec"]["command"]
    assert command.startswith("platformctl migrate verify-rollout ")
    assert f"--task-definition '{td_arn}'" in command
    # Without a verify command there is no check (and the gate still guards the service).
    paths = [r["//"]["metadata"]["path"] for r in synth["minimal"].resources("terraform_data").values()]
    assert paths == ["minimal/migrate/gate"]


def containers(s: Synth) -> dict[str, dict[str, Any]]:
    out = {}
    for td in s.resources("aws_ecs_task_definition").values():
        (cdef,) = json.loads(td["container_definitions"])
        out[td["family"]] = cdef
    return out


def test_migration_task_definition_runs_the_migration_with_its_own_identity(synth: dict[str, Synth]) -> None:
    s = synth["full"]
    cdefs = containers(s)
    mig, app = cdefs["web-migrate"], cdefs["web"]
    assert mig["command"] == ["alembic", "upgrade", "head"]
    assert mig["image"] == app["image"] == IMAGE
    assert mig["logConfiguration"]["options"]["awslogs-stream-prefix"] == "migrate"
    assert app["logConfiguration"]["options"]["awslogs-stream-prefix"] == "app"
    assert mig["logConfiguration"]["options"]["awslogs-group"] == app["logConfiguration"]["options"]["awslogs-group"]
    assert "portMappings" not in mig
    _, mig_td = s.one("aws_ecs_task_definition", "migrate/task-definition")
    _, app_td = s.one("aws_ecs_task_definition", "web/task-definition")
    assert mig_td["task_role_arn"] != app_td["task_role_arn"]
    assert "migrate_task-role" in mig_td["task_role_arn"]


def test_container_definitions_hold_no_secret_looking_variables(synth: dict[str, Synth]) -> None:
    markers = ("PASSWORD", "SECRET", "TOKEN", "KEY")
    for stack in synth.values():
        for family, cdef in containers(stack).items():
            names = [e["name"] for e in cdef["environment"]]
            assert not [n for n in names if any(m in n for m in markers)], family
            assert "secrets" not in cdef
    env = {e["name"]: e["value"] for e in containers(synth["full"])["web"]["environment"]}
    assert env == {"LOG_LEVEL": "info", "VAULT_ADDR": "https://vault.internal:8200", "VAULT_READ_PATHS": "web/database"}


@pytest.mark.parametrize("key", ["DB_PASSWORD", "API_TOKEN", "AWS_SECRET_ACCESS_KEY", "stripe_key"])
def test_secret_looking_variables_are_rejected(key: str) -> None:
    with pytest.raises(SecretInEnvironmentError, match=key):
        service_props(environment={"LOG_LEVEL": "info", key: "x"})
    with pytest.raises(SecretInEnvironmentError, match=key):
        gate_props(environment={key: "x"})
    with pytest.raises(SecretInEnvironmentError, match=key):
        gate_props(gate_environment={key: "x"})


def test_containers_run_read_only_and_not_as_root(synth: dict[str, Synth]) -> None:
    for family, cdef in containers(synth["full"]).items():
        assert cdef["readonlyRootFilesystem"] is True, family
        assert cdef["user"] == "1000", family
        assert cdef["memory"] > 0, family  # container-level memory: the emulator needs it
    with pytest.raises(ValueError, match="root"):
        service_props(user="0")


def test_log_group_is_encrypted_with_a_key_cloudwatch_logs_may_use(synth: dict[str, Synth]) -> None:
    s = synth["full"]
    _, group = s.one("aws_cloudwatch_log_group", "web/logs")
    key_name, key = s.one("aws_kms_key", "web/log-key")
    assert group["kms_key_id"] == "${" + addr("aws_kms_key", key_name) + ".arn}"
    assert group["retention_in_days"] == 365
    assert key["enable_key_rotation"] is True
    statements = {st["Sid"]: st for st in json.loads(key["policy"])["Statement"]}
    logs = statements["CloudWatchLogsUsesKey"]
    assert logs["Principal"]["Service"].startswith("logs.")
    assert logs["Condition"]["ArnEquals"]["kms:EncryptionContext:aws:logs:arn"].endswith("log-group:/ecs/web")


def test_execution_role_can_only_pull_its_image_and_write_its_logs(synth: dict[str, Synth]) -> None:
    s = synth["full"]
    _, policy = s.one("aws_iam_role_policy", "web/execution-policy")
    statements = {st["Sid"]: st for st in json.loads(policy["policy"])["Statement"]}
    assert statements["PullOwnImage"]["Resource"].endswith(":ecr:eu-west-1:123456789012:repository/web")
    assert statements["WriteOwnLogGroup"]["Resource"].endswith(".arn}:*")
    assert set(statements) == {"PullOwnImage", "WriteOwnLogGroup", "EcrLogin"}
    # The task role has no permissions at all (Vault binds to it).
    assert not [p for p in s.resources("aws_iam_role_policy").values() if "task-role" in p["role"]]
    assert not s.resources("aws_iam_role_policy_attachment")


def test_alb_is_hardened(synth: dict[str, Synth]) -> None:
    _, alb = synth["full"].one("aws_lb", "web/alb")
    assert alb["internal"] is False
    assert alb["drop_invalid_header_fields"] is True
    assert alb["enable_deletion_protection"] is True
    assert alb["subnets"] == ["subnet-pub-a", "subnet-pub-b"]
    assert alb["access_logs"] == {"bucket": "alb-logs", "enabled": True, "prefix": "web"}
    assert synth["full"].resources("aws_wafv2_web_acl_association")
    _, small = synth["minimal"].one("aws_lb", "web/alb")
    assert small["enable_deletion_protection"] is False
    assert "access_logs" not in small


def test_https_with_tls13_policy_and_http_redirect_when_a_certificate_is_given(synth: dict[str, Synth]) -> None:
    listeners = {r["port"]: r for r in synth["full"].resources("aws_lb_listener").values()}
    assert set(listeners) == {443, 80}
    https = listeners[443]
    assert https["protocol"] == "HTTPS"
    assert https["ssl_policy"] == TLS_POLICY == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert https["certificate_arn"] == CERT
    assert https["default_action"][0]["type"] == "forward"
    redirect = listeners[80]["default_action"][0]
    assert redirect["type"] == "redirect"
    assert redirect["redirect"] == {"port": "443", "protocol": "HTTPS", "status_code": "HTTP_301"}


def test_plain_http_forwarding_only_without_a_certificate(synth: dict[str, Synth]) -> None:
    (listener,) = synth["minimal"].resources("aws_lb_listener").values()
    assert (listener["port"], listener["protocol"]) == (80, "HTTP")
    assert listener["default_action"][0]["type"] == "forward"
    ports = sorted(r["from_port"] for r in synth["minimal"].resources("aws_vpc_security_group_ingress_rule").values()
                   if r.get("cidr_ipv4") == "0.0.0.0/0")
    assert ports == [80]


def test_tasks_are_reachable_only_from_the_alb(synth: dict[str, Synth]) -> None:
    s = synth["full"]
    alb_sg, _ = s.one("aws_security_group", "web/alb-sg")
    task_sg, _ = s.one("aws_security_group", "web/task-sg")
    ingress = [r for r in s.resources("aws_vpc_security_group_ingress_rule").values()
               if task_sg in r["security_group_id"]]
    assert len(ingress) == 1
    assert alb_sg in ingress[0]["referenced_security_group_id"]
    assert (ingress[0]["from_port"], ingress[0]["to_port"]) == (8000, 8000)
    alb_egress = [r for r in s.resources("aws_vpc_security_group_egress_rule").values()
                  if alb_sg in r["security_group_id"]]
    assert len(alb_egress) == 1
    assert task_sg in alb_egress[0]["referenced_security_group_id"]
    assert "cidr_ipv4" not in alb_egress[0]
    public = sorted(r["from_port"] for r in s.resources("aws_vpc_security_group_ingress_rule").values()
                    if r.get("cidr_ipv4") == "0.0.0.0/0")
    assert public == [80, 443]
    task_egress = sorted(r["from_port"] for r in s.resources("aws_vpc_security_group_egress_rule").values()
                         if task_sg in r["security_group_id"])
    assert task_egress == [443, 5432, 8200]  # 8200: the port of vault_address


def test_target_group_health_check_and_drain(synth: dict[str, Synth]) -> None:
    _, tg = synth["full"].one("aws_lb_target_group", "web/target-group")
    assert tg["target_type"] == "ip"
    assert tg["health_check"]["path"] == "/healthz"
    assert tg["deregistration_delay"] == "30"


def test_autoscaling_only_when_enabled(synth: dict[str, Synth]) -> None:
    full = synth["full"]
    (target,) = full.resources("aws_appautoscaling_target").values()
    assert (target["min_capacity"], target["max_capacity"]) == (2, 6)
    (policy,) = full.resources("aws_appautoscaling_policy").values()
    cfg = policy["target_tracking_scaling_policy_configuration"]
    assert cfg["target_value"] == 60
    assert cfg["predefined_metric_specification"]["predefined_metric_type"] == "ECSServiceAverageCPUUtilization"
    _, svc = full.one("aws_ecs_service", "web/service")
    assert svc["lifecycle"]["ignore_changes"] == ["desired_count"]

    minimal = synth["minimal"]
    assert not minimal.resources("aws_appautoscaling_target")
    assert not minimal.resources("aws_appautoscaling_policy")
    _, small = minimal.one("aws_ecs_service", "web/service")
    assert small["desired_count"] == 1
    assert "lifecycle" not in small


def test_cluster_has_container_insights(synth: dict[str, Synth]) -> None:
    _, cluster = synth["full"].one("aws_ecs_cluster", "web/cluster")
    assert cluster["setting"] == [{"name": "containerInsights", "value": "enabled"}]


def test_checkov_passes_the_production_shaped_service(synth: dict[str, Synth], tmp_path: Path) -> None:
    stack_dir = tmp_path / "full"
    shutil.copytree(synth["full"].dir, stack_dir)
    failed, passed = run_checkov(stack_dir)
    assert failed == []
    assert passed > 50


def test_terraform_accepts_both_stacks(synth: dict[str, Synth], tmp_path: Path) -> None:
    """`terraform validate` catches what JSON asserts cannot: bad depends_on, unknown arguments."""
    from scripts import tfmirror

    if tfmirror.find_mirror() is None:
        pytest.skip("no offline provider mirror; validate needs hashicorp/aws 5.100.0")
    (tmp_path / "stacks").mkdir()
    for name, stack in synth.items():
        shutil.copytree(stack.dir, tmp_path / "stacks" / name)
    tfmirror.write_lock_files(tmp_path)
    env = tfmirror.terraform_env()
    for name in synth:
        cwd = tmp_path / "stacks" / name
        for cmd in (["terraform", "init", "-backend=false", "-input=false", "-no-color"],
                    ["terraform", "validate", "-no-color"]):
            proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
            assert proc.returncode == 0, f"{name}: {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}"

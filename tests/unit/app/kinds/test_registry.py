"""Service kinds are a registry (docs/adr/0024): a kind written and registered in this test only —
nothing else in the code changed — is validated, synthesized and handled by rotation.

The throwaway kind `probe` runs one-off tasks: no ECS service, no load balancer, nothing for a
rotation to restart, and one check of its own.
"""

from __future__ import annotations

import copy
import json
import tomllib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from app import kinds
from app.config import DEFAULT_CONFIG_DIR, ConfigError, parse_environment
from app.kinds import Kind
from app.reference import json_schema
from app.schema import EnvironmentConfig, ServiceConfig
from modules.cdk import App
from modules.task_definition import FargateTaskDefinition
from scripts.rotation.adapter import services_reading
from stacks import kinds as stack_kinds
from stacks.kinds import KindConstruct

LOCAL = tomllib.loads((DEFAULT_CONFIG_DIR / "local.toml").read_text())
PROBE_IMAGE = "registry.example/probe:7"


def probe_checks(svc: ServiceConfig, env: EnvironmentConfig) -> Iterable[tuple[str, str]]:
    if svc.desired_count != 1:
        yield "desired_count", "a probe runs one task at a time"


@dataclass
class ProbeWorkload:
    """A kind's construct part may return anything that runs a task definition."""

    name: str
    task_definition: FargateTaskDefinition
    waits_for: list[str] = field(default_factory=list)

    def add_dependency(self, *resources: Any) -> None:
        refs = [f"{r.terraform_resource_type}.{r.friendly_unique_id}" for r in resources]
        resource = self.task_definition.task_definition
        resource.depends_on = [*(resource.depends_on or []), *refs]


def build_probe(stack: Any, name: str, cfg: ServiceConfig) -> ProbeWorkload:
    return ProbeWorkload(stack.ecs_name(name), stack.task_definition(name, cfg, port=None))


PROBE = Kind(
    name="probe",
    summary="runs one task on demand",
    long_running=False,
    restart_on_rotation=False,
    aws_services=("scheduler",),
    validate=probe_checks,
)


@contextmanager
def probe_registered(kind: Kind = PROBE) -> Iterator[Kind]:
    """Writing the unit above and these two registrations is all that adding a kind takes."""
    with kinds.registered(kind), stack_kinds.registered(kind.name, KindConstruct(build=build_probe)):
        yield kind


def with_probe(**fields: Any) -> dict[str, Any]:
    data = copy.deepcopy(LOCAL)
    data["services"]["probe"] = {"kind": "probe", "image": PROBE_IMAGE, "desired_count": 1, **fields}
    data["services"]["probe"].setdefault("autoscaling", {"enabled": False})
    return data


def problems(data: dict[str, Any]) -> tuple[str, dict[str, str]]:
    with pytest.raises(ConfigError) as exc:
        parse_environment(data, "local.toml", "local")
    return str(exc.value), {p.field: p.message for p in exc.value.problems}


def test_an_unregistered_kind_is_refused_naming_file_field_and_the_known_kinds() -> None:
    text, found = problems(with_probe())
    assert found == {"services.probe.kind": "must be one of 'web', 'worker' or 'job', got 'probe'"}
    assert "local.toml: services.probe.kind: must be one of 'web', 'worker' or 'job'" in text


def test_a_registered_kind_is_accepted_and_listed_among_the_known_ones() -> None:
    with probe_registered():
        env = parse_environment(with_probe(), "local.toml", "local")
        assert env.services["probe"].kind == "probe"
        _, found = problems(with_probe(kind="nope"))
    assert found == {"services.probe.kind": "must be one of 'web', 'worker', 'job' or 'probe', got 'nope'"}
    assert "probe" not in kinds.KINDS and "probe" not in stack_kinds.CONSTRUCTS  # unregistered again


def test_the_kinds_own_checks_run_and_other_kinds_settings_are_refused() -> None:
    with probe_registered():
        text, found = problems(with_probe(desired_count=2, container_port=9000))
    assert found == {
        "services.probe.desired_count": "a probe runs one task at a time",
        "services.probe.container_port": "only for kind = 'web' (a probe has no load balancer)",
    }
    assert "local.toml: services.probe.desired_count: a probe runs one task at a time" in text


def synth_local(outdir: Path) -> dict[str, Any]:
    from app.main import build_environment  # the composition root, as `python -m app` runs it

    env = parse_environment(with_probe(), "local.toml", "local")
    app = App(outdir=str(outdir))
    build_environment(app, env)
    app.synth()
    return json.loads((outdir / "stacks" / "local-service" / "cdk.tf.json").read_text())


def test_synthesis_builds_the_registered_kind_and_gates_it_on_the_migration(tmp_path: Path) -> None:
    with probe_registered():
        stack = synth_local(tmp_path)
    resources = stack["resource"]
    families = {td["family"]: td for td in resources["aws_ecs_task_definition"].values()}
    probe = families["local-probe"]
    assert json.loads(probe["container_definitions"])[0]["image"] == PROBE_IMAGE
    # Gated like every workload: a new probe image runs the migration first, and waits for it.
    data = resources["terraform_data"].items()
    [(gate_id, gate)] = [(rid, r) for rid, r in data if "migration_task_definition" in r["triggers_replace"]]
    assert gate["triggers_replace"]["image_probe"] == PROBE_IMAGE
    assert f"terraform_data.{gate_id}" in probe["depends_on"]
    # Not long-running: no ECS service, no rollout check, not among the ECS service names.
    assert "local-probe" not in {s["name"] for s in resources["aws_ecs_service"].values()}
    assert all("probe" not in rid for rid in resources["terraform_data"] if rid != gate_id)
    assert "probe" not in stack["output"]["service_names"]["value"]
    assert "probe" in stack["output"]["task_definition_arns"]["value"]
    # The AWS API it declares is sent to the emulator on the local target.
    assert "scheduler" in stack["provider"]["aws"][0]["endpoints"][0]


def test_rotation_restarts_a_kind_only_if_its_tasks_keep_the_login() -> None:
    with probe_registered():
        env = parse_environment(with_probe(), "local.toml", "local")
        assert services_reading(env, "probe") == (None, ())  # each run reads the login afresh
        assert services_reading(env, "app") == ("local-cluster", ("local-app",))
    restarting = Kind(name="probe", summary="keeps running", restart_on_rotation=True)
    with probe_registered(restarting):
        env = parse_environment(with_probe(), "local.toml", "local")
        assert services_reading(env, "probe") == ("local-cluster", ("local-probe",))


def test_every_registered_kind_has_a_construct_part_and_documents_itself() -> None:
    for name in kinds.KINDS:
        assert stack_kinds.construct_of(name).build is not None
    kind_field = json_schema()["$defs"]["ServiceConfig"]["properties"]["kind"]
    assert kind_field["enum"] == list(kinds.KINDS)
    assert all(f"`{name}`" in kind_field["description"] for name in kinds.KINDS)
    with pytest.raises(LookupError, match="no construct part"), kinds.registered(PROBE):
        stack_kinds.construct_of(PROBE.name)

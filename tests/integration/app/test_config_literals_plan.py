"""Issue 18 against the real `terraform`: planted configuration strings stay literal text.

The `local` environment gets the issue's reproductions planted (an ALB path pattern calling
`file("/proc/self/environ")`, a directive in the health-check path and in an environment value,
and a `migration.local_dir` built to break out of shell quoting) and is synthesized through the
app's composition root. The resources that carry them - listener rule, target group, task
definition and the migration gate, exactly as synthesized - are planned by the real `terraform`
against the session's emulator, with only the references code wrote (to resources outside this
small configuration) replaced by fixed ARNs. The plan must show the literal text and nothing of
Terraform's environment; applying the gate must run `platformctl` (a recorder here) with the
literal as one argument and run nothing else (docs/adr/0018).
"""

from __future__ import annotations

import base64
import json
import os
import re
import stat
import subprocess
import sys
import tomllib
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from app.config import DEFAULT_CONFIG_DIR, parse_environment
from app.contracts.names import LOCAL_ENDPOINT_ENV
from app.literals import terraform_literal
from app.main import build_app
from scripts.tfmirror import terraform_env, write_lock_files

PATH_PATTERN = '/x${file("/proc/self/environ")}'
HEALTH_CHECK = "/h%{if(true)}x%{endif}"
ENV_VALUE = '${file("/proc/self/environ")} %{ if true }x%{ endif }'
DUMMY_ARN = "arn:aws:iam::123456789012:role/outside-this-plan"
REFERENCE = re.compile(r"(data\.)?[a-z][a-z0-9_]*\.[\w-]+(\.[\w-]+)*")
KEPT = ("aws_lb_listener_rule", "aws_lb_target_group", "aws_ecs_task_definition", "terraform_data")


def local_dir_payload(markers: Path) -> str:
    """What broke out of the old shell-quoted gate: a quote from base64decode(), then commands."""
    quote_breaker = base64.b64encode(f"';touch {markers / 'decoded'};'".encode()).decode()
    return f"x${{base64decode(\"{quote_breaker}\")}};touch {markers / 'plain'};'$(touch {markers / 'subst'})'"


def without_references(value: Any) -> Any:
    """VALUE with every reference code wrote (`${aws_x.y.arn}`) replaced by a fixed ARN; every other
    `${...}` stays live, and escaped `$${`/`%%{` (the planted literals) are kept byte for byte."""
    if isinstance(value, dict):
        return {k: without_references(v) for k, v in value.items() if k != "depends_on"}
    if isinstance(value, list):
        return [without_references(v) for v in value]
    if not isinstance(value, str):
        return value
    out, i = [], 0
    while i < len(value):
        if value.startswith(("$${", "%%{"), i):
            out.append(value[i : i + 3])
            i += 3
        elif value.startswith("${", i):
            depth, j = 1, i + 2
            while depth:
                depth += {"{": 1, "}": -1}.get(value[j], 0)
                j += 1
            body = value[i + 2 : j - 1]
            # Only an address (`aws_x.y.arn`, `data.z...`) is replaced: anything else stays live.
            out.append(DUMMY_ARN if REFERENCE.fullmatch(body) else value[i:j])
            i = j
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


class TfEnv(dict[str, str]):
    """Terraform's environment; never shown in a failure report (it holds credentials)."""

    def __repr__(self) -> str:
        return "<terraform environment>"


def terraform(args: list[str], cwd: Path, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["terraform", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    if env["PLANTED_SENTINEL"] in proc.stdout + proc.stderr:
        # Never echo it: the output then holds this machine's environment (credentials included).
        pytest.fail(f"terraform {args[0]} evaluated a planted file() call: it read its own environment")
    assert proc.returncode == 0 or not check, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@dataclass(frozen=True)
class World:
    root: Path
    local_dir: str  # as planted
    tf_env: dict[str, str] = field(repr=False)  # never in a failure report: it holds the environment

    @property
    def markers(self) -> Path:
        return self.root / "markers"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, aws_env: dict[str, str]) -> World:
    """`stacks/planted`: the planted resources with the provider; `gate`: the gate alone."""
    root = tmp_path_factory.mktemp("literals")
    markers = root / "markers"
    markers.mkdir()
    data = tomllib.loads((DEFAULT_CONFIG_DIR / "local.toml").read_text())
    app = data["services"]["app"]
    app["path_patterns"] = [PATH_PATTERN]
    app["health_check_path"] = HEALTH_CHECK
    app["environment"] = {"PLANTED": ENV_VALUE}
    local_dir = local_dir_payload(markers)
    data.setdefault("migration", {})["local_dir"] = local_dir
    env = parse_environment(data, "app/environments/local.toml", expected_name="local")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(LOCAL_ENDPOINT_ENV, aws_env["AWS_ENDPOINT_URL"])
        build_app([env], str(root / "synth")).synth()
    stack = json.loads((root / "synth" / "stacks" / "local-service" / "cdk.tf.json").read_text())
    resources = {t: rs for t, rs in stack["resource"].items() if t in KEPT}
    resources["aws_ecs_task_definition"] = {
        n: r for n, r in resources["aws_ecs_task_definition"].items() if r["family"] == "local-app"
    }
    config = {
        "terraform": {"required_providers": stack["terraform"]["required_providers"]},
        "provider": stack["provider"],
        "resource": without_references(resources),
    }
    workdir = root / "stacks" / "planted"
    workdir.mkdir(parents=True)
    (workdir / "main.tf.json").write_text(json.dumps(config, indent=2))
    write_lock_files(root)
    # The gate alone (no provider): applying it runs only its local-exec step.
    gate_dir = root / "gate"
    gate_dir.mkdir()
    gate = {"resource": {"terraform_data": config["resource"]["terraform_data"]}}
    (gate_dir / "main.tf.json").write_text(json.dumps(gate, indent=2))
    # A recorder stands in for platformctl: it writes down the argv the gate's step receives.
    bindir = root / "bin"
    bindir.mkdir()
    recorder = bindir / "platformctl"
    recorder.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"open({str(root / 'argv.json')!r}, 'w').write(json.dumps(sys.argv[1:]))\n"
    )
    recorder.chmod(recorder.stat().st_mode | stat.S_IXUSR)
    tf_env = TfEnv(terraform_env({**os.environ, **aws_env}))
    tf_env["PATH"] = os.pathsep.join([str(bindir), tf_env.get("PATH", "")])
    tf_env["PLANTED_SENTINEL"] = f"sentinel-{uuid.uuid4()}"  # in /proc/self/environ if file() ran
    for directory in (workdir, gate_dir):
        terraform(["init", "-input=false", "-no-color"], directory, tf_env)
    return World(root, local_dir, tf_env)


def test_the_plan_shows_the_planted_text_literally(world: World) -> None:
    workdir, tf_env = world.root / "stacks" / "planted", world.tf_env
    terraform(["plan", "-input=false", "-no-color", "-out=plan.bin"], workdir, tf_env)
    shown = terraform(["show", "-json", "plan.bin"], workdir, tf_env).stdout
    assert tf_env["PLANTED_SENTINEL"] not in shown  # nothing of Terraform's environment was read
    after = {c["type"]: c["change"]["after"] for c in json.loads(shown)["resource_changes"]}
    assert after["aws_lb_listener_rule"]["condition"][0]["path_pattern"][0]["values"] == [PATH_PATTERN]
    assert after["aws_lb_target_group"]["health_check"][0]["path"] == HEALTH_CHECK
    (container,) = json.loads(after["aws_ecs_task_definition"]["container_definitions"])
    assert {"name": "PLANTED", "value": ENV_VALUE} in container["environment"]
    human = terraform(["show", "-no-color", "plan.bin"], workdir, tf_env).stdout
    assert tf_env["PLANTED_SENTINEL"] not in human
    assert "/proc/self/environ" in human  # the text itself is what Terraform shows


def test_the_gate_passes_the_planted_directory_as_one_argument_and_runs_nothing_else(world: World) -> None:
    proc = terraform(["apply", "-input=false", "-no-color", "-auto-approve"], world.root / "gate", world.tf_env, False)
    assert sorted(p.name for p in world.markers.iterdir()) == []  # no injected command ran
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    argv = json.loads((world.root / "argv.json").read_text())
    assert argv == ["migrate", "run", "--environment", "local", "--service", "local-app", "--local",
                    "--cwd", world.local_dir]  # fmt: skip


ROUND_TRIP = [
    '${file("/proc/self/environ")}', "%{ if true }x%{ endif }", "%{if(true)}x%{endif}", "$${x}", "$$${x}",
    "%%{x}", "%%%{x}", "a$", "{b}", "$", "%", "${", "%{", "}", '\\${"q"}', "plain text",
]  # fmt: skip


def test_the_escape_reads_back_as_the_original_text_in_terraform(tmp_path: Path) -> None:
    """`terraform_literal` is exact: Terraform evaluates each escaped string to the original."""
    config = {"output": {f"v{i}": {"value": terraform_literal(t)} for i, t in enumerate(ROUND_TRIP)}}
    (tmp_path / "main.tf.json").write_text(json.dumps(config))
    env = TfEnv(terraform_env())
    env["PLANTED_SENTINEL"] = f"sentinel-{uuid.uuid4()}"
    terraform(["init", "-input=false", "-no-color"], tmp_path, env)
    terraform(["apply", "-input=false", "-no-color", "-auto-approve"], tmp_path, env)
    outputs = json.loads(terraform(["output", "-json"], tmp_path, env).stdout)
    assert [outputs[f"v{i}"]["value"] for i in range(len(ROUND_TRIP))] == ROUND_TRIP

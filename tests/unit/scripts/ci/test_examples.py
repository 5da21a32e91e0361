"""examples/ci stays valid: vendored JSON schemas (check-jsonschema, offline) plus the CLI it calls."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest
import yaml

from app.contracts.workspace import PROJECT_ROOT
from scripts.ci.cli import ci

EXAMPLES = PROJECT_ROOT / "examples" / "ci"
GITHUB = EXAMPLES / "github" / "platform.yml"
GITLAB = EXAMPLES / "gitlab" / ".gitlab-ci.yml"
CHECKER = Path(sys.executable).parent / "check-jsonschema"


@pytest.mark.parametrize(("path", "schema"), [(GITHUB, "vendor.github-workflows"), (GITLAB, "vendor.gitlab-ci")])
def test_examples_validate_against_the_vendor_schema(path: Path, schema: str) -> None:
    assert CHECKER.exists(), "check-jsonschema missing: `make setup` installs the dev dependencies"
    proc = subprocess.run([str(CHECKER), "--builtin-schema", schema, str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _ci_calls(text: str) -> list[list[str]]:
    calls = []
    for match in re.finditer(r"platformctl ci ([^\n;|&]+)", text):
        calls.append(shlex.split(match.group(1).replace("\\", "")))
    return calls


@pytest.mark.parametrize("path", [GITHUB, GITLAB])
def test_every_stage_and_option_the_examples_use_exists(path: Path) -> None:
    calls = _ci_calls(path.read_text())
    assert {c[0] for c in calls} >= {"synth", "plan", "policy", "apply", "drift"}
    for call in calls:
        command = ci.commands[call[0]]
        options = {opt for p in command.params if isinstance(p, click.Option) for opt in p.opts}
        used = {arg for arg in call[1:] if arg.startswith("--")}
        assert used <= options, f"{path.name}: `ci {call[0]}` has no {used - options}"


def test_github_example_has_one_writer_an_approval_gate_and_a_schedule() -> None:
    doc = yaml.safe_load(GITHUB.read_text())
    triggers = doc[True]  # YAML 1.1 reads the key `on` as a boolean
    assert {"pull_request", "push", "schedule"} <= set(triggers)
    assert doc["concurrency"]["cancel-in-progress"] is False
    assert doc["jobs"]["apply"]["environment"] and doc["jobs"]["apply"]["needs"] == ["plan", "policy"]
    assert "schedule" in doc["jobs"]["drift"]["if"]
    setups = [s for job in doc["jobs"].values() for s in job["steps"] if "setup-terraform" in s.get("uses", "")]
    assert setups and all(s["with"]["terraform_wrapper"] is False for s in setups)  # real exit codes


def test_gitlab_example_has_one_writer_an_approval_gate_and_a_schedule() -> None:
    doc = yaml.safe_load(GITLAB.read_text())
    assert doc["plan"]["resource_group"] == doc["apply"]["resource_group"]
    assert any(r.get("when") == "manual" for r in doc["apply"]["rules"])
    assert doc["drift"]["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "schedule"'}]


SIGNING = {"plan": "PLAN", "policy": "POLICY", "apply": "APPLY"}


def _stages(text: str) -> set[str]:
    return {c[0] for c in _ci_calls(text)} & set(SIGNING)


def test_github_runs_plan_policy_and_apply_as_three_roles_in_three_jobs() -> None:
    """Only the plan role may sign bundles and only the policy role verdicts (docs/adr/0013): no
    job may hold two of the roles, and each stage runs under its own."""
    doc = yaml.safe_load(GITHUB.read_text())
    for job in doc["jobs"].values():
        text = "\n".join(str(s.get("run", "")) for s in job["steps"])
        stages = _stages(text)
        roles = [s["with"]["role-to-assume"] for s in job["steps"] if "configure-aws-credentials" in s.get("uses", "")]
        assert len(stages) <= 1 and len(roles) <= 1, job
        for stage in stages:
            assert roles == [f"${{{{ vars.PLATFORM_{SIGNING[stage]}_ROLE_ARN }}}}"], (stage, roles)
        for call in _ci_calls(text):
            if "--bundle" in call:  # git-ignored: a downloaded bundle must not make the tree dirty
                assert call[call.index("--bundle") + 1].startswith("ci-bundle/"), call


def test_gitlab_runs_plan_policy_and_apply_as_three_roles_in_three_jobs() -> None:
    doc = yaml.safe_load(GITLAB.read_text())
    for name in SIGNING:
        job = doc[name]
        assert _stages("\n".join(job["script"])) == {name}
        assert job["variables"]["AWS_ROLE_ARN"] == f"$PLATFORM_{SIGNING[name]}_ROLE_ARN"
        assert job["id_tokens"]["AWS_ID_TOKEN"]["aud"] == "sts.amazonaws.com"


ROTATION = EXAMPLES / "rotate-secrets.yml"


def _exit_tests(text: str) -> list[int]:
    """Codes a job script compares platformctl's exit status with: `-eq N` / `-le N` and case labels."""
    codes = [int(n) for n in re.findall(r'"\$(?:rc|code)" -(?:eq|le|ne) (\d+)', text)]
    codes += [int(n) for n in re.findall(r"^\s+(\d+)\) ", text, re.M)]
    codes += [int(n) for n in re.findall(r"outputs\.\w+_?exit == '(\d+)'", text)]
    return codes


@pytest.mark.parametrize("path", [GITHUB, GITLAB, ROTATION])
def test_every_exit_code_an_example_branches_on_is_in_the_one_table(path: Path) -> None:
    from app.contracts import exitcodes

    codes = _exit_tests(path.read_text())
    assert codes and all(exitcodes.is_declared(c) for c in codes), codes
    assert "-le 2" not in path.read_text()  # that would let 1 (an error) pass as "no changes"


def test_the_rotation_example_branches_on_rotations_codes() -> None:
    from scripts.rotation.model import ExitCode

    labels = {int(n): line for n, line in re.findall(r"^\s+(\d+)\) (.*)$", ROTATION.read_text(), re.M)}
    assert "nothing due" in labels[ExitCode.NOTHING_DUE] and "mode=resume" in labels[ExitCode.STOPPED_OLD_VALID]
    assert "another rotation holds the lease" in labels[ExitCode.LOCKED]
    assert "lost its lease" in labels[ExitCode.LEASE_LOST]
    assert set(labels) == {ExitCode.ROTATED, ExitCode.NOTHING_DUE, ExitCode.STOPPED_OLD_VALID, ExitCode.LOCKED,
                           ExitCode.LEASE_LOST}

"""ARNs follow the region's partition (GovCloud, China), and invariants are checked without `assert`
(which `python -O` removes)."""

from __future__ import annotations

import ast
import copy
import json
import tomllib
from pathlib import Path

import pytest

from app.config import DEFAULT_CONFIG_DIR, parse_environment
from app.literals import for_synthesis
from stacks.target import partition_of

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("region", "partition"), [("eu-west-1", "aws"), ("us-gov-west-1", "aws-us-gov"), ("cn-north-1", "aws-cn")]
)
def test_partition_of_region(region: str, partition: str) -> None:
    assert partition_of(region) == partition


def test_govcloud_state_backend_names_its_key_in_the_govcloud_partition(tmp_path: Path) -> None:
    from modules.cdk import App
    from stacks.state import StateStack

    data = copy.deepcopy(tomllib.loads((DEFAULT_CONFIG_DIR / "dev.toml").read_text()))
    data["aws"]["region"] = "us-gov-west-1"
    data["vault"] = {"mode": "external", "address": "https://vault.example:8200",
                     "server_principal_arns": ["arn:aws-us-gov:iam::333333333333:role/vault"]}  # fmt: skip
    data["ci"] = {f"{stage}_role_arns": [f"arn:aws-us-gov:iam::333333333333:role/platform-ci-{stage}"]
                  for stage in ("plan", "policy", "apply")}
    env = parse_environment(data, "dev.toml", "dev")
    app = App(outdir=str(tmp_path))
    StateStack(app, for_synthesis(env))
    app.synth()
    doc = json.loads((tmp_path / "stacks" / "dev-state" / "cdk.tf.json").read_text())
    assert doc["terraform"]["backend"]["s3"]["kms_key_id"].startswith("arn:aws-us-gov:kms:us-gov-west-1:")


def test_no_assert_guards_an_invariant_in_configuration_or_stacks() -> None:
    offenders = []
    for folder in ("app", "stacks", "modules"):
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Assert):
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert offenders == []

"""`platformctl diff --env ENV`: synthesizes ENV only, then `cdktf diff` per stack in deploy order.

The cdktf CLI is replaced by a recorder (a real `cdktf diff` of `dev` needs AWS credentials; the
CLI itself is exercised by tests/integration/scripts/test_bootstrap_and_deploy.py); the synth is real."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from scripts import deploy
from scripts.deploy import DeployError, deploy_order
from scripts.platformctl import _register, cli

RECORDER = """#!/bin/sh
printf '%s\\n' "$PLATFORM_ENVIRONMENTS $*" >> "{log}"
"""


@pytest.fixture()
def recorded_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = tmp_path / "cdktf.log"
    script = tmp_path / "cdktf"
    script.write_text(RECORDER.format(log=log))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(deploy, "cdktf_cli_path", lambda: script)
    monkeypatch.delenv("PLATFORM_ENVIRONMENTS", raising=False)
    _register()
    return log


def test_diff_synthesizes_only_the_environment_and_diffs_its_stacks_in_deploy_order(
    recorded_cli: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["diff", "--env", "dev", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (out / "stacks").iterdir()) == [
        "dev-database", "dev-network", "dev-service", "dev-state", "dev-vault"
    ]
    calls = recorded_cli.read_text().splitlines()
    assert calls == [
        f"dev diff dev-{concern} --skip-synth --output {out}"
        for concern in ("state", "network", "database", "vault", "service")
    ]


def test_diff_of_an_unknown_stack_names_the_environments_stacks(recorded_cli: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["diff", "--env", "dev", "--stack", "dev-nope", "--output", str(tmp_path)])
    assert result.exit_code == 64
    assert "no stack dev-nope in dev (its stacks: dev-state, dev-network, dev-database, dev-vault, dev-service)" in (
        result.output
    )
    assert not recorded_cli.exists(), "nothing may be diffed"


def test_deploy_order_puts_dependencies_first_and_refuses_cycles() -> None:
    manifest = {"b": ["a"], "c": ["a", "b"], "a": [], "x": ["elsewhere"]}
    assert deploy_order(manifest) == ["a", "b", "c", "x"]
    with pytest.raises(DeployError, match="dependency cycle between stacks p, q"):
        deploy_order({"p": ["q"], "q": ["p"]})


def test_deploy_and_diff_synthesize_one_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLATFORM_ENVIRONMENTS", "prod,dev")
    from app.config import load_environment

    env_vars = deploy.cdktf_env(load_environment("staging"))
    assert env_vars["PLATFORM_ENVIRONMENTS"] == "staging"


def test_platform_environments_is_a_deduplicated_ordered_list() -> None:
    from app.main import environment_filter

    assert environment_filter(" prod, ,dev,prod ") == ["prod", "dev"]
    assert environment_filter("") == []

"""One environment (`cipipe`, a copy of `local` with its own state bucket) shared by the CI tests.

Applying a whole `local` environment costs minutes against moto (RDS and ALB waits), so the
module applies the state and network stacks once and asserts many things on that: the first
bundle defers the database, Vault and service stacks to later waves (tests/integration/scripts/ci/
test_pipeline.py says which). The stages run as real `platformctl ci` subprocesses with the real
terraform; every line they print is kept for the canary scan.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from app.config import DEFAULT_CONFIG_DIR
from app.contracts.workspace import PROJECT_ROOT
from scripts.ci.stacks import sha256_file
from tests.unit.app.test_config import _dump

ENV = "cipipe"
BUCKET = "platform-cipipe-tfstate"
CANARY_VAR = "ci_canary"


@dataclass
class Pipeline:
    root: Path
    env: dict[str, str]
    canary: str
    outputs: list[str] = field(default_factory=list)

    @property
    def synth_dir(self) -> Path:
        return self.root / "synth"

    def bundle(self, name: str) -> Path:
        return self.root / "bundles" / name

    def ci(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`platformctl ci ARGS` as CI runs it: a subprocess, no stdin, exit code and all output kept."""
        proc = subprocess.run(
            [sys.executable, "-m", "scripts.platformctl", "ci", *args],
            cwd=PROJECT_ROOT, env=self.env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=900,
        )
        self.outputs += [proc.stdout, proc.stderr]
        return proc

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                            aws_access_key_id="test", aws_secret_access_key="test")


def plant_canary(synth_dir: Path, stack: str) -> None:
    """A sensitive input the way CI passes secrets (TF_VAR_*), stored in a resource of STACK.

    The synthesized JSON names only the variable; the value reaches Terraform from the environment.
    """
    path = synth_dir / "stacks" / stack / "cdk.tf.json"
    doc = json.loads(path.read_text())
    doc.setdefault("variable", {})[CANARY_VAR] = {"type": "string", "sensitive": True}
    doc.setdefault("resource", {}).setdefault("terraform_data", {})["ci_canary"] = {"input": f"${{var.{CANARY_VAR}}}"}
    path.write_text(json.dumps(doc, indent=2))
    record_path = synth_dir / "ci-synth.json"
    record = json.loads(record_path.read_text())
    record["stacks"][stack]["synth_sha256"] = sha256_file(path)  # as if synth had produced it
    record_path.write_text(json.dumps(record))


# Module scope: the fixture changes os.environ (and the in-process commands export the local
# target into it, PGPORT=None included); that must end with this module, not leak into the rest
# of the session (a later PostgreSQL's initdb reads PGPORT; `--environment local` reads
# PLATFORM_CONFIG_DIR).
@pytest.fixture(scope="module")
def pipeline(
    aws_emulator: Any, aws_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pipeline]:
    from click.testing import CliRunner

    from scripts.localtarget import target
    from scripts.platformctl import _register, cli

    root = tmp_path_factory.mktemp("ci-pipeline")
    config = root / "environments"
    config.mkdir()
    local = tomllib.loads((DEFAULT_CONFIG_DIR / "local.toml").read_text())
    (config / f"{ENV}.toml").write_text(_dump({**local, "name": ENV, "state": {**local["state"], "bucket": BUCKET}}))
    canary = "canary-" + secrets.token_hex(12)
    env_vars = {**aws_env, "PLATFORM_CONFIG_DIR": str(config), "PLATFORM_HOME": str(root / "home"),
                f"TF_VAR_{CANARY_VAR}": canary}
    # The pipeline's variables are in os.environ only while this fixture sets up and while a test
    # that uses it runs (`_pipeline_environ`): a session-long change would point every later test
    # of the session at this environment's config directory and home.
    saved = dict(os.environ)
    os.environ.update(env_vars)
    os.environ.pop("GITHUB_STEP_SUMMARY", None)
    try:
        target.save(target.TargetState(aws_pid=aws_emulator.pid, aws_port=aws_emulator.port))
        _register()
        boot = CliRunner().invoke(cli, ["state", "bootstrap", "--env", ENV])
        assert boot.exit_code == 0, boot.output
        p = Pipeline(root=root, env=dict(os.environ), canary=canary)
        # --allow-dirty: the suite also runs from working trees with uncommitted changes; the hash it
        # records is checked by plan and apply like the commit (tests/unit/scripts/ci/test_synth_record.py).
        synth = p.ci("synth", "--env", ENV, "--synth-dir", str(p.synth_dir), "--allow-dirty")
        assert synth.returncode == 0, synth.stderr
        plant_canary(p.synth_dir, f"{ENV}-network")
    finally:
        os.environ.clear()
        os.environ.update(saved)
    yield p


@pytest.fixture(autouse=True)
def _pipeline_environ(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process stages of a pipeline test (CliRunner) see the pipeline's environment."""
    if "pipeline" not in request.fixturenames:
        return
    p: Pipeline = request.getfixturevalue("pipeline")
    for key in set(os.environ) - set(p.env):
        monkeypatch.delenv(key)
    for key, value in p.env.items():
        monkeypatch.setenv(key, value)

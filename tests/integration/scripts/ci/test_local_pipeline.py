"""What `make local` does, done by the CI stages instead of `platformctl deploy`: the real `local`
environment file, on a local target of its own (`platformctl local up`: emulator, PostgreSQL,
OpenBao), taken through every dependency wave with `ci plan` → `ci policy` → `ci apply` until
`apply` exits 0, then re-planned.

Every command is a `platformctl` subprocess with no stdin, in a shell environment that has only
PLATFORM_HOME and what `eval "$(platformctl local env)"` exports (as the README tells laptop users
to do; the stages must still export the local migration gate's vault variables themselves). The
module applies once (≈6 min against the emulator: RDS and ALB waits) and the tests assert on the
recorded rounds. The wave-one tamper, staleness, drift and canary cases live in test_pipeline.py.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import hvac
import psycopg
import pytest

from app.contracts.workspace import PROJECT_ROOT
from scripts.localtarget import target
from scripts.localtarget.procs import free_port
from tests.integration.scripts.localtarget.test_local_target import vault_port

pytestmark = pytest.mark.integration
ENV = "local"
STACKS = [f"{ENV}-{concern}" for concern in ("state", "network", "database", "vault", "service")]
MAX_ROUNDS = 6  # four waves are expected; more would loop on a stack that never settles


@dataclass
class Round:
    plan: subprocess.CompletedProcess[str]
    policy: subprocess.CompletedProcess[str]
    apply: subprocess.CompletedProcess[str] | None
    manifest: dict[str, Any]

    def status(self) -> dict[str, str]:
        return {s["name"]: s["status"] for s in self.manifest["stacks"]}

    def applied(self) -> list[str]:
        assert self.apply is not None
        return [line.split(": ", 1)[1] for line in self.apply.stdout.splitlines() if line.startswith("applied: ")]


@dataclass
class LocalPipeline:
    root: Path
    env: dict[str, str]
    rounds: list[Round] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)

    @property
    def home(self) -> Path:
        return Path(self.env["PLATFORM_HOME"])

    @property
    def synth_dir(self) -> Path:
        return self.root / "synth"

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "scripts.platformctl", *args],
            cwd=PROJECT_ROOT, env=self.env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=1200,
        )
        self.outputs += [proc.stdout, proc.stderr]
        return proc

    def ci_round(self, name: str, apply: bool = True) -> Round:
        bundle = self.root / "bundles" / name
        common = ["--env", ENV, "--bundle", str(bundle)]
        plan = self.run("ci", "plan", *common, "--synth-dir", str(self.synth_dir))
        assert plan.returncode in (0, 2), plan.stdout + plan.stderr
        policy = self.run("ci", "policy", *common, "--synth-dir", str(self.synth_dir))
        applied = self.run("ci", "apply", *common, "--synth-dir", str(self.synth_dir)) if apply else None
        manifest = json.loads((bundle / "manifest.json").read_text())
        return Round(plan, policy, applied, manifest)

    def emulator_errors(self) -> str:
        """The emulator's server-side tracebacks (its log), for a failure message: an apply that
        fails on a 500 says little more than the resource's name."""
        log = self.target().aws_log
        text = Path(log).read_text(errors="replace") if log and Path(log).exists() else ""
        blocks = text.split("Traceback (most recent call last):")[1:]
        return "\n--- emulator traceback ---\n".join(b[-1500:] for b in blocks[-3:]) or "(no emulator traceback)"

    def target(self) -> target.TargetState:
        return target.TargetState(**json.loads((self.home / "local" / "target.json").read_text()))

    def aws(self, service: str) -> Any:
        endpoint = self.target().aws_endpoint
        return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                            aws_access_key_id="test", aws_secret_access_key="test")


def _clean_environment(home: Path) -> dict[str, str]:
    """This process's environment without anything that points at another target or vault."""
    drop = ("AWS_", "VAULT_", "PG", "PLATFORM_", "DATABASE_URL", "TF_", "GITHUB_STEP_SUMMARY")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env["PLATFORM_HOME"] = str(home)
    return env


@pytest.fixture(scope="module")
def local_pipeline() -> Iterator[LocalPipeline]:
    # Directly below /tmp: the PostgreSQL OS user must be able to enter the data directory's parents.
    with tempfile.TemporaryDirectory(prefix="platform-cilocal-") as d:
        Path(d).chmod(0o755)
        p = LocalPipeline(root=Path(d), env=_clean_environment(Path(d) / "home"))
        try:
            up = p.run("local", "up", "--aws-port", str(free_port()), "--pg-port", str(free_port()),
                       "--vault-port", str(vault_port()))
            assert up.returncode == 0, up.stdout + up.stderr
            exports = p.run("local", "env")
            assert exports.returncode == 0, exports.stderr
            for line in exports.stdout.splitlines():
                key, _, value = line.removeprefix("export ").partition("=")
                p.env[key] = shlex.split(value)[0]
            # What `make local` does before its deploy: the local migration gate reads its login
            # from the vault, and the state bucket must exist before any stack can plan.
            for step in (["vault", "bootstrap", "--env", ENV], ["state", "bootstrap", "--env", ENV],
                         # --allow-dirty: the suite also runs from working trees with uncommitted changes
                         ["ci", "synth", "--env", ENV, "--synth-dir", str(p.synth_dir), "--allow-dirty"]):
                proc = p.run(*step)
                assert proc.returncode == 0, proc.stdout + proc.stderr
            for n in range(1, MAX_ROUNDS + 1):
                p.rounds.append(p.ci_round(f"wave-{n}"))
                last = p.rounds[-1]
                if last.policy.returncode != 0 or last.apply is None or last.apply.returncode != 2:
                    break
            yield p
        finally:
            p.run("local", "down")
            keep = os.environ.get("PLATFORM_TEST_KEEP_DIR")
            if keep:  # debugging aid: the stage outputs and the emulator log survive the temp dir
                Path(keep).mkdir(parents=True, exist_ok=True)
                (Path(keep) / "outputs.txt").write_text("\n".join(p.outputs))
                log = p.target().aws_log
                if log and Path(log).exists():
                    (Path(keep) / "emulator.log").write_text(Path(log).read_text(errors="replace"))


def test_every_wave_is_planned_checked_and_applied_in_dependency_order(local_pipeline: LocalPipeline) -> None:
    rounds = local_pipeline.rounds
    for r in rounds:
        assert r.policy.returncode == 0, r.policy.stdout + r.policy.stderr
    last = rounds[-1].apply
    assert last is not None
    assert [r.applied() for r in rounds] == [[f"{ENV}-network"], [f"{ENV}-database"], [f"{ENV}-vault"],
                                             [f"{ENV}-service"]], (
        last.stdout[-3000:] + last.stderr[-5000:] + local_pipeline.emulator_errors())
    assert [r.plan.returncode for r in rounds] == [2, 2, 2, 2]
    assert [r.apply.returncode for r in rounds if r.apply] == [2, 2, 2, 0]
    # Each stack is deferred until what it reads from has state, then planned.
    assert rounds[0].status() == {f"{ENV}-state": "planned", f"{ENV}-network": "planned",
                                  f"{ENV}-database": "deferred", f"{ENV}-vault": "deferred",
                                  f"{ENV}-service": "deferred"}
    assert rounds[-1].status() == dict.fromkeys(STACKS, "planned")
    final = rounds[-1].apply
    assert final is not None and "next wave" not in final.stdout


def test_the_migration_gate_ran_inside_the_service_apply_with_the_vault_login(local_pipeline: LocalPipeline) -> None:
    service_round = local_pipeline.rounds[-1]
    assert service_round.apply is not None
    out = service_round.apply.stdout + service_round.apply.stderr
    assert out.count("migration succeeded") == 1, out[-4000:]
    state = local_pipeline.target()
    with psycopg.connect(state.database_url()) as conn:
        versions = conn.execute("SELECT version_num FROM app.alembic_version").fetchall()
        owner = conn.execute("SELECT tableowner FROM pg_tables WHERE schemaname = 'app' "
                             "AND tablename = 'alembic_version'").fetchone()
    assert versions and versions[0][0], versions
    assert owner is not None and owner[0].startswith("app_migrator"), owner  # not the superuser
    ecs = local_pipeline.aws("ecs")
    services = ecs.describe_services(cluster=f"{ENV}-cluster", services=[f"{ENV}-app", f"{ENV}-worker"])["services"]
    assert sorted(s["serviceName"] for s in services) == [f"{ENV}-app", f"{ENV}-worker"]
    for svc in services:
        assert svc["status"] == "ACTIVE"
        td = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
        assert td["containerDefinitions"][0]["image"] == "platform-example-app:local"


def test_a_replan_after_the_last_wave_reports_no_changes(local_pipeline: LocalPipeline) -> None:
    again = local_pipeline.ci_round("replan")
    assert again.plan.returncode == 0, again.plan.stdout + again.plan.stderr
    assert {s["name"]: (s["status"], s["has_changes"]) for s in again.manifest["stacks"]} == {
        name: ("planned", False) for name in STACKS}
    assert again.policy.returncode == 0, again.policy.stdout + again.policy.stderr
    assert again.apply is not None
    assert again.apply.returncode == 0, again.apply.stderr
    assert "nothing to apply" in again.apply.stdout


def test_the_vault_agrees_with_the_deployed_platform(local_pipeline: LocalPipeline) -> None:
    check = local_pipeline.run("vault", "bootstrap", "--env", ENV, "--check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "no drift" in check.stdout + check.stderr


def _local_secrets(p: LocalPipeline) -> dict[str, str]:
    """Every secret value of this local platform: superuser, vault keys, AppRole and database logins."""
    state = p.target()
    init = json.loads((Path(str(state.vault_dir)) / "init.json").read_text())
    found = {"postgres superuser": state.pg_password(), "vault root token": init["root_token"]}
    found |= {f"unseal key {i}": key for i, key in enumerate(init["unseal_keys_b64"])}
    for creds in sorted((p.home / "local" / "approle").glob("*.json")):
        found[f"approle secret_id {creds.stem}"] = json.loads(creds.read_text())["secret_id"]
    vault = hvac.Client(url=state.vault_address, token=init["root_token"])
    # Each process type's DML login; the one migration login, the application owner's, on the
    # internal mount (ADR 0017, ADR 0027: the worker shares the owner's schema and has none).
    logins = [("platform", "app/database"), ("platform", "worker/database"),
              ("platform-internal", "migration/app/database")]
    for mount, path in logins:
        data = vault.secrets.kv.v2.read_secret_version(path=path, mount_point=mount,
                                                       raise_on_deleted_version=True)["data"]["data"]
        found[f"{mount}/{path} password"] = data["password"]
    sm = p.aws("secretsmanager")
    for secret in sm.list_secrets()["SecretList"]:
        value = sm.get_secret_value(SecretId=secret["ARN"])["SecretString"]
        if value.startswith("{") and "password" in json.loads(value):
            found[f"secrets manager {secret['Name']} password"] = json.loads(value)["password"]
    assert len(found) >= 10, sorted(found)  # the scan below is only as good as this list
    return found


def _readable_files(p: LocalPipeline) -> dict[str, str]:
    """What a CI job would keep as artifacts: bundle files besides the sealed one, the synth output,
    and the Terraform state of every stack (read from the state bucket)."""
    files: dict[str, str] = {}
    for path in (p.root / "bundles").rglob("*"):
        if path.is_file() and path.name != "bundle.enc":
            files[str(path)] = path.read_text(errors="replace")
    for path in p.synth_dir.rglob("*"):
        if path.is_file() and ".terraform" not in path.parts and path.stat().st_size < 10_000_000:
            files[str(path)] = path.read_text(errors="replace")
    s3 = p.aws("s3")
    bucket = f"platform-{ENV}-tfstate"
    for obj in s3.list_objects_v2(Bucket=bucket)["Contents"]:
        if obj["Key"].endswith(".tfstate"):
            files[f"s3://{bucket}/{obj['Key']}"] = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().decode()
    return files


def test_no_secret_of_the_platform_appears_in_any_output_artifact_or_state(local_pipeline: LocalPipeline) -> None:
    secrets_ = _local_secrets(local_pipeline)
    files = _readable_files(local_pipeline)
    assert any(name.endswith(f"{ENV}-service.tfstate") for name in files)  # the state was scanned
    for label, value in secrets_.items():
        assert len(value) >= 8, label  # long enough not to occur by chance (moto's RDS password: 9)
        assert not any(value in out for out in local_pipeline.outputs), f"{label} printed by a stage"
        leaked = [name for name, text in files.items() if value in text]
        assert leaked == [], f"{label} found in {leaked}"

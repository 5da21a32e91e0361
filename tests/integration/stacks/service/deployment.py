"""Deploy `local-network`, `local-database` and `local-service` with the real terraform against the
in-process emulator (tests/integration/scripts/migrate/ecs_faults.py), and re-deploy the service stack
with a changed environment file.

- The environment file is a copy of app/environments/local.toml in a temporary
  PLATFORM_CONFIG_DIR; tests change `services.app.image` (which changes the migration task
  definition and so triggers the gate), and for the ECS fault matrix `migration.runner = "ecs"` and
  `services.app.verify_rollout = true` — the same stack code a real environment uses, with the ECS
  runner talking to the emulator whose task outcomes are scripted.
- The gate's `platformctl` is this checkout's (`python -m scripts.platformctl` through a shim
  first on PATH), `DATABASE_URL` points at a fresh database of the session's real PostgreSQL.
- Synthesis runs in this process; only the service stack's `cdk.tf.json` is copied over the
  applied stack directory for re-deploys.
- Network and database (the RDS instance alone is ≈ 80 s of provider waits) are applied once per
  test process by `LocalBase` (the session fixture `local_base`) and read by every file that needs
  only them; a file that deploys the service stack on top clears the emulator when it is done,
  and the next `LocalBase.get()` applies a fresh base (docs/adr/0022-shared-test-bases.md).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.contracts.workspace import PROJECT_ROOT
from scripts.tfmirror import terraform_env, write_lock_files
from tests.integration.scripts.migrate.ecs_faults import REGION, FakeEcs

ENV = "local"
STATE_BUCKET = "platform-local-tfstate"
SERVICE = f"{ENV}-app"
CLUSTER = f"{ENV}-cluster"
SERVICE_STACK = f"{ENV}-service"


# Deployment.service_changes key -> (table of local.toml, key in it)
CHANGE_TARGETS = {
    "image": ("services.app", "image"),
    "worker_image": ("services.worker", "image"),
    "verify_rollout": ("services.app", "verify_rollout"),
    "migration_runner": ("migration", "runner"),
    "local_migrations_dir": ("migration", "local_dir"),
}


def toml_value(value: Any) -> str:
    return json.dumps(value)  # strings, numbers, booleans, lists of strings: same syntax in TOML


@dataclass
class Deployment:
    fake: FakeEcs
    root: Path
    config_dir: Path
    webapp: Path
    tf_env: dict[str, str]
    outdir: Path
    service_changes: dict[str, Any] = field(default_factory=dict)
    database_url: str = ""  # what the gate migrates (DATABASE_URL)
    seconds: dict[str, float] = field(default_factory=dict)
    _image_counter: int = 0

    # --- configuration ------------------------------------------------------------------------

    def write_config(self) -> None:
        """local.toml with `service_changes` applied to their tables (CHANGE_TARGETS)."""
        text = (PROJECT_ROOT / "app" / "environments" / "local.toml").read_text()
        by_table: dict[str, dict[str, Any]] = {}
        for change, value in self.service_changes.items():
            table, key = CHANGE_TARGETS[change]
            by_table.setdefault(table, {})[key] = value
        lines, table = [], ""
        for line in text.splitlines():
            stripped = line.strip()
            if stripped.startswith("["):
                table = stripped.strip("[]")
            key = stripped.split("=", 1)[0].strip() if "=" in stripped else None
            if key in by_table.get(table, {}):
                continue  # replaced below
            lines.append(line)
            if stripped.startswith("[") and table in by_table:
                lines += [f"{k} = {toml_value(v)}" for k, v in by_table[table].items()]
        (self.config_dir / "local.toml").write_text("\n".join(lines) + "\n")
        tomllib.loads((self.config_dir / "local.toml").read_text())  # still valid TOML

    def new_image(self) -> str:
        self._image_counter += 1
        image = f"platform-example-app:build-{self._image_counter}"
        self.service_changes["image"] = image
        return image

    # --- synth and terraform --------------------------------------------------------------------

    def synth(self) -> Path:
        """Synthesize the environment in this process; returns the synth directory."""
        from app.config import load_environment
        from app.main import build_app

        self.write_config()
        outdir = self.root / f"synth-{time.monotonic_ns()}"
        saved = {k: os.environ.get(k) for k in ("PLATFORM_LOCAL_AWS_ENDPOINT", "PLATFORM_CONFIG_DIR")}
        os.environ["PLATFORM_LOCAL_AWS_ENDPOINT"] = self.fake.endpoint
        os.environ["PLATFORM_CONFIG_DIR"] = str(self.config_dir)
        try:
            build_app([load_environment(ENV, self.config_dir)], str(outdir)).synth()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        return outdir

    def stack_dir(self, stack: str) -> Path:
        return self.outdir / "stacks" / stack

    def terraform(
        self, stack: str, *args: str, extra_env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        cmd = ["terraform", *args, "-no-color"]
        if args[0] in ("init", "plan", "apply"):
            cmd.append("-input=false")
        return subprocess.run(
            cmd, cwd=self.stack_dir(stack), env={**self.tf_env, **(extra_env or {})},
            capture_output=True, text=True, timeout=900,
        )  # fmt: skip

    def apply(self, stack: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        started = time.monotonic()
        proc = self.terraform(stack, "apply", "-auto-approve", extra_env=extra_env)
        self.seconds[f"{stack}#{len(self.seconds)}"] = time.monotonic() - started
        return proc

    def redeploy_service(self, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Synthesize with the current config and apply only the service stack."""
        fresh = self.synth()
        shutil.copy(fresh / "stacks" / SERVICE_STACK / "cdk.tf.json", self.stack_dir(SERVICE_STACK) / "cdk.tf.json")
        shutil.rmtree(fresh)
        return self.apply(SERVICE_STACK, extra_env)

    # --- readback --------------------------------------------------------------------------------

    def service(self) -> dict[str, Any]:
        svc = self.fake.client("ecs").describe_services(cluster=CLUSTER, services=[SERVICE])["services"]
        assert len(svc) == 1, svc
        return dict(svc[0])

    def primary_task_definition(self) -> str:
        (primary,) = [d for d in self.service()["deployments"] if d["status"] == "PRIMARY"]
        return str(primary["taskDefinition"])

    def task_definition_image(self, arn: str) -> str:
        td = self.fake.client("ecs").describe_task_definition(taskDefinition=arn)["taskDefinition"]
        return str(td["containerDefinitions"][0]["image"])

    def registered_revisions(self, family: str) -> list[str]:
        ecs = self.fake.client("ecs")
        return list(ecs.list_task_definitions(familyPrefix=family)["taskDefinitionArns"])

    def outputs(self, stack: str) -> dict[str, Any]:
        proc = self.terraform(stack, "output", "-json")
        assert proc.returncode == 0, proc.stderr
        return {k: v["value"] for k, v in json.loads(proc.stdout).items()}


def platformctl_shim(bin_dir: Path) -> None:
    """`platformctl` on PATH that runs this checkout's CLI with this interpreter."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    shim = bin_dir / "platformctl"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m scripts.platformctl "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def create_state_backend(fake: FakeEcs) -> None:
    """What `<env>-state` provides: the versioned state bucket and its KMS key alias."""
    s3 = fake.client("s3")
    s3.create_bucket(Bucket=STATE_BUCKET)
    s3.put_bucket_versioning(Bucket=STATE_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    kms = fake.client("kms")
    key_id = kms.create_key(Description="test state key")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=f"alias/{STATE_BUCKET}", TargetKeyId=key_id)


BASE_STACKS = (f"{ENV}-network", f"{ENV}-database")


def deploy_base(root: Path, fake: FakeEcs, database_url: str, webapp: Path) -> Deployment:
    """Synthesize once and apply network and database (`deploy_service` applies the service on top)."""
    config_dir = root / "environments"
    config_dir.mkdir()
    bin_dir = root / "bin"
    platformctl_shim(bin_dir)
    create_state_backend(fake)
    base = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": fake.endpoint,
        "PLATFORM_LOCAL_AWS_ENDPOINT": fake.endpoint,
        "PLATFORM_CONFIG_DIR": str(config_dir),
        "PLATFORM_HOME": str(root / "home"),
        "DATABASE_URL": database_url,
        "PYTHONPATH": str(PROJECT_ROOT),
        "PATH": os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }
    dep = Deployment(
        fake=fake, root=root, config_dir=config_dir, webapp=webapp, tf_env=terraform_env(base),
        outdir=root / "synth", service_changes={"local_migrations_dir": str(webapp)}, database_url=database_url,
    )  # fmt: skip
    dep.new_image()
    first = dep.synth()
    first.rename(dep.outdir)
    write_lock_files(dep.outdir)
    for stack in BASE_STACKS:
        _init_and_apply(dep, stack)
    return dep


def deploy_service(dep: Deployment) -> None:
    """The first deployment of the service stack (synthesized with the base) on top of the base."""
    _init_and_apply(dep, SERVICE_STACK)


def _init_and_apply(dep: Deployment, stack: str) -> None:
    init = dep.terraform(stack, "init")
    assert init.returncode == 0, init.stdout + init.stderr
    proc = dep.apply(stack)
    assert proc.returncode == 0, f"{stack}: {proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"


class LocalBase:
    """`local-network` + `local-database` applied to the session's in-process emulator once per
    test process (an xdist worker), for every file that only reads them or builds on them.

    `get()` applies the base on first use and again after the emulator was cleared (a file that
    deployed the service stack on top clears it when done): each base has its own directory, copy
    of examples/webapp and database of the session's PostgreSQL, so no file sees another's
    migrations. tests/conftest.py runs the files that share it on one worker, back to back.
    """

    def __init__(self, fake: FakeEcs, admin_dsn: str, dsn_of: Callable[[str], str], tmp: Callable[[str], Path]):
        self.fake, self._admin_dsn, self._dsn_of, self._tmp = fake, admin_dsn, dsn_of, tmp
        self._dep: Deployment | None = None
        self._generation = -1
        self.deploys = 0

    def get(self) -> Deployment:
        if self._dep is None or self._generation != self.fake.generation:
            self._dep = self._deploy()
            self._generation = self.fake.generation
        return self._dep

    def _deploy(self) -> Deployment:
        import psycopg

        self.deploys += 1
        root = self._tmp("local-base")
        webapp = Path(shutil.copytree(PROJECT_ROOT / "examples" / "webapp", root / "webapp",
                                      ignore=shutil.ignore_patterns("__pycache__")))  # fmt: skip
        name = f"local_base_{os.getpid()}_{self.deploys}"
        with psycopg.connect(self._admin_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return deploy_base(root, self.fake, self._dsn_of(name), webapp)

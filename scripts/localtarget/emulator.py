"""Local AWS API emulator (moto server) as a background process on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts.localtarget.procs import port_open, wait_until

# Settings the emulator needs for this platform (see DESIGN.md, "Known emulator gaps").
# Credentials clients use against the emulator. They are not secrets: moto accepts any value.
EMULATOR_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
EMULATOR_REGION = "us-east-1"
EMULATOR_ENV = {
    # ECS services report this many running tasks, so the provider's wait_for_steady_state can
    # finish; it must equal the `local` environment's services.<name>.desired_count (1).
    "MOTO_ECS_SERVICE_RUNNING": "1",
    # Accept any credentials; the local environment uses the same dummy pair.
    **EMULATOR_CREDENTIALS,
    "AWS_DEFAULT_REGION": EMULATOR_REGION,
}
# The CA AWS gives a new RDS instance (since 2024). moto answers "rds-ca-default"; the AWS provider,
# which sends no CA on create, then modifies the instance and waits for it a second time (≈ 80 s).
AWS_DEFAULT_RDS_CA = "rds-ca-rsa2048-g1"
# moto's server, with AWS's defaults where moto's differ (`aws_defaults`), answering one request at a
# time (`serialize_requests`).
_SERVE = (
    "import sys; from scripts.localtarget.emulator import aws_defaults, serialize_requests; aws_defaults(); "
    "serialize_requests(); from moto.server import main; main(sys.argv[1:])"
)


def serialize_requests() -> None:
    """Make moto's server (in this process) handle one request at a time.

    moto's backends are not thread-safe, and its server answers every request on a thread of its own.
    Under load, Terraform's parallel calls then raced inside moto: a DynamoDB lock PutItem or an EC2
    RevokeSecurityGroupEgress failed as if it had already been applied. Serially, each request sees
    the state the previous one left. Without threads werkzeug speaks HTTP/1.0 (no keep-alive), so a
    waiting client queues in the listen backlog instead of holding the only thread."""
    import moto.server

    original = moto.server.run_simple  # the name moto's `main` calls; werkzeug itself stays as it is
    if getattr(original, "serialized", False):
        return

    def run_simple(*args: Any, **kwargs: Any) -> None:
        original(*args, **{**kwargs, "threaded": False})

    run_simple.serialized = True  # type: ignore[attr-defined]
    moto.server.run_simple = run_simple


def aws_defaults() -> None:
    """Make moto (in this process) create RDS instances with AWS's default CA."""
    from moto.rds import models

    original = models.DBInstance.__init__
    if getattr(original, "aws_defaults", False):
        return

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("ca_certificate_identifier", AWS_DEFAULT_RDS_CA)
        original(self, *args, **kwargs)

    init.aws_defaults = True  # type: ignore[attr-defined]
    models.DBInstance.__init__ = init  # type: ignore[method-assign]


@dataclass(frozen=True)
class EmulatorProcess:
    pid: int
    port: int
    log_file: str

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def healthy(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def start(port: int, log_file: Path, timeout: float = 60.0) -> EmulatorProcess:
    """Start moto server on 127.0.0.1:port in its own process group; wait until it answers."""
    if port_open(port):
        raise RuntimeError(f"port {port} is already in use; stop whatever listens there or choose another port")
    log_file.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **EMULATOR_ENV}
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", _SERVE, "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    endpoint = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"the AWS emulator exited with code {proc.returncode}; see {log_file}")
        return healthy(endpoint)

    wait_until(ready, timeout, f"the AWS emulator on {endpoint}")
    return EmulatorProcess(pid=proc.pid, port=port, log_file=str(log_file))

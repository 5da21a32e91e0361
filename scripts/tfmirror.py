"""Offline Terraform: use a provider filesystem mirror when one is present.

Without registry access, two things break a `cdktf deploy`:
1. `terraform init` looks for the provider in the registry -> a CLI config with a
   `filesystem_mirror` block fixes that (`TF_CLI_CONFIG_FILE`).
2. cdktf runs `terraform providers lock` when a stack directory has no lock file, and that
   command ignores mirrors -> we write each synthesized stack's `.terraform.lock.hcl` ourselves
   (hash computed from the mirror), so cdktf sees a matching lock file and skips the step.

With no mirror found (a machine with internet), nothing here does anything.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import platform
from dataclasses import dataclass
from pathlib import Path

from app.contracts.workspace import LOCK_FILE, STACKS_DIR, platform_home

log = logging.getLogger(__name__)

MIRROR_ENV = "PLATFORM_TF_PLUGIN_MIRROR"
PROVIDER_SOURCE = "registry.terraform.io/hashicorp/aws"
PROVIDER_VERSION = "5.100.0"  # what cdktf-cdktf-provider-aws 20.1.0 was generated for

# Conventional places for an unpacked provider mirror, checked in order after $PLATFORM_TF_PLUGIN_MIRROR.
CANDIDATE_MIRRORS = (
    "~/.terraform.d/plugins",
    "~/.local/share/terraform/plugins",
    "/usr/local/share/terraform/plugins",
    "/usr/share/terraform/plugins",
    "/opt/tf-plugins",
)


def os_arch() -> str:
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    return f"{platform.system().lower()}_{arch}"


@dataclass(frozen=True)
class Mirror:
    root: Path

    @property
    def package_dir(self) -> Path:
        return self.root / PROVIDER_SOURCE / PROVIDER_VERSION / os_arch()


def _has_provider(root: Path) -> bool:
    return any((Mirror(root).package_dir).glob("terraform-provider-aws*"))


def find_mirror() -> Mirror | None:
    """The mirror to use, or None when Terraform should use the registry as usual."""
    explicit = os.environ.get(MIRROR_ENV)
    if explicit:
        root = Path(explicit).expanduser()
        if not _has_provider(root):
            raise FileNotFoundError(
                f"{MIRROR_ENV}={explicit} has no {PROVIDER_SOURCE} {PROVIDER_VERSION} for {os_arch()} "
                f"(expected {Mirror(root).package_dir}/terraform-provider-aws_v{PROVIDER_VERSION}_x5)"
            )
        return Mirror(root)
    for candidate in CANDIDATE_MIRRORS:
        root = Path(candidate).expanduser()
        if _has_provider(root):
            return Mirror(root)
    return None


def cli_config_text(mirror: Mirror) -> str:
    return (
        "# Written by platformctl: install hashicorp providers from the local mirror (offline).\n"
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f'    path    = "{mirror.root}"\n'
        '    include = ["registry.terraform.io/hashicorp/*"]\n'
        "  }\n"
        "  direct {\n"
        '    exclude = ["registry.terraform.io/hashicorp/*"]\n'
        "  }\n"
        "}\n"
        "disable_checkpoint = true\n"
    )


def ensure_cli_config(mirror: Mirror) -> Path:
    path = platform_home() / "terraform.rc"
    text = cli_config_text(mirror)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def terraform_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for running terraform / cdktf: the mirror's CLI config when offline."""
    env = dict(os.environ if base is None else base)
    env.setdefault("CHECKPOINT_DISABLE", "1")
    env.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    mirror = find_mirror()
    if mirror is not None:
        env["TF_CLI_CONFIG_FILE"] = str(ensure_cli_config(mirror))
        # Belt and braces next to the lock files written at synth time.
        env["CDKTF_SKIP_PROVIDER_LOCK"] = "true"
    return env


def package_hash(package_dir: Path) -> str:
    """Terraform's "h1:" hash of an unpacked provider package (Go's dirhash.Hash1)."""
    summary = hashlib.sha256()
    files = sorted(p for p in package_dir.rglob("*") if p.is_file())
    for path in files:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        rel = path.relative_to(package_dir).as_posix()
        summary.update(f"{digest.hexdigest()}  {rel}\n".encode())
    return "h1:" + base64.b64encode(summary.digest()).decode()


def cached_package_hash(mirror: Mirror) -> str:
    """package_hash, cached by the binaries' size and mtime (hashing ~700 MB takes seconds)."""
    files = sorted(p for p in mirror.package_dir.rglob("*") if p.is_file())
    fingerprint = [[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in files]
    cache = platform_home() / "provider-hash.json"
    if cache.exists():
        data = json.loads(cache.read_text())
        if data.get("fingerprint") == fingerprint:
            return str(data["hash"])
    value = package_hash(mirror.package_dir)
    cache.write_text(json.dumps({"fingerprint": fingerprint, "hash": value}))
    return value


def lock_file_text(h1: str) -> str:
    return (
        '# This file is maintained automatically by "terraform init".\n'
        "# Written at synth time by platformctl from the offline provider mirror.\n\n"
        f'provider "{PROVIDER_SOURCE}" {{\n'
        f'  version     = "{PROVIDER_VERSION}"\n'
        f'  constraints = "{PROVIDER_VERSION}"\n'
        "  hashes = [\n"
        f'    "{h1}",\n'
        "  ]\n"
        "}\n"
    )


def write_lock_files(outdir: Path) -> int:
    """Give every synthesized stack a lock file matching the mirror; returns how many were written."""
    mirror = find_mirror()
    if mirror is None:
        return 0
    text = lock_file_text(cached_package_hash(mirror))
    written = 0
    for stack_dir in sorted((outdir / STACKS_DIR).glob("*")):
        lock = stack_dir / LOCK_FILE
        if lock.exists() and PROVIDER_VERSION in lock.read_text():
            continue  # terraform init may have added more hashes; keep its file
        lock.write_text(text)
        written += 1
    log.debug("wrote %d provider lock files from mirror %s", written, mirror.root)
    return written

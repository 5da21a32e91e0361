"""Load and validate environment files (`app/environments/<env>.toml`).

Everything that can be checked without AWS is checked here, before Terraform runs, and every
problem is reported at once as `<file>: <field>: <message>`. Binding is pydantic (`app.loader`);
meaning is checked in `app.validate` (infrastructure) and `app.validate_services` (workloads).
"""

from __future__ import annotations

import ipaddress
import os
import re
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from app.contracts.names import default_read_paths, local_vault_address
from app.literals import marker_problems
from app.loader import Problem, bind_environment, shown
from app.schema import EnvironmentConfig, NetworkConfig, VaultWorkloadConfig
from app.validate import validate
from app.validate_services import migration_image_warnings

DEFAULT_CONFIG_DIR = Path(__file__).resolve().parent / "environments"
CONFIG_DIR_ENV = "PLATFORM_CONFIG_DIR"

__all__ = [
    "DEFAULT_CONFIG_DIR",
    "ConfigError",
    "Problem",
    "environment_names",
    "load_all",
    "load_environment",
    "parse_environment",
]


class ConfigError(Exception):
    """One or more problems in an environment file; `problems` holds them, one line each."""

    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = [Problem(safe_field(p.field), scrub(p.message)) for p in problems]
        super().__init__("\n".join(f"{source}: {p.field}: {p.message}" for p in self.problems))


# A table key is part of the field path; a part that could be pasted material is not echoed.
_KEY_SHOWN = re.compile(r'[A-Za-z0-9_*<>\[\]"-]{1,40}')


def safe_field(field: str) -> str:
    return ".".join(p if _KEY_SHOWN.fullmatch(p) else "<key not shown>" for p in field.split("."))


# The last line of defence: whatever a check quoted, pasted key material and URL credentials are
# cut from the message, and a message stays one line.
_PEM_BLOCK = re.compile(r"-----BEGIN[\s\S]*?(-----END[^-]*-----|$)")
_URL_CREDENTIALS = re.compile(r"(://)[^/\s@]*:[^/\s@]*@")


def scrub(message: str) -> str:
    message = _PEM_BLOCK.sub("<value not shown>", message)
    message = _URL_CREDENTIALS.sub(r"\1<credentials not shown>@", message)
    return " ".join(message.splitlines())


def config_dir() -> Path:
    return Path(os.environ.get(CONFIG_DIR_ENV, DEFAULT_CONFIG_DIR))


def environment_names(directory: Path | None = None) -> list[str]:
    directory = directory or config_dir()
    return sorted(p.stem for p in directory.glob("*.toml"))


def _check_directory(directory: Path) -> None:
    """A missing or empty directory is an error, never "nothing to validate"."""
    source = _display(directory)
    if not directory.is_dir():
        what = "does not exist" if not directory.exists() else "is not a directory"
        raise ConfigError(source, [Problem("<directory>", f"{what} (set {CONFIG_DIR_ENV} or create it)")])
    if not environment_names(directory):
        raise ConfigError(source, [Problem("<directory>", "holds no environment files (<env>.toml)")])


def load_all(directory: Path | None = None) -> list[EnvironmentConfig]:
    """Every environment in the directory; raises one ConfigError listing all files' problems."""
    directory = directory or config_dir()
    _check_directory(directory)
    envs: list[EnvironmentConfig] = []
    errors: list[ConfigError] = []
    for name in environment_names(directory):
        try:
            envs.append(load_environment(name, directory))
        except ConfigError as exc:
            errors.append(exc)
    if errors:
        if len(errors) == 1:
            raise errors[0]
        merged = [Problem(f"{e.source}: {p.field}", p.message) for e in errors for p in e.problems]
        raise _MultiFileError(merged)
    return envs


class _MultiFileError(ConfigError):
    def __init__(self, problems: list[Problem]):
        self.source = "<several files>"
        self.problems = problems
        Exception.__init__(self, "\n".join(f"{p.field}: {p.message}" for p in problems))


def load_environment(name: str, directory: Path | None = None) -> EnvironmentConfig:
    directory = directory or config_dir()
    path = directory / f"{name}.toml"
    source = _display(path)
    if not path.is_file():
        _check_directory(directory)
        known = ", ".join(environment_names(directory)) or "none"
        raise ConfigError(source, [Problem("<file>", f"unknown environment {shown(name)} (known: {known})")])
    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise ConfigError(source, [Problem("<file>", f"cannot be read: {exc.strerror}")]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(source, [Problem("<file>", f"not UTF-8 text (byte {exc.start})")]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, [Problem("<file>", f"not valid TOML: {exc}")]) from exc
    return parse_environment(data, source, expected_name=name)


def parse_environment(data: dict[str, Any], source: str, expected_name: str | None = None) -> EnvironmentConfig:
    env, problems = bind_environment(data)
    if env is None:
        raise ConfigError(source, problems)
    # On the file's own values, before defaults add derived entries (paths as the file has them).
    problems.extend(marker_problems(env))
    env = resolve_tier_defaults(env.model_copy(update={"source": source}))
    env, address_problems = resolve_local_vault_address(env, os.environ)
    problems.extend(address_problems)
    problems.extend(validate(env, expected_name))
    if problems:
        raise ConfigError(source, problems)
    report_warnings(source, migration_image_warnings(env))
    return env


def report_warnings(source: str, warnings: list[Problem]) -> None:
    """The warning channel: `<file>: warning: <field>: <message>` on stderr; the file stays valid."""
    for w in warnings:
        print(f"{source}: warning: {safe_field(w.field)}: {scrub(w.message)}", file=sys.stderr)


def _display(path: Path) -> str:
    try:
        text = str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        text = str(path)
    # A file name that is not UTF-8 (surrogate-escaped by the OS layer) must not crash the printing.
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def resolve_tier_defaults(env: EnvironmentConfig) -> EnvironmentConfig:
    """Fill the `None` (tier-dependent) defaults; the one place they are decided."""
    net = env.network
    az_count = net.az_count if net.az_count is not None else (3 if env.is_production else 2)
    flow_logs = net.flow_logs if net.flow_logs is not None else env.is_production
    net = net.model_copy(update={"az_count": az_count, "flow_logs": flow_logs})
    if net.mode == "managed" and not (net.public_subnets or net.private_subnets or net.isolated_subnets):
        net = _carve_subnets(net, az_count)
    verify = not env.aws.emulator
    services = {
        name: svc.model_copy(
            update={
                "verify_rollout": svc.verify_rollout if svc.verify_rollout is not None else verify,
                "read_paths": svc.read_paths if svc.read_paths is not None else default_read_paths(name),
            }
        )
        for name, svc in env.services.items()
    }
    migration = env.migration.model_copy(
        update={"runner": env.migration.runner or ("local" if env.tier == "local" else "ecs")}
    )
    # Every service is a Vault workload (named after it): one declaration, so renaming a service
    # renames its Vault role, policy and database logins together. Extra workloads follow.
    workloads = [VaultWorkloadConfig(name=n, read_paths=list(s.read_paths or [])) for n, s in sorted(services.items())]
    vault = env.vault.model_copy(update={"workloads": [*workloads, *env.vault.workloads]})
    return env.model_copy(update={"network": net, "services": services, "migration": migration, "vault": vault})


def resolve_local_vault_address(
    env: EnvironmentConfig, environ: Mapping[str, str]
) -> tuple[EnvironmentConfig, list[Problem]]:
    """An emulator environment with an external vault and no `vault.address` talks to the local
    target's OpenBao: its address comes from PLATFORM_LOCAL_VAULT_PORT (`app.contracts.names`), so
    `local up --vault-port`, the task definitions' VAULT_ADDR, the `<env>-vault` address output and
    every script's fallback name the same server (issue 18 item 5)."""
    if not (env.aws.emulator and env.vault.mode == "external" and env.vault.address is None):
        return env, []
    try:
        address = local_vault_address(environ)
    except ValueError as exc:
        return env, [Problem("vault.address", f"not set, and the local vault's port cannot be derived: {exc}")]
    return env.model_copy(update={"vault": env.vault.model_copy(update={"address": address})}), []


def _carve_subnets(net: NetworkConfig, n: int) -> NetworkConfig:
    try:
        vpc = ipaddress.ip_network(net.cidr)
    except ValueError:
        return net  # reported by validate()
    new_prefix = min(vpc.prefixlen + 4, 28)
    slots = list(vpc.subnets(new_prefix=new_prefix)) if new_prefix > vpc.prefixlen else []
    if n < 1 or len(slots) < 3 * n:
        return net  # reported by validate() as "too small"
    return net.model_copy(
        update={
            "public_subnets": [str(s) for s in slots[0:n]],
            "private_subnets": [str(s) for s in slots[n : 2 * n]],
            "isolated_subnets": [str(s) for s in slots[2 * n : 3 * n]],
        }
    )

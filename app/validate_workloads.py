"""Workload names and what they may read in Vault: one rule for `[services.*]` and `[[vault.workloads]]`.

The rules live in app/contracts/names.py (the Vault spec re-checks them, so a configuration that
skipped this validation still cannot produce a broader policy); here they are reported per file
field. Every name derived from a workload (Vault policies and roles, KV prefix, PostgreSQL logins,
ECS service) is compared with the other workloads' and the platform's own (docs/adr/0017).
"""

from __future__ import annotations

from collections.abc import Iterable

from app.contracts import names as contracts
from app.loader import Problem, shown
from app.schema import EnvironmentConfig


def _fields(env: EnvironmentConfig) -> list[tuple[str, str, list[str]]]:
    """(field prefix, name, read_paths) of every workload, named as the file spells it.

    After `resolve_tier_defaults` the services come first in `vault.workloads` (sorted by name),
    then the file's own `[[vault.workloads]]`.
    """
    out = []
    services = sorted(env.services)
    for i, w in enumerate(env.vault.workloads):
        if i < len(services) and w.name == services[i]:
            out.append((f"services.{w.name}", w.name, list(w.read_paths)))
        else:
            out.append((f"vault.workloads[{i - len(services)}]", w.name, list(w.read_paths)))
    return out


def validate_workloads(env: EnvironmentConfig) -> list[Problem]:
    problems: list[Problem] = []
    owners: dict[tuple[str, str], str] = {}
    for space, names in contracts.platform_names(env.name).items():
        for n in names:
            owners[(space, n)] = "the platform"
    owners[("PostgreSQL role", env.database.master_username)] = "database.master_username"
    mount_problem = contracts.kv_mount_problem(env.vault.kv_mount)
    if mount_problem:
        problems.append(Problem("vault.kv_mount", mount_problem))
    for prefix, name, paths in _fields(env):
        service = prefix.startswith("services.")
        name_field = prefix if service else f"{prefix}.name"
        why = contracts.workload_name_problem(name)
        if why:
            problems.append(Problem(name_field, f"workload name {shown(name)} {why}"))
            continue
        for i, path in enumerate(paths):
            bad = contracts.read_path_problem(name, path)
            if bad:
                problems.append(Problem(f"{prefix}.read_paths[{i}]", f"{shown(path)} {bad}"))
        problems += _collisions(env, name, name_field, owners)
    return problems


def _collisions(env: EnvironmentConfig, name: str, fld: str, owners: dict[tuple[str, str], str]) -> Iterable[Problem]:
    for space, derived in contracts.derived_names(env.name, name).items():
        for n in sorted(derived):
            owner = owners.setdefault((space, n), fld)
            if owner != fld:
                yield Problem(fld, f"its {space} {n!r} is already used by {owner}")

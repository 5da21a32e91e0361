"""The KV boundary on the real OpenBao (ADR 0017): whatever the configuration says, a workload's
tokens can read only their own secrets.

For a matrix of configurations, every workload's two tokens (its AppRole login and its migration
role's, as `vault bootstrap` issues them) ask `sys/capabilities-self` about every platform path -
the internal mount's migration and admin logins, rotation journals, locks, pending passwords and
their undelete/destroy endpoints, and where the pre-0017 layout kept them - and about every other
workload's paths: each answer is `deny`, except the token's own. The configurations of issue 18
(`*`, `+/migration-database`, `platform-admin/database`, `rotation/*`, workloads named `rotation`,
`migration`, `app-migration`, `platform-admin`) never reach Vault: validation names the field and
the spec refuses them even when validation is skipped.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import hvac
import pytest

from app.config import ConfigError
from app.contracts.names import internal_kv_mount
from app.schema import VaultWorkloadConfig
from scripts.localtarget import openbao
from scripts.localtarget.openbao import OpenBaoServer
from scripts.runtime import approle
from scripts.vault import bootstrap
from scripts.vault.bootstrap import VaultTarget
from scripts.vault.spec import SpecError, SpecOptions, build_spec
from tests.integration.scripts.vault.conftest import make_env

WRITES = {"create", "update", "delete", "patch", "sudo"}
KINDS = ("data", "metadata", "delete", "undelete", "destroy")

# name -> (read_paths, paths below the workload mount its app token must be able to read).
CONFIGS: dict[str, dict[str, tuple[list[str], list[str]]]] = {
    "defaults": {
        "app": (["app/*"], ["app/database", "app/extra"]),
        "jobs": (["jobs/*"], ["jobs/database", "jobs/extra"]),
    },
    "shared and exact paths": {
        "app": (["app/database", "shared/*"], ["app/database", "shared/stripe"]),
        "jobs": (["jobs", "jobs/*", "shared/stripe"], ["jobs/database", "shared/stripe"]),
        "reports": ([], []),
    },
    "names that prefix each other": {
        "a": (["a/*"], ["a/database"]),
        "app": (["app/*"], ["app/database"]),
        "app2": (["app2/*", "shared/"], ["app2/database"]),
    },
    "look-alikes of platform names": {
        "rotation2": (["rotation2/*"], ["rotation2/database"]),
        "migrationx": (["migrationx/*"], ["migrationx/database"]),
        "admin1": (["admin1/*"], ["admin1/database"]),
        "platformadmin": (["platformadmin/*"], ["platformadmin/database"]),
    },
}

REFUSED = {
    "everything": ("app", ["*"], "read_paths[0]"),
    "every migration login": ("app", ["+/migration-database"], "read_paths[0]"),
    "the admin login": ("app", ["platform-admin/database"], "read_paths[0]"),
    "every rotation record": ("app", ["rotation/*"], "read_paths[0]"),
    "a service named rotation": ("rotation", ["rotation/*"], "name"),
    "a workload named migration": ("migration", [], "name"),
    "a workload named app-migration": ("app-migration", ["app-migration/*"], "name"),
    "a workload named platform-admin": ("platform-admin", [], "name"),
    "a neighbour's login": ("app", ["app/*", "jobs/database"], "read_paths[1]"),
    "a neighbour by glob": ("app", ["a*"], "read_paths[0]"),
}


def _target(server: OpenBaoServer) -> VaultTarget:
    return VaultTarget(server.address, server.root_token)


def _options(uid: str, server: OpenBaoServer, tmp_path: Path) -> SpecOptions:
    return SpecOptions(
        approle_mount=f"approle{uid}",
        audit_path=openbao.AUDIT_PATH,
        audit_file_path=server.audit_log,
        approle_credentials_dir=str(tmp_path / "approle"),
    )


def _probes(env: str, kv: str, names: list[str]) -> list[str]:
    """Every platform path and every workload's paths, on both mounts, through every KV v2 endpoint."""
    internal = internal_kv_mount(kv)
    below = ["admin/database", f"rotation/{env}/lock", "platform-admin/database", "shared/stripe"]
    for n in names:
        below += [
            f"migration/{n}/database",
            f"rotation/{env}/{n}/journal",
            f"rotation/{env}/{n}/pending/app",
            f"rotation/{env}/{n}/pending/migration",
            f"rotation/{env}/{n}/history/0123456789ab",
            f"{n}/database",
            f"{n}/extra",
            f"{n}/migration-database",
        ]
    return [f"{mount}/{kind}/{path}" for mount in (kv, internal) for kind in KINDS for path in below]


def _seed(root: hvac.Client, env: str, kv: str, names: list[str]) -> None:
    """Something at every probed data path, so the reads below are real."""
    internal = internal_kv_mount(kv)
    for path in [p.split("/data/", 1)[1] for p in _probes(env, kv, names) if p.startswith(f"{kv}/data/")]:
        for mount in (kv, internal):
            root.secrets.kv.v2.create_or_update_secret(path, secret={"v": f"{mount}/{path}"}, mount_point=mount)


def _token(server: OpenBaoServer, tmp_path: Path, role: str) -> hvac.Client:
    return approle.login(server.address, approle.read_credentials(tmp_path / "approle" / f"{role}.json"))


@pytest.mark.parametrize("config", list(CONFIGS))
def test_every_workload_token_can_read_only_its_own(
    config: str, openbao_server: OpenBaoServer, tmp_path: Path
) -> None:
    uid = secrets.token_hex(3)
    kv, workloads = f"kv{uid}", CONFIGS[config]
    env = make_env(f"b{uid}", kv, {n: paths for n, (paths, _) in workloads.items()})
    options = _options(uid, openbao_server, tmp_path)
    caps = bootstrap.server_capabilities(_target(openbao_server), options.aws_auth_mount)
    bootstrap.run(build_spec(env, {}, {}, options, auth="approle"), _target(openbao_server), caps=caps)
    root = hvac.Client(url=openbao_server.address, token=openbao_server.root_token)
    names = list(workloads)
    _seed(root, env.name, kv, names)
    probes = _probes(env.name, kv, names)
    internal = internal_kv_mount(kv)

    for name, (_, readable) in workloads.items():
        own = {f"{kv}/data/{p}" for p in readable}
        migration_login = f"{internal}/data/migration/{name}/database"
        # Below its own prefix and shared/, what its read_paths leave out may be either.
        own_space = tuple(f"{kv}/{k}/{p}/" for k in ("data", "metadata") for p in (name, "shared"))
        for role, allowed, may_also in (
            (f"{env.name}-{name}", own, own_space),
            (f"{env.name}-{name}-migration", {migration_login}, ()),
        ):
            client = _token(openbao_server, tmp_path, role)
            answer = client.sys.get_capabilities(probes)["data"]
            for path in probes:
                got = set(answer[path])
                assert not got & WRITES, f"{role} may {sorted(got & WRITES)} {path}"
                if path in allowed:
                    assert "read" in got, f"{role} cannot read its own {path}: {sorted(got)}"
                elif not path.startswith(may_also) or "/undelete/" in path or "/destroy/" in path:
                    assert got == {"deny"}, f"{role} has {sorted(got)} on {path}"
            # The same through real reads: its own value, and a refusal elsewhere.
            for path in sorted(allowed):
                mount, below = path.split("/data/", 1)
                value = client.secrets.kv.v2.read_secret_version(below, mount_point=mount,
                                                                 raise_on_deleted_version=True)
                assert value["data"]["data"] == {"v": f"{mount}/{below}"}
            with pytest.raises(hvac.exceptions.Forbidden):
                client.secrets.kv.v2.read_secret_version("admin/database", mount_point=internal,
                                                         raise_on_deleted_version=True)


@pytest.mark.parametrize("case", list(REFUSED))
def test_the_issues_configurations_never_reach_vault(
    case: str, openbao_server: OpenBaoServer, tmp_path: Path
) -> None:
    uid = secrets.token_hex(3)
    name, paths, fld = REFUSED[case]
    with pytest.raises(ConfigError) as refused:
        make_env(f"b{uid}", f"kv{uid}", {name: paths, "jobs": ["jobs/*"]})
    assert f"vault.workloads[0].{fld}" in {p.field for p in refused.value.problems}
    # Validation skipped (a hand-built config): the spec still refuses, before any write.
    env = make_env(f"b{uid}", f"kv{uid}", {"jobs": ["jobs/*"]})
    sneaked = VaultWorkloadConfig.model_construct(name=name, read_paths=paths)
    env = env.model_copy(update={"vault": env.vault.model_copy(update={"workloads": [sneaked, *env.vault.workloads]})})
    with pytest.raises(SpecError):
        build_spec(env, {}, {}, _options(uid, openbao_server, tmp_path), auth="approle")
    root = hvac.Client(url=openbao_server.address, token=openbao_server.root_token)
    assert not [p for p in root.sys.list_acl_policies()["data"]["keys"] if p.startswith(f"b{uid}-")]

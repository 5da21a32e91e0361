"""`vault bootstrap` and `secrets exec` against the real OpenBao server (no AWS IAM auth, declared audit).

On the local tier the workloads get AppRole roles bound to the same policies, with 0600 credentials
files; a real environment is refused with what to register; a missing declared audit device stops
everything before any write, with the config block to add.
"""

from __future__ import annotations

import stat
from pathlib import Path

import hvac
import hvac.exceptions
import pytest

from scripts.runtime import approle, secrets_exec
from scripts.runtime.vault_client import VaultError
from scripts.vault import bootstrap
from scripts.vault.spec import SpecOptions, build_spec
from tests.integration.scripts.vault.conftest import Scenario


def _caps(s: Scenario) -> bootstrap.ServerCapabilities:
    return bootstrap.server_capabilities(s.vault, s.options.aws_auth_mount)


def _run(s: Scenario, check: bool = False, options: SpecOptions | None = None) -> bootstrap.BootstrapReport:
    caps = _caps(s)
    spec = build_spec(s.env, {}, {}, options or s.options, auth=bootstrap.choose_auth(caps, s.env.tier, s.env.name))
    return bootstrap.run(spec, s.vault, s.db, None, check=check, caps=caps, master=s.extra["master"])


def _exec_env(s: Scenario, role: str, path: str, internal: bool = False) -> dict[str, str]:
    request = secrets_exec.ExecRequest(
        s.vault.address,
        role,
        (path,),
        f"{s.env.vault.kv_mount}-internal" if internal else s.env.vault.kv_mount,
        auth="approle",
        approle_file=str(Path(s.options.approle_credentials_dir or "") / f"{role}.json"),
    )
    return secrets_exec.resolve_environment(request, {})


def test_openbao_offers_neither_aws_auth_nor_api_audit(bao_scenario: Scenario) -> None:
    caps = _caps(bao_scenario)
    assert (caps.aws_auth, caps.api_audit, caps.product) == (False, False, "openbao")


def test_local_tier_bootstrap_uses_approle_converges_and_scopes_each_role(bao_scenario: Scenario) -> None:
    s = bao_scenario
    first = _run(s)
    assert any("enable approle auth method" in c for c in first.changes), first.changes
    assert not any("aws" in c.split(" at ")[0] for c in first.changes)
    assert _run(s, check=True).clean
    assert _run(s).clean  # idempotent

    app = s.workloads[0]
    files = sorted(Path(s.options.approle_credentials_dir or "").iterdir())
    assert len(files) == 4  # app + migration role per workload
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)

    env = _exec_env(s, f"{s.env.name}-{app}", f"{app}/database")
    assert env["DATABASE_USER"] == f"{app}_app" and env["DATABASE_PASSWORD"]
    with pytest.raises(VaultError, match="may not read"):
        _exec_env(s, f"{s.env.name}-{app}", f"migration/{app}/database", internal=True)
    with pytest.raises(VaultError, match="may not read"):  # its own migration login only
        _exec_env(s, f"{s.env.name}-{app}-migration", f"migration/{s.workloads[1]}/database", internal=True)
    migration = _exec_env(s, f"{s.env.name}-{app}-migration", f"migration/{app}/database", internal=True)
    assert migration["DATABASE_USER"] == f"{app}_migrator"
    # Nothing secret in the report, the server's audit log or its own log (tokens and values are HMACed).
    secret_ids = [approle.read_credentials(f).secret_id for f in files]
    logs = (
        Path(s.options.audit_file_path).read_text()
        + (Path(s.options.audit_file_path).parent / "server.log").read_text()
    )
    for secret in (env["DATABASE_PASSWORD"], migration["DATABASE_PASSWORD"], s.vault.token, *secret_ids):
        assert not any(secret in line for line in first.changes)
        assert secret not in logs


def test_revoked_secret_id_is_drift_and_bootstrap_reissues_it(bao_scenario: Scenario) -> None:
    s = bao_scenario
    _run(s)
    role = f"{s.env.name}-{s.workloads[1]}"
    path = Path(s.options.approle_credentials_dir or "") / f"{role}.json"
    creds = approle.read_credentials(path)
    root = hvac.Client(url=s.vault.address, token=s.vault.token)
    root.auth.approle.destroy_secret_id(role, creds.secret_id, mount_point=s.options.approle_mount)

    drift = _run(s, check=True)
    assert [c for c in drift.changes if "no longer valid" in c and role in c], drift.changes
    _run(s)
    assert approle.read_credentials(path).secret_id != creds.secret_id
    assert _exec_env(s, role, f"{s.workloads[1]}/database")["DATABASE_USER"] == f"{s.workloads[1]}_app"


def test_world_readable_credentials_file_is_refused(bao_scenario: Scenario) -> None:
    s = bao_scenario
    _run(s)
    role = f"{s.env.name}-{s.workloads[0]}"
    path = Path(s.options.approle_credentials_dir or "") / f"{role}.json"
    path.chmod(0o644)
    with pytest.raises(VaultError, match="readable by other users"):
        _exec_env(s, role, f"{s.workloads[0]}/database")


def test_real_environment_without_aws_auth_is_refused_with_what_to_register(bao_scenario: Scenario) -> None:
    s = bao_scenario
    caps = _caps(s)
    with pytest.raises(VaultError, match="bao plugin register") as caught:
        bootstrap.choose_auth(caps, "production", "prod")
    assert "nothing was changed" in str(caught.value)
    # An AWS-auth spec sent to OpenBao anyway stops before its first write.
    spec = build_spec(s.env, {w: f"arn:aws:iam::123456789012:role/{w}" for w in s.workloads}, {}, s.options)
    with pytest.raises(VaultError, match="no AWS IAM auth"):
        bootstrap.run(spec, s.vault, s.db, None, caps=caps, master=s.extra["master"])
    mounts = hvac.Client(url=s.vault.address, token=s.vault.token).sys.list_mounted_secrets_engines()["data"]
    assert f"{s.env.vault.kv_mount}/" not in mounts


def test_undeclared_audit_device_stops_before_any_write_with_the_config_block(bao_scenario: Scenario) -> None:
    s = bao_scenario
    options = SpecOptions(**{**s.options.__dict__, "audit_path": f"audit{s.extra['uid']}"})
    drift = _run(s, check=True, options=options)
    assert any("only takes audit devices declared in its configuration" in c for c in drift.changes)
    with pytest.raises(VaultError, match="nothing was changed because of conflicts") as caught:
        _run(s, options=options)
    assert f'audit "file" "audit{s.extra["uid"]}"' in str(caught.value)
    assert f'file_path = "{options.audit_file_path}"' in str(caught.value)
    root = hvac.Client(url=s.vault.address, token=s.vault.token)
    assert f"{s.env.vault.kv_mount}/" not in root.sys.list_mounted_secrets_engines()["data"]
    assert f"{options.approle_mount}/" not in root.sys.list_auth_methods()["data"]

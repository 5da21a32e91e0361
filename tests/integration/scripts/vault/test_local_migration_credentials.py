"""The local migration gate takes the *migration* login from the vault (issue 10 item 4).

`platformctl migrate run --local` runs with only the names the deploy exports (VAULT_ADDR and the
PLATFORM_MIGRATION_VAULT_* variables), logs in with the migration role's AppRole credentials and
hands the migration a DATABASE_URL of `<workload>_migrator`. A probe migration records what every
process on the machine shows (`ps eww`: argv and environments) while it runs: neither the
PostgreSQL superuser's password nor the vault's root token may appear there or in the output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from scripts.vault import bootstrap, local
from scripts.vault.spec import SpecOptions, build_spec
from tests.integration.scripts.vault.conftest import Scenario

PROBE = textwrap.dedent(
    """
    import json, os, subprocess, sys
    import psycopg
    url = os.environ["DATABASE_URL"]
    with psycopg.connect(url) as conn:
        user = conn.execute("select current_user").fetchone()[0]
    ps = subprocess.run(["ps", "eww", "-A", "-o", "pid,args"], capture_output=True, text=True).stdout
    json.dump({"user": user, "ps": ps, "env": dict(os.environ)}, open(sys.argv[1], "w"))
    """
)


@pytest.fixture()
def bootstrapped(bao_scenario: Scenario, tmp_path: Path) -> tuple[Scenario, Path]:
    home = tmp_path / "home"
    options = SpecOptions(**{**bao_scenario.options.__dict__, "approle_credentials_dir": str(home / "local/approle")})
    caps = bootstrap.server_capabilities(bao_scenario.vault, options.aws_auth_mount)
    spec = build_spec(bao_scenario.env, {}, {}, options, auth="approle")
    bootstrap.run(spec, bao_scenario.vault, bao_scenario.db, None, caps=caps, master=bao_scenario.extra["master"])
    return bao_scenario, home


def _gate_env(s: Scenario, home: Path, workload: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "PG", "DATABASE_URL"))}
    env.update({
        "PLATFORM_HOME": str(home),
        "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
        local.ADDR_ENV: s.vault.address,
        local.ROLE_ENV: f"{s.env.name}-{workload}-migration",
        local.PATH_ENV: f"migration/{workload}/database",
        local.MOUNT_ENV: f"{s.env.vault.kv_mount}-internal",
    })
    return env


def test_migration_runs_as_the_vault_issued_migrator_and_no_process_shows_a_secret(
        bootstrapped: tuple[Scenario, Path], tmp_path: Path) -> None:
    s, home = bootstrapped
    workload = s.workloads[0]
    probe, out = tmp_path / "probe.py", tmp_path / "probe.json"
    probe.write_text(PROBE)
    result = subprocess.run(
        [sys.executable, "-m", "scripts.platformctl", "migrate", "run", "--local", "--service", "svc",
         "--timeout", "120", "--", sys.executable, str(probe), str(out)],
        env=_gate_env(s, home, workload), capture_output=True, text=True, timeout=180, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    seen = json.loads(out.read_text())
    assert seen["user"] == f"{workload}_migrator"
    superuser_password, root_token = s.extra["master"].password, s.vault.token
    for where in (seen["ps"], json.dumps(seen["env"]), result.stdout, result.stderr):
        assert superuser_password not in where
        assert root_token not in where
    migrator_password = seen["env"]["DATABASE_URL"].split(":")[2].split("@")[0]
    assert migrator_password not in result.stdout + result.stderr


def test_gate_without_credentials_file_says_to_bootstrap(bootstrapped: tuple[Scenario, Path], tmp_path: Path) -> None:
    s, _ = bootstrapped
    env = _gate_env(s, tmp_path / "elsewhere", s.workloads[0])
    result = subprocess.run(
        [sys.executable, "-m", "scripts.platformctl", "migrate", "run", "--local", "--service", "svc",
         "--timeout", "60", "--", "true"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 64
    assert "platformctl vault bootstrap --env local" in result.stderr


# What a developer's shell (`eval "$(platformctl local env)"`) and a deploy hand down to the gate:
# libpq pointed at the superuser through a password file, a vault token, AWS keys.
INHERIT_PROBE = textwrap.dedent(
    """
    import json, os, subprocess, sys
    import psycopg
    with psycopg.connect("") as conn:  # libpq defaults only: PG* of the environment
        default_user = conn.execute("select current_user").fetchone()[0]
    psql = subprocess.run(["psql", "-XAtc", "select current_user"], capture_output=True, text=True)
    json.dump({"default_user": default_user, "psql": psql.stdout.strip() + psql.stderr.strip(),
               "names": sorted(os.environ)}, open(sys.argv[1], "w"))
    """
)


def test_migration_does_not_inherit_the_operators_superuser_login_token_or_keys(
        bootstrapped: tuple[Scenario, Path], tmp_path: Path) -> None:
    s, home = bootstrapped
    workload = s.workloads[0]
    master = s.extra["master"]
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"*:*:*:{master.username}:{master.password}\n")
    pgpass.chmod(0o600)
    env = _gate_env(s, home, workload)
    db = s.db.database
    env.update({
        "PGHOST": db.host, "PGPORT": str(db.port), "PGUSER": master.username, "PGDATABASE": db.dbname,
        "PGPASSFILE": str(pgpass), "VAULT_TOKEN": s.vault.token, "AWS_ACCESS_KEY_ID": "AKIAOPERATOR",
        "AWS_SECRET_ACCESS_KEY": "operator-secret", "TF_VAR_x": "1", "PYTHONPATH": str(tmp_path),
    })
    probe, out = tmp_path / "probe.py", tmp_path / "probe.json"
    probe.write_text(INHERIT_PROBE)
    result = subprocess.run(
        [sys.executable, "-m", "scripts.platformctl", "migrate", "run", "--local", "--service", "svc",
         "--timeout", "120", "--", sys.executable, str(probe), str(out)],
        env=env, capture_output=True, text=True, timeout=180, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    seen = json.loads(out.read_text())
    assert seen["default_user"] == f"{workload}_migrator"
    assert seen["psql"] == f"{workload}_migrator"
    leaked = [n for n in seen["names"] if n.startswith(("VAULT_", "AWS_", "TF_", "PYTHONPATH", "PLATFORM_"))]
    assert leaked == [] and "PGPASSFILE" not in seen["names"]

"""The local target's OpenBao: initialised once, unsealed on every `up`, data kept over `down`/`up`,
`local env` exports VAULT_ADDR (never a token), and no token or unseal key shows up in any output,
process (argv/environment, `ps eww`) or file others can read."""

from __future__ import annotations

import json
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import hvac
import pytest
from click.testing import CliRunner

from scripts.localtarget import openbao, target
from scripts.localtarget.procs import free_port, pid_alive
from scripts.platformctl import _register, cli
from scripts.runtime.vault_client import wait_kv_v2_ready
from tests.integration.scripts.localtarget.test_local_target import vault_port

pytestmark = pytest.mark.integration
_register()


@pytest.fixture()
def home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="platform-bao-") as d:
        Path(d).chmod(0o755)
        monkeypatch.setenv("PLATFORM_HOME", f"{d}/home")
        monkeypatch.delenv("VAULT_TOKEN", raising=False)
        yield Path(d) / "home"
        target.down()


def _secrets(home: Path) -> list[str]:
    init = json.loads((home / "local" / "openbao" / openbao.INIT_FILE).read_text())
    return [init["root_token"], *init["unseal_keys_b64"]]


def _world_readable_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and p.stat().st_mode & stat.S_IROTH]


def test_openbao_survives_down_and_up_and_never_shows_its_keys(home: Path) -> None:
    runner = CliRunner()
    args = ["local", "up", "--aws-port", str(free_port()), "--pg-port", str(free_port()),
            "--vault-port", str(vault_port())]
    outputs = []
    first = runner.invoke(cli, args)
    outputs.append(first.output)
    assert first.exit_code == 0, first.output
    assert "started OpenBao" in first.output and "initialised and unsealed" in first.output
    state = target.load()
    init_file = home / "local" / "openbao" / openbao.INIT_FILE
    assert stat.S_IMODE(init_file.stat().st_mode) == 0o600
    status = runner.invoke(cli, ["local", "status"])
    outputs.append(status.output)
    assert f"openbao:      running at {state.vault_address}" in status.output and "unsealed" in status.output
    exports = runner.invoke(cli, ["local", "env"])
    outputs.append(exports.output)
    assert f"export VAULT_ADDR={state.vault_address}" in exports.output and "VAULT_TOKEN" not in exports.output

    client = hvac.Client(url=state.vault_address, token=state.vault_root_token())
    client.sys.enable_secrets_engine("kv", path="keep", options={"version": "2"})
    wait_kv_v2_ready(client, "keep")  # a new v2 mount refuses writes while it upgrades
    client.secrets.kv.v2.create_or_update_secret("x", secret={"v": "kept"}, mount_point="keep")
    audit = client.sys.list_enabled_audit_devices()["data"]
    assert audit["file/"]["options"]["file_path"] == str(home / "local" / "openbao" / "audit.log")

    ps = subprocess.run(["ps", "eww", "-A", "-o", "pid,args"], capture_output=True, text=True, check=True).stdout
    down = runner.invoke(cli, ["local", "down"])
    outputs.append(down.output)
    assert "stopped OpenBao" in down.output and not pid_alive(state.vault_pid or -1)

    again = runner.invoke(cli, args)
    outputs.append(again.output)
    assert again.exit_code == 0, again.output
    assert "unsealed (data kept)" in again.output and "initialised" not in again.output
    state = target.load()
    client = hvac.Client(url=state.vault_address, token=state.vault_root_token())
    kept = client.secrets.kv.v2.read_secret_version("x", mount_point="keep", raise_on_deleted_version=True)
    assert kept["data"]["data"] == {"v": "kept"}
    third = runner.invoke(cli, args)  # idempotent
    assert "OpenBao already running" in third.output and target.load().vault_pid == state.vault_pid

    for secret in _secrets(home):
        assert not any(secret in out for out in outputs)
        assert secret not in ps
        for path in _world_readable_files(home):
            assert secret not in path.read_text(errors="replace"), path
    # The audit log and server log hold request details: private to the owner.
    for name in ("audit.log", "server.log"):
        assert not (home / "local" / "openbao" / name).stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO)


def test_lost_init_file_is_reported_not_reinitialised(home: Path) -> None:
    args = ["local", "up", "--aws-port", str(free_port()), "--pg-port", str(free_port()),
            "--vault-port", str(vault_port())]
    assert CliRunner().invoke(cli, args).exit_code == 0
    target.down()
    (home / "local" / "openbao" / openbao.INIT_FILE).unlink()
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "unseal key is lost" in result.output


def test_vault_bootstrap_env_local_configures_the_running_target(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`vault bootstrap --env local` needs no options: address, token, database all come from `local up`;
    a VAULT_TOKEN exported for some other Vault is not sent to the local one."""
    args = ["local", "up", "--aws-port", str(free_port()), "--pg-port", str(free_port()),
            "--vault-port", str(vault_port())]
    assert CliRunner().invoke(cli, args).exit_code == 0
    monkeypatch.setenv("VAULT_TOKEN", "s.token-of-another-vault")
    applied = CliRunner().invoke(cli, ["vault", "bootstrap", "--env", "local"])
    assert applied.exit_code == 0, applied.output
    assert "changed: enable approle auth method at approle/" in applied.output
    assert "changed: create migration login app_migrator" in applied.output
    check = CliRunner().invoke(cli, ["vault", "bootstrap", "--env", "local", "--check"])
    assert check.exit_code == 0 and "no drift" in check.output, check.output
    state = target.load()
    for secret in [*_secrets(home), state.pg_password()]:
        assert secret not in applied.output + check.output
    creds = home / "local" / "approle" / "local-app-migration.json"
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600


def test_down_never_kills_a_stranger_recorded_as_openbao(home: Path) -> None:
    import sys

    from scripts.localtarget.procs import terminate

    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        target.save(target.TargetState(vault_pid=stranger.pid, vault_port=free_port(), vault_dir=str(home)))
        result = CliRunner().invoke(cli, ["local", "down"])
        assert result.exit_code == 0 and "OpenBao was not running" in result.output
        assert stranger.poll() is None, "down killed a process that is not our OpenBao"
    finally:
        terminate(stranger.pid)

"""`platformctl doctor`: passes on this machine, fails with the exact fix when a tool is missing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from scripts.platformctl import _register, cli

_register()


def _path_without(tool: str, tmp_path: Path) -> str:
    """PATH with every directory that holds TOOL replaced by a copy of it minus TOOL."""
    parts = []
    for d in os.environ["PATH"].split(os.pathsep):
        if (Path(d) / tool).exists():
            shadow = tmp_path / f"shadow{len(parts)}"
            shadow.mkdir()
            for entry in Path(d).iterdir():
                if entry.name != tool:
                    (shadow / entry.name).symlink_to(entry)
            parts.append(str(shadow))
        else:
            parts.append(d)
    return os.pathsep.join(parts)


@pytest.fixture()
def local_target_recorded(aws_emulator, openbao_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Record the session emulator and OpenBao as the running local target in an isolated PLATFORM_HOME."""
    from scripts.localtarget import target

    monkeypatch.setenv("PLATFORM_HOME", str(tmp_path / "home"))
    target.save(
        target.TargetState(
            aws_pid=aws_emulator.pid,
            aws_port=aws_emulator.port,
            vault_pid=openbao_server.pid,
            vault_port=openbao_server.port,
            vault_dir=openbao_server.directory,
        )
    )


def test_doctor_fails_with_the_fix_when_the_local_vault_is_down(
    aws_emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scripts.localtarget import target

    monkeypatch.setenv("PLATFORM_HOME", str(tmp_path / "home"))
    target.save(target.TargetState(aws_pid=aws_emulator.pid, aws_port=aws_emulator.port))
    result = CliRunner().invoke(cli, ["doctor", "--env", "local"])
    assert result.exit_code == 1
    assert "[FAIL] openbao" in result.output and "the local OpenBao is not running or sealed" in result.output
    assert "fix: run `platformctl local up`" in result.output


def test_doctor_passes_here(local_target_recorded: None) -> None:
    result = CliRunner().invoke(cli, ["doctor", "--env", "local"])
    assert result.exit_code == 0, result.output
    assert "[ok  ] terraform" in result.output and "[ok  ] cdktf-cli" in result.output
    assert "[ok  ] openbao       OpenBao v2.7.2" in result.output
    assert "all required checks passed" in result.output


def test_doctor_fails_with_the_fix_when_terraform_is_missing(
    local_target_recorded: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert shutil.which("terraform"), "precondition: terraform is installed on this machine"
    monkeypatch.setenv("PATH", _path_without("terraform", tmp_path))
    result = CliRunner().invoke(cli, ["doctor", "--env", "local"])
    assert result.exit_code == 1
    assert "[FAIL] terraform     terraform not found on PATH" in result.output
    assert "fix: install Terraform >= 1.10" in result.output


def test_doctor_rejects_a_terraform_too_old_for_s3_locking(
    local_target_recorded: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "terraform").write_text('#!/bin/sh\necho \'{"terraform_version": "1.9.8"}\'\n')
    (fake / "terraform").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    result = CliRunner().invoke(cli, ["doctor", "--env", "local"])
    assert result.exit_code == 1
    assert "[FAIL] terraform     Terraform 1.9.8" in result.output


def test_doctor_says_how_to_start_the_local_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLATFORM_HOME", str(tmp_path / "empty-home"))
    result = CliRunner().invoke(cli, ["doctor", "--env", "local"])
    assert result.exit_code == 1
    assert "local AWS emulator not running" in result.output and "fix: run `platformctl local up`" in result.output

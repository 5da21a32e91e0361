"""A concurrent `platformctl deploy` is refused before it changes anything (issue 20 item 6).

Before, a second deploy bootstrapped and re-applied every stack up to the locked one, then failed
with exit 1 and Terraform's raw lock error. Now it reads the environment's state locks first (the
state tools' reader: the S3 lock file, the optional DynamoDB table) and exits 5 naming the holder.
Real emulator bucket and, for the S3 lock file, a real `terraform apply` holding the lock.
"""

from __future__ import annotations

import json
import signal
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.contracts import exitcodes
from scripts.commands import core
from tests.integration.scripts.state.conftest import KEY, LOCK_KEY, SECRET_ONE, STACK, StateWorld, emulator_client

pytestmark = pytest.mark.integration


@pytest.fixture()
def deploy_spy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Records whether the deploy got as far as bootstrapping or running the cdktf CLI."""
    marker = tmp_path / "applied"
    cdktf = tmp_path / "cdktf"
    cdktf.write_text(f'#!/bin/sh\necho cdktf "$@" >> {marker}\n')
    cdktf.chmod(cdktf.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr("scripts.deploy.cdktf_cli_path", lambda: cdktf)

    def bootstrap(*args: object, **kwargs: object) -> None:
        marker.write_text("bootstrap\n")
        raise AssertionError("a locked environment must not be bootstrapped")

    monkeypatch.setattr("scripts.bootstrap.bootstrap", bootstrap)
    # The emulator of this test (use_emulator) instead of a `platformctl local up` target.
    monkeypatch.setattr(core, "_prepare_target", lambda env: None)
    return marker


def deploy(*extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(core.deploy, ["--env", "local", *extra])
    return result.exit_code, result.output


def test_a_deploy_while_terraform_applies_is_refused_first_naming_the_holder(
    world: StateWorld, deploy_spy: Path
) -> None:
    other = world.terraform("other-deploy")
    other.apply("one")
    running = other.start("apply", "-auto-approve", v="two", pw=SECRET_ONE, pause=120)
    try:
        lock = world.wait_for_lock()  # the other run now holds the lock, as a running deploy does
        snapshot = world.all_object_versions()
        code, out = deploy()
        assert world.all_object_versions() == snapshot  # nothing written to the state bucket
    finally:
        running.send_signal(signal.SIGINT)  # Terraform cancels and releases its lock
        running.communicate(timeout=120)

    assert code == exitcodes.LOCKED, out
    assert not deploy_spy.exists(), "the deploy bootstrapped or ran cdktf although the environment is locked"
    assert "another run holds the state lock of environment local; nothing was changed." in out
    assert f"{STACK}: lock held by {lock['Who']} for OperationTypeApply since {lock['Created']}" in out
    assert f"(lock id {lock['ID']})" in out and f"s3://{world.bucket}/{LOCK_KEY}" in out
    assert "Wait for that deploy or CI apply to finish, then deploy again" in out
    assert "-lock=false" not in out and "Error acquiring the state lock" not in out


def test_a_lock_in_the_dynamodb_table_refuses_the_deploy_too(dynamo_world: StateWorld, deploy_spy: Path) -> None:
    world = dynamo_world
    world.terraform().apply("one")
    info = {"ID": "5b1c", "Operation": "OperationTypeApply", "Who": "ci@runner-7",
            "Created": "2026-12-06T05:00:00Z", "Path": f"{world.bucket}/{KEY}"}  # fmt: skip
    emulator_client("dynamodb", world.endpoint).put_item(
        TableName=world.lock_table,
        Item={"LockID": {"S": f"{world.bucket}/{KEY}"}, "Info": {"S": json.dumps(info)}},
    )
    snapshot = world.all_object_versions()

    code, out = deploy()

    assert code == exitcodes.LOCKED, out
    assert "lock held by ci@runner-7 for OperationTypeApply since 2026-12-06T05:00:00Z (lock id 5b1c)" in out
    assert not deploy_spy.exists() and world.all_object_versions() == snapshot


def test_an_unlocked_environment_goes_on_to_deploy(world: StateWorld, deploy_spy: Path) -> None:
    """The check refuses only a held lock: with the other run finished, the deploy runs cdktf."""
    world.terraform().apply("one")
    code, out = deploy("--skip-bootstrap")
    assert code == 0, out
    assert deploy_spy.read_text().startswith("cdktf deploy local-*")

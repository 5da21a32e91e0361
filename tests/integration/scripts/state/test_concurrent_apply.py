"""Two `terraform apply` runs of one configuration at once: S3 native locking lets one through.

This is the guarantee the state tools build on (a restore takes the same lock), so it is
verified with the real terraform binary against the emulator, not assumed.
"""

from __future__ import annotations

import json

import pytest

from tests.integration.scripts.state.conftest import KEY, LOCK_KEY, SECRET_ONE, StateWorld

pytestmark = pytest.mark.integration


def test_concurrent_applies_one_wins_one_fails_on_the_lock_and_state_stays_intact(world: StateWorld) -> None:
    first_dir, second_dir = world.terraform("first"), world.terraform("second")
    first_dir.apply("one")
    before = world.state()
    versions_before = len(world.versions())

    # Started together; each holds the lock for a few seconds while its provisioner sleeps.
    runs = [
        tf.start("apply", "-auto-approve", v="two", pw=SECRET_ONE, pause=3) for tf in (first_dir, second_dir)
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    codes = sorted(run.returncode for run in runs)

    assert codes == [0, 1], outputs
    loser_stderr = next(err for run, (_, err) in zip(runs, outputs, strict=True) if run.returncode == 1)
    assert "Error acquiring the state lock" in loser_stderr
    assert "OperationTypeApply" in loser_stderr  # Terraform names the holder

    after = world.state()
    assert after["lineage"] == before["lineage"]
    assert after["serial"] > before["serial"]
    inputs = {r["name"]: [i["attributes"].get("input") for i in r["instances"]] for r in after["resources"]}
    assert inputs["a"] == [{"value": "two", "type": "string"}]
    assert len(inputs["m"]) == 2 and len(inputs["slow"]) == 1, "no duplicated or lost instances"
    assert len(world.versions()) > versions_before
    # every stored version is a complete state document of the same lineage
    for version in world.versions():
        doc = world.state(version["VersionId"])
        assert doc["lineage"] == before["lineage"] and isinstance(doc["serial"], int)
    # the lock is released, and the state matches the configuration
    assert world.s3.list_objects_v2(Bucket=world.bucket, Prefix=LOCK_KEY).get("KeyCount") == 0
    plan = first_dir.plan_exit_code("two")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert (
        json.loads(world.s3.get_object(Bucket=world.bucket, Key=KEY)["Body"].read())["serial"]
        == after["serial"]
    )

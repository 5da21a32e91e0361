"""plan → policy → apply → re-plan through `platformctl ci`, with real terraform against the emulator.

The tests run in file order on one environment (tests/integration/scripts/ci/conftest.py): wave one
applies `cipipe-state` + `cipipe-network`; the database, Vault and service stacks are deferred
by the first bundle (their upstream state does not exist yet), which is asserted, not applied.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from scripts.ci import bundle
from scripts.ci.manifest import Manifest, StateRef
from tests.integration.scripts.ci.conftest import BUCKET, ENV, Pipeline
from tests.unit.scripts.ci.forger import DecryptOnly, forge
from tests.unit.scripts.ci.kmskeys import make_keys

pytestmark = pytest.mark.integration
KEYS = bundle.Keys(f"alias/{BUCKET}", f"alias/{BUCKET}-ci-plan", f"alias/{BUCKET}-ci-policy")
WAVE_ONE = ["--stack", f"{ENV}-state", "--stack", f"{ENV}-network"]


def _manifest(path: Path) -> dict[str, Any]:
    return json.loads((path / "manifest.json").read_text())


def _stack(manifest: dict[str, Any], concern: str) -> dict[str, Any]:
    return next(s for s in manifest["stacks"] if s["name"] == f"{ENV}-{concern}")


def _network_serial(p: Pipeline) -> int:
    body = p.client("s3").get_object(Bucket=BUCKET, Key=f"{ENV}/{ENV}-network.tfstate")["Body"].read()
    return int(json.loads(body)["serial"])


def test_first_bundle_plans_wave_one_and_defers_what_waits_for_it(pipeline: Pipeline) -> None:
    b1 = pipeline.bundle("first")
    r = pipeline.ci("plan", "--env", ENV, "--synth-dir", str(pipeline.synth_dir), "--bundle", str(b1))
    assert r.returncode == 2, r.stderr
    m = _manifest(b1)
    assert [s["name"] for s in m["stacks"]][:2] == [f"{ENV}-state", f"{ENV}-network"]  # dependency order
    state, network = _stack(m, "state"), _stack(m, "network")
    assert state["status"] == "planned" and not state["has_changes"] and state["state"]["exists"]
    assert network["status"] == "planned" and network["has_changes"] and network["state"] == {
        "exists": False, "serial": None, "lineage": None}
    for concern in ("database", "vault", "service"):
        assert _stack(m, concern)["status"] == "deferred", _stack(m, concern)
    assert "waits for" in _stack(m, "database")["reason"]
    md = (b1 / "summary.md").read_text()
    assert md.startswith(f"## Plan: {ENV}\n") and "**0** delete" in md and "aws_vpc." in md
    assert "deferred" in md


def test_apply_refuses_until_the_policy_gate_passed(pipeline: Pipeline) -> None:
    b1 = pipeline.bundle("first")
    common = ["--env", ENV, "--synth-dir", str(pipeline.synth_dir), "--bundle", str(b1)]
    r = pipeline.ci("apply", *common)
    assert r.returncode == 3 and "no policy verdict" in r.stderr
    r = pipeline.ci("policy", "--env", ENV, "--synth-dir", str(pipeline.synth_dir), "--bundle", str(b1),
                    "--no-waivers")
    assert r.returncode == 3, r.stdout + r.stderr
    assert "CKV2_AWS_11" in (b1 / "policy.md").read_text()  # local turns VPC flow logs off
    shutil.copytree(b1, pipeline.bundle("failed-verdict"))  # for the verdict forgery below
    r = pipeline.ci("apply", *common)
    assert r.returncode == 3 and "policy gate failed" in r.stderr
    r = pipeline.ci("policy", "--env", ENV, "--synth-dir", str(pipeline.synth_dir), "--bundle", str(b1))
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads((b1 / "policy.json").read_text())
    assert report["passed"] > 0 and report["failed"] == [] and report["known_after_apply"]


def test_apply_applies_wave_one_and_names_the_next_wave(pipeline: Pipeline) -> None:
    b1 = pipeline.bundle("first")
    r = pipeline.ci("apply", "--env", ENV, "--synth-dir", str(pipeline.synth_dir), "--bundle", str(b1))
    assert r.returncode == 2, r.stderr  # applied, and later waves remain
    assert f"applied: {ENV}-network" in r.stdout and f"next wave: {ENV}-database" in r.stdout
    vpcs = pipeline.client("ec2").describe_vpcs(Filters=[{"Name": "tag:env", "Values": [ENV]}])["Vpcs"]
    assert len(vpcs) == 1


def test_an_applied_bundle_is_refused_again_even_without_its_marker(pipeline: Pipeline) -> None:
    b1 = pipeline.bundle("first")
    common = ["--env", ENV, "--synth-dir", str(pipeline.synth_dir), "--bundle", str(b1)]
    r = pipeline.ci("apply", *common)
    assert r.returncode == 4 and "already applied" in r.stderr
    (b1 / bundle.APPLIED).unlink()  # the marker is a courtesy; the state check is the guard
    serial = _network_serial(pipeline)
    r = pipeline.ci("apply", *common)
    assert r.returncode == 4, r.stderr
    assert "planned against no state yet, but the stack now has state" in r.stderr
    assert _network_serial(pipeline) == serial


def test_replan_after_apply_reports_no_changes(pipeline: Pipeline, tmp_path: Path) -> None:
    again = pipeline.bundle("replan")
    step_summary = tmp_path / "step-summary.md"
    pipeline.env["GITHUB_STEP_SUMMARY"] = str(step_summary)
    try:
        r = pipeline.ci("plan", "--env", ENV, "--synth-dir", str(pipeline.synth_dir), "--bundle", str(again),
                        *WAVE_ONE)
    finally:
        del pipeline.env["GITHUB_STEP_SUMMARY"]
    assert r.returncode == 0, r.stderr
    assert not any(s["has_changes"] for s in _manifest(again)["stacks"])
    assert step_summary.read_text().startswith(f"## Plan: {ENV}")
    assert pipeline.ci("policy", "--env", ENV, "--synth-dir", str(pipeline.synth_dir), "--bundle",
                       str(again)).returncode == 0
    shutil.copytree(again, pipeline.bundle("baseline"))  # pristine copies for the tamper tests
    shutil.copytree(again, pipeline.bundle("stale"))
    r = pipeline.ci("apply", "--env", ENV, "--synth-dir", str(pipeline.synth_dir), "--bundle", str(again))
    assert r.returncode == 0 and "nothing to apply" in r.stdout, r.stderr


def _resign(path: Path, pipeline: Pipeline, manifest: Manifest, files: dict[str, bytes]) -> None:
    """Sign as the plan and policy stages would (the emulator lets the test use both keys): these
    bundles are authentic, so what refuses them is `apply`'s check of every field."""
    kms = pipeline.client("kms")
    bundle.write(path, dataclasses.replace(manifest, policy=None), files, kms=kms, keys=KEYS)
    if manifest.policy is not None:
        opened = bundle.read(path, kms=kms, environment=manifest.environment, keys=KEYS, verify_policy=False)
        bundle.write_verdict(path, opened, manifest.policy, kms=kms, keys=KEYS)


def _reseal(path: Path, pipeline: Pipeline, change: Callable[[Manifest, dict[str, bytes]], Manifest]) -> None:
    opened = bundle.read(path, kms=pipeline.client("kms"), environment=ENV, keys=KEYS)
    files = dict(opened.files)
    _resign(path, pipeline, change(opened.manifest, files), files)


def _stack_field(**fields: Any) -> Callable[[Manifest, dict[str, bytes]], Manifest]:
    def change(m: Manifest, files: dict[str, bytes]) -> Manifest:
        stacks = [dataclasses.replace(s, **fields) if s.name == f"{ENV}-network" else s for s in m.stacks]
        return dataclasses.replace(m, stacks=stacks)

    return change


def _network_state(m: Manifest, files: dict[str, bytes], serial_delta: int = 0, lineage: str | None = None) -> Manifest:
    state = m.entry(f"{ENV}-network").state
    assert state is not None and state.serial is not None
    changed = StateRef(True, state.serial + serial_delta, lineage or state.lineage)
    return _stack_field(state=changed)(m, files)


def _swap_plan(m: Manifest, files: dict[str, bytes]) -> Manifest:
    files[bundle.plan_member(f"{ENV}-network")] = files[bundle.plan_member(f"{ENV}-state")]
    return m


def _edit_plaintext(path: Path, pipeline: Pipeline) -> None:
    data = json.loads((path / "manifest.json").read_text())
    data["git_commit"] = "0" * 40
    (path / "manifest.json").write_text(json.dumps(data))


def _flip_byte(path: Path, pipeline: Pipeline) -> None:
    sealed = json.loads((path / bundle.SEALED).read_text())
    ct = sealed["ciphertext"]
    sealed["ciphertext"] = ct[:40] + ("A" if ct[40] != "A" else "B") + ct[41:]
    (path / bundle.SEALED).write_text(json.dumps(sealed))


def _other_env(path: Path, pipeline: Pipeline) -> None:
    kms = pipeline.client("kms")
    opened = bundle.read(path, kms=kms, environment=ENV, keys=KEYS)
    moved = dataclasses.replace(opened.manifest, environment="prod", policy=None)
    bundle.write(path, moved, dict(opened.files), kms=kms, keys=KEYS)


def _sealed(change: Callable[[Manifest, dict[str, bytes]], Manifest]) -> Callable[[Path, Pipeline], None]:
    return lambda path, p: _reseal(path, p, change)


TAMPERS: dict[str, tuple[Callable[[Path, Pipeline], None], str]] = {
    "git_commit": (_sealed(lambda m, f: dataclasses.replace(m, git_commit="f" * 40)), "planned at commit"),
    "terraform_version": (_sealed(lambda m, f: dataclasses.replace(m, terraform_version="1.0.0")),
                          "planned with Terraform 1.0.0"),
    "expires_at": (_sealed(lambda m, f: dataclasses.replace(m, expires_at="2020-01-01T00:00:00+00:00")),
                   "bundle expired at 2020-01-01"),
    "created_at": (_sealed(lambda m, f: dataclasses.replace(m, created_at="2999-01-01T00:00:00+00:00")),
                   "created in the future"),
    "synth_sha256": (_sealed(_stack_field(synth_sha256="0" * 64)), "synthesized JSON differs"),
    "lock_sha256": (_sealed(_stack_field(lock_sha256="0" * 64)), "provider lock file differs"),
    "plan_sha256": (_sealed(_stack_field(plan_sha256="0" * 64)), "saved plan file does not match"),
    "plan_json_sha256": (_sealed(_stack_field(plan_json_sha256="0" * 64)), "plan JSON does not match"),
    "state_serial": (_sealed(lambda m, f: _network_state(m, f, serial_delta=1000)), "state changed since the plan"),
    "state_lineage": (_sealed(lambda m, f: _network_state(m, f, lineage="x")), "state changed since the plan"),
    "state_no_state_marker": (_sealed(_stack_field(state=StateRef(False))), "planned against no state yet"),
    "plan_file_swapped": (_sealed(_swap_plan), "saved plan file does not match"),
    "plaintext_manifest": (_edit_plaintext, "differs from the sealed manifest"),
    "ciphertext_byte": (_flip_byte, "modified after it was sealed"),
    "environment": (_other_env, "sealed for environment 'prod'"),
}


def _apply_is_refused(pipeline: Pipeline, change: Callable[[Path, Pipeline], None], why: str, tmp_path: Path) -> None:
    """`ci apply` of the baseline bundle after CHANGE exits 4 naming WHY, and applies nothing."""
    from scripts.platformctl import cli

    target = tmp_path / "bundle"
    shutil.copytree(pipeline.bundle("baseline"), target)
    change(target, pipeline)
    serial = _network_serial(pipeline)
    result = CliRunner().invoke(
        cli, ["ci", "apply", "--env", ENV, "--synth-dir", str(pipeline.synth_dir), "--bundle", str(target)]
    )
    pipeline.outputs.append(result.output)
    assert result.exit_code == 4, result.output
    assert why in result.output and "refused" in result.output
    assert _network_serial(pipeline) == serial


@pytest.mark.parametrize("name", sorted(TAMPERS))
def test_tampering_with_any_field_is_refused_with_exit_4(pipeline: Pipeline, name: str, tmp_path: Path) -> None:
    _apply_is_refused(pipeline, *TAMPERS[name], tmp_path)


# Issue 18: forgeries by a runner that holds only kms:Decrypt on the state key (every Terraform
# runner does). The forger (tests/unit/scripts/ci/forger.py) re-seals under the data key it decrypted and
# fixes every sha256 field; it never signs with the stage keys. In AWS the key policies keep it
# from calling kms:Sign at all; the emulator enforces no key policy (docs/adr/0013), so here the
# forger simply does not call it. Each must exit 4 with nothing applied.
def _forge_swap_plan(path: Path, p: Pipeline) -> None:
    forge(path, DecryptOnly(p.client("kms")), lambda m, f: f.update(
        {bundle.plan_member(f"{ENV}-network"): f[bundle.plan_member(f"{ENV}-state")]}))


def _forge_verdict(path: Path, p: Pipeline) -> None:
    shutil.rmtree(path)
    shutil.copytree(p.bundle("failed-verdict"), path)
    forge(path, DecryptOnly(p.client("kms")), lambda m, f: m["policy"].update(passed=True, checks_failed=0))


def _forge_foreign_keys(path: Path, p: Pipeline) -> None:
    """Sealed and signed under keys of the forger's own, on which it has every right."""
    kms = p.client("kms")
    opened = bundle.read(path, kms=kms, environment=ENV, keys=KEYS)
    bundle.write(path, dataclasses.replace(opened.manifest, policy=None), dict(opened.files), kms=kms,
                 keys=make_keys(kms))


def _forge_member(path: Path, p: Pipeline) -> None:
    forge(path, DecryptOnly(p.client("kms")), lambda m, f: f.update({"stacks/extra/run.sh": b"echo pwned"}))


def _forge_unsynthesized_stack(path: Path, p: Pipeline) -> None:
    def rename(m: dict[str, Any], f: dict[str, bytes]) -> None:
        (net,) = [s for s in m["stacks"] if s["name"] == f"{ENV}-network"]
        net["name"] = f"{ENV}-extra"
        for member in (bundle.plan_member, bundle.plan_json_member):
            f[member(f"{ENV}-extra")] = f.pop(member(f"{ENV}-network"))

    forge(path, DecryptOnly(p.client("kms")), rename)


FORGERIES: dict[str, tuple[Callable[[Path, Pipeline], None], str]] = {
    "swapped_plan_hashes_fixed": (_forge_swap_plan, "not as the plan stage signed it"),
    "failed_verdict_marked_passed": (_forge_verdict, "policy verdict is not as the policy stage signed it"),
    "foreign_keys": (_forge_foreign_keys, "not the environment's key"),
    "unknown_member": (_forge_member, "unknown member(s): 'stacks/extra/run.sh'"),
    "unsynthesized_stack": (_forge_unsynthesized_stack, f"synthesized {ENV} does not have: {ENV}-extra"),
}


@pytest.mark.parametrize("name", sorted(FORGERIES))
def test_a_decrypt_only_forgery_is_refused_with_exit_4(pipeline: Pipeline, name: str, tmp_path: Path) -> None:
    _apply_is_refused(pipeline, *FORGERIES[name], tmp_path)


def test_policy_refuses_a_stack_name_that_would_leave_its_directory(pipeline: Pipeline, tmp_path: Path) -> None:
    """Issue 18: a `../` name wrote plan.json outside the policy stage's temp dir and reported passed."""
    from scripts.platformctl import cli

    target = tmp_path / "bundle"
    shutil.copytree(pipeline.bundle("baseline"), target)
    escape = f"{ENV}-network/../../../../../../..{tmp_path}/escaped"

    def rename(m: dict[str, Any], f: dict[str, bytes]) -> None:
        m["policy"] = None
        f.pop(bundle.POLICY_SIGNATURE, None)
        (net,) = [s for s in m["stacks"] if s["name"] == f"{ENV}-network"]
        net["name"] = escape
        for member in (bundle.plan_member, bundle.plan_json_member):
            f[member(escape)] = f.pop(member(f"{ENV}-network"))

    forge(target, DecryptOnly(pipeline.client("kms")), rename)
    before = (target / "policy.md").read_text()
    result = CliRunner().invoke(cli, ["ci", "policy", "--env", ENV, "--synth-dir", str(pipeline.synth_dir),
                                      "--bundle", str(target)])
    pipeline.outputs.append(result.output)
    assert result.exit_code == 4, result.output
    assert "no environment 'cipipe' can have" in result.output
    assert not list(tmp_path.rglob("plan.json")) and not (tmp_path / "escaped").exists()
    assert (target / "policy.md").read_text() == before  # no new verdict, let alone "passed"


def test_the_untampered_copy_still_applies(pipeline: Pipeline, tmp_path: Path) -> None:
    from scripts.platformctl import cli

    target = tmp_path / "bundle"
    shutil.copytree(pipeline.bundle("baseline"), target)
    result = CliRunner().invoke(
        cli, ["ci", "apply", "--env", ENV, "--synth-dir", str(pipeline.synth_dir), "--bundle", str(target)]
    )
    assert result.exit_code == 0, result.output


def test_drift_behind_terraforms_back_is_reported_and_a_bundle_older_than_the_fix_is_stale(
    pipeline: Pipeline,
) -> None:
    ec2 = pipeline.client("ec2")
    (vpc,) = ec2.describe_vpcs(Filters=[{"Name": "tag:env", "Values": [ENV]}])["Vpcs"]
    ec2.create_tags(Resources=[vpc["VpcId"]], Tags=[{"Key": "Name", "Value": "edited-by-hand"}])
    out = pipeline.root / "drift"
    net = ["--stack", f"{ENV}-network"]
    r = pipeline.ci("drift", "--env", ENV, "--synth-dir", str(pipeline.synth_dir), "--out", str(out), *net)
    assert r.returncode == 2, r.stderr
    report = json.loads((out / "drift.json").read_text())
    (stack,) = report["stacks"]
    vpc_changes = [c for c in stack["changes"] if c["address"].startswith("aws_vpc.")]
    assert vpc_changes and "tags" in vpc_changes[0]["attributes"]
    assert "edited-by-hand" not in (out / "drift.md").read_text()  # names, never values

    fix = pipeline.bundle("fix")
    common = ["--env", ENV, "--synth-dir", str(pipeline.synth_dir)]
    assert pipeline.ci("plan", *common, "--bundle", str(fix), *net).returncode == 2
    assert pipeline.ci("policy", *common, "--bundle", str(fix)).returncode == 0
    r = pipeline.ci("apply", *common, "--bundle", str(fix))
    assert r.returncode == 0, r.stderr

    r = pipeline.ci("apply", *common, "--bundle", str(pipeline.bundle("stale")))
    assert r.returncode == 4 and "state changed since the plan" in r.stderr and "stale" in r.stderr


def test_a_second_writer_fails_cleanly_on_the_state_lock(pipeline: Pipeline) -> None:
    s3 = pipeline.client("s3")
    lock_key = f"{ENV}/{ENV}-network.tfstate.tflock"
    s3.put_object(Bucket=BUCKET, Key=lock_key, Body=json.dumps({"ID": "other-pipeline", "Who": "ci@elsewhere"}))
    try:
        r = pipeline.ci("plan", "--env", ENV, "--synth-dir", str(pipeline.synth_dir),
                        "--bundle", str(pipeline.bundle("locked")), "--stack", f"{ENV}-network")
    finally:
        s3.delete_object(Bucket=BUCKET, Key=lock_key)
    assert r.returncode == 5, r.stdout + r.stderr
    assert "lock" in r.stderr.lower()


def test_the_canary_secret_is_in_no_log_summary_or_unencrypted_file(pipeline: Pipeline) -> None:
    files = bundle.read(pipeline.bundle("replan"), kms=pipeline.client("kms"), environment=ENV, keys=KEYS).files
    # Positive control: the secret really went through Terraform into the (sealed) plan.
    assert pipeline.canary.encode() in files[bundle.plan_json_member(f"{ENV}-network")]
    assert len(pipeline.outputs) > 20
    for text in pipeline.outputs:
        assert pipeline.canary not in text
    needle = pipeline.canary.encode()
    scanned = 0
    for path in pipeline.root.rglob("*"):
        if not path.is_file() or "plugin-cache" in path.parts or "providers" in path.parts:
            continue  # the provider binary (675 MB) cannot contain a value chosen at test time
        assert needle not in path.read_bytes(), f"canary found in {path}"
        scanned += 1
    assert scanned > 20

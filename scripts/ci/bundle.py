"""A plan bundle on disk: one sealed file with every plan, plus plaintext files people may read.

    <bundle>/bundle.enc      sealed tar: manifest.json, stacks/<name>/plan.tfplan, stacks/<name>/plan.json,
                             signatures/plan.json (plan stage), signatures/policy.json (policy stage)
    <bundle>/manifest.json   copy of the manifest (hashes, serials, commit; no secret); `apply` compares it
    <bundle>/summary.md|json masked summary (scripts/ci/summary.py)
    <bundle>/applied.json    written by `apply` (a courtesy: the state check is what refuses a replay)

Reading checks, in this order, before any path is built from the bundle: the envelope under the
environment's pinned key; the archive (regular files, no unknown or duplicate member); stack
names (a safe pattern, and the synthesized stacks when given); the plan stage's signature over the
manifest and every member; and, when asked, the policy stage's signature over the verdict and the
plan digest. Any failure is exit 4.

Plan files and plan JSON hold state and configuration in plaintext, so they exist unencrypted only
in a private temporary directory while a stage runs (`unsealed`).
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
import shutil
import tarfile
import tempfile
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts.ci import signing
from scripts.ci.envelope import EnvelopeError, key_arn, open_sealed, seal
from scripts.ci.exitcodes import ERROR, STALE, CiError
from scripts.ci.manifest import DEFERRED, Manifest, PolicyVerdict

SEALED = "bundle.enc"
MANIFEST = "manifest.json"
APPLIED = "applied.json"
PLAN_SIGNATURE = "signatures/plan.json"
POLICY_SIGNATURE = "signatures/policy.json"
# Stack names become paths (stacks/<name>/...): letters, digits, '-' and '_' only.
STACK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")


@dataclass(frozen=True)
class Keys:
    """The environment's keys, by alias: the bundle never chooses them."""

    encryption: str  # the state key: seals (envelope)
    plan: str  # only the plan stage's role may sign with it
    policy: str  # only the policy stage's role may sign with it


@dataclass(frozen=True)
class Opened:
    manifest: Manifest
    files: dict[str, bytes]  # stack members only
    plan_signature: signing.Signature
    plan_digest: str


def plan_member(stack: str) -> str:
    return f"stacks/{stack}/plan.tfplan"


def plan_json_member(stack: str) -> str:
    return f"stacks/{stack}/plan.json"


def expected_members(manifest: Manifest) -> set[str]:
    names = [s.name for s in manifest.stacks if s.status != DEFERRED]
    return {m for n in names for m in (plan_member(n), plan_json_member(n))}


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            info.mode = 0o600
            tar.addfile(info, io.BytesIO(files[name]))
    return buf.getvalue()


def _untar(data: bytes) -> dict[str, bytes]:
    """Every member, refusing links, directories, devices and duplicates: nothing is skipped silently."""
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile():
                raise ValueError(f"archive member {member.name!r} is not a regular file")
            if member.name in out:
                raise ValueError(f"archive member {member.name!r} appears twice")
            fh = tar.extractfile(member)
            out[member.name] = fh.read() if fh is not None else b""
    return out


def _plan_statement(manifest: Manifest, files: dict[str, bytes], encryption_arn: str) -> dict[str, Any]:
    from scripts.ci.stacks import sha256_bytes

    return {
        "environment": manifest.environment,
        "encryption_key": encryption_arn,
        "manifest": dataclasses.asdict(dataclasses.replace(manifest, policy=None)),
        "members": {name: sha256_bytes(data) for name, data in sorted(files.items())},
    }


def _policy_statement(manifest: Manifest, plan_digest: str, verdict: PolicyVerdict) -> dict[str, Any]:
    return {
        "environment": manifest.environment,
        "bundle_id": manifest.bundle_id,
        "plan_digest": plan_digest,
        "verdict": dataclasses.asdict(verdict),
    }


def _seal(bundle_dir: Path, manifest: Manifest, members: dict[str, bytes], kms: Any, keys: Keys) -> None:
    bundle_dir.mkdir(parents=True, exist_ok=True)
    sealed = seal(_tar({**members, MANIFEST: manifest.to_json().encode()}), kms=kms, key_id=keys.encryption,
                  environment=manifest.environment)
    tmp = bundle_dir / f".{SEALED}.tmp"
    tmp.write_bytes(sealed)
    tmp.replace(bundle_dir / SEALED)
    (bundle_dir / MANIFEST).write_text(manifest.to_json() + "\n")


def write(bundle_dir: Path, manifest: Manifest, files: dict[str, bytes], *, kms: Any, keys: Keys) -> None:
    """The plan stage: sign the manifest (without verdict) and every plan file, then seal."""
    if manifest.policy is not None:
        raise ValueError("the plan stage writes no verdict")
    statement = _plan_statement(manifest, files, key_arn(kms, keys.encryption))
    try:
        sig = signing.sign(kms, keys.plan, signing.PLAN, statement)
    except signing.SignatureError as exc:
        raise CiError(ERROR, f"cannot sign the bundle: {exc} (does this run as the plan stage's role, "
                      "and is the state stack applied?)") from exc
    _seal(bundle_dir, manifest, {**files, PLAN_SIGNATURE: sig.to_json()}, kms, keys)


def write_verdict(bundle_dir: Path, opened: Opened, verdict: PolicyVerdict, *, kms: Any, keys: Keys) -> Manifest:
    """The policy stage: sign the verdict bound to the plan digest; the plan signature stays as it is."""
    manifest = opened.manifest.with_policy(verdict)
    try:
        sig = signing.sign(kms, keys.policy, signing.POLICY, _policy_statement(manifest, opened.plan_digest, verdict))
    except signing.SignatureError as exc:
        raise CiError(ERROR, f"cannot sign the verdict: {exc} (does this run as the policy stage's role, "
                      "and is the state stack applied?)") from exc
    members = {**opened.files, PLAN_SIGNATURE: opened.plan_signature.to_json(), POLICY_SIGNATURE: sig.to_json()}
    _seal(bundle_dir, manifest, members, kms, keys)
    return manifest


def read(bundle_dir: Path, *, kms: Any, environment: str, keys: Keys, stack_names: Collection[str] | None = None,
         verify_policy: bool = True) -> Opened:
    """Open and authenticate the bundle (see the module docstring); every refusal is exit 4.

    STACK_NAMES: the synthesized stacks of the environment; a bundle naming any other is refused.
    VERIFY_POLICY: check the policy stage's signature when the bundle carries a verdict (the policy
    stage itself replaces the verdict, so it does not need to)."""
    sealed = bundle_dir / SEALED
    if not sealed.is_file():
        raise CiError(ERROR, f"no plan bundle at {sealed}: run `platformctl ci plan` first")
    try:
        members = _untar(open_sealed(sealed.read_bytes(), kms=kms, environment=environment, key_id=keys.encryption))
        manifest = Manifest.from_json(members.pop(MANIFEST).decode())
        plan_sig = signing.Signature.from_json(members.pop(PLAN_SIGNATURE))
        policy_raw = members.pop(POLICY_SIGNATURE, None)
    except EnvelopeError as exc:
        raise CiError(STALE, f"refused: {exc}") from exc
    except signing.SignatureError as exc:
        raise CiError(STALE, f"refused: the plan signature is unreadable ({exc})") from exc
    except KeyError as exc:
        raise CiError(STALE, f"refused: the sealed bundle has no {exc} (not made by `ci plan`)") from exc
    except (ValueError, TypeError, tarfile.TarError) as exc:
        raise CiError(STALE, f"refused: the sealed bundle is malformed ({exc})") from exc
    _check_names(manifest, environment, stack_names)
    unknown = sorted(set(members) - expected_members(manifest))
    missing = sorted(expected_members(manifest) - set(members))
    if unknown or missing:
        raise CiError(STALE, "refused: the sealed archive does not match its manifest"
                      + (f"; unknown member(s): {', '.join(map(repr, unknown))}" if unknown else "")
                      + (f"; missing member(s): {', '.join(missing)}" if missing else ""))
    try:
        plan_digest = signing.verify(kms, keys.plan, signing.PLAN,
                                     _plan_statement(manifest, members, key_arn(kms, keys.encryption)), plan_sig)
    except (signing.SignatureError, EnvelopeError) as exc:
        raise CiError(STALE, f"refused: the bundle is not as the plan stage signed it: {exc}") from exc
    if verify_policy:
        _verify_verdict(manifest, plan_digest, policy_raw, kms, keys)
    _check_plaintext_copy(bundle_dir, manifest)
    return Opened(manifest, members, plan_sig, plan_digest)


def _check_names(manifest: Manifest, environment: str, known: Collection[str] | None) -> None:
    bad = [s.name for s in manifest.stacks if not STACK_NAME.match(s.name) or not s.name.startswith(f"{environment}-")]
    if bad:
        raise CiError(STALE, f"refused: the bundle names stack(s) no environment {environment!r} can have: {bad!r}")
    if known is not None:
        foreign = sorted({s.name for s in manifest.stacks} - set(known))
        if foreign:
            raise CiError(STALE, f"refused: the bundle names stack(s) the synthesized {environment} does not have: "
                          f"{', '.join(foreign)}")


def _verify_verdict(manifest: Manifest, plan_digest: str, raw: bytes | None, kms: Any, keys: Keys) -> None:
    if manifest.policy is None:
        if raw is not None:
            raise CiError(STALE, "refused: a policy signature without a verdict in the manifest")
        return
    if raw is None:
        raise CiError(STALE, "refused: the policy verdict carries no policy-stage signature")
    try:
        signing.verify(kms, keys.policy, signing.POLICY, _policy_statement(manifest, plan_digest, manifest.policy),
                       signing.Signature.from_json(raw))
    except signing.SignatureError as exc:
        raise CiError(STALE, f"refused: the policy verdict is not as the policy stage signed it: {exc}") from exc


def _check_plaintext_copy(bundle_dir: Path, manifest: Manifest) -> None:
    copy = bundle_dir / MANIFEST
    if copy.is_file():
        try:
            readable = Manifest.from_json(copy.read_text())
        except (ValueError, KeyError, TypeError) as exc:
            raise CiError(STALE, f"refused: {copy} is not a valid manifest ({exc}); it was edited") from exc
        if readable != manifest:
            raise CiError(STALE, f"refused: {copy} differs from the sealed manifest: the bundle was edited")


@contextmanager
def unsealed(files: dict[str, bytes]) -> Iterator[Path]:
    """Write FILES into a private (0700) temporary directory, removed on exit whatever happens."""
    root = Path(tempfile.mkdtemp(prefix="platform-ci-"))
    try:
        os.chmod(root, 0o700)
        for name, data in files.items():
            path = root / name
            if root.resolve() not in path.resolve().parents:  # read() checked the names; never trust one path
                raise CiError(STALE, f"refused: archive member {name!r} would be written outside {root}")
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)

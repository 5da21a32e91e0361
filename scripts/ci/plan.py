"""`ci plan`: every stack of an environment, in dependency order, into one sealed bundle.

Waves (docs/adr/0013): a stack is planned against its upstream stacks' *current* outputs. When an
upstream stack of the same bundle changes any output, is provisional, or has no state yet, that
plan would be wrong after the upstream apply, so it is marked provisional (shown for review, not
applied) or deferred (no plan at all: the upstream state does not exist yet). `apply` applies the
final plans and exits 2; the pipeline plans again for the next wave.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from scripts.awsclients import client
from scripts.ci import bundle, planjson, remotestate, summary, tfrun
from scripts.ci.context import StageContext, git_commit, git_dirty_sha256
from scripts.ci.envelope import EnvelopeError, key_arn
from scripts.ci.exitcodes import CHANGES, ERROR, OK, CiError
from scripts.ci.manifest import DEFERRED, PLANNED, PROVISIONAL, Manifest, StackEntry, now_utc
from scripts.ci.planjson import StackChanges
from scripts.ci.stacks import Stack, environment_stacks, sha256_bytes, sha256_file
from scripts.ci.synth import check_record, check_unchanged

log = logging.getLogger(__name__)


def _waits_for(stack: Stack, entries: dict[str, StackEntry], outputs_change: dict[str, bool]) -> tuple[str, list[str]]:
    """(DEFERRED/PROVISIONAL/PLANNED, the upstream stacks that decided it)."""
    upstream = [entries[d] for d in stack.dependencies if d in entries]
    missing = [u.name for u in upstream if u.status == DEFERRED or (u.state is not None and not u.state.exists)]
    if missing:
        return DEFERRED, missing
    moving = [u.name for u in upstream if u.status == PROVISIONAL or outputs_change.get(u.name)]
    return (PROVISIONAL, moving) if moving else (PLANNED, [])


def plan(
    ctx: StageContext,
    synth_dir: Path,
    bundle_dir: Path,
    only: list[str] | None = None,
    ttl: timedelta = timedelta(hours=8),
    lock_timeout: str = "0s",
    clock: Callable[[], datetime] = now_utc,
) -> tuple[Manifest, int]:
    if ttl <= timedelta(0):
        raise CiError(ERROR, f"a bundle needs a positive lifetime, got --ttl {ttl}")
    keys = ctx.keys  # before any Terraform runs: no signing key, no bundle
    try:
        key_arn(ctx.kms(), keys.plan)
    except EnvelopeError as exc:
        raise CiError(ERROR, f"the plan stage's signing key is missing or not visible: {exc}; apply the "
                      f"{ctx.env.name}-state stack (it creates the key from the [ci] roles)") from exc
    check_record(synth_dir, ctx.env.name)
    stacks = environment_stacks(synth_dir, ctx.env.name, only)
    check_unchanged(synth_dir, stacks)
    tf_version = tfrun.version()
    s3 = client("s3", ctx.env)
    entries: dict[str, StackEntry] = {}
    outputs_change: dict[str, bool] = {}
    files: dict[str, bytes] = {}
    changes: list[StackChanges] = []
    with bundle.unsealed({}) as work:
        for st in stacks:
            status, because = _waits_for(st, entries, outputs_change)
            if status == DEFERRED:
                log.info("==> %s: deferred until %s exist(s)", st.name, ", ".join(because))
                entries[st.name] = _entry(st, DEFERRED, f"waits for {', '.join(because)} to be applied (no state yet)")
                continue
            log.info("==> plan %s%s", st.name, " (provisional)" if status == PROVISIONAL else "")
            tfrun.init(st.directory)
            state = remotestate.read(st, ctx.env, s3)  # the same reader `apply` compares with
            plan_file = work / f"{st.name}.tfplan"
            try:
                terraform_says = tfrun.plan(st.directory, plan_file, lock_timeout)
            except CiError as exc:
                if status != PROVISIONAL or exc.exit_code != ERROR:
                    raise
                # Its inputs are about to change anyway: wait for the upstream apply, and say why.
                log.info("==> %s: deferred, its plan needs %s applied first", st.name, ", ".join(because))
                why = f"plan needs {', '.join(because)} applied first ({_first_error(str(exc))})"
                entries[st.name] = _entry(st, DEFERRED, why)
                continue
            raw_json = tfrun.show_json(st.directory, plan_file)
            parsed = planjson.parse_bytes(st.name, raw_json)
            changes.append(parsed)
            outputs_change[st.name] = parsed.outputs_change
            plan_bytes = plan_file.read_bytes()
            files[bundle.plan_member(st.name)] = plan_bytes
            files[bundle.plan_json_member(st.name)] = raw_json
            why = f"upstream {', '.join(because)} change(s) outputs or wait(s) for a wave" if because else ""
            entries[st.name] = dataclasses.replace(
                _entry(st, status, why),
                state=state,
                has_changes=terraform_says or parsed.has_changes,
                plan_sha256=sha256_bytes(plan_bytes),
                plan_json_sha256=sha256_bytes(raw_json),
            )
    created = clock()
    manifest = Manifest(
        environment=ctx.env.name,
        bundle_id=str(uuid.uuid4()),
        created_at=created.isoformat(timespec="seconds"),
        expires_at=(created + ttl).isoformat(timespec="seconds"),
        git_commit=git_commit(),
        git_dirty_sha256=git_dirty_sha256(),
        terraform_version=tf_version,
        stacks=list(entries.values()),
    )
    bundle.write(bundle_dir, manifest, files, kms=ctx.kms(), keys=keys)
    write_summary(bundle_dir, manifest, changes)
    return manifest, CHANGES if manifest.has_changes() else OK


def write_summary(bundle_dir: Path, manifest: Manifest, changes: list[StackChanges]) -> Path:
    header = [f"Environment `{manifest.environment}` · commit `{manifest.git_commit[:12]}` · "
              f"bundle `{manifest.bundle_id}` · expires {manifest.expires_at}"]
    for s in manifest.stacks:
        if s.status != PLANNED:
            header.append(f"- **{s.status}** `{s.name}`: {s.reason} — not applied by this bundle")
    policy = manifest.policy
    if policy is not None:
        verdict = "passed" if policy.passed else "FAILED"
        header.append(f"- policy {verdict}: {policy.checks_passed} passed, {policy.checks_failed} failed")
    md = summary.render_markdown(f"Plan: {manifest.environment}", header, changes)
    return summary.publish(bundle_dir, md, summary.to_json(manifest, changes, {}))


def _entry(st: Stack, status: str, reason: str) -> StackEntry:
    return StackEntry(
        name=st.name, status=status, dependencies=list(st.dependencies), synth_sha256=sha256_file(st.synth_file),
        lock_sha256=sha256_file(st.lock_file), reason=reason,
    )


def _first_error(message: str) -> str:
    errors = [line.strip() for line in message.splitlines() if line.strip().startswith("Error:")]
    return errors[0] if errors else "terraform plan failed"

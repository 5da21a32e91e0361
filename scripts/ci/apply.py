"""`ci policy` and `ci apply`: judge the sealed plans, then apply exactly them.

`policy` records its verdict inside the sealed bundle (re-sealed under a new data key), signed with
the policy stage's key over the verdict and the plan stage's digest, so `apply` trusts no plaintext
file for it and no runner that can merely decrypt can forge it (scripts/ci/bundle.py). `apply`
checks every manifest field against what it observes
(scripts/ci/manifest.verify) for every stack before applying any, then applies the final plans in
dependency order and stops at the first failure, saying what was and was not applied. A failed
migration gate inside an apply reports its own verdict (scripts/migrate/report.py, as in
`platformctl deploy`): the stage exits with 10 + the gate's code and prints the reason and the
migration's last log lines once, instead of Terraform's wrapped error.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from scripts.awsclients import client
from scripts.ci import bundle, planjson, policy, remotestate, summary, tfrun
from scripts.ci.context import StageContext, git_commit, git_dirty_sha256
from scripts.ci.exitcodes import CHANGES, ERROR, GATE_CODES, OK, POLICY, STALE, CiError
from scripts.ci.manifest import DEFERRED, Manifest, Observed, PolicyVerdict, now_utc, verify
from scripts.ci.plan import write_summary
from scripts.ci.stacks import environment_stacks, sha256_bytes, sha256_file
from scripts.deploy import migration_report_dir
from scripts.migrate.report import REPORT_DIR_ENV, failed_reports

log = logging.getLogger(__name__)


def run_policy(
    ctx: StageContext, synth_dir: Path, bundle_dir: Path, waivers: Path | None,
    clock: Callable[[], datetime] = now_utc,
) -> tuple[policy.PolicyResult, int]:
    kms = ctx.kms()
    keys = ctx.keys
    # Stack names are checked against the synth before any path is built from them.
    known = [s.name for s in environment_stacks(synth_dir, ctx.env.name)]
    opened = bundle.read(bundle_dir, kms=kms, environment=ctx.env.name, keys=keys, stack_names=known,
                         verify_policy=False)
    files = opened.files
    names = [s.name for s in opened.manifest.stacks if s.status != DEFERRED]
    changes = [planjson.parse_bytes(n, files[bundle.plan_json_member(n)]) for n in names]
    with bundle.unsealed({bundle.plan_json_member(n): files[bundle.plan_json_member(n)] for n in names}) as root:
        result = policy.run_checkov([root / bundle.plan_json_member(n) for n in names], cwd=root, waivers=waivers)
    verdict = PolicyVerdict(
        passed=result.ok, checks_passed=result.passed, checks_failed=len(result.failed),
        checkov_version=result.version, checked_at=clock().isoformat(timespec="seconds"),
    )
    sealed = bundle.write_verdict(bundle_dir, opened, verdict, kms=kms, keys=keys)
    write_summary(bundle_dir, sealed, changes)
    md = render_policy(ctx.env.name, result, changes)
    summary.publish(bundle_dir, md, json.dumps(_policy_json(result, changes), indent=1, sort_keys=True), stem="policy")
    return result, OK if result.ok else POLICY


def render_policy(env_name: str, result: policy.PolicyResult, changes: list[planjson.StackChanges]) -> str:
    lines = [f"## Policy: {env_name}", "",
             f"**{result.passed}** passed · **{len(result.failed)}** failed · {result.skipped} skipped "
             f"(each justified in `.checkov.yaml` or the tier's waiver file) · checkov {result.version}", ""]
    lines += [f"- :x: {p}" for p in result.problems]
    lines += [f"- :x: `{f.check_id}` {f.name} — `{f.stack}` `{f.resource}`" for f in result.failed]
    unknown = [c for sc in changes for c in sc.changes if c.unknown]
    if unknown:
        lines += ["", f"### Known only after apply ({len(unknown)} resources): checks saw the known values only", ""]
        lines += [f"- `{c.stack}` `{c.address}`: {', '.join(c.unknown)}" for c in unknown]
    return summary.cut(lines, summary.MARKDOWN_LIMIT)


def _policy_json(result: policy.PolicyResult, changes: list[planjson.StackChanges]) -> dict[str, object]:
    return {
        "passed": result.passed,
        "failed": [f.__dict__ for f in result.failed],
        "skipped": result.skipped,
        "problems": result.problems,
        "checkov_version": result.version,
        "known_after_apply": [{"stack": c.stack, "address": c.address, "attributes": c.unknown}
                              for sc in changes for c in sc.changes if c.unknown],
    }


def observe(ctx: StageContext, synth_dir: Path, manifest: Manifest, files: dict[str, bytes],
            clock: Callable[[], datetime]) -> Observed:
    names = [s.name for s in manifest.stacks if s.status != DEFERRED]
    stacks = environment_stacks(synth_dir, ctx.env.name, names) if names else []
    seen = Observed(environment=ctx.env.name, git_commit=git_commit(), terraform_version=tfrun.version(), now=clock(),
                    git_dirty_sha256=git_dirty_sha256())
    s3 = client("s3", ctx.env)
    for st in stacks:
        seen.synth_sha256[st.name] = sha256_file(st.synth_file)
        seen.lock_sha256[st.name] = sha256_file(st.lock_file)
        seen.state[st.name] = remotestate.read(st, ctx.env, s3)
        plan_bytes = files.get(bundle.plan_member(st.name))
        json_bytes = files.get(bundle.plan_json_member(st.name))
        seen.plan_sha256[st.name] = sha256_bytes(plan_bytes) if plan_bytes is not None else None
        seen.plan_json_sha256[st.name] = sha256_bytes(json_bytes) if json_bytes is not None else None
    return seen


def apply(ctx: StageContext, synth_dir: Path, bundle_dir: Path, lock_timeout: str = "0s",
          clock: Callable[[], datetime] = now_utc) -> tuple[Manifest, int]:
    known = [s.name for s in environment_stacks(synth_dir, ctx.env.name)]
    opened = bundle.read(bundle_dir, kms=ctx.kms(), environment=ctx.env.name, keys=ctx.keys, stack_names=known)
    manifest, files = opened.manifest, opened.files
    marker = bundle_dir / bundle.APPLIED
    if marker.exists():
        raise CiError(STALE, f"refused: bundle {manifest.bundle_id} was already applied ({marker}); plan again")
    if manifest.policy is None:
        raise CiError(POLICY, "refused: this bundle has no policy verdict; run `platformctl ci policy` on it first")
    if not manifest.policy.passed:
        raise CiError(POLICY, "refused: the policy gate failed for this bundle (see policy.md); nothing was applied")
    problems = verify(manifest, observe(ctx, synth_dir, manifest, files, clock))
    if problems:
        raise CiError(STALE, "refused, nothing was applied:\n  - " + "\n  - ".join(problems)
                      + "\nPlan again (`platformctl ci plan`), review, and apply the new bundle.")
    todo = manifest.to_apply()
    by_name = {s.name: s for s in environment_stacks(synth_dir, ctx.env.name, [e.name for e in todo])} if todo else {}
    done: list[str] = []
    reports = migration_report_dir(ctx.env.name)
    gate_env = {REPORT_DIR_ENV: str(reports)}
    with bundle.unsealed({bundle.plan_member(e.name): files[bundle.plan_member(e.name)] for e in todo}) as root:
        for entry in todo:
            log.info("==> apply %s", entry.name)
            try:
                tfrun.init(by_name[entry.name].directory)
                tfrun.apply(
                    by_name[entry.name].directory, root / bundle.plan_member(entry.name), lock_timeout, gate_env
                )
            except CiError as exc:
                exc = gate_error(reports) or exc
                left = [e.name for e in todo if e.name not in done and e.name != entry.name]
                where = f"applied: {', '.join(done) or 'nothing'}; failed: {entry.name}; "
                where += f"not applied: {', '.join(left) or 'nothing'}. Plan again after fixing the cause."
                raise CiError(exc.exit_code, f"{exc}\n{where}") from exc
            done.append(entry.name)
    marker.write_text(json.dumps({"bundle_id": manifest.bundle_id, "applied": done,
                                  "at": clock().isoformat(timespec="seconds")}) + "\n")
    return manifest, CHANGES if manifest.remaining() else OK


def gate_error(reports: Path) -> CiError | None:
    """The migration gate's own verdict when a gate failed during this apply (None: it did not)."""
    failed = failed_reports(reports)
    if not failed:
        return None
    code = failed[0].exit_code
    text = "\n\n".join(r.render() for r in failed)
    return CiError(
        code if code in GATE_CODES else ERROR,
        "the migration gate stopped the apply; the services it gates were not updated and the "
        f"previous version keeps serving.\n{text}",
    )

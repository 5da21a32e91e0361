"""`ci drift` (scheduled): does the real infrastructure still match the code?

A normal plan with `-detailed-exitcode` and `-lock=false` (read-only, never blocks an apply) per
stack: what Terraform would change, with the attributes changed outside Terraform listed next to
it. `lifecycle.ignore_changes` is honoured, so emulator read-back gaps are not reported as drift.
"""

from __future__ import annotations

import logging
from pathlib import Path

from scripts.ci import bundle, planjson, remotestate, summary, tfrun
from scripts.ci.context import StageContext
from scripts.ci.exitcodes import CHANGES, OK
from scripts.ci.planjson import StackChanges
from scripts.ci.stacks import environment_stacks

log = logging.getLogger(__name__)


def drift(
    ctx: StageContext, synth_dir: Path, out_dir: Path, only: list[str] | None = None
) -> tuple[list[StackChanges], list[str], int]:
    """(per-stack changes, stacks without state, exit code)."""
    found: list[StackChanges] = []
    undeployed: list[str] = []
    with bundle.unsealed({}) as work:
        for st in environment_stacks(synth_dir, ctx.env.name, only):
            log.info("==> drift check %s", st.name)
            if not remotestate.read(st, ctx.env).exists:
                undeployed.append(st.name)
                continue
            tfrun.init(st.directory)
            plan_file = work / f"{st.name}.tfplan"
            tfrun.plan(st.directory, plan_file, "0s", lock=False)
            parsed = planjson.parse_bytes(st.name, tfrun.show_json(st.directory, plan_file))
            changing = {c.address for c in parsed.changes}
            found.append(StackChanges(parsed.stack, parsed.changes, parsed.output_changes,
                                      [d for d in parsed.drift if d.address in changing]))
    drifted = [sc for sc in found if sc.has_changes]
    header = [f"- not deployed (no state): {', '.join(undeployed)}"] if undeployed else []
    header.append(f"{len(drifted)} of {len(found)} deployed stack(s) differ from the code" if drifted
                  else "no drift: every deployed stack matches the code")
    md = summary.render_markdown(f"Drift: {ctx.env.name}", header, drifted)
    summary.publish(out_dir, md, summary.to_json(None, drifted, {"undeployed": undeployed}), stem="drift")
    return found, undeployed, CHANGES if drifted or undeployed else OK

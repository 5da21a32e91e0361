"""Markdown + JSON summaries of a bundle or a drift check, sized for PR comments and job summaries.

Counts come first, destroys and replacements next (loudly), then everything else. The Markdown is
cut at a line boundary below `MARKDOWN_LIMIT` (a GitHub PR comment holds 65,536 characters, a job
summary 1 MiB) with a pointer to `summary.json`, which always lists every change.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import asdict
from pathlib import Path

from scripts.ci.manifest import Manifest
from scripts.ci.planjson import DELETE, FORGET, ORDER, REPLACE, Change, StackChanges

MARKDOWN_LIMIT = 60_000  # characters; below GitHub's 65,536 for a PR comment, with room for a header
STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"
SYMBOL = {DELETE: "-", REPLACE: "-/+", FORGET: "forget", "update": "~", "create": "+", "import": "<=", "move": "->"}


def counts(changes: list[StackChanges]) -> Counter[str]:
    return Counter(c.kind for sc in changes for c in sc.changes)


def _line(c: Change) -> str:
    text = f"- `{SYMBOL.get(c.kind, c.kind)}` `{c.address}`"
    if c.moved_from:
        text += f" (moved from `{c.moved_from}`)"
    if c.attributes:
        text += ": " + ", ".join(c.attributes[:12]) + (" …" if len(c.attributes) > 12 else "")
    if c.unknown:
        text += f" · known after apply: {', '.join(c.unknown[:8])}" + (" …" if len(c.unknown) > 8 else "")
    return text


def render_markdown(title: str, header: list[str], changes: list[StackChanges], limit: int = MARKDOWN_LIMIT) -> str:
    total = counts(changes)
    lines = [f"## {title}", ""]
    table = " · ".join(f"**{total.get(k, 0)}** {k}" for k in ORDER)
    lines += [table, "", *header, ""]
    loud = [c for sc in changes for c in sc.changes if c.kind in (DELETE, REPLACE, FORGET)]
    if loud:
        lines += [f"### :warning: {len(loud)} destroy / replace / forget", ""]
        lines += [_line(c) for c in loud]
        lines.append("")
    for sc in changes:
        stack_counts = Counter(c.kind for c in sc.changes)
        described = ", ".join(f"{n} {k}" for k, n in sorted(stack_counts.items())) or "no resource changes"
        outputs = f"; outputs changing: {', '.join(sc.output_changes)}" if sc.output_changes else ""
        lines += [f"### `{sc.stack}`: {described}{outputs}", ""]
        ordered = sorted(sc.changes, key=lambda c: (ORDER.index(c.kind), c.address))
        lines += [_line(c) for c in ordered if c.kind not in (DELETE, REPLACE, FORGET)]
        drift = [_line(c) for c in sc.drift]
        if drift:
            lines += ["", f"Changed outside Terraform ({len(drift)}):", *drift]
        lines.append("")
    return cut(lines, limit)


def cut(lines: list[str], limit: int) -> str:
    """Whole lines up to LIMIT characters; a cut ends with how much was left out and where it is."""
    text = "\n".join(lines) + "\n"
    if len(text) <= limit:
        return text
    pointer_room = 300
    kept: list[str] = []
    size = 0
    for line in lines:
        if size + len(line) + 1 > limit - pointer_room:
            break
        kept.append(line)
        size += len(line) + 1
    left = len(lines) - len(kept)
    kept += [
        "",
        f"**Summary cut at {limit:,} characters: {left:,} more line(s) not shown.** "
        "The full list is in `summary.json` of the bundle artifact.",
    ]
    return "\n".join(kept) + "\n"


def to_json(manifest: Manifest | None, changes: list[StackChanges], extra: dict[str, object]) -> str:
    data: dict[str, object] = {
        "counts": dict(counts(changes)),
        "stacks": [
            {
                "stack": sc.stack,
                "changes": [asdict(c) for c in sc.changes],
                "output_changes": sc.output_changes,
                "drift": [asdict(c) for c in sc.drift],
            }
            for sc in changes
        ],
        **extra,
    }
    if manifest is not None:
        data["bundle"] = {
            "environment": manifest.environment,
            "bundle_id": manifest.bundle_id,
            "git_commit": manifest.git_commit,
            "expires_at": manifest.expires_at,
            "stacks": [
                {"name": s.name, "status": s.status, "has_changes": s.has_changes, "reason": s.reason}
                for s in manifest.stacks
            ],
        }
    return json.dumps(data, indent=1, sort_keys=True)


def publish(directory: Path, markdown: str, json_text: str, stem: str = "summary") -> Path:
    """Write <stem>.md/.json into DIRECTORY and append the Markdown to $GITHUB_STEP_SUMMARY if set."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{stem}.md").write_text(markdown)
    (directory / f"{stem}.json").write_text(json_text + "\n")
    step_summary = os.environ.get(STEP_SUMMARY_ENV)
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as fh:
            fh.write(markdown + "\n")
    return directory / f"{stem}.md"

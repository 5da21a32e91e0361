"""Decide whether a stopped migration task succeeded — pure functions over DescribeTasks output.

"The task stopped" says nothing about success. A Fargate task that could not pull its image
stops without an exit code; a container killed for memory stops with no exit code or 137; a
task someone stopped by hand may even exit 0 halfway through. Only one outcome counts as
success: the migration container ran and exited 0, and the task stopped for the normal reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Stop codes of a one-off task that finished on its own; anything else interrupted it.
NORMAL_STOP_CODES = frozenset({"EssentialContainerExited"})
NEVER_STARTED = "TaskFailedToStart"


@dataclass(frozen=True)
class TaskVerdict:
    ok: bool
    reason: str
    exit_code: int | None


def _describe_stop(task: Mapping[str, Any]) -> str:
    code = task.get("stopCode")
    why = task.get("stoppedReason")
    bits = [b for b in (f"stopCode {code}" if code else "", why or "") if b]
    return "; ".join(bits) or "no stop reason reported"


def classify_stopped_task(task: Mapping[str, Any], container: str) -> TaskVerdict:
    """Verdict for a task whose lastStatus is STOPPED."""
    stop_code = task.get("stopCode")
    if stop_code == NEVER_STARTED:
        return TaskVerdict(False, f"the task never started ({_describe_stop(task)})", None)
    found = next((c for c in task.get("containers", []) if c.get("name") == container), None)
    if found is None:
        names = ", ".join(c.get("name", "?") for c in task.get("containers", [])) or "none"
        reason = f"the task has no container named {container!r} (containers: {names})"
        return TaskVerdict(False, reason, None)
    exit_code = found.get("exitCode")
    if exit_code is None:
        detail = found.get("reason") or _describe_stop(task)
        return TaskVerdict(
            False,
            f"container {container!r} stopped without an exit code ({detail}); it probably never ran or was killed",
            None,
        )
    if exit_code != 0:
        detail = f" ({found['reason']})" if found.get("reason") else ""
        return TaskVerdict(False, f"container {container!r} exited with code {exit_code}{detail}", exit_code)
    if stop_code and stop_code not in NORMAL_STOP_CODES:
        return TaskVerdict(
            False,
            f"container {container!r} exited 0 but the task was interrupted ({_describe_stop(task)}); "
            "the migration may be incomplete",
            exit_code,
        )
    return TaskVerdict(True, f"container {container!r} exited with code 0", 0)


def describe_run_task_failures(failures: list[Mapping[str, Any]]) -> str:
    """One line per RunTask failure: capacity, missing resources, image problems..."""
    parts = []
    for f in failures:
        text = f.get("reason", "unknown reason")
        if f.get("detail"):
            text += f" ({f['detail']})"
        if f.get("arn"):
            text += f" [{f['arn']}]"
        parts.append(text)
    return "; ".join(parts) or "RunTask returned no task and no failure reason"

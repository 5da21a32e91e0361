"""Follow one CloudWatch Logs stream (the migration task's awslogs stream) incrementally.

The stream only appears once the container has started and written its first line, so a missing
stream (or group) is "nothing yet", not an error. Reads resume from `nextForwardToken`, so each
line is delivered exactly once however often we poll.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

# Pages read per poll; bounds one poll's duration when a chatty migration floods its log.
MAX_PAGES_PER_POLL = 20


@dataclass(frozen=True)
class AwsLogsTarget:
    """Where the awslogs driver writes a task's container output."""

    group: str
    stream_prefix: str | None
    region: str | None

    def stream_for(self, container: str, task_id: str) -> str | None:
        """`<prefix>/<container>/<task-id>`; without a prefix ECS names streams by container id,
        which we cannot know, so there is nothing to follow."""
        if not self.stream_prefix:
            return None
        return f"{self.stream_prefix}/{container}/{task_id}"

    @classmethod
    def from_container_definition(cls, container_def: Mapping[str, Any]) -> AwsLogsTarget | None:
        conf = container_def.get("logConfiguration") or {}
        if conf.get("logDriver") != "awslogs":
            return None
        opts = conf.get("options") or {}
        group = opts.get("awslogs-group")
        if not group:
            return None
        return cls(group=group, stream_prefix=opts.get("awslogs-stream-prefix"), region=opts.get("awslogs-region"))


class LogStreamFollower:
    """Reads new events from one stream; `poll()` returns the lines that arrived since last time."""

    def __init__(self, logs: Any, group: str, stream: str):
        self._logs = logs
        self.group = group
        self.stream = stream
        self._token: str | None = None

    def poll(self) -> list[str]:
        lines: list[str] = []
        for _ in range(MAX_PAGES_PER_POLL):
            kwargs: dict[str, Any] = {
                "logGroupName": self.group,
                "logStreamName": self.stream,
                "startFromHead": True,
            }
            if self._token:
                kwargs["nextToken"] = self._token
            try:
                resp = self._logs.get_log_events(**kwargs)
            except self._logs.exceptions.ResourceNotFoundException:
                log.debug("log stream %s/%s does not exist yet", self.group, self.stream)
                return lines
            for event in resp.get("events", []):
                lines.extend(str(event.get("message", "")).rstrip("\n").splitlines() or [""])
            token = resp.get("nextForwardToken")
            if not token or token == self._token:
                break  # reached the end of the stream
            self._token = token
            if not resp.get("events"):
                break
        return lines

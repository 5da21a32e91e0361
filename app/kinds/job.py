"""Kind `job`: a scheduled one-off task (docs/adr/0025), never a long-running ECS service.

Settings: `schedule` (EventBridge Scheduler `cron(...)`/`rate(...)`, checked here so a bad
expression is refused by `platformctl validate` naming file and field, before Terraform runs),
`schedule_timezone`, `timeout_seconds` and `retries`. Every run reads its login at start (nothing
to restart after a rotation) and is wrapped by `platformctl job exec`, which holds the job's
single-run lock and stops the command at its timeout.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterable
from typing import TYPE_CHECKING

from app.contracts import names
from app.kinds.base import Kind, KindProblem, KindSettings

if TYPE_CHECKING:
    from app.schema import EnvironmentConfig, ServiceConfig

# EventBridge Scheduler's `RetryPolicy.MaximumRetryAttempts` range.
MAX_RETRIES = 185
MIN_TIMEOUT_S = 60
# Settings of the long-running kinds that mean nothing for a job (refused when set; `verify_rollout`
# is set by tier defaults and ignored for a kind that is not long-running).
LONG_RUNNING_ONLY = ("desired_count", "autoscaling")

_RATE = re.compile(r"^rate\((?P<value>\d+) (?P<unit>[a-z]+)\)$")
_CRON = re.compile(r"^cron\((?P<fields>[^()]*)\)$")
_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_MONTHS = {m: i + 1 for i, m in enumerate(_MONTH_NAMES)}
_DAYS = {d: i + 1 for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}
# (name, lowest, highest, names) of the six fields, in order.
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minutes", 0, 59, {}),
    ("hours", 0, 23, {}),
    ("day-of-month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 1, 7, _DAYS),
    ("year", 1970, 2199, {}),
)


class JobSettings(KindSettings):
    schedule: str | None = None
    """When it runs (job only, required): `rate(N minutes|hours|days)` or `cron(min h dom mon dow year)`."""
    schedule_timezone: str = "UTC"
    """IANA time zone the job's `cron(...)` is read in (job only)."""
    timeout_seconds: int = 3600
    """A run still going after this many seconds is stopped and fails (job only; 60 s - 24 h)."""
    retries: int = 0
    """Retries of a start EventBridge Scheduler could not make (job only; 0-185); a failed run is not retried."""


def rate_problem(expression: str) -> str | None:
    m = _RATE.match(expression)
    if not m:
        return "must be `rate(N unit)`, e.g. `rate(5 minutes)`"
    value, unit = int(m["value"]), m["unit"]
    if value < 1:
        return "a rate must be at least 1"
    if unit.rstrip("s") not in ("minute", "hour", "day"):
        return f"unit must be minute(s), hour(s) or day(s), got {unit!r}"
    singular = unit in ("minute", "hour", "day")
    if singular != (value == 1):
        return f"write `rate(1 {unit.rstrip('s')})` for one and the plural for more, got {expression!r}"
    return None


def _number(token: str, lo: int, hi: int, words: dict[str, int]) -> int | None:
    value = words.get(token.upper()) if not token.isdigit() else int(token)
    return value if value is not None and lo <= value <= hi else None


def _item_problem(item: str, field: str, lo: int, hi: int, words: dict[str, int]) -> str | None:
    """One comma-separated item of a cron field: `*`, `N`, `N-M`, `*/S`, `N/S`, `N-M/S`, and the
    day fields' `L`, `NW`, `LW` (day-of-month), `NL`, `N#K` (day-of-week)."""
    named = f" or {next(iter(words))}-{list(words)[-1]}" if words else ""
    bad = f"{field} {item!r} is not valid (values {lo}-{hi}{named})"
    if field == "day-of-month" and (item in ("L", "LW") or (item.endswith("W") and _number(item[:-1], lo, hi, {}))):
        return None
    if field == "day-of-week":
        if item == "L" or (item.endswith("L") and _number(item[:-1], lo, hi, words)):
            return None
        day, sep, nth = item.partition("#")
        if sep:
            return None if _number(day, lo, hi, words) and nth in ("1", "2", "3", "4", "5") else bad
    base, sep, step = item.partition("/")
    if sep and not (step.isdigit() and int(step) >= 1):
        return f"{field} {item!r}: the increment after '/' must be a positive number"
    if base == "*":
        return None
    start, dash, end = base.partition("-")
    if _number(start, lo, hi, words) is None or (dash and _number(end, lo, hi, words) is None):
        return bad
    return None


def cron_problem(expression: str) -> str | None:
    m = _CRON.match(expression)
    if not m:
        return "must be `cron(minutes hours day-of-month month day-of-week year)`"
    fields = m["fields"].split()
    if len(fields) != len(_FIELDS):
        return f"a cron expression has 6 fields (minutes hours day-of-month month day-of-week year), got {len(fields)}"
    for value, (field, lo, hi, words) in zip(fields, _FIELDS, strict=True):
        if value == "?":
            if field not in ("day-of-month", "day-of-week"):
                return f"'?' is allowed only in day-of-month or day-of-week, not in {field}"
            continue
        for item in value.split(","):
            problem = _item_problem(item, field, lo, hi, words)
            if problem:
                return problem
    if (fields[2] == "?") == (fields[4] == "?"):
        return "exactly one of day-of-month and day-of-week must be '?' (e.g. `cron(0 3 * * ? *)`)"
    return None


def schedule_problem(expression: str) -> str | None:
    """Why EXPRESSION is not an EventBridge Scheduler recurring schedule (None: it is one)."""
    if expression.startswith("rate("):
        return rate_problem(expression)
    if expression.startswith("cron("):
        return cron_problem(expression)
    return "must be `cron(...)` or `rate(...)` (EventBridge Scheduler syntax; one-time `at(...)` is not a job)"


def validate(svc: ServiceConfig, env: EnvironmentConfig) -> Iterable[KindProblem]:
    if svc.schedule is None:
        yield "schedule", "a job needs a schedule: `cron(...)` or `rate(...)`"
    elif problem := schedule_problem(svc.schedule):
        yield "schedule", problem
    if svc.schedule_timezone not in zoneinfo.available_timezones():
        yield "schedule_timezone", f"must be an IANA time zone (e.g. 'Europe/Berlin'), got {svc.schedule_timezone!r}"
    if not MIN_TIMEOUT_S <= svc.timeout_seconds <= names.MAX_JOB_TIMEOUT_S:
        yield "timeout_seconds", f"must be {MIN_TIMEOUT_S}-{names.MAX_JOB_TIMEOUT_S}, got {svc.timeout_seconds}"
    if not 0 <= svc.retries <= MAX_RETRIES:
        yield "retries", f"must be 0-{MAX_RETRIES} (EventBridge Scheduler's limit), got {svc.retries}"
    if not svc.command:
        yield "command", "a job needs its command (it runs under `platformctl job exec`, not the image's CMD)"
    for fld in LONG_RUNNING_ONLY:
        if fld in svc.model_fields_set:
            yield fld, "not for a job: it runs one task per schedule, at most one at a time"


KIND = Kind(
    name="job",
    summary="runs its command as one task on a `schedule`, at most one run at a time",
    settings=JobSettings,
    long_running=False,
    restart_on_rotation=False,
    aws_services=("scheduler",),
    settings_need="schedule",
    validate=validate,
)

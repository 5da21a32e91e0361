"""Kind `job` as `platformctl validate` sees it (issue 20 item 2): EventBridge Scheduler syntax
checked before Terraform runs, every problem named by file and field."""

from __future__ import annotations

import copy
import tomllib
from typing import Any

import pytest

from app.config import DEFAULT_CONFIG_DIR, ConfigError, parse_environment
from app.kinds.job import schedule_problem

LOCAL = tomllib.loads((DEFAULT_CONFIG_DIR / "local.toml").read_text())


@pytest.mark.parametrize("expression", [
    "rate(1 minute)", "rate(5 minutes)", "rate(1 hour)", "rate(12 hours)", "rate(1 day)", "rate(7 days)",
    "cron(0 3 * * ? *)", "cron(0/15 * ? * MON-FRI *)", "cron(15 10 ? * 6L 2030-2035)", "cron(0 8 L * ? *)",
    "cron(0 8 15W * ? *)", "cron(0 8 ? * 2#1 *)", "cron(0,30 9-17 ? JAN-MAR,DEC SUN,SAT *)", "cron(0 12 1 */2 ? *)",
])
def test_eventbridge_scheduler_expressions_are_accepted(expression: str) -> None:
    assert schedule_problem(expression) is None


@pytest.mark.parametrize(("expression", "message"), [
    ("rate(1 minutes)", "write `rate(1 minute)` for one"),
    ("rate(2 hour)", "write `rate(1 hour)` for one and the plural for more"),
    ("rate(0 minutes)", "at least 1"),
    ("rate(2 weeks)", "unit must be minute(s), hour(s) or day(s)"),
    ("rate(five minutes)", "must be `rate(N unit)`"),
    ("cron(0 3 * * *)", "6 fields"),
    ("cron(0 3 * * MON *)", "exactly one of day-of-month and day-of-week must be '?'"),
    ("cron(0 3 ? * ? *)", "exactly one of day-of-month and day-of-week must be '?'"),
    ("cron(60 3 * * ? *)", "minutes '60' is not valid (values 0-59)"),
    ("cron(0 24 * * ? *)", "hours '24' is not valid"),
    ("cron(0 3 * 13 ? *)", "month '13' is not valid (values 1-12 or JAN-DEC)"),
    ("cron(0 3 ? * FUN *)", "day-of-week 'FUN' is not valid (values 1-7 or SUN-SAT)"),
    ("cron(0 3 ? * 2#6 *)", "day-of-week '2#6' is not valid"),
    ("cron(? 3 * * ? *)", "'?' is allowed only in day-of-month or day-of-week"),
    ("cron(0/0 3 * * ? *)", "the increment after '/' must be a positive number"),
    ("cron(0 3 * * ? 1969)", "year '1969' is not valid"),
    ("at(2030-01-01T00:00:00)", "one-time `at(...)` is not a job"),
    ("0 3 * * *", "must be `cron(...)` or `rate(...)`"),
])
def test_invalid_expressions_are_refused_with_the_reason(expression: str, message: str) -> None:
    problem = schedule_problem(expression)
    assert problem is not None and message in problem, problem


def with_job(**fields: Any) -> dict[str, Any]:
    data = copy.deepcopy(LOCAL)
    job = {"kind": "job", "image": "registry.example/app:1", "command": ["python", "-V"], **fields}
    data["services"]["cleanup"] = {k: v for k, v in job.items() if v is not None}
    return data


def problems(data: dict[str, Any]) -> tuple[str, dict[str, str]]:
    with pytest.raises(ConfigError) as exc:
        parse_environment(data, "local.toml", "local")
    return str(exc.value), {p.field: p.message for p in exc.value.problems}


def test_a_valid_job_binds_with_its_defaults() -> None:
    env = parse_environment(with_job(schedule="rate(1 hour)"), "local.toml", "local")
    job = env.services["cleanup"]
    assert (job.kind, job.schedule, job.schedule_timezone, job.timeout_seconds, job.retries) == (
        "job", "rate(1 hour)", "UTC", 3600, 0)
    assert not job.kind_unit.long_running and not job.kind_unit.restart_on_rotation
    assert "cleanup" not in env.web_services


def test_a_job_without_a_schedule_is_refused_naming_file_and_field() -> None:
    text, found = problems(with_job())
    assert found == {"services.cleanup.schedule": "a job needs a schedule: `cron(...)` or `rate(...)`"}
    assert "local.toml: services.cleanup.schedule: a job needs a schedule" in text


def test_every_bad_job_setting_is_reported_at_once() -> None:
    _, found = problems(with_job(
        schedule="cron(0 3 * * * *)", schedule_timezone="Mars/Olympus", timeout_seconds=10, retries=186,
        command=None, desired_count=3, autoscaling={"enabled": False}, container_port=8000,
    ))
    assert set(found) == {f"services.cleanup.{f}" for f in (
        "schedule", "schedule_timezone", "timeout_seconds", "retries", "command", "desired_count", "autoscaling",
        "container_port")}
    assert found["services.cleanup.container_port"] == "only for kind = 'web' (a job has no load balancer)"
    assert found["services.cleanup.retries"] == "must be 0-185 (EventBridge Scheduler's limit), got 186"
    assert found["services.cleanup.timeout_seconds"] == "must be 60-86400, got 10"


def test_a_job_setting_on_another_kind_is_refused() -> None:
    data = copy.deepcopy(LOCAL)
    data["services"]["worker"]["schedule"] = "rate(1 hour)"
    _, found = problems(data)
    assert found == {"services.worker.schedule": "only for kind = 'job' (a worker has no schedule)"}

"""A failed migration's summary names the migration that failed and the error, not only the last
20 lines (issue 20 item 5). The samples are the output of real tools, as the runners capture it
(stdout and stderr merged): Django 5.2 `manage.py migrate` and Alembic with SQLAlchemy 2."""

from __future__ import annotations

from pathlib import Path

from scripts.migrate.excerpt import excerpt, heading, highlights
from scripts.migrate.outcome import LogTail, MigrationFailed
from scripts.migrate.report import GateReport

SAMPLES = Path(__file__).parent / "samples"
DJANGO = (SAMPLES / "django_migrate_failure.txt").read_text().splitlines()
ALEMBIC = (SAMPLES / "alembic_upgrade_failure.txt").read_text().splitlines()
DJANGO_STEP = "  Applying polls.0002_question_author...Traceback (most recent call last):"
DJANGO_ERROR = 'django.db.utils.ProgrammingError: relation "polls_author" does not exist'
ALEMBIC_STEP = "INFO  [alembic.runtime.migration] Running upgrade 0002 -> 0003, create audit_log"
ALEMBIC_ERROR = 'sqlalchemy.exc.ProgrammingError: (psycopg.errors.UndefinedObject) type "no_such_type" does not exist'


def test_django_the_failing_migration_is_kept_although_the_last_20_lines_are_framework_frames() -> None:
    assert DJANGO_STEP not in DJANGO[-20:]  # what the summary showed before
    got = excerpt(DJANGO)
    assert got[0] == "… 12 line(s) omitted …"
    assert got[1] == DJANGO_STEP
    assert got[2] == f"… {len(DJANGO) - 20 - 13} line(s) omitted …"
    assert got[3:] == DJANGO[-20:] and got[-1] == DJANGO_ERROR  # the error was in the tail already
    assert highlights(DJANGO).step == DJANGO_STEP and highlights(DJANGO).error == DJANGO_ERROR


def test_alembic_both_the_running_upgrade_and_the_exception_line_precede_a_long_sql_echo() -> None:
    assert ALEMBIC_STEP not in ALEMBIC[-20:] and ALEMBIC_ERROR not in ALEMBIC[-20:]
    got = excerpt(ALEMBIC)
    step_at, error_at = ALEMBIC.index(ALEMBIC_STEP), ALEMBIC.index(ALEMBIC_ERROR)
    assert got[:4] == [
        f"… {step_at} line(s) omitted …",
        ALEMBIC_STEP,
        f"… {error_at - step_at - 1} line(s) omitted …",
        ALEMBIC_ERROR,
    ]
    assert got[4] == f"… {len(ALEMBIC) - 20 - error_at - 1} line(s) omitted …"
    assert got[5:] == ALEMBIC[-20:]
    # the first, chained exception (psycopg's) is not the one reported
    assert highlights(ALEMBIC).error == ALEMBIC_ERROR


def test_short_output_is_shown_whole_and_unchanged() -> None:
    lines = ALEMBIC[:8]
    assert excerpt(lines) == lines
    assert heading(lines) == "last 8 log line(s):"


def test_bare_errors_without_a_traceback_are_found() -> None:
    django_cli = [
        "Operations to perform:",
        "  Target specific migration: 0009, from polls",
        "CommandError: Conflicting migrations detected; multiple leaf nodes in the migration graph",
    ]
    assert highlights(django_cli).error == django_cli[-1]
    alembic_cli = [
        "INFO  [alembic.runtime.migration] Will assume transactional DDL.",
        "FAILED: Can't locate revision identified by '0007'",
    ]
    assert highlights(alembic_cli).error == alembic_cli[-1]
    # Progress and plain log lines are not errors
    assert highlights(["Running migrations:", "  Applying polls.0001_initial... OK"]).error is None


def test_both_summary_paths_show_the_step_and_the_error() -> None:
    """The runners' LogTail feeds the excerpt; the direct message and the deploy report both use it."""
    tail = LogTail()
    tail.extend(ALEMBIC)
    err = MigrationFailed("the migration exited with code 1", ref="pid 7", last_lines=tail.lines())
    text = err.describe()
    assert "the migration's last step and error, then its last 20 log line(s):" in text
    assert f"  | {ALEMBIC_STEP}" in text and f"  | {ALEMBIC_ERROR}" in text
    report = GateReport("local-app", 1, err.headline, err.reason, err.ref, err.last_lines).render()
    assert ALEMBIC_STEP in report and ALEMBIC_ERROR in report and report.count(ALEMBIC[-1]) == 1

"""One application per environment (docs/adr/0027): its process types share one schema, each with
its own DML login; `database = false` opts a process type out; the migration owner must use it."""

from __future__ import annotations

import copy
import tomllib

import pytest

from app.config import DEFAULT_CONFIG_DIR, ConfigError, parse_environment

LOCAL = tomllib.loads((DEFAULT_CONFIG_DIR / "local.toml").read_text())


def test_every_process_type_works_in_the_application_schema_and_only_the_owner_migrates() -> None:
    env = parse_environment(copy.deepcopy(LOCAL), "local.toml", "local")
    assert env.application == "app"
    assert env.database_layout() == {"app": ("app", True), "worker": ("app", False)}


def test_a_process_type_without_database_gets_no_login_and_extra_workloads_keep_their_own() -> None:
    data = copy.deepcopy(LOCAL)
    mailer = {"kind": "worker", "image": "img:1", "database": False, "autoscaling": {"enabled": False}}
    data["services"]["mailer"] = mailer
    data["vault"]["workloads"] = [{"name": "reports"}]
    env = parse_environment(data, "local.toml", "local")
    assert env.database_layout() == {"app": ("app", True), "worker": ("app", False), "reports": ("reports", True)}


def test_the_migration_owner_without_database_is_refused_naming_file_and_field() -> None:
    data = copy.deepcopy(LOCAL)
    data["services"]["app"]["database"] = False
    with pytest.raises(ConfigError) as exc:
        parse_environment(data, "local.toml", "local")
    found = {p.field: p.message for p in exc.value.problems}
    assert "has `database = false`" in found["services.app.database"]
    assert "local.toml" in str(exc.value) and "services.app.database" in str(exc.value)
    data["migration"]["image_from"] = "app"
    with pytest.raises(ConfigError) as exc:
        parse_environment(data, "local.toml", "local")
    assert "migration.image_from" in {p.field for p in exc.value.problems}
    data["migration"]["image_from"] = "worker"
    assert parse_environment(data, "local.toml", "local").database_layout() == {"worker": ("worker", True)}

"""scripts/dblogins against a real PostgreSQL: what a login looks like to the server and to the
person reading an error (the vault and rotation suites cover the flows built on it)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from scripts.dblogins import passwords, roles, slots
from scripts.dblogins.connect import DatabaseError, can_log_in, connect, stored_login_works
from scripts.dblogins.model import Database, Login, credential
from scripts.localtarget.postgres import PostgresServer


@pytest.fixture
def admin(postgres_server: PostgresServer) -> Iterator[psycopg.Connection]:
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as conn:
        yield conn


@pytest.fixture
def db(postgres_server: PostgresServer) -> Database:
    return Database(postgres_server.host, postgres_server.port, postgres_server.dbname)


@pytest.fixture
def name(admin: psycopg.Connection) -> Iterator[str]:
    """A fresh role name; the role and its slots are dropped afterwards."""
    role = f"dbl_{secrets.token_hex(4)}"
    yield role
    for each in (f"{role}_a", f"{role}_b", role):
        admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(each)))


def stored_verifier(admin: psycopg.Connection, user: str) -> str:
    row = admin.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (user,)).fetchone()
    assert row is not None
    return str(row[0])


def test_a_password_reaches_the_server_only_as_a_verifier_and_works_until_disabled(
    admin: psycopg.Connection, db: Database, name: str
) -> None:
    first = passwords.new_password()
    passwords.create_login(admin, name, first)
    assert stored_verifier(admin, name).startswith("SCRAM-SHA-256$") and first not in stored_verifier(admin, name)
    assert can_log_in(db, name, first)

    second = passwords.new_password()
    passwords.set_password(admin, name, second)
    assert can_log_in(db, name, second) and not can_log_in(db, name, first)

    passwords.disable(admin, name)
    assert not can_log_in(db, name, second)
    assert not roles.can_login_attr(admin, name)


def test_a_refused_login_names_where_and_who_but_not_the_password(db: Database, name: str) -> None:
    wrong = "not-the-password-" + secrets.token_hex(8)
    with pytest.raises(DatabaseError) as caught:
        connect(db, name, wrong)
    message = str(caught.value)
    assert f"{db.host}:{db.port}/{db.dbname} as {name}" in message
    assert wrong not in message


def test_a_stored_credential_is_tried_where_it_points(admin: psycopg.Connection, db: Database, name: str) -> None:
    password = passwords.new_password()
    passwords.create_login(admin, name, password)
    stored = credential(name, password, db)
    assert stored_login_works(stored, db.sslmode)
    assert not stored_login_works({**stored, "port": "not-a-port"}, db.sslmode)
    assert not stored_login_works({k: v for k, v in stored.items() if k != "dbname"}, db.sslmode)


def test_slots_join_the_group_and_a_rotated_group_is_repaired_on_its_slot(
    admin: psycopg.Connection, name: str
) -> None:
    passwords.create_login(admin, name, passwords.new_password())  # the single login of before
    assert roles.slot_to_repair(admin, name, name) is None  # not rotated: the login itself is repaired
    login = Login("app", name, f"{name}/database")
    changes = slots.ensure_slots(admin, login)
    assert changes == [f"created login slot {s} (disabled until a rotation sets it)" for s in login.slots]
    assert all(roles.is_member(admin, s, name) and not roles.can_login_attr(admin, s) for s in login.slots)
    assert slots.ensure_slots(admin, login) == []  # idempotent

    passwords.disable(admin, name)  # what a rotation's retirement leaves: the group is NOLOGIN
    assert roles.slot_to_repair(admin, name, f"{name}_b") == f"{name}_b"
    assert roles.slot_to_repair(admin, name, "someone-else") == f"{name}_a"

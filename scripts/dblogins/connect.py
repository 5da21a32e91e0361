"""Connections as a login or as the master, and the real-login check a starting task would do."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import psycopg

from scripts.dblogins.model import Database, MasterCredentials

CONNECT_TIMEOUT = 10


class DatabaseError(Exception):
    """PostgreSQL or its master secret is unusable; the message names roles, never passwords."""


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def connect(db: Database, user: str, password: str, application_name: str = "platformctl") -> psycopg.Connection:
    """An autocommit connection; `application_name` tells the sessions apart in pg_stat_activity."""
    try:
        return psycopg.connect(
            host=db.host,
            port=db.port,
            dbname=db.dbname,
            user=user,
            password=password,
            sslmode=db.sslmode,
            connect_timeout=CONNECT_TIMEOUT,
            autocommit=True,
            application_name=application_name,
        )
    except psycopg.Error as exc:
        raise DatabaseError(
            f"cannot connect to PostgreSQL at {db.host}:{db.port}/{db.dbname} as {user}: {first_line(exc)}"
        ) from None


def can_log_in(db: Database, user: str, password: str, application_name: str = "platformctl-login-check") -> bool:
    """A real login plus a query: the check a newly started task would do."""
    try:
        with connect(db, user, password, application_name) as conn:
            conn.execute("SELECT 1").fetchone()
        return True
    except DatabaseError:
        return False


def stored_login_works(stored: Mapping[str, Any], sslmode: str) -> bool:
    """Whether a stored credential (username/password/host/port/dbname) logs in where it points."""
    try:
        db = Database(str(stored["host"]), int(stored["port"]), str(stored["dbname"]), sslmode)
        return can_log_in(db, str(stored["username"]), str(stored["password"]))
    except (KeyError, ValueError, TypeError):
        return False


def read_master_credentials(secretsmanager: Any, secret_arn: str) -> MasterCredentials:
    """The RDS-managed master secret: JSON `{"username": ..., "password": ...}`."""
    try:
        raw = secretsmanager.get_secret_value(SecretId=secret_arn)["SecretString"]
    except Exception as exc:  # botocore ClientError, endpoint errors, missing SecretString
        raise DatabaseError(
            f"cannot read the database master secret {secret_arn}: {type(exc).__name__}; check the ARN "
            "and that your AWS credentials may call secretsmanager:GetSecretValue on it"
        ) from None
    try:
        doc = json.loads(raw)
        return MasterCredentials(str(doc["username"]), str(doc["password"]))
    except (ValueError, KeyError, TypeError):
        raise DatabaseError(
            f"the master secret {secret_arn} is not RDS-formatted JSON with 'username' and 'password'"
        ) from None


@contextmanager
def master_connection(
    db: Database, creds: MasterCredentials, application_name: str = "platformctl-master"
) -> Iterator[psycopg.Connection]:
    conn = connect(db, creds.username, creds.password, application_name)
    try:
        yield conn
    finally:
        conn.close()

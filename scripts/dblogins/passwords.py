"""Setting passwords: always as a SCRAM verifier computed client-side, so the plaintext never
appears in a statement the server could log. Nothing here logs or returns a password it did not get."""

from __future__ import annotations

import secrets

import psycopg
from psycopg import sql


def new_password() -> str:
    return secrets.token_urlsafe(32)


def verifier(conn: psycopg.Connection, user: str, password: str) -> str:
    return conn.pgconn.encrypt_password(password.encode(), user.encode(), b"scram-sha-256").decode()


def create_login(conn: psycopg.Connection, user: str, password: str) -> None:
    conn.execute(
        sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
            sql.Identifier(user), sql.Literal(verifier(conn, user, password))
        )
    )


def set_password(conn: psycopg.Connection, user: str, password: str) -> None:
    """LOGIN with this password (an existing role; a disabled slot is enabled)."""
    conn.execute(
        sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(
            sql.Identifier(user), sql.Literal(verifier(conn, user, password))
        )
    )


def disable(conn: psycopg.Connection, user: str) -> None:
    """NOLOGIN and a random password nobody knows (the old one can never log in again)."""
    conn.execute(
        sql.SQL("ALTER ROLE {} NOLOGIN PASSWORD {}").format(
            sql.Identifier(user), sql.Literal(verifier(conn, user, new_password()))
        )
    )

"""A tiny WSGI app (no framework) served by gunicorn: `gunicorn app:application`.

- GET /healthz -> 200 "ok" when the database answers, 503 otherwise (the ALB health check).
- GET /        -> the number of notes, proving the schema the migrations created is there.
The database URL comes from DATABASE_URL (SQLAlchemy or libpq form both work).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

import psycopg

StartResponse = Callable[..., Any]


def _conninfo() -> str:
    url = os.environ["DATABASE_URL"]
    # Alembic/SQLAlchemy want "postgresql+psycopg://"; libpq only knows "postgresql://".
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _respond(start_response: StartResponse, status: str, body: str) -> Iterable[bytes]:
    data = body.encode()
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
    return [data]


def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    path = environ.get("PATH_INFO", "/")
    try:
        with psycopg.connect(_conninfo(), connect_timeout=2) as conn:
            if path == "/healthz":
                conn.execute("SELECT 1")
                return _respond(start_response, "200 OK", "ok\n")
            if path == "/":
                row = conn.execute("SELECT count(*) FROM notes").fetchone()
                return _respond(start_response, "200 OK", f"notes: {row[0] if row else 0}\n")
    except psycopg.Error as exc:
        return _respond(
            start_response, "503 Service Unavailable", f"database unavailable: {type(exc).__name__}\n"
        )
    return _respond(start_response, "404 Not Found", "not found\n")

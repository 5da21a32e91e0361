"""Privileges of workload logins: a migration login owns its schema (DDL), an app login gets DML only."""

from __future__ import annotations

import psycopg
from psycopg import sql

from scripts.dblogins.model import slot_names


def migrator_ok(conn: psycopg.Connection, username: str, schema: str, dbname: str) -> bool:
    row = conn.execute(
        "SELECT has_database_privilege(%(u)s, %(db)s, 'CONNECT'),"
        " (SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = %(s)s) = %(u)s",
        {"u": username, "db": dbname, "s": schema},
    ).fetchone()
    return bool(row and all(row))


def app_ok(conn: psycopg.Connection, username: str, schema: str, owner: str, dbname: str) -> bool:
    """CONNECT, USAGE without CREATE, and DML on what `owner` (the migration login) creates later."""
    if conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone() is None:
        return False
    row = conn.execute(
        "SELECT has_database_privilege(%(u)s, %(db)s, 'CONNECT'),"
        " has_schema_privilege(%(u)s, %(s)s, 'USAGE'),"
        " NOT has_schema_privilege(%(u)s, %(s)s, 'CREATE'),"
        " EXISTS (SELECT 1 FROM pg_default_acl d JOIN pg_namespace n ON n.oid = d.defaclnamespace"
        "   WHERE n.nspname = %(s)s AND d.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = %(o)s)"
        "   AND d.defaclobjtype = 'r' AND array_to_string(d.defaclacl, ',') LIKE %(acl)s)",
        {"u": username, "db": dbname, "s": schema, "o": owner, "acl": f"%{username}=arwd/%"},
    ).fetchone()
    return bool(row and all(row)) and _search_paths_ok(conn, username, schema)


def _search_paths_ok(conn: psycopg.Connection, username: str, schema: str) -> bool:
    """The login and its existing rotation slots start in `schema` (a slot copies the setting
    when created, so a changed schema — the shared-schema upgrade, ADR 0027 — must reach it too)."""
    rows = conn.execute(
        "SELECT r.rolname, coalesce(array_to_string(s.setconfig, ','), '') FROM pg_roles r"
        " LEFT JOIN pg_db_role_setting s ON s.setrole = r.oid AND s.setdatabase = 0"
        " WHERE r.rolname = ANY(%s)",
        ([username, *slot_names(username)],),
    ).fetchall()
    return all(f"search_path={schema}" in str(config).split(",") for _, config in rows)


def _existing_slots(conn: psycopg.Connection, username: str) -> list[str]:
    rows = conn.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", (list(slot_names(username)),))
    return [str(name) for (name,) in rows.fetchall()]


def privileges_ok(conn: psycopg.Connection, kind: str, username: str, schema: str, owner: str, dbname: str) -> bool:
    if kind == "migration":
        return migrator_ok(conn, username, schema, dbname)
    return app_ok(conn, username, schema, owner, dbname)


def grant_statements(kind: str, username: str, schema: str, owner: str, dbname: str) -> list[sql.Composed]:
    """What `privileges_ok` checks, as statements; `owner`: the workload's migration login."""
    u, s, o, db = (sql.Identifier(x) for x in (username, schema, owner, dbname))
    if kind == "migration":
        return [
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(db, u),
            # RDS masters are not superusers: they must be members of a role to give it a schema.
            sql.SQL("GRANT {} TO CURRENT_USER").format(u),
            sql.SQL("CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION {}").format(s, u),
            sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(s, u),
            sql.SQL("ALTER ROLE {} SET search_path = {}").format(u, s),
        ]
    return [
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(db, u),
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(s, u),
        sql.SQL("REVOKE CREATE ON SCHEMA {} FROM {}").format(s, u),
        sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {} TO {}").format(s, u),
        sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {} TO {}").format(s, u),
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {}"
        ).format(o, s, u),
        sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT USAGE, SELECT ON SEQUENCES TO {}").format(
            o, s, u
        ),
        sql.SQL("ALTER ROLE {} SET search_path = {}").format(u, s),
    ]


def grant(conn: psycopg.Connection, kind: str, username: str, schema: str, owner: str, dbname: str) -> None:
    """All of the login's grants in one transaction; an app login's slots follow its search_path."""
    with conn.transaction():
        for statement in grant_statements(kind, username, schema, owner, dbname):
            conn.execute(statement)
        if kind != "migration":
            for slot in _existing_slots(conn, username):
                conn.execute(
                    sql.SQL("ALTER ROLE {} SET search_path = {}").format(sql.Identifier(slot), sql.Identifier(schema))
                )

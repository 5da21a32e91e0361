"""Alembic environment: DATABASE_URL, online mode only, under a Postgres advisory lock.

Two runners must never migrate the same database at once (a retried deploy, two CI pipelines,
a laptop and CI). The platform's runners refuse a second migration of the same service, but
they cannot see each other across machines; the database can. So the whole upgrade runs while
holding `pg_advisory_lock(MIGRATION_LOCK_KEY)` on the migration connection: a second runner
waits, then finds the schema already at head and does nothing.
"""

from __future__ import annotations

import logging
import os

from alembic import context
from sqlalchemy import create_engine, pool, text

# A fixed, project-specific key (any bigint); every migration of this database uses the same one.
MIGRATION_LOCK_KEY = 7_205_481_337

log = logging.getLogger("alembic.env")
config = context.config
if config.config_file_name is not None:
    from logging.config import fileConfig

    fileConfig(config.config_file_name)


def database_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        raise SystemExit("DATABASE_URL is not set; the migration runner provides it")
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]  # psycopg 3 driver
    return url


def run_migrations_online() -> None:
    engine = create_engine(database_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        got = connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY}).scalar()
        if not got:
            log.info("another migration holds the migration lock; waiting for it to finish")
            connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
        connection.commit()  # end the implicit transaction; the session-level lock stays held
        log.info("acquired the migration lock")
        try:
            context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
            connection.commit()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) mode is not supported: the advisory lock needs a live database")
run_migrations_online()

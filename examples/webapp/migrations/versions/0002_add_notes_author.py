"""Add notes.author — the "expand" step: nullable, so the running version keeps working.

The old code inserts notes without an author; a NOT NULL column without a default would break
it during the rolling deploy. A later "contract" migration (after every task runs the new code
and old rows are backfilled) may make it NOT NULL.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("notes", sa.Column("author", sa.Text, nullable=True))


def downgrade() -> None:
    op.drop_column("notes", "author")

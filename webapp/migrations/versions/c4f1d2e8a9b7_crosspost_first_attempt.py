"""Crosspost first attempt: when a row's first attempt began.

A retry looks on the server for a status an unanswered attempt made; only a status made after
the first attempt began can be one, so an older status with the same link is never adopted.

Revision ID: c4f1d2e8a9b7
Revises: fd98b592360e
Create Date: 2026-12-06 14:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c4f1d2e8a9b7'
down_revision = 'fd98b592360e'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('crosspost', sa.Column('first_attempt_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    # A plain DROP COLUMN (SQLite 3.35+): a batch rebuild would reflect post's expression index.
    op.drop_column('crosspost', 'first_attempt_at')

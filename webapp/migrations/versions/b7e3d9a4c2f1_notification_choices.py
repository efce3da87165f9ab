"""Notification choices: when each kind of email was turned on, on the account.

Revision ID: b7e3d9a4c2f1
Revises: c4e8a2f6d913
Create Date: 2026-12-06 18:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7e3d9a4c2f1'
down_revision = 'c4e8a2f6d913'
branch_labels = None
depends_on = None

COLUMNS = ('notify_replies_since', 'notify_status_since', 'notify_rounds_since', 'notify_nudge_since')


def upgrade():
    for name in COLUMNS:
        op.add_column('user', sa.Column(name, sa.DateTime(timezone=True), nullable=True))


def downgrade():
    # Plain DROP COLUMN (SQLite 3.35+): a batch rebuild of user would drop its autoincrement.
    for name in reversed(COLUMNS):
        op.drop_column('user', name)

"""Crosspost first attempt: when a row's first attempt began.

A retry looks on the server for a status an unanswered attempt made; only a status made after
the first attempt began can be one, so an older status with the same link is never adopted.

Revision ID: c4f1d2e8a9b7
Revises: a7c4e9f1b2d3
Create Date: 2026-12-06 14:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c4f1d2e8a9b7'
down_revision = 'a7c4e9f1b2d3'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('crosspost', schema=None) as batch_op:
        batch_op.add_column(sa.Column('first_attempt_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('crosspost', schema=None) as batch_op:
        batch_op.drop_column('first_attempt_at')

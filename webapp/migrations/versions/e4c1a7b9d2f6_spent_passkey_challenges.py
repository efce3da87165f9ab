"""Spent passkey challenges: an answer counts once, whatever cookie carries it.

Revision ID: e4c1a7b9d2f6
Revises: b8e2f4a6c1d3
Create Date: 2026-12-06 19:05:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'e4c1a7b9d2f6'
down_revision = 'b8e2f4a6c1d3'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'spent_challenge',
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('spent_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('digest'),
    )
    with op.batch_alter_table('spent_challenge', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_spent_challenge_spent_at'), ['spent_at'], unique=False)


def downgrade():
    with op.batch_alter_table('spent_challenge', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_spent_challenge_spent_at'))
    op.drop_table('spent_challenge')

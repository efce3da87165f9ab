"""A claim's proof is checked again: when it last held, and when to check next.

Revision ID: a7c3e9d1b2f4
Revises: b5d2e8c4a913
Create Date: 2026-12-06 15:10:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'a7c3e9d1b2f4'
down_revision = 'b5d2e8c4a913'
branch_labels = None
depends_on = None


def upgrade():
    # Empty on walls claimed before: they are due at once, checked first.
    with op.batch_alter_table('business', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claim_checked_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('claim_next_check_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_business_claim_next_check_at'), ['claim_next_check_at'], unique=False)


def downgrade():
    # Plain DROP COLUMN (SQLite 3.35+): a batch rebuild would lose business's AUTOINCREMENT.
    op.drop_index(op.f('ix_business_claim_next_check_at'), table_name='business')
    op.drop_column('business', 'claim_next_check_at')
    op.drop_column('business', 'claim_checked_at')

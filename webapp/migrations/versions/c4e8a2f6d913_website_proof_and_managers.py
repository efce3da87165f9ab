"""A claim proven by the business's website, and managers an owner lets in.

Revision ID: c4e8a2f6d913
Revises: e1a5c7d9b3f2
Create Date: 2026-12-06 15:40:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'c4e8a2f6d913'
down_revision = 'e1a5c7d9b3f2'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('business', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claim_proof', sa.String(length=20), nullable=True))
    # Every claim made before was proven on Mastodon.
    op.execute("UPDATE business SET claim_proof = 'mastodon' WHERE owner_id IS NOT NULL")
    op.create_table(
        'business_manager',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('business_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['business_id'], ['business.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['user.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('business_id', 'user_id'),
    )
    with op.batch_alter_table('business_manager', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_business_manager_business_id'), ['business_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_business_manager_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('business_manager', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_business_manager_user_id'))
        batch_op.drop_index(batch_op.f('ix_business_manager_business_id'))
    op.drop_table('business_manager')
    # Plain DROP COLUMN (SQLite 3.35+): a batch rebuild would lose business's AUTOINCREMENT.
    op.drop_column('business', 'claim_proof')

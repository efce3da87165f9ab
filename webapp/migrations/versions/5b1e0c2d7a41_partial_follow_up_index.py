"""Follow-up index: only praise that follows up a complaint is indexed by fixes_id.

An index that is almost all NULLs tells SQLite's planner that fixes_id is worthless, so finding
the praise that followed a page of complaints walked every praise post instead.

Revision ID: 5b1e0c2d7a41
Revises: 64e9ab1199ae
Create Date: 2026-12-04 11:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5b1e0c2d7a41'
down_revision = '64e9ab1199ae'
branch_labels = None
depends_on = None

FOLLOW_UPS = sa.text('fixes_id IS NOT NULL')


def upgrade():
    op.drop_index('ix_post_fixes_id', table_name='post')
    op.create_index(
        'ix_post_fixes_id', 'post', ['fixes_id'], unique=False,
        sqlite_where=FOLLOW_UPS, postgresql_where=FOLLOW_UPS,
    )


def downgrade():
    op.drop_index('ix_post_fixes_id', table_name='post')
    op.create_index('ix_post_fixes_id', 'post', ['fixes_id'], unique=False)

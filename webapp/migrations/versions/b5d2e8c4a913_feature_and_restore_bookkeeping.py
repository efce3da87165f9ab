"""Post featured_by_id and restored_at.

featured_by_id names the wall whose owner featured the post, so a feature shows only there: a
post moved to another business no longer shows as featured by it. Features made so far were
made by the post's own business, which is what the upgrade records for them.

restored_at is when an admin last restored a reported post. Reports filed before then were
answered by that decision, so only later ones count toward hiding the post again once its
author has edited it.

Revision ID: b5d2e8c4a913
Revises: c4f1d2e8a9b7
Create Date: 2026-12-06 15:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b5d2e8c4a913'
down_revision = 'c4f1d2e8a9b7'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMNs: a batch rebuild would drop post's AUTOINCREMENT on SQLite.
    op.add_column('post', sa.Column('featured_by_id', sa.Integer(), nullable=True))
    op.add_column('post', sa.Column('restored_at', sa.DateTime(timezone=True), nullable=True))
    op.execute('UPDATE post SET featured_by_id = business_id WHERE featured_at IS NOT NULL')


def downgrade():
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+), for the same reason.
    op.drop_column('post', 'restored_at')
    op.drop_column('post', 'featured_by_id')

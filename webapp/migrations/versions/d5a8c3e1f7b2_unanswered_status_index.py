"""Unanswered statuses: a business's statuses still waiting for its answer, indexed on their own.

The wall's "Unanswered" tab walked every praise of a business to find the few whose status it
has not answered; this index holds only those, by business.

Revision ID: d5a8c3e1f7b2
Revises: c3f8a1d5e7b9
Create Date: 2026-12-07 01:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd5a8c3e1f7b2'
down_revision = 'c3f8a1d5e7b9'
branch_labels = None
depends_on = None

# As webapp/models.py writes them: each as its dialect writes the query's conditions.
SQLITE = sa.text('sent_at IS NOT NULL AND mention_resolved IS 1 AND replied_at IS NULL')
POSTGRESQL = sa.text('sent_at IS NOT NULL AND mention_resolved IS true AND replied_at IS NULL')


def upgrade():
    op.create_index(
        'ix_crosspost_business_unanswered', 'crosspost', ['business_id', 'post_id'],
        unique=False, sqlite_where=SQLITE, postgresql_where=POSTGRESQL,
    )


def downgrade():
    op.drop_index('ix_crosspost_business_unanswered', table_name='crosspost')

"""Replies by network: a business's replies on each network, counted as its other numbers are.

A wall showed how many of the business's replies came on each network by counting them all on
every view; the count is kept on a row per network instead, worked out here from the posts.

Revision ID: e8b4d1f6a3c7
Revises: d5a8c3e1f7b2
Create Date: 2026-12-07 01:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e8b4d1f6a3c7'
down_revision = 'd5a8c3e1f7b2'
branch_labels = None
depends_on = None

# As webapp/services/stats.py counts `replied`: replies to the public posts' sent statuses
# that named the business.
BACKFILL = """
INSERT INTO business_network (business_id, network, replied)
SELECT post.business_id, crosspost.network, count(*)
FROM crosspost JOIN post ON crosspost.post_id = post.id
WHERE post.is_on_wall = true AND post.moderation IN ('ok', 'restored')
  AND crosspost.sent_at IS NOT NULL AND crosspost.mention_resolved = true
  AND crosspost.replied_at IS NOT NULL
GROUP BY post.business_id, crosspost.network
"""


def upgrade():
    op.create_table('business_network',
    sa.Column('business_id', sa.Integer(), nullable=False),
    sa.Column('network', sa.String(length=20), nullable=False),
    sa.Column('replied', sa.Integer(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['business_id'], ['business.id'], name=op.f('fk_business_network_business_id_business'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('business_id', 'network', name=op.f('pk_business_network'))
    )
    op.execute(BACKFILL)


def downgrade():
    op.drop_table('business_network')

"""A Mastodon server's handle domain: the domain in its people's handles, as it says itself.

Revision ID: fd98b592360e
Revises: 6c074c50fe3a
Create Date: 2026-12-06 14:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'fd98b592360e'
down_revision = '6c074c50fe3a'
branch_labels = None
depends_on = None


def upgrade():
    # Empty on existing rows: read at the next refresh, or at the next sign-in if sooner.
    with op.batch_alter_table('mastodon_server', schema=None) as batch_op:
        batch_op.add_column(sa.Column('handle_domain', sa.String(length=300), nullable=True))


def downgrade():
    with op.batch_alter_table('mastodon_server', schema=None) as batch_op:
        batch_op.drop_column('handle_domain')

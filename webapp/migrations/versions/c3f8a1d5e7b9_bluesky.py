"""Bluesky: connected accounts, a business's Bluesky handle, one status per post per network.

Every person's compose switches start on, as Mastodon's was before.

Revision ID: c3f8a1d5e7b9
Revises: e6b3a9d4c2f7
Create Date: 2026-12-06 21:30:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'c3f8a1d5e7b9'
down_revision = 'e6b3a9d4c2f7'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'bluesky_account',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('did', sa.String(length=255), nullable=False),
        sa.Column('handle', sa.String(length=253), nullable=False),
        sa.Column('pds_url', sa.String(length=300), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('issuer', sa.String(length=300), nullable=True),
        sa.Column('access_token', sa.Text(), nullable=False),
        sa.Column('refresh_token', sa.Text(), nullable=True),
        sa.Column('dpop_key', sa.Text(), nullable=True),
        sa.Column('dpop_nonces', sa.Text(), nullable=True),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('token_version', sa.Integer(), server_default='0', nullable=False),
        sa.Column('scopes', sa.String(length=200), nullable=False),
        sa.Column('needs_login', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['user_id'], ['user.id'], name=op.f('fk_bluesky_account_user_id_user'),
            ondelete='SET NULL',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_bluesky_account')),
        sa.UniqueConstraint('did', name=op.f('uq_bluesky_account_did')),
        sa.UniqueConstraint('user_id', name=op.f('uq_bluesky_account_user_id')),
        sqlite_autoincrement=True,
    )
    # Plain ADD COLUMN and CREATE INDEX: a batch rebuild would reflect post's expression index
    # and lose the tables' AUTOINCREMENT.
    op.add_column('business', sa.Column('bluesky_handle', sa.String(length=253), nullable=True))
    op.create_index('uq_crosspost_post_network', 'crosspost', ['post_id', 'network'], unique=True)
    op.add_column(
        'user',
        sa.Column('post_to_mastodon', sa.Boolean(), server_default=sa.true(), nullable=False),
    )
    op.add_column(
        'user',
        sa.Column('post_to_bluesky', sa.Boolean(), server_default=sa.true(), nullable=False),
    )


def downgrade():
    # Before this revision every crosspost went to Mastodon: a Bluesky row has no place there.
    op.execute("DELETE FROM crosspost WHERE network = 'bluesky'")
    op.drop_column('user', 'post_to_bluesky')
    op.drop_column('user', 'post_to_mastodon')
    op.drop_index('uq_crosspost_post_network', table_name='crosspost')
    op.drop_column('business', 'bluesky_handle')
    op.drop_table('bluesky_account')

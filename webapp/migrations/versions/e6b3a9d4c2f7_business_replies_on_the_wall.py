"""Businesses answer on their own wall: one public reply under a post, counted in its numbers.

Answers on the wall count with replies on Mastodon: the new counters start equal to the
Mastodon ones, as no post has been answered on a wall yet.

Revision ID: e6b3a9d4c2f7
Revises: e4c1a7b9d2f6
Create Date: 2026-12-06 19:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'e6b3a9d4c2f7'
down_revision = 'e4c1a7b9d2f6'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'business_reply',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('post_id', sa.Integer(), nullable=False),
        sa.Column('business_id', sa.Integer(), nullable=False),
        sa.Column('author_id', sa.Integer(), nullable=True),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('edited_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('seen_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('moderation', sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ['post_id'], ['post.id'], name='fk_business_reply_post_id_post', ondelete='CASCADE'
        ),
        sa.ForeignKeyConstraint(
            ['business_id'], ['business.id'], name='fk_business_reply_business_id_business',
            ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['author_id'], ['user.id'], name='fk_business_reply_author_id_user',
            ondelete='SET NULL',
        ),
        sa.PrimaryKeyConstraint('id', name='pk_business_reply'),
        sa.UniqueConstraint('post_id', name='uq_business_reply_post_id'),
    )
    op.create_index('ix_business_reply_business_id', 'business_reply', ['business_id'])
    op.create_index('ix_business_reply_author_id', 'business_reply', ['author_id'])
    op.create_table(
        'reply_report',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('reply_id', sa.Integer(), nullable=False),
        sa.Column('reporter_id', sa.Integer(), nullable=False),
        sa.Column('reason', sa.String(length=32), nullable=False),
        sa.Column('detail', sa.String(length=500), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['reply_id'], ['business_reply.id'], name='fk_reply_report_reply_id_business_reply',
            ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['reporter_id'], ['user.id'], name='fk_reply_report_reporter_id_user',
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name='pk_reply_report'),
        sa.UniqueConstraint('reply_id', 'reporter_id', name='uq_reply_report_once'),
    )
    op.create_index('ix_reply_report_reply_id', 'reply_report', ['reply_id'])
    op.create_index('ix_reply_report_reporter_id', 'reply_report', ['reporter_id'])
    for name in ('askable_count', 'answered_count', 'wall_replied_count'):
        op.add_column(
            'business', sa.Column(name, sa.Integer(), server_default='0', nullable=False)
        )
    op.execute('UPDATE business SET askable_count = mentioned_count, answered_count = replied_count')


def downgrade():
    # Plain DROP COLUMN (SQLite 3.35+): a batch rebuild would lose business's AUTOINCREMENT.
    for name in ('wall_replied_count', 'answered_count', 'askable_count'):
        op.drop_column('business', name)
    op.drop_index('ix_reply_report_reporter_id', table_name='reply_report')
    op.drop_index('ix_reply_report_reply_id', table_name='reply_report')
    op.drop_table('reply_report')
    op.drop_index('ix_business_reply_author_id', table_name='business_reply')
    op.drop_index('ix_business_reply_business_id', table_name='business_reply')
    op.drop_table('business_reply')

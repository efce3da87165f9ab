"""Email addresses on accounts, password reset counters, and the mail outbox.

Revision ID: e1a5c7d9b3f2
Revises: a7c3e9d1b2f4
Create Date: 2026-12-06 15:30:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'e1a5c7d9b3f2'
down_revision = 'a7c3e9d1b2f4'
branch_labels = None
depends_on = None

# SQLite rebuilds user to drop a column: without this, a deleted account's id would return.
KEEP_AUTOINCREMENT = {'sqlite_autoincrement': True}


def upgrade():
    with op.batch_alter_table('user', schema=None, table_kwargs=KEEP_AUTOINCREMENT) as batch_op:
        batch_op.add_column(sa.Column('email', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('new_email', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('reset_counter', sa.Integer(), server_default='0', nullable=False))
        batch_op.create_index(batch_op.f('ix_user_email'), ['email'], unique=False)

    op.create_table(
        'mail_message',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('to_address', sa.String(length=254), nullable=False),
        sa.Column('subject', sa.String(length=200), nullable=False),
        sa.Column('body_encrypted', sa.Text(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_error', sa.String(length=500), nullable=True),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['user.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('key'),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table('mail_message', schema=None) as batch_op:
        batch_op.create_index('ix_mail_message_due', ['state', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_mail_message_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('mail_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mail_message_user_id'))
        batch_op.drop_index('ix_mail_message_due')
    op.drop_table('mail_message')
    with op.batch_alter_table('user', schema=None, table_kwargs=KEEP_AUTOINCREMENT) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_email'))
        batch_op.drop_column('reset_counter')
        batch_op.drop_column('new_email')
        batch_op.drop_column('email')

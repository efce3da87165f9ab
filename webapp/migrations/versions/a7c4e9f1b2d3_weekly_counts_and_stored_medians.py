"""Weekly counts and stored medians: a wall's trend and medians cost the same at any size.

business_week holds each business's public praise and complaints per ISO week, and the business
row keeps its median time to resolve and to reply, so the wall reads a dozen rows instead of
counting and sorting thousands of posts.

Revision ID: a7c4e9f1b2d3
Revises: 5b1e0c2d7a41
Create Date: 2026-12-04 12:00:00.000000

"""
import statistics
from datetime import UTC, timedelta

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a7c4e9f1b2d3'
down_revision = '5b1e0c2d7a41'
branch_labels = None
depends_on = None

SAMPLE = 500  # the latest resolutions and replies a median is taken over
BATCH = 5000
PUBLIC = "post.is_on_wall = true AND post.moderation IN ('ok', 'restored')"


def upgrade():
    op.create_table('business_week',
    sa.Column('business_id', sa.Integer(), nullable=False),
    sa.Column('week', sa.Date(), nullable=False),
    sa.Column('praise', sa.Integer(), server_default='0', nullable=False),
    sa.Column('complaints', sa.Integer(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['business_id'], ['business.id'], name=op.f('fk_business_week_business_id_business'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('business_id', 'week', name=op.f('pk_business_week'))
    )
    with op.batch_alter_table('business', schema=None) as batch_op:
        batch_op.add_column(sa.Column('median_resolve_days', sa.Double(), nullable=True))
        batch_op.add_column(sa.Column('median_reply_seconds', sa.Double(), nullable=True))
    backfill_weeks()
    backfill_medians()


def downgrade():
    op.drop_table('business_week')
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): rebuilding the table, as batch mode
    # does, would delete its rows under the posts' foreign keys.
    op.drop_column('business', 'median_reply_seconds')
    op.drop_column('business', 'median_resolve_days')


def utc(moment):
    """Read a stored time as UTC (SQLite keeps no zone)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def backfill_weeks():
    """Count every business's public praise and complaints per week."""
    conn = op.get_bind()
    post = sa.table(
        'post', sa.column('business_id', sa.Integer), sa.column('kind', sa.String),
        sa.column('created_at', sa.DateTime(timezone=True)),
    )
    rows = conn.execute(
        sa.select(post.c.business_id, post.c.kind, post.c.created_at).where(sa.text(PUBLIC)),
        execution_options={'yield_per': BATCH},
    )
    weeks = {}
    for business_id, kind, created in rows:
        day = utc(created).date()
        counts = weeks.setdefault((business_id, day - timedelta(days=day.weekday())), [0, 0])
        counts[0 if kind == 'praise' else 1] += 1
    table = sa.table(
        'business_week', sa.column('business_id', sa.Integer), sa.column('week', sa.Date),
        sa.column('praise', sa.Integer), sa.column('complaints', sa.Integer),
    )
    values = [
        {'business_id': b, 'week': w, 'praise': p, 'complaints': c}
        for (b, w), (p, c) in weeks.items()
    ]
    for n in range(0, len(values), BATCH):
        conn.execute(table.insert(), values[n : n + BATCH])


def latest_spans(sql):
    """Return each business's latest SAMPLE spans in seconds, from rows sorted newest first."""
    spans = {}
    for business_id, start, end in op.get_bind().execute(
        sa.text(sql).columns(
            sa.column('business_id', sa.Integer),
            sa.column('start', sa.DateTime(timezone=True)),
            sa.column('end', sa.DateTime(timezone=True)),
        ),
        execution_options={'yield_per': BATCH},
    ):
        found = spans.setdefault(business_id, [])
        if len(found) < SAMPLE:
            found.append((utc(end) - utc(start)).total_seconds())
    return spans


def backfill_medians():
    """Work out every business's median time to resolve and to reply."""
    resolves = latest_spans(
        'SELECT post.business_id, post.created_at, post.resolved_at FROM post '
        f"WHERE {PUBLIC} AND post.kind = 'complaint' AND post.complaint_status = 'resolved' "
        'AND post.resolved_at IS NOT NULL ORDER BY post.business_id, post.resolved_at DESC'
    )
    replies = latest_spans(
        'SELECT post.business_id, crosspost.sent_at, crosspost.replied_at FROM crosspost '
        f'JOIN post ON post.id = crosspost.post_id WHERE {PUBLIC} '
        'AND crosspost.replied_at IS NOT NULL AND crosspost.sent_at IS NOT NULL '
        'AND crosspost.mention_resolved = true '
        'ORDER BY post.business_id, crosspost.replied_at DESC'
    )
    business = sa.table(
        'business', sa.column('id', sa.Integer), sa.column('median_resolve_days', sa.Float),
        sa.column('median_reply_seconds', sa.Float),
    )
    values = [
        {
            'b_id': business_id,
            'days': statistics.median(resolves[business_id]) / 86400 if business_id in resolves else None,
            'reply': statistics.median(replies[business_id]) if business_id in replies else None,
        }
        for business_id in set(resolves) | set(replies)
    ]
    if values:
        op.get_bind().execute(
            business.update()
            .where(business.c.id == sa.bindparam('b_id'))
            .values(median_resolve_days=sa.bindparam('days'), median_reply_seconds=sa.bindparam('reply')),
            values,
        )

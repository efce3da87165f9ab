"""Ids never reused: posts, businesses, crossposts and API tokens get AUTOINCREMENT on SQLite.

Without it SQLite hands out the highest id again once its row is deleted, so a deleted post's
permalink (in Mastodon statuses, feeds and shared links) would show someone else's words. A
batch rebuild of post in f90d37db30b4 dropped it. PostgreSQL's sequences never hand out an id
twice, so there is nothing to do there.

Each table is rebuilt from its own stored definition, with every row, index (partial and
expression ones too) and foreign key kept; env.py turns foreign keys off around it and checks
them after.

Revision ID: 6c074c50fe3a
Revises: a7c4e9f1b2d3
Create Date: 2026-12-06 14:40:00.000000

"""
import re

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '6c074c50fe3a'
down_revision = 'a7c4e9f1b2d3'
branch_labels = None
depends_on = None

TABLES = ('post', 'business', 'crosspost', 'api_token')
PERMALINK = re.compile(r'/posts/(\d+)(?:[/?#]|$)')


def upgrade():
    conn = op.get_bind()
    if conn.dialect.name != 'sqlite':
        return
    if conn.exec_driver_sql('PRAGMA foreign_keys').scalar():
        raise RuntimeError('rebuilding tables needs foreign keys off (see env.py)')
    for table in TABLES:
        add_autoincrement(conn, table)
        remember_highest_id(conn, table, highest_id_seen(conn, table))


def downgrade():
    # AUTOINCREMENT only stops ids from being reused; earlier code works the same with it,
    # and taking it away would let a deleted post's permalink name a new post again.
    pass


def add_autoincrement(conn, table):
    """Rebuild the table with an AUTOINCREMENT id, keeping its rows, indexes and triggers."""
    create = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).scalar_one()
    if re.search(r'\bAUTOINCREMENT\b', create, re.IGNORECASE):
        return
    body = create[create.index('('):]
    body, columns = re.subn(
        r'(\(\s*id INTEGER NOT NULL)(?=,)', r'\1 PRIMARY KEY AUTOINCREMENT', body
    )
    body, keys = re.subn(r',\s*(CONSTRAINT \S+ )?PRIMARY KEY \(id\)', '', body)
    if (columns, keys) != (1, 1):
        raise RuntimeError(f'unexpected definition of {table}: {create}')
    extras = [
        sql for (sql,) in conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND type IN ('index', 'trigger') "
            'AND sql IS NOT NULL',
            (table,),
        )
    ]
    names = ', '.join(
        f'"{row[1]}"' for row in conn.exec_driver_sql(f'PRAGMA table_info("{table}")')
    )
    conn.exec_driver_sql(f'CREATE TABLE "_new_{table}" {body}')
    conn.exec_driver_sql(f'INSERT INTO "_new_{table}" ({names}) SELECT {names} FROM "{table}"')
    conn.exec_driver_sql(f'DROP TABLE "{table}"')
    conn.exec_driver_sql(f'ALTER TABLE "_new_{table}" RENAME TO "{table}"')
    for sql in extras:
        conn.exec_driver_sql(sql)


def highest_id_seen(conn, table):
    """Return the highest id the table's rows ever had, as far as any trace of it is left.

    Deleted rows can still be named by the audit log and, for posts, by the links in
    crossposts kept until their statuses are deleted on Mastodon.
    """
    seen = [
        conn.execute(sa.text(f'SELECT max(id) FROM "{table}"')).scalar(),
        conn.execute(
            sa.text('SELECT max(target_id) FROM audit_entry WHERE target_type = :table'),
            {'table': table},
        ).scalar(),
    ]
    if table == 'post':
        for (url,) in conn.execute(sa.text('SELECT post_url FROM crosspost')):
            found = PERMALINK.search(url or '')
            seen.append(int(found.group(1)) if found else None)
    return max((n for n in seen if n is not None), default=0)


def remember_highest_id(conn, table, highest):
    """Make the next id come after the highest one ever seen."""
    current = conn.execute(
        sa.text('SELECT seq FROM sqlite_sequence WHERE name = :table'), {'table': table}
    ).scalar()
    if current is not None and current >= highest:
        return
    conn.execute(sa.text('DELETE FROM sqlite_sequence WHERE name = :table'), {'table': table})
    conn.execute(
        sa.text('INSERT INTO sqlite_sequence (name, seq) VALUES (:table, :seq)'),
        {'table': table, 'seq': highest},
    )

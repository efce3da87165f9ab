"""Crossposts name their network: a network column, and an account id without a foreign key.

Each network keeps its connected accounts in a table of its own (mastodon_account for
Mastodon), so crosspost.account_id names a row of the table its network says and can no longer
be a foreign key to one of them. Every existing crosspost went to Mastodon, so it says so.

On SQLite the crosspost table is rebuilt from its own stored definition without that foreign
key, keeping every row, index, AUTOINCREMENT and the ids already used; env.py turns foreign
keys off around it and checks them after.

Revision ID: b8e2f4a6c1d3
Revises: 7d2f4b8e1c65
Create Date: 2026-12-06 17:50:00.000000

"""
import re

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b8e2f4a6c1d3'
down_revision = '7d2f4b8e1c65'
branch_labels = None
depends_on = None

ACCOUNT_KEY = 'fk_crosspost_account_id_mastodon_account'
ACCOUNT_KEY_SQL = (
    f'CONSTRAINT {ACCOUNT_KEY} FOREIGN KEY(account_id) REFERENCES mastodon_account (id) '
    'ON DELETE SET NULL'
)


def upgrade():
    conn = op.get_bind()
    if conn.dialect.name == 'sqlite':
        rebuild(conn, 'crosspost', without_account_key)
    else:
        op.drop_constraint(ACCOUNT_KEY, 'crosspost', type_='foreignkey')
    op.add_column(
        'crosspost',
        sa.Column('network', sa.String(length=20), server_default='mastodon', nullable=False),
    )


def downgrade():
    conn = op.get_bind()
    # Before this revision every crosspost went to Mastodon: a row of another network has no
    # place there, and an account id must name a Mastodon connection that still exists.
    op.execute("DELETE FROM crosspost WHERE network <> 'mastodon'")
    op.execute(
        'UPDATE crosspost SET account_id = NULL WHERE account_id IS NOT NULL AND account_id '
        'NOT IN (SELECT id FROM mastodon_account)'
    )
    # A plain DROP COLUMN (SQLite 3.35+): a batch rebuild would reflect post's expression index.
    op.drop_column('crosspost', 'network')
    if conn.dialect.name == 'sqlite':
        rebuild(conn, 'crosspost', with_account_key)
    else:
        op.create_foreign_key(
            ACCOUNT_KEY, 'crosspost', 'mastodon_account', ['account_id'], ['id'],
            ondelete='SET NULL',
        )


def without_account_key(create):
    """Return the table's definition without the foreign key from account_id."""
    changed, found = re.subn(r',\s*' + re.escape(ACCOUNT_KEY_SQL), '', create)
    if found != 1:
        raise RuntimeError(f'unexpected definition of crosspost: {create}')
    return changed


def with_account_key(create):
    """Return the table's definition with the foreign key from account_id to mastodon_account."""
    if ACCOUNT_KEY in create:
        return create
    end = create.rindex(')')
    return f'{create[:end].rstrip()}, \n\t{ACCOUNT_KEY_SQL}\n{create[end:]}'


def rebuild(conn, table, change):
    """Rebuild a SQLite table from its changed definition, keeping rows, indexes and ids used."""
    if conn.exec_driver_sql('PRAGMA foreign_keys').scalar():
        raise RuntimeError('rebuilding tables needs foreign keys off (see env.py)')
    create = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).scalar_one()
    body = change(create)[create.index('('):]
    extras = [
        sql for (sql,) in conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND type IN ('index', 'trigger') "
            'AND sql IS NOT NULL',
            (table,),
        )
    ]
    # Dropping the table forgets the highest id it handed out; a deleted row's id stays used.
    used = conn.exec_driver_sql(
        'SELECT seq FROM sqlite_sequence WHERE name = ?', (table,)
    ).scalar()
    names = ', '.join(
        f'"{row[1]}"' for row in conn.exec_driver_sql(f'PRAGMA table_info("{table}")')
    )
    conn.exec_driver_sql(f'CREATE TABLE "_new_{table}" {body}')
    conn.exec_driver_sql(f'INSERT INTO "_new_{table}" ({names}) SELECT {names} FROM "{table}"')
    conn.exec_driver_sql(f'DROP TABLE "{table}"')
    conn.exec_driver_sql(f'ALTER TABLE "_new_{table}" RENAME TO "{table}"')
    for sql in extras:
        conn.exec_driver_sql(sql)
    if used is not None:
        conn.exec_driver_sql('DELETE FROM sqlite_sequence WHERE name = ?', (table,))
        conn.exec_driver_sql(
            'INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)', (table, used)
        )

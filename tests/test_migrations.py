"""The migration chain builds the models' schema, keeps every row both ways, never reuses an id.

Users' databases are built by `flask db upgrade`, not by create_all(): these tests run the whole
chain on an empty database (SQLite, or a PostgreSQL database made for the test when
TEST_DATABASE_URL is set) and compare what it built with the models.
"""

from __future__ import annotations

import re
import secrets
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from conftest import TEST_DATABASE_URL, AuthActions
from flask import Flask
from helpers import page_text

from webapp import ROOT, audit, demo
from webapp.extensions import db
from webapp.infra import crypto, mail
from webapp.models import (
    BlueskyAccount,
    Business,
    BusinessManager,
    BusinessReply,
    Crosspost,
    MastodonServer,
    Passkey,
    Post,
    ReplyReport,
    SpentChallenge,
    User,
    utcnow,
)
from webapp.networks.mastodon import signin as connect
from webapp.services import (
    api_tokens,
    crosspost,
    moderation,
    posts,
    recovery_codes,
)

# Tables whose ids people see or that outlive their rows (links, queued work, the audit log).
NEVER_REUSED = {
    "user",
    "post",
    "business",
    "crosspost",
    "api_token",
    "mail_message",
    "passkey",
    "bluesky_account",
}
# Worked out again from the posts by the migrations that add them, so they come back the same.
DERIVED = {
    "business": {
        "praise_count",
        "complaint_count",
        "resolved_count",
        "rating_sum",
        "rating_count",
        "mentioned_count",
        "replied_count",
        "askable_count",
        "answered_count",
        "wall_replied_count",
        "median_resolve_days",
        "median_reply_seconds",
    },
    "business_word": {"business_id", "word"},
    "business_week": {"business_id", "week", "praise", "complaints"},
    "business_network": {"business_id", "network", "replied"},
}
FROM_CROSSPOSTS = {
    "mentioned_count",
    "replied_count",
    "askable_count",
    "answered_count",
    "median_reply_seconds",
}
# Tables the models read whenever a post or crosspost changes, made for a while in older databases.
COUNTED_TABLES = {"business_reply", "bluesky_account", "business_network"}
FROM_WALL_REPLIES = {"wall_replied_count"}
BEFORE_AUTOINCREMENT = "a7c4e9f1b2d3"  # the last revision whose post table lacks it
BEFORE_NETWORKS = "7d2f4b8e1c65"  # the last revision whose crossposts all went to Mastodon


def alembic_config() -> Config:
    """Return the migrations' settings, without the command line's logging set-up."""
    config = Config()
    config.set_main_option("script_location", str(ROOT / "webapp" / "migrations"))
    return config


def revisions() -> list[str]:
    """Return every revision, oldest first."""
    script = ScriptDirectory.from_config(alembic_config())
    return [revision.revision for revision in reversed(list(script.walk_revisions()))]


def migrate(direction: Callable, revision: str) -> None:
    """Upgrade or downgrade the current app's database, with no session holding it open."""
    db.session.remove()
    direction(alembic_config(), revision)


@contextmanager
def fresh_database(tmp_path: Path, name: str) -> Iterator[str]:
    """Yield the URL of a new, empty database: a SQLite file, or one made on PostgreSQL."""
    if not TEST_DATABASE_URL:
        yield f"sqlite:///{tmp_path / name}.db"
        return
    server = sa.create_engine(TEST_DATABASE_URL, isolation_level="AUTOCOMMIT")
    database = f"pw_migrations_{secrets.token_hex(4)}"
    with server.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{database}"')
    try:
        yield sa.make_url(TEST_DATABASE_URL).set(database=database).render_as_string(False)
    finally:
        with server.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        server.dispose()


@contextmanager
def app_on(make_app: Callable[..., Flask], url: str, revision: str = "head") -> Iterator[Flask]:
    """Yield an app, its context pushed, on a database the migrations built up to revision."""
    app = make_app(with_tables=False, SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        migrate(command.upgrade, revision)
        try:
            yield app
        finally:
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def migrated(make_app: Callable[..., Flask], tmp_path: Path) -> Iterator[Flask]:
    """Return an app on an empty database built by the migration chain alone."""
    with fresh_database(tmp_path, "chain") as url, app_on(make_app, url) as app:
        yield app


def normalized(sql: str) -> str:
    """Return DDL with its quoting and spacing evened out, so equal definitions compare equal."""
    sql = re.sub(r"\s+", " ", sql.replace('"', "")).strip()
    return re.sub(r"\(\s+", "(", re.sub(r"\s+\)", ")", sql))


def describe(conn: sa.Connection) -> dict[str, dict]:
    """Describe every table as the database itself reports it, down to index definitions."""
    inspector = sa.inspect(conn)
    sqlite = conn.dialect.name == "sqlite"
    tables = {}
    with warnings.catch_warnings():
        # Expression indexes can't be reflected; their stored definitions are compared below.
        warnings.simplefilter("ignore", sa.exc.SAWarning)
        names = [name for name in inspector.get_table_names() if name != "alembic_version"]
        for name in names:
            if sqlite:
                stored = conn.exec_driver_sql(
                    "SELECT type, sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL",
                    (name,),
                ).all()
                indexes = sorted(normalized(sql) for kind, sql in stored if kind == "index")
                (table_sql,) = [sql for kind, sql in stored if kind == "table"]
                autoincrement = "AUTOINCREMENT" in table_sql.upper()
            else:
                indexes = sorted(
                    normalized(sql)
                    for (sql,) in conn.exec_driver_sql(
                        "SELECT indexdef FROM pg_indexes WHERE tablename = %s", (name,)
                    )
                )
                autoincrement = None  # a sequence never hands out an id twice
            tables[name] = {
                "columns": {
                    column["name"]: (
                        str(column["type"].compile(conn.dialect)),
                        column["nullable"],
                        column.get("default"),
                    )
                    for column in inspector.get_columns(name)
                },
                "primary key": tuple(inspector.get_pk_constraint(name)["constrained_columns"]),
                "foreign keys": sorted(
                    (
                        key["name"],
                        tuple(key["constrained_columns"]),
                        key["referred_table"],
                        tuple(key["referred_columns"]),
                        tuple(sorted((key.get("options") or {}).items())),
                    )
                    for key in inspector.get_foreign_keys(name)
                ),
                "unique": sorted(
                    (unique["name"], tuple(unique["column_names"]))
                    for unique in inspector.get_unique_constraints(name)
                ),
                "checks": sorted(
                    (check["name"], normalized(check["sqltext"]))
                    for check in inspector.get_check_constraints(name)
                ),
                "indexes": indexes,
                "autoincrement": autoincrement,
            }
    return tables


def drift(conn: sa.Connection) -> list:
    """Return what Alembic's autogenerate would change to make the database match the models."""
    context = MigrationContext.configure(
        conn, opts={"compare_type": True, "compare_server_default": True}
    )
    with warnings.catch_warnings():
        # It skips expression indexes (compared by describe()) and says so.
        warnings.simplefilter("ignore")
        return compare_metadata(context, db.metadata)


def models_schema(tmp_path: Path) -> dict[str, dict]:
    """Describe the schema the models make, built by create_all() in a database of its own."""
    with fresh_database(tmp_path, "models") as url:
        engine = sa.create_engine(url)
        try:
            with engine.begin() as conn:
                db.metadata.create_all(conn)
            with engine.connect() as conn:
                return describe(conn)
        finally:
            engine.dispose()


def test_ids_that_are_shown_or_linked_are_never_reused():
    """The models ask SQLite for AUTOINCREMENT on exactly the tables whose ids must not return."""
    tables = db.metadata.sorted_tables
    assert {t.name for t in tables if t.dialect_options["sqlite"]["autoincrement"]} == NEVER_REUSED


def test_the_migration_chain_builds_exactly_the_models_schema(migrated, tmp_path):
    """Columns, types, defaults, keys, constraints, indexes and AUTOINCREMENT all match."""
    with db.engine.connect() as conn:
        assert drift(conn) == []
        built = describe(conn)
    wanted = models_schema(tmp_path)
    assert sorted(built) == sorted(wanted)
    for name in wanted:
        assert built[name] == wanted[name], name
    # The comparison sees what reflection alone would miss.
    indexes = " ".join(built["post"]["indexes"]).lower()
    assert re.search(r"where \(?fixes_id is not null", indexes)
    assert "coalesce(rating, 0)" in indexes
    if db.engine.dialect.name == "sqlite":
        assert {name for name in built if built[name]["autoincrement"]} == NEVER_REUSED


def fill() -> Post:
    """Fill the database as people would: demo data, Mastodon crossposts, tokens, a report.

    Returns the newest post, which was crossposted.
    """
    demo.fill(2026)
    newest = db.session.scalars(sa.select(Post).order_by(Post.id.desc())).first()
    poster = newest.author
    owner, reader = db.session.scalars(
        sa.select(User).where(User.id != poster.id).order_by(User.id).limit(2)
    ).all()
    server = MastodonServer(
        base_url="https://social.example",
        client_id=crypto.encrypt("client"),
        client_secret=crypto.encrypt("secret"),
        supports_pkce=True,
        max_characters=500,
        url_length=23,
    )
    db.session.add(server)
    account = connect.connect(
        poster, server, {"id": "7", "acct": "maria", "token": "token", "scopes": "read write"}
    )
    theirs = db.session.scalars(
        sa.select(Post).where(Post.author_id == poster.id).order_by(Post.id.desc()).limit(6)
    ).all()
    for n, post in enumerate(theirs):
        sent = crosspost.start(
            post,
            account,
            visibility="public",
            spoiler_text=None,
            post_url=f"https://praisewall.example/posts/{post.id}",
        )
        if n % 3 != 2:
            sent.state, sent.sent_at, sent.remote_id = "sent", post.created_at, f"{900 + n}"
            sent.mention_resolved = True
            sent.status_text = post.body
        if n % 3 == 1:
            sent.replied_at = post.created_at + timedelta(hours=n + 1)
            sent.reply_text = "Thank you, we passed it on."
    api_tokens.create(reader, "Phone shortcut")
    reader.email = "reader@example.com"
    if "mail_message" in columns_now():
        mail.queue("notice:1", reader.email, "Hello", "Hello.", "<p>Hello.</p>", reader)
    business = db.session.scalars(sa.select(Business).order_by(Business.id)).first()
    business.owner_id, business.claimed_at = owner.id, utcnow()
    business.claim_proof = "website"
    business.description = "Open every day."
    if sa.inspect(db.engine).has_table("business_manager"):  # not at older revisions
        db.session.add(BusinessManager(business_id=business.id, user_id=reader.id))
    if sa.inspect(db.engine).has_table("passkey"):  # not at older revisions
        db.session.add(
            Passkey(
                user_id=reader.id,
                credential_id="cGhvbmU",
                public_key=b"key",
                sign_count=3,
                user_handle="aGFuZGxl",
                name="Phone",
            )
        )
        recovery_codes.regenerate(reader)
    if sa.inspect(db.engine).has_table("spent_challenge"):  # not at older revisions
        db.session.add(SpentChallenge(digest="0" * 64, spent_at=utcnow()))
    if "bluesky_handle" in columns_now()["business"]:  # not at older revisions
        business.bluesky_handle = "shop.example"
        db.session.add(
            BlueskyAccount(
                user=owner,
                did="did:plc:ownerownerownerownerowne",
                handle="owner.example",
                pds_url="https://pds.example",
                issuer="https://pds.example",
                access_token=crypto.encrypt("access"),
                refresh_token=crypto.encrypt("refresh"),
                dpop_key=crypto.encrypt("{}"),
                scopes="atproto transition:generic",
            )
        )
    someone_elses = db.session.scalars(
        sa.select(Post).where(Post.author_id != reader.id).order_by(Post.id)
    ).first()
    someone_elses.featured_at, someone_elses.submission_key = utcnow(), "device-key-1"
    someone_elses.featured_by_id, someone_elses.restored_at = someone_elses.business_id, utcnow()
    moderation.report_post(someone_elses, reader, "spam", "Looks copied.", threshold=3)
    if sa.inspect(db.engine).has_table("business_reply"):  # not at older revisions
        # Answered on the wall after its Mastodon reply: the first answer, and so the median
        # reply time, stays the one older revisions work out from crossposts.
        answered = theirs[1]
        answer = BusinessReply(
            post_id=answered.id,
            business_id=answered.business_id,
            author_id=owner.id,
            body="Thank you, see you soon.",
            created_at=answered.crossposts[0].replied_at + timedelta(hours=1),
            edited_at=utcnow(),
        )
        db.session.add(answer)
        if sa.inspect(db.engine).has_table("reply_report"):
            db.session.add(ReplyReport(reply=answer, reporter=reader, reason="other"))
    audit.record(owner, "post.hide", someone_elses, was="ok")
    db.session.commit()
    assert newest.crossposts
    return newest


def columns_now() -> dict[str, set[str]]:
    """Return each table's columns as the database has them now."""
    with db.engine.connect() as conn:
        inspector = sa.inspect(conn)
        return {
            name: {column["name"] for column in inspector.get_columns(name)}
            for name in inspector.get_table_names()
            if name != "alembic_version"
        }


def rows(name: str) -> list[dict]:
    """Return every row of a table as a mapping."""
    with db.engine.connect() as conn:
        return conn.exec_driver_sql(f'SELECT * FROM "{name}"').mappings().all()


def in_order(rows: list, columns: set[str]) -> list[tuple]:
    """Return the rows' values of these columns, rows and columns in a stable order."""
    return sorted((tuple((c, row[c]) for c in sorted(columns)) for row in rows), key=repr)


def snapshot(kept: dict[str, set[str]] | None = None) -> dict[str, list[tuple]]:
    """Return every row of every table (or only these tables and columns), in a stable order."""
    kept = kept or columns_now()
    rows = {}
    with db.engine.connect() as conn:
        for name, columns in sorted(kept.items()):
            listed = ", ".join(f'"{column}"' for column in sorted(columns))
            found = conn.exec_driver_sql(f'SELECT {listed} FROM "{name}"').mappings().all()
            rows[name] = in_order(found, columns)
    return rows


def test_a_populated_database_goes_down_every_revision_and_back_without_losing_a_row(migrated):
    """From head down to each earlier revision and back up, every row that could stay is kept,
    and the schema (AUTOINCREMENT included) is the same again.

    What a revision's tables and columns hold comes back as it was; what the upgrades work out
    again from the posts (counters, weekly counts, medians, name words) comes back the same.
    """
    fill()
    with db.engine.connect() as conn:
        schema = describe(conn)
    before = {name: rows(name) for name in columns_now()}
    assert all(before.values()), "every table has rows"
    chain = revisions()
    for revision in reversed(chain[:-1]):
        migrate(command.downgrade, revision)
        kept = columns_now()
        for name, columns in DERIVED.items():
            kept[name] = kept.get(name, set()) | columns
        if "crosspost" not in kept:
            # Without crossposts nothing is left to count the replies from.
            kept["business"] -= FROM_CROSSPOSTS
            kept.pop("business_network")
        if "business_reply" not in kept:
            # The answers on walls went with their table: the counts of answers start again.
            kept["business"] -= FROM_WALL_REPLIES
        migrate(command.upgrade, "head")
        expected = {name: in_order(before[name], kept[name]) for name in kept}
        assert snapshot(kept) == expected, f"rows lost going down to {revision} and back"
        # After each round trip, not only the last: AUTOINCREMENT a downgrade drops stays lost.
        with db.engine.connect() as conn:
            assert describe(conn) == schema, f"schema changed going down to {revision} and back"


def write_another_post() -> Post:
    """Write a praise post as the first person about the first business, and return it."""
    post = Post(
        author=db.session.scalars(sa.select(User).order_by(User.id)).first(),
        business=db.session.scalars(sa.select(Business).order_by(Business.id)).first(),
        kind="praise",
        body="Another good visit.",
        happened_on=utcnow().date(),
        channel="in_person",
    )
    db.session.add(post)
    db.session.commit()
    return post


@contextmanager
def later_columns_added() -> Iterator[None]:
    """Let the models write to an older database: add the columns it lacks, drop them after.

    Plain ADD and DROP COLUMN leave the rest of each table as that revision built it.
    """
    have = columns_now()
    later = [
        (table.name, column)
        for table in db.metadata.sorted_tables
        if table.name in have
        for column in table.columns
        if column.name not in have[table.name]
    ]
    # Tables the counters read whenever a post changes, made for a while too.
    counted = [
        table
        for table in db.metadata.sorted_tables
        if table.name in COUNTED_TABLES and table.name not in have
    ]
    with db.engine.begin() as conn:
        for table, column in later:
            kind = column.type.compile(conn.dialect)
            conn.exec_driver_sql(f'ALTER TABLE "{table}" ADD COLUMN "{column.name}" {kind}')
        for table in counted:
            table.create(conn)
    try:
        yield
    finally:
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(counted):
                table.drop(conn)
            for table, column in later:
                conn.exec_driver_sql(f'ALTER TABLE "{table}" DROP COLUMN "{column.name}"')


def test_restoring_autoincrement_keeps_every_row_and_the_ids_already_used(make_app, tmp_path):
    """A database from before the fix upgrades with every row, and a deleted post's id stays used.

    The newest post was crossposted and then deleted while its status still links to it: the
    next post must not take that link over.
    """
    with fresh_database(tmp_path, "before") as url:
        with app_on(make_app, url, BEFORE_AUTOINCREMENT):
            with later_columns_added():
                newest = fill()
                gone = newest.id
                posts.delete_post(newest)
                db.session.commit()
            kept = columns_now()
            before = snapshot(kept)
            migrate(command.upgrade, "head")
            assert snapshot(kept) == before
            with db.engine.connect() as conn:
                assert describe(conn) == models_schema(tmp_path)
            assert write_another_post().id > gone


def test_crossposts_from_before_networks_go_to_mastodon_with_their_accounts(make_app, tmp_path):
    """Every crosspost made when Mastodon was the only network says so after the upgrade,
    keeps every value and its account, and a deleted crosspost's id stays used."""
    with fresh_database(tmp_path, "networks") as url:
        with app_on(make_app, url, BEFORE_NETWORKS):
            with later_columns_added():
                fill()
                gone = db.session.scalars(
                    sa.select(Crosspost).order_by(Crosspost.id.desc())
                ).first()
                gone_id = gone.id
                db.session.delete(gone)
                db.session.commit()
            kept = columns_now()
            before = snapshot(kept)
            migrate(command.upgrade, "head")
            assert snapshot(kept) == before
            assert {row["network"] for row in rows("crosspost")} == {"mastodon"}
            sent = db.session.scalars(sa.select(Crosspost).order_by(Crosspost.id)).all()
            assert sent and all(row.account.acct == "maria@social.example" for row in sent)
            with db.engine.connect() as conn:
                assert describe(conn) == models_schema(tmp_path)
            newest = write_another_post()
            account = sent[0].account
            again = crosspost.start(
                newest,
                account,
                visibility="public",
                spoiler_text=None,
                post_url=f"https://praisewall.example/posts/{newest.id}",
            )
            db.session.commit()
            assert again.id > gone_id and again.network == "mastodon"


def old_table(name: str, *columns: str) -> sa.TableClause:
    """Describe some columns of a table as an early revision has it, times and dates typed."""
    typed = {"created_at": sa.DateTime(timezone=True), "happened_on": sa.Date()}
    return sa.table(name, *(sa.column(column, typed.get(column)) for column in columns))


def test_post_ids_used_at_the_first_revision_stay_used_through_every_rebuild(make_app, tmp_path):
    """A database from the very first revision, newest post deleted, upgrades without reusing it."""
    with fresh_database(tmp_path, "first") as url, app_on(make_app, url, revisions()[0]):
        now = utcnow()
        user = old_table("user", "username", "session_token", "is_admin", "created_at")
        business = old_table("business", "name", "slug", "normalized_name", "created_at")
        post = old_table(
            "post", "id", "author_id", "business_id", "kind", "body", "happened_on", "channel",
            "is_on_wall", "shows_name", "moderation", "created_at",
        )  # fmt: skip
        visit = {"author_id": 1, "business_id": 1, "kind": "praise", "channel": "in_person"}
        visit |= {"is_on_wall": True, "shows_name": True, "moderation": "ok"}
        visit |= {"happened_on": now.date(), "created_at": now}
        with db.engine.begin() as conn:
            conn.execute(
                user.insert().values(
                    username="ola", session_token="t", is_admin=False, created_at=now
                )
            )
            shop = {
                "name": "Daily Basket",
                "slug": "daily-basket",
                "normalized_name": "daily basket",
            }
            conn.execute(business.insert().values(**shop, created_at=now))
            conn.execute(post.insert(), [{**visit, "body": f"Visit {n}"} for n in range(3)])
            gone = conn.scalar(sa.select(sa.func.max(post.c.id)))
            conn.execute(post.delete().where(post.c.id == gone))
        migrate(command.upgrade, "head")
        assert write_another_post().id > gone


def test_a_deleted_posts_permalink_never_names_a_new_post(migrated):
    """Write two posts, delete the newest, write another: it gets a permalink of its own."""
    client = migrated.test_client()
    AuthActions(client).register("alice")
    compose = {
        "kind": "praise",
        "happened_on": utcnow().date().isoformat(),
        "channel": "in_person",
        "is_on_wall": "y",
        "shows_name": "y",
    }

    def write(body: str, **business: str) -> int:
        response = client.post("/posts/new", data={**compose, "body": body, **business})
        assert response.status_code == 302, response.text
        return int(response.headers["Location"].rsplit("/", 1)[1])

    first = write("They fixed my bike chain for free.", new_business_name="Spoke Cycles")
    second = write("They trued my wheel while I waited.", business="Spoke Cycles")
    assert client.post(f"/posts/{second}/delete").status_code == 302
    third = write("They lent me a pump for the ride home.", business="Spoke Cycles")

    assert len({first, second, third}) == 3 and third > second
    assert client.get(f"/posts/{second}").status_code == 404
    page = page_text(client.get(f"/posts/{third}"))
    assert "They lent me a pump" in page and "trued my wheel" not in page

"""Fill a database with a believable community of any size, up to a million posts and more.

People, businesses (popularity falls off like Zipf's law, so a few have thousands of posts),
posts 40-600 characters long with ratings, complaints with their resolution (some followed up
by praise from the same person), crossposts with their sent and reply times. Migrates an empty
database first; refuses one that has posts. SQLite gets batched executemany, PostgreSQL gets
COPY; one transaction per batch.

    .venv/bin/python bench/generate.py --posts 100000 --db sqlite:////tmp/bench.db
    .venv/bin/python bench/generate.py --posts 1000000 \\
        --db postgresql+psycopg://postgres@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import os
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BATCH = 20_000
WORDS = """service staff friendly quick helped order refund delivery waited minutes
manager phone call sorted problem kind patient store counter parcel late replaced
repair booked table coffee bread fixed apologised answered email chat online shop
great lovely rude slow broken wrong missing again thanks explained honest fair price
""".split()
FIRST = """corner daily green blue red golden silver happy little big old new city river
north south east west bright fresh urban village harbour market station garden""".split()
SECOND = """bakery basket books bikes cafe deli grocer hardware kitchen laundry optician
pharmacy pizza print repairs salon shoes sports tailor tea toys travel vets wine""".split()
CATEGORIES = ["food", "shops", "health", "travel", "services", "telecom", "banking"]
PASSWORD = "bench-password-1"


def corpus(rng: random.Random, size: int = 1 << 20) -> str:
    """Return a long run of words to cut post bodies from."""
    return " ".join(rng.choice(WORDS) for _ in range(size // 6))


def zipf_weights(n: int, s: float = 1.0) -> list[float]:
    """Return cumulative Zipf weights for n ranks."""
    return list(itertools.accumulate(1 / (rank**s) for rank in range(1, n + 1)))


def pick(rng: random.Random, cumulative: list[float]) -> int:
    """Pick a rank (0-based) by cumulative weights."""
    return bisect.bisect(cumulative, rng.random() * cumulative[-1])


class Writer:
    """Bulk rows into one table at a time: COPY on PostgreSQL, executemany elsewhere."""

    def __init__(self, engine) -> None:
        """Remember the engine and how to write to it."""
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"
        self.rows = 0

    def write(self, table, rows: list[dict]) -> None:
        """Insert rows (dicts with the same keys) in one transaction."""
        if not rows:
            return
        columns = list(rows[0])
        with self.engine.begin() as conn:
            if self.postgres:
                raw = conn.connection.driver_connection
                names = ", ".join(f'"{c}"' for c in columns)
                copy = f'COPY "{table.name}" ({names}) FROM STDIN'
                with raw.cursor() as cur, cur.copy(copy) as cp:
                    for row in rows:
                        cp.write_row([row[c] for c in columns])
            else:
                conn.execute(table.insert(), rows)
        self.rows += len(rows)


def main() -> None:
    """Build the data and report rows per second, in a scratch instance folder."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--db", required=True, help="a SQLAlchemy URL; sqlite:////abs/path.db")
    parser.add_argument("--businesses", type=int, help="default: as many as posts, at most 100,000")
    parser.add_argument("--users", type=int, help="default: posts / 20, at least 50")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = args.db
    # The app writes a secret key and an encryption key into its instance folder on first run:
    # a temporary one, removed with what is in it when the run ends, however it ends.
    with tempfile.TemporaryDirectory(prefix="praisewall-gen-") as scratch:
        os.environ.setdefault("WEBAPP_INSTANCE_PATH", scratch)
        generate(args)


def generate(args: argparse.Namespace) -> None:
    """Migrate the database, fill it and print how fast that went."""
    n_posts = args.posts
    n_businesses = args.businesses or max(50, min(100_000, n_posts))
    n_users = args.users or max(50, n_posts // 20)

    import sqlalchemy as sa
    from flask_migrate import upgrade
    from werkzeug.security import generate_password_hash

    from webapp import create_app
    from webapp.extensions import db
    from webapp.models import (
        Business,
        BusinessWord,
        Crosspost,
        MastodonAccount,
        MastodonServer,
        Post,
        User,
    )
    from webapp.services import stats

    app = create_app()
    with app.app_context():
        upgrade()
        engine = db.engine
        if db.session.scalar(sa.select(sa.func.count()).select_from(Post)):
            sys.exit("The database already has posts; generate into an empty one.")
        db.session.remove()
        started = time.perf_counter()
        rng = random.Random(args.seed)
        writer = Writer(engine)
        now = datetime.now(UTC).replace(microsecond=0)
        span = timedelta(days=730)

        # People; every one shares the bench password so scripts can sign in as anyone.
        password_hash = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
        users = [
            {
                "id": i,
                "username": f"user{i}",
                "password_hash": password_hash,
                "session_token": uuid.uuid4().hex[:22],
                "is_admin": False,
                "created_at": now - span,
            }
            for i in range(1, n_users + 1)
        ]
        writer.write(User.__table__, users)
        writer.write(
            MastodonServer.__table__,
            [
                {
                    "id": 1,
                    "base_url": "https://social.example",
                    "supports_pkce": True,
                    "max_characters": 500,
                    "url_length": 23,
                }
            ],
        )
        connected = {}
        accounts = []
        for user in users:
            if rng.random() < 0.3:
                connected[user["id"]] = len(accounts) + 1
                accounts.append(
                    {
                        "id": len(accounts) + 1,
                        "user_id": user["id"],
                        "server_id": 1,
                        "remote_id": str(user["id"]),
                        "acct": f"{user['username']}@social.example",
                        "access_token": "not-a-token",
                        "scopes": "read write",
                        "needs_login": False,
                        "created_at": now - span,
                    }
                )
        writer.write(MastodonAccount.__table__, accounts)

        # Businesses: popular ones (low ids) tend to have a fediverse handle.
        businesses, words, handles = [], [], {}
        for i in range(1, n_businesses + 1):
            name = f"{rng.choice(FIRST).title()} {rng.choice(SECOND).title()} {i}"
            normalized = name.lower()
            slug = normalized.replace(" ", "-")
            # The most popular always has one, so every size's busiest wall lists unanswered praise.
            has_handle = rng.random() < 0.5 / (1 + i / 1000) or i == 1
            handle = f"@support@{slug}.example" if has_handle else None
            if handle:
                handles[i] = handle
            businesses.append(
                {
                    "id": i,
                    "name": name,
                    "slug": slug,
                    "normalized_name": normalized,
                    "website": f"https://{slug}.example",
                    "domain": f"{slug}.example",
                    "handle": handle,
                    "category": rng.choice(CATEGORIES),
                    "created_at": now - span,
                }
            )
            words += [{"business_id": i, "word": w} for w in sorted(set(normalized.split()))]
            if len(businesses) == BATCH:
                writer.write(Business.__table__, businesses)
                writer.write(BusinessWord.__table__, words)
                businesses, words = [], []
        writer.write(Business.__table__, businesses)
        writer.write(BusinessWord.__table__, words)

        text = corpus(rng)
        connected_people = sorted(connected)
        popularity = zipf_weights(n_businesses)
        posts, crossposts = [], []
        # A resolved complaint sometimes earns a follow-up praise from its author: business id ->
        # (complaint id, author id, shows name, resolved at) until the business's next praise.
        follow_up: dict[int, tuple[int, int, bool, datetime]] = {}
        for post_id in range(1, n_posts + 1):
            created = now - span + span * (post_id / (n_posts + 1))
            business_id = pick(rng, popularity) + 1
            author_id = rng.randint(1, n_users)
            if business_id == 1 and connected_people:
                # The busiest wall's posts go out to Mastodon at every size, so its "Unanswered"
                # tab lists a full page at 1,000 posts as at a million: sizes compare alike.
                author_id = rng.choice(connected_people)
            shows_name = rng.random() < 0.85
            praise = rng.random() < 0.75
            fixes_id = None
            waiting = follow_up.get(business_id) if praise else None
            if waiting and waiting[3] <= created:
                fixes_id, author_id, shows_name, _ = follow_up.pop(business_id)
            length = min(600, max(40, int(rng.lognormvariate(5.2, 0.6))))
            start = rng.randrange(0, len(text) - length)
            status, resolved_at, rating = None, None, None
            if praise:
                rating = rng.choice((None, 4, 5, 5, 5)) if rng.random() < 0.8 else 3
            else:
                rating = rng.choice((None, 1, 1, 2, 3))
                status = rng.choices(("open", "replied", "resolved"), (4, 2, 4))[0]
                if status == "resolved":
                    resolved_at = created + timedelta(hours=rng.expovariate(1 / 72))
                    if rng.random() < 0.25:
                        follow_up[business_id] = (post_id, author_id, shows_name, resolved_at)
            moderation = rng.choices(("ok", "hidden", "pending", "restored"), (990, 5, 3, 2))[0]
            posts.append(
                {
                    "id": post_id,
                    "author_id": author_id,
                    "business_id": business_id,
                    "kind": "praise" if praise else "complaint",
                    "body": text[start : start + length].strip().capitalize() + ".",
                    "rating": rating,
                    "happened_on": (created - timedelta(days=rng.randint(0, 3))).date(),
                    "channel": rng.choice(("in_person", "phone", "online", "social")),
                    "is_on_wall": rng.random() < 0.92,
                    "shows_name": shows_name,
                    "fixes_id": fixes_id,
                    "make_right": None if praise else "A refund and an apology would do.",
                    "complaint_status": status,
                    "resolved_at": resolved_at,
                    "resolution_note": "They refunded me." if resolved_at else None,
                    "moderation": moderation,
                    "created_at": created,
                }
            )
            account_id = connected.get(author_id)
            if account_id and (business_id == 1 or rng.random() < 0.7):
                handle = handles.get(business_id)
                state = rng.choices(("sent", "failed", "gave_up"), (90, 5, 5))[0]
                sent = created + timedelta(seconds=rng.randint(1, 30)) if state == "sent" else None
                replied = None
                if sent and handle and rng.random() < 0.35:
                    replied = sent + timedelta(minutes=rng.lognormvariate(5, 1.5))
                crossposts.append(
                    {
                        "post_id": post_id,
                        "account_id": account_id,
                        "business_id": business_id,
                        "state": state,
                        "idempotency_key": uuid.UUID(int=rng.getrandbits(128)).hex,
                        "visibility": "public",
                        "post_url": f"https://praisewall.example/posts/{post_id}",
                        "mention_acct": handle,
                        "mention_resolved": bool(handle) if sent else None,
                        "attempts": 1,
                        "remote_id": str(post_id) if sent else None,
                        "remote_url": f"https://social.example/@u/{post_id}" if sent else None,
                        "sent_at": sent,
                        "replied_at": replied,
                        "reply_url": f"https://social.example/@b/{post_id}" if replied else None,
                        "last_error": None if sent else "The server refused it.",
                        "created_at": created,
                    }
                )
            if len(posts) == BATCH:
                writer.write(Post.__table__, posts)
                writer.write(Crosspost.__table__, crossposts)
                posts, crossposts = [], []
                print(f"  {post_id:,} posts", end="\r", file=sys.stderr, flush=True)
        writer.write(Post.__table__, posts)
        writer.write(Crosspost.__table__, crossposts)
        loaded = time.perf_counter() - started
        with engine.begin() as conn:
            stats.rebuild_counters(conn)
            if writer.postgres:
                for table in ("user", "business", "mastodon_server", "mastodon_account", "post"):
                    conn.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                        f'(SELECT coalesce(max(id), 1) FROM "{table}"))'
                    )
                conn.exec_driver_sql("ANALYZE")
            else:
                conn.exec_driver_sql("ANALYZE")
        elapsed = time.perf_counter() - started
        print(
            f"\n{writer.rows:,} rows ({n_users:,} people, {n_businesses:,} businesses, "
            f"{n_posts:,} posts, crossposts) in {elapsed:.1f} s: "
            f"{writer.rows / loaded:,.0f} rows/s loading, {elapsed - loaded:.1f} s counting "
            f"and analysing. Busiest business: /b/{slug_of(engine, 1)}"
        )


def slug_of(engine, business_id: int) -> str:
    """Return a business's slug."""
    import sqlalchemy as sa

    with engine.connect() as conn:
        return conn.scalar(sa.text("SELECT slug FROM business WHERE id = :id"), {"id": business_id})


if __name__ == "__main__":
    main()

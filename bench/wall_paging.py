"""Benchmark: does a deep /wall page cost more than the first one?

Fills a fresh SQLite database with many public praise posts, then times the first page of
/wall and a page far down (following real cursors), and, for comparison, the same depth read
with OFFSET. Reports ratios measured in this one run, so the machine's speed cancels out.

    .venv/bin/python bench/wall_paging.py [--posts 20000] [--depth 400] [--repeat 30]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from webapp import create_app  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.models import Business, Post, User  # noqa: E402
from webapp.services import posts  # noqa: E402
from webapp.web.pagination import keyset_page  # noqa: E402


def fill(n_posts: int) -> None:
    """Insert n_posts public praise posts from 50 people about 200 businesses."""
    rng = random.Random(1)
    users = [User(username=f"user{i}", password_hash="x") for i in range(50)]
    shops = [
        Business(name=f"Shop {i}", slug=f"shop-{i}", normalized_name=f"shop {i}")
        for i in range(200)
    ]
    db.session.add_all(users + shops)
    db.session.flush()
    start = datetime(2025, 1, 1, tzinfo=UTC)
    rows = [
        {
            "author_id": rng.choice(users).id,
            "business_id": rng.choice(shops).id,
            "kind": "praise",
            "body": "Helpful and quick. " * rng.randint(1, 8),
            "happened_on": date(2025, 1, 1),
            "channel": "in_person",
            "is_on_wall": True,
            "shows_name": True,
            "moderation": "ok",
            "created_at": start + timedelta(minutes=i),
        }
        for i in range(n_posts)
    ]
    db.session.execute(sa.insert(Post), rows)
    db.session.commit()


def timed(fn, repeat: int) -> float:
    """Return the median seconds of fn() over repeat runs."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    """Run the benchmark and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=20000)
    parser.add_argument("--depth", type=int, default=400, help="how many pages deep to compare")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    per_page = 20
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.db",
                "SECRET_KEY": "bench",
                "SERVER_NAME": "bench.local",
                # Every request must reach the database: that is what is measured.
                "PAGE_CACHE_SECONDS": 0,
            }
        )
        with app.app_context():
            db.create_all()
            fill(args.posts)
            cursor = None
            for _ in range(args.depth):
                cursor = keyset_page(
                    posts.wall_posts(), Post.created_at, Post.id, cursor, per_page
                ).next_cursor
            client = app.test_client()
            first = timed(lambda: client.get("/wall"), args.repeat)
            deep = timed(lambda: client.get(f"/wall?cursor={cursor}"), args.repeat)
            ordered = posts.wall_posts().order_by(Post.created_at.desc(), Post.id.desc())
            offset_first = timed(
                lambda: db.session.scalars(ordered.limit(per_page)).all(), args.repeat
            )
            offset_deep = timed(
                lambda: db.session.scalars(
                    ordered.limit(per_page).offset(per_page * args.depth)
                ).all(),
                args.repeat,
            )
            db.session.remove()
            db.engine.dispose()
    print(f"{args.posts} posts, page {args.depth + 1} vs page 1, median of {args.repeat}")
    print(f"  /wall by cursor: page 1 {first * 1000:.1f} ms, deep {deep * 1000:.1f} ms")
    print(f"  ratio deep/first (cursor): {deep / first:.2f}")
    print(f"  same depth by OFFSET (query only): ratio deep/first {offset_deep / offset_first:.2f}")


if __name__ == "__main__":
    main()

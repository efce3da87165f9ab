"""Where a rendered page's time goes: cProfile of a few hundred requests through the test client.

Opens a generated database (bench/generate.py), signs in as the person who posted most when a
path starts with @, asks for the page once to warm up, then profiles `--requests` more and
sorts the time spent inside each function (its own time, not its callees') into areas:
templates, the ORM and SQL, building URLs, forms, Flask and Werkzeug, everything else. The page
cache is off, so every request is rendered.

    .venv/bin/python bench/profile_page.py --db sqlite:////tmp/bench.db /wall @/me /b/<slug>
    .venv/bin/python bench/profile_page.py --db ... --top 25 /b/<slug>   # also the top functions
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PASSWORD = "bench-password-1"  # every person generate.py makes has it
# Areas by where a function lives; the first that matches wins.
AREAS = [
    (
        "building URLs (url_for, routing, our link builders)",
        ("werkzeug/routing", ":url_for", "inject_url_defaults", "static_files", "web/links"),
    ),
    (
        "templates (Jinja, our filters and helpers)",
        ("/templates/", "jinja2", "markupsafe", "template_helpers"),
    ),
    (
        "ORM and SQL (SQLAlchemy, the driver, model properties)",
        ("sqlalchemy", "sqlite3", "psycopg", "webapp/models.py"),
    ),
    ("forms (WTForms, Flask-WTF)", ("wtforms", "flask_wtf")),
    ("compression and caching", ("compress", "brotli", "zlib", "hashlib", "caching.py")),
    ("Flask, Werkzeug and the test client", ("flask", "werkzeug")),
]


def area_of(key: tuple[str, int, str]) -> str:
    """Name the area a profiled function belongs to."""
    filename, _, name = key
    where = f"{filename}:{name}"
    for area, marks in AREAS:
        if any(mark in where for mark in marks):
            return area
    return "everything else (our views and services, Python)"


def main() -> None:
    """Profile each path and print its time by area."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="a generated database URL")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--top", type=int, default=0, help="also list the N costliest functions")
    parser.add_argument("paths", nargs="+", help="paths to profile; @/path to ask signed in")
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = args.db
    os.environ["WEBAPP_INSTANCE_PATH"] = tempfile.mkdtemp(prefix="praisewall-profile-")
    os.environ["WEBAPP_PAGE_CACHE_SECONDS"] = "0"
    import sqlalchemy as sa

    from webapp import create_app
    from webapp.extensions import db
    from webapp.models import Post, User

    app = create_app()
    with app.app_context():
        person = db.session.scalar(
            sa.select(User.username)
            .join(Post, Post.author_id == User.id)
            .where(Post.shows_name.is_(True))
            .group_by(User.id, User.username)
            .order_by(sa.func.count().desc(), User.id)
            .limit(1)
        )
    visitor, signed_in = app.test_client(), app.test_client()
    form = signed_in.get("/login").text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form).group(1)
    answer = signed_in.post(
        "/login", data={"username": person, "password": PASSWORD, "csrf_token": token}
    )
    if answer.status_code != 302:
        sys.exit(f"could not sign in as {person}")
    for path in args.paths:
        client = signed_in if path.startswith("@") else visitor
        url = path.lstrip("@")
        if client.get(url).status_code != 200:
            sys.exit(f"{url} did not answer 200")
        profile = cProfile.Profile()
        started = time.process_time()
        profile.enable()
        for _ in range(args.requests):
            client.get(url)
        profile.disable()
        spent = (time.process_time() - started) / args.requests * 1000
        stats = pstats.Stats(profile)
        areas: dict[str, float] = {}
        for key, (_, _, own, _, _) in stats.stats.items():  # type: ignore[attr-defined]
            areas[area_of(key)] = areas.get(area_of(key), 0.0) + own
        total = sum(areas.values())
        print(f"\n{path}: {spent:.2f} ms of CPU a request under the profiler")
        for area, own in sorted(areas.items(), key=lambda item: -item[1]):
            print(f"  {own / total:6.1%}  {area}")
        if args.top:
            stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()

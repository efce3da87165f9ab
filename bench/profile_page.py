"""Where a rendered page's time goes: cProfile of a few hundred requests through the test client.

Opens a generated database (bench/generate.py), signs in as the person who posted most when a
path starts with @, asks for the page once to warm up, then profiles `--requests` more and
sorts the time spent inside each function (its own time, not its callees') into areas:
templates, the ORM and SQL, building URLs, forms, Flask and Werkzeug, everything else. The page
cache is off, so every request is rendered.

    .venv/bin/python bench/profile_page.py --db sqlite:////tmp/bench.db /wall @/me /b/<slug>
    .venv/bin/python bench/profile_page.py --db ... --top 25 /b/<slug>   # also the top functions
    .venv/bin/python bench/profile_page.py --db ... --before /tmp/old /wall @/me   # CPU, A/B
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import re
import statistics
import subprocess
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


def clients(db_url: str):
    """Start the app on the database; return a visitor's and a signed-in person's test clients,
    and the busiest business's slug and that person's name for <busiest> and <person>."""
    os.environ["DATABASE_URL"] = db_url
    os.environ["WEBAPP_INSTANCE_PATH"] = tempfile.mkdtemp(prefix="praisewall-profile-")
    os.environ["WEBAPP_PAGE_CACHE_SECONDS"] = "0"
    import sqlalchemy as sa
    from load import most_named_poster

    from webapp import create_app
    from webapp.extensions import db
    from webapp.models import Business

    app = create_app()
    with app.app_context():
        person = most_named_poster()
        slug = db.session.scalar(
            sa.select(Business.slug).order_by(Business.praise_count.desc()).limit(1)
        )
    visitor, signed_in = app.test_client(), app.test_client()
    form = signed_in.get("/login").text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form).group(1)
    answer = signed_in.post(
        "/login", data={"username": person, "password": PASSWORD, "csrf_token": token}
    )
    if answer.status_code != 302:
        sys.exit(f"could not sign in as {person}")
    return visitor, signed_in, slug, person


def ask(path: str, visitor, signed_in, slug: str, person: str):
    """Return the client and URL for a path: @ signs in, <busiest> and <person> are filled."""
    url = path.lstrip("@").replace("<busiest>", slug).replace("<person>", person)
    client = signed_in if path.startswith("@") else visitor
    if client.get(url).status_code != 200:
        sys.exit(f"{url} did not answer 200")
    return client, url


def serve(db_url: str) -> None:
    """Answer lines of "path count" on stdin with the CPU ms each request took, one a line."""
    found = clients(db_url)
    print("ready", flush=True)
    for line in sys.stdin:
        path, count = line.split()
        client, url = ask(path, *found)
        started = time.process_time()
        for _ in range(int(count)):
            client.get(url)
        print((time.process_time() - started) / int(count) * 1000, flush=True)


def compare(args) -> None:
    """Time each path on another checkout and on this one in turn, round after round, and
    print the median CPU per request and its ratio to the floor in the same process."""
    servers = {}
    for side, root in (("before", Path(args.before).resolve()), ("after", ROOT)):
        command = [sys.executable, str(root / "bench" / "profile_page.py"), "--serve"]
        servers[side] = subprocess.Popen(
            [*command, "--db", args.db],
            cwd=root,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        if servers[side].stdout.readline().strip() != "ready":
            sys.exit(f"{side} did not start")
    paths = ["/ping", *args.paths]
    times: dict[str, dict[str, list[float]]] = {path: {"before": [], "after": []} for path in paths}
    loads = [os.getloadavg()[0]]
    for _ in range(args.rounds):
        for path in paths:
            for side, server in servers.items():
                server.stdin.write(f"{path} {args.requests}\n")
                server.stdin.flush()
                times[path][side].append(float(server.stdout.readline()))
        loads.append(os.getloadavg()[0])
    for server in servers.values():
        server.stdin.close()
        server.wait()
    median = {p: {s: statistics.median(t) for s, t in by.items()} for p, by in times.items()}
    print(
        f"\nCPU ms a request through the test client, median of {args.rounds} rounds of "
        f"{args.requests}; load average (1 min) {min(loads):.1f}–{max(loads):.1f}\n"
    )
    print("| page | before ms | before × floor | after ms | after × floor | before ÷ after |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    floor = median["/ping"]
    for path, by in median.items():
        print(
            f"| `{path}` | {by['before']:.2f} | {floor['before'] / by['before']:.2f} "
            f"| {by['after']:.2f} | {floor['after'] / by['after']:.2f} "
            f"| {by['before'] / by['after']:.2f} |"
        )


def main() -> None:
    """Profile each path and print its time by area, or compare two checkouts' CPU."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="a generated database URL")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--top", type=int, default=0, help="also list the N costliest functions")
    parser.add_argument("--before", help="another checkout: compare its CPU a request with ours")
    parser.add_argument("--rounds", type=int, default=5, help="with --before: rounds to take")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("paths", nargs="*", help="paths; @/path signed in; <busiest>, <person>")
    args = parser.parse_args()
    if args.serve:
        serve(args.db)
        return
    if args.before:
        compare(args)
        return
    found = clients(args.db)
    for path in args.paths:
        client, url = ask(path, *found)
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

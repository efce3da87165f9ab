"""Load test: req/s and p50/p99 latency per page under gunicorn, as ratios to a trivial floor.

Serves a generated database (bench/generate.py) with gunicorn and drives it with wrk: the floor
(`/ping`, no database, no session) first, then `/wall`, a business's wall, a person's page, the
feeds, the pages a signed-in person reads (`/me`, `/challenge`, `/posts/new`, the walls), the
type-ahead API and posting through the JSON API, each for the same time at the same
connections. Ratios to the floor measured in the same run cancel out the machine's speed.

    .venv/bin/python bench/load.py --posts 100000              # fresh SQLite database
    .venv/bin/python bench/load.py --db sqlite:////tmp/bench.db  # one already generated
    .venv/bin/python bench/load.py --posts 100000 --postgres   # a fresh PostgreSQL database
    .venv/bin/python bench/load.py --growth --max-posts 1000000  # latency at 1,000 vs max
    .venv/bin/python bench/load.py --db ... --page-cache 0 --before /tmp/old-checkout

Needs wrk (Debian package `wrk`; installed when missing and running as root).
"""

from __future__ import annotations

import argparse
import contextlib
import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
VENV_BIN = Path(sys.executable).parent
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
BENCH_PASSWORD = "bench-password-1"  # every person generate.py makes has it
TYPEAHEAD = "/api/v1/businesses"  # the script adds ?q=, a new prefix each time

POST_LUA = """
local n = 0
request = function()
  n = n + 1
  local body = string.format(
    '{"kind":"praise","business":"%s","body":"Quick and kind, thank you (bench %d-%d).",' ..
    '"happened_on":"2026-01-02","channel":"in_person","to_mastodon":false}',
    "__SLUG__", math.random(1, 1000000000), n)
  return wrk.format("POST", "/api/v1/posts", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer __TOKEN__",
  }, body)
end
"""
# A person typing: the prefixes of a few words of the generated names, one per request.
TYPING_LUA = """
local words = {"g", "go", "gol", "gold", "golden", "b", "ba", "bak", "bakery", "wi", "win",
  "wine", "ha", "harb", "harbour", "s", "st", "stat", "station", "t", "te", "tea", "ri",
  "river", "sh", "sho", "shoes", "m", "ma", "mark", "market", "v", "vi", "vet", "vets"}
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/api/v1/businesses?q=" .. words[(n % #words) + 1])
end
"""
STATUS_LUA = """
done = function(summary, latency, requests)
  io.write(string.format("BAD %d\\n", summary.errors.status))
end
"""


def ensure_wrk() -> str:
    """Return wrk's path, installing Debian's package when missing and allowed."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env, check=False)
        if not shutil.which("wrk"):
            subprocess.run(["apt-get", "update", "-qq"], check=True)
            subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env, check=True)
        return shutil.which("wrk") or sys.exit("wrk did not install")
    sys.exit("wrk is missing: apt-get install wrk")


def free_port() -> int:
    """Return a free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def database(url: str | None, posts: int, postgres: bool, name: str = "bench_load"):
    """Yield a database URL with `posts` generated posts; made fresh unless url is given."""
    # The process id keeps two runs on one server (one machine, several people) apart.
    name = f"{name}_{os.getpid()}"
    if url:
        yield url
        return
    if postgres:
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        made = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        try:
            generate(made, posts)
            yield made
        finally:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        return
    with tempfile.TemporaryDirectory(prefix="praisewall-load-") as tmp:
        made = f"sqlite:///{tmp}/bench.db"
        generate(made, posts)
        yield made


def generate(url: str, posts: int) -> None:
    """Fill the database with bench/generate.py."""
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "generate.py"), "--posts", str(posts), "--db", url],
        check=True,
        stderr=subprocess.DEVNULL,
    )


def prepare(url: str, instance: str) -> dict:
    """Make an API token for posting, find the busiest business and the person who posted most
    in public under their name; return what wrk needs."""
    os.environ["DATABASE_URL"] = url
    os.environ["WEBAPP_INSTANCE_PATH"] = instance
    import sqlalchemy as sa

    from webapp import create_app
    from webapp.extensions import db
    from webapp.models import Business, User
    from webapp.services import api_tokens

    app = create_app()
    with app.app_context():
        user = db.session.scalar(sa.select(User).order_by(User.id).limit(1))
        token = api_tokens.create(user, "load bench").plain
        busiest = db.session.scalar(
            sa.select(Business.slug).order_by(Business.praise_count.desc()).limit(1)
        )
        person = most_named_poster()
        db.session.commit()
        db.engine.dispose()
    return {"token": token, "slug": busiest, "person": person}


def most_named_poster() -> str:
    """Return the username of whoever has the most posts under their name, in the app context:
    their own page and /me are the longest a person has."""
    import sqlalchemy as sa

    from webapp.extensions import db
    from webapp.models import Post, User

    return db.session.scalar(
        sa.select(User.username)
        .join(Post, Post.author_id == User.id)
        .where(Post.shows_name.is_(True))
        .group_by(User.id, User.username)
        .order_by(sa.func.count().desc(), User.id)
        .limit(1)
    )


def sign_in(base: str, username: str) -> str:
    """Sign in through the form as a browser does; return the Cookie header that carries it."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
    form = opener.open(base + "/login", timeout=10).read().decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form).group(1)
    data = urllib.parse.urlencode(
        {"username": username, "password": BENCH_PASSWORD, "csrf_token": token}
    ).encode()
    try:
        opener.open(base + "/login", data=data, timeout=10)
    except urllib.error.HTTPError as answer:
        if answer.code != 302:
            raise RuntimeError(f"signing in as {username} was answered {answer.code}") from None
    cookies = "; ".join(f"{c.name}={c.value}" for c in jar)
    me = urllib.request.Request(base + "/me", headers={"Cookie": cookies})
    try:
        opener.open(me, timeout=10).read()
    except urllib.error.HTTPError as answer:
        raise RuntimeError(f"signed in as {username}, /me was answered {answer.code}") from None
    return cookies


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """Stop at a redirect, so the answer to the login form (and its cookie) is what we read."""

    def redirect_request(self, *args, **kwargs):
        """Follow no redirect."""
        return None


@contextmanager
def gunicorn(
    url: str,
    instance: str,
    workers: int,
    threads: int,
    page_cache: float | None = None,
    root: Path = ROOT,
    fragments: str = "",
):
    """Serve the app with gunicorn on a free port; yield its base URL.

    :param page_cache: PAGE_CACHE_SECONDS for the run; None keeps the app's default.
    :param root: the checkout to serve (another one to compare with, say).
    :param fragments: a Redis URL to keep rendered parts of pages in, emptied first; "" for none.
    """
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "WEBAPP_INSTANCE_PATH": instance,
        # The bench posts and reads far faster than any person; the limits would only get in
        # its way.
        "WEBAPP_API_WRITE_RATE_LIMIT": "1000000 per minute",
        "WEBAPP_API_RATE_LIMIT": "1000000 per minute",
    }
    env.pop("REDIS_URL", None)
    if fragments:
        redis.Redis.from_url(fragments).flushdb()
        env["WEBAPP_FRAGMENT_CACHE_REDIS_URL"] = fragments
    if page_cache is not None:
        env["WEBAPP_PAGE_CACHE_SECONDS"] = str(page_cache)
    command = [
        str(VENV_BIN / "gunicorn"),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--backlog",
        "2048",
        "--log-level",
        "warning",
        "webapp:create_app()",
    ]
    process = subprocess.Popen(command, cwd=root, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/ping", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("gunicorn did not start")
        SERVERS[base] = process.pid
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


# Each running gunicorn's master process, by base URL: its workers' CPU time is read per run.
SERVERS: dict[str, int] = {}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_ratio(cheap: float, costly: float) -> float:
    """Return how many times cheaper the first CPU cost is than the second (0 when unknown)."""
    return cheap / costly if costly else 0.0


def workers_cpu(master: int) -> float:
    """Return the CPU seconds gunicorn's workers (the master's children) have used so far.

    On a machine shared with other work, req/s falls with everyone else's load, but the CPU a
    request costs the app hardly moves: that is what this measures.
    """
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the name: state, ppid, ... utime and stime are fields 14 and 15 of the whole.
        if int(fields[1]) == master:
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def run_wrk(
    wrk: str,
    base: str,
    path: str,
    seconds: int,
    connections: int,
    script: str | None = None,
    cookie: str | None = None,
) -> dict:
    """Run wrk against one path, signed in when given a cookie; return req/s, p50/p99 in ms
    and bad responses."""
    command = [
        wrk,
        "--latency",
        "-t",
        str(min(2, connections)),
        "-c",
        str(connections),
        "-d",
        f"{seconds}s",
        "--timeout",
        "10s",
        # What a phone's browser says it accepts, so pages are compressed as in real use.
        "--header",
        "Accept-Encoding: gzip, deflate, br",
    ]
    if cookie:
        command += ["--header", f"Cookie: {cookie}"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write((script or "") + STATUS_LUA)
    command += ["-s", lua.name, base + path]
    master = SERVERS.get(base)
    cpu_before = workers_cpu(master) if master else 0.0
    try:
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(lua.name)
    cpu = workers_cpu(master) - cpu_before if master else 0.0
    served = int(re.search(r"(\d+) requests in", out).group(1))
    return {
        "cpu_ms": cpu * 1000 / served if served else 0.0,
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": latency(out, "50%"),
        "p99": latency(out, "99%"),
        "bad": int(re.search(r"BAD (\d+)", out).group(1))
        + sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out)),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
    }


def latency(out: str, percentile: str) -> float:
    """Read one latency percentile from wrk's --latency output, in milliseconds."""
    value, unit = re.search(rf"^\s+{percentile}\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]


SETTLE = 2  # seconds between runs
TYPING = ("/api/v1/businesses?q= (1 connection)", TYPEAHEAD, TYPING_LUA)


SIGNED_IN = " (signed in)"


def endpoints(info: dict) -> list[tuple[str, str, str | None]]:
    """Return (name, path, wrk script) for each measured endpoint, the floor first.

    Names ending in SIGNED_IN are asked for with the signed-in person's cookie.
    """
    slug, person = info["slug"], info["person"]
    post = POST_LUA.replace("__SLUG__", slug).replace("__TOKEN__", info["token"])
    return [
        ("floor /ping", "/ping", None),
        ("/wall", "/wall", None),
        (f"/b/{slug}", f"/b/{slug}", None),
        (f"/b/{slug}?tab=complaints", f"/b/{slug}?tab=complaints", None),
        (f"/b/{slug}?tab=unanswered", f"/b/{slug}?tab=unanswered", None),
        (f"/b/{slug}?sort=rating", f"/b/{slug}?sort=rating", None),
        (f"/u/{person}", f"/u/{person}", None),
        ("/wall/feed.atom", "/wall/feed.atom", None),
        (f"/b/{slug}/feed.atom", f"/b/{slug}/feed.atom", None),
        (f"/u/{person}/feed.atom", f"/u/{person}/feed.atom", None),
        ("/wall" + SIGNED_IN, "/wall", None),
        (f"/b/{slug}" + SIGNED_IN, f"/b/{slug}", None),
        ("/me" + SIGNED_IN, "/me", None),
        ("/challenge" + SIGNED_IN, "/challenge", None),
        ("/posts/new" + SIGNED_IN, "/posts/new", None),
        ("/api/v1/businesses?q=", TYPEAHEAD, TYPING_LUA),
        ("POST /api/v1/posts", "/api/v1/posts", post),
    ]


def rendered(name: str) -> bool:
    """Tell whether an endpoint is a page or feed the app renders (not the floor or the API)."""
    return not name.startswith(("floor", "/api", "POST"))


def target(name: str, page_cache: float | None) -> tuple[str, Callable[[dict, float], bool]]:
    """Return the target an endpoint is held to, in words and as a check of (figures, ratio)."""
    if name == TYPING[0]:
        return "p99 ≤ 10 ms", lambda r, ratio: r["p99"] <= 10
    if not rendered(name):
        return "", lambda r, ratio: True
    # Signed-in people, and everyone when the page cache is off, get a page rendered for them.
    if name.endswith(SIGNED_IN) or page_cache == 0:
        return "≥ 0.3× floor", lambda r, ratio: ratio >= 0.3
    if "feed" in name:
        return "", lambda r, ratio: True
    return "≥ 0.6× floor, p99 ≤ 50 ms", lambda r, ratio: ratio >= 0.6 and r["p99"] <= 50


def load(args) -> int:
    """Measure every endpoint at the same concurrency and print the table against the targets."""
    wrk = ensure_wrk()
    with database(args.db, args.posts, args.postgres) as url, tempfile.TemporaryDirectory() as inst:
        info = prepare(url, inst)
        rows = []
        with gunicorn(
            url, inst, args.workers, args.threads, args.page_cache, fragments=args.redis
        ) as base:
            cookie = sign_in(base, info["person"])
            runs = [(*e, args.connections) for e in endpoints(info)]
            # One person typing: the latency a keystroke waits for, with nobody else about.
            runs.append((*TYPING, 1))
            for name, path, script, connections in runs:
                if args.only and not rendered(name) and not name.startswith("floor"):
                    continue
                signed_in = cookie if name.endswith(SIGNED_IN) else None
                # Requests wrk left queued in the listen backlog would land on the next run.
                time.sleep(SETTLE)
                run_wrk(wrk, base, path, 2, connections, script, signed_in)  # warm up
                figures = run_wrk(wrk, base, path, args.seconds, connections, script, signed_in)
                rows.append((name, figures))
    floor = rows[0][1]["rps"]
    failed = 0
    cache = "app default" if args.page_cache is None else f"{args.page_cache:g} s"
    print(
        f"\n{args.connections} connections, {args.seconds} s each, gunicorn {args.workers} "
        f"workers × {args.threads} threads, {url.split(':')[0]}, page cache {cache}, "
        f"load average {' '.join(f'{n:.2f}' for n in os.getloadavg())} at the end\n"
    )
    floor_cpu = rows[0][1]["cpu_ms"]
    print(
        "| endpoint | req/s | p50 ms | p99 ms | × floor | CPU ms a request | × floor (CPU) "
        "| errors | target | met |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |")
    for name, r in rows:
        ratio = r["rps"] / floor
        words, check = target(name, args.page_cache)
        met = check(r, ratio) and r["bad"] == 0
        failed += not met
        print(
            f"| `{name}` | {r['rps']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} | {ratio:.2f} "
            f"| {r['cpu_ms']:.2f} | {cpu_ratio(floor_cpu, r['cpu_ms']):.2f} "
            f"| {r['bad']} | {words} | {'yes' if met else 'NO'} |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(dict(rows), indent=2))
    return 1 if failed and not args.no_fail else 0


def compare(args) -> int:
    """Measure the pages of another checkout (before) and of this one (after), each endpoint
    on both in turn, so a machine whose load changes during the run treats them alike."""
    wrk = ensure_wrk()
    roots = {"before": Path(args.before).resolve(), "after": ROOT}
    with database(args.db, args.posts, args.postgres) as url, tempfile.TemporaryDirectory() as inst:
        info = prepare(url, inst)
        rows: dict[str, dict[str, dict]] = {}
        with (
            gunicorn(
                url, inst, args.workers, args.threads, args.page_cache, roots["before"], args.redis
            ) as b,
            gunicorn(
                url, inst, args.workers, args.threads, args.page_cache, roots["after"], args.redis
            ) as a,
        ):
            servers = {"before": b, "after": a}
            cookies = {side: sign_in(base, info["person"]) for side, base in servers.items()}
            loads = [os.getloadavg()[0]]
            for name, path, script in endpoints(info):
                if not rendered(name) and not name.startswith("floor"):
                    continue
                for side, base in servers.items():
                    signed_in = cookies[side] if name.endswith(SIGNED_IN) else None
                    time.sleep(SETTLE)
                    run_wrk(wrk, base, path, 2, args.connections, script, signed_in)
                    rows.setdefault(name, {})[side] = run_wrk(
                        wrk, base, path, args.seconds, args.connections, script, signed_in
                    )
                loads.append(os.getloadavg()[0])
    floors = {side: rows["floor /ping"][side]["rps"] for side in roots}
    print(
        f"\n{args.connections} connections, {args.seconds} s each, gunicorn {args.workers} "
        f"workers × {args.threads} threads, {url.split(':')[0]}, page cache "
        f"{'app default' if args.page_cache is None else f'{args.page_cache:g} s'}, load average "
        f"(1 min) {min(loads):.1f}–{max(loads):.1f} during the run\n"
    )
    floor_cpu = {side: rows["floor /ping"][side]["cpu_ms"] for side in roots}
    print(
        "| endpoint | before: CPU ms | × floor (CPU) | req/s | × floor | p99 ms "
        "| after: CPU ms | × floor (CPU) | req/s | × floor | p99 ms | CPU before ÷ after "
        "| errors |"
    )
    print("| --- |" + " ---: |" * 12)
    failed = 0
    for name, by_side in rows.items():
        old, new = by_side["before"], by_side["after"]
        # Held to its target by CPU: on a shared machine req/s says more about the neighbours.
        words, check = target(name, args.page_cache)
        failed += not check(new, cpu_ratio(floor_cpu["after"], new["cpu_ms"])) or new["bad"] > 0
        cells = [
            f"{r['cpu_ms']:.2f} | {cpu_ratio(floor_cpu[side], r['cpu_ms']):.2f} | {r['rps']:.0f} "
            f"| {r['rps'] / floors[side]:.2f} | {r['p99']:.1f}"
            for side, r in (("before", old), ("after", new))
        ]
        print(
            f"| `{name}` | {cells[0]} | {cells[1]} | {cpu_ratio(old['cpu_ms'], new['cpu_ms']):.2f} "
            f"| {old['bad']} / {new['bad']} |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 1 if failed and not args.no_fail else 0


def growth(args) -> int:
    """Compare each page at 1,000 posts and at --max-posts, one connection: both servers run at
    once and each page is asked of one, then the other, round after round, so a machine whose
    load changes during the run treats both sizes alike."""
    wrk = ensure_wrk()
    sizes = (1000, args.max_posts)
    runs: dict[str, dict[int, list[dict]]] = {}
    with contextlib.ExitStack() as stack:
        served = {}
        for size in sizes:
            url = stack.enter_context(
                database(None, size, args.postgres, name=f"bench_growth_{size}")
            )
            instance = stack.enter_context(tempfile.TemporaryDirectory())
            info = prepare(url, instance)
            # The page cache off: this measures the work each page does, not a kept copy.
            base = stack.enter_context(gunicorn(url, instance, 1, 1, page_cache=0))
            pages = [
                e
                for e in endpoints(info)
                if not e[0].startswith("POST")
                and (
                    e[0].startswith("floor") or not args.pages or any(p in e[0] for p in args.pages)
                )
            ]
            served[size] = (base, info, sign_in(base, info["person"]), pages)
        loads = [os.getloadavg()[0]]
        for _ in range(args.rounds):
            for index in range(len(served[sizes[0]][3])):
                for size in sizes:
                    base, info, cookie, pages = served[size]
                    name, path, script = pages[index]
                    signed_in = cookie if name.endswith(SIGNED_IN) else None
                    key = name.replace(info["slug"], "<busiest>")
                    key = key.replace(f"/u/{info['person']}", "/u/<person>")
                    run_wrk(wrk, base, path, 1, 1, script, signed_in)  # warm up
                    figures = run_wrk(wrk, base, path, args.seconds, 1, script, signed_in)
                    runs.setdefault(key, {}).setdefault(size, []).append(figures)
            loads.append(os.getloadavg()[0])
    failed = 0
    print(
        f"\nOne connection, {args.rounds} rounds of {args.seconds} s a page and size, the two "
        f"sizes in turn; median of the rounds; load average (1 min) {min(loads):.1f}–"
        f"{max(loads):.1f} during the run\n"
    )
    print(
        f"| page | p50 ms at 1,000 | p50 ms at {args.max_posts:,} | ratio | CPU ms at 1,000 | "
        f"CPU ms at {args.max_posts:,} | CPU ratio | p99 ms at 1,000 | p99 ms at "
        f"{args.max_posts:,} | ≤ 1.2× |"
    )
    print("| --- |" + " ---: |" * 8 + " --- |")
    for name, by_size in runs.items():
        small, big = (
            {k: statistics.median(r[k] for r in by_size[size]) for k in ("p50", "p99", "cpu_ms")}
            for size in sizes
        )
        ratio = big["p50"] / small["p50"]
        met = name.startswith("floor") or ratio <= 1.2
        failed += not met
        print(
            f"| `{name}` | {small['p50']:.2f} | {big['p50']:.2f} | {ratio:.2f} | "
            f"{small['cpu_ms']:.2f} | {big['cpu_ms']:.2f} | "
            f"{big['cpu_ms'] / small['cpu_ms'] if small['cpu_ms'] else 0:.2f} | "
            f"{small['p99']:.2f} | {big['p99']:.2f} | {'yes' if met else 'NO'} |"
        )
    return 1 if failed and not args.no_fail else 0


def main() -> None:
    """Parse the arguments and run the chosen benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="an already generated database URL")
    parser.add_argument("--posts", type=int, default=100_000, help="posts to generate")
    parser.add_argument("--postgres", action="store_true", help="generate into PostgreSQL")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument(
        "--pages", nargs="+", help="--growth: only the pages whose names contain one of these"
    )
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--page-cache",
        type=float,
        help="PAGE_CACHE_SECONDS for the run (default: the app's own; 0 renders every request)",
    )
    parser.add_argument(
        "--only-pages", dest="only", action="store_true", help="the floor and the pages only"
    )
    parser.add_argument("--growth", action="store_true", help="latency at 1,000 vs --max-posts")
    parser.add_argument(
        "--before", help="another checkout: measure its pages and ours side by side, in turn"
    )
    parser.add_argument("--max-posts", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3, help="--growth: rounds of each page")
    parser.add_argument(
        "--redis",
        nargs="?",
        const="redis://127.0.0.1:6379/14",
        default="",
        help="keep rendered parts of pages in this Redis (emptied first), as with REDIS_URL",
    )
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--no-fail", action="store_true", help="report only; exit 0")
    args = parser.parse_args()
    if args.growth:
        sys.exit(growth(args))
    sys.exit(compare(args) if args.before else load(args))


if __name__ == "__main__":
    main()

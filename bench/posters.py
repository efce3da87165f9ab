"""Many people posting at once against the default setup: no error, no lost post.

Starts the app as `make run` does (`flask db upgrade`, then `flask serve` with its queue worker
in the same process, SQLite in WAL mode) in a temporary instance folder, or on an empty
PostgreSQL database given with --database-url. Each of 50 threads first signs up through the
form; once all have, each posts praise for 30 seconds the way a browser does: GET /posts/new
for the form token, POST it, follow the redirect to the post. Sign-ups and posting are timed
apart. Afterwards every accepted post (a 302 to /posts/<id>) must be in the database and on its
business's wall (paged through the JSON API with its cursors), and the first page of each wall
must show its newest post. Each posting request's p99 is also given for the burst's first 10 s
and for the rest. --trace-writes also times every write transaction the server makes (see
write_trace.py).

    .venv/bin/python bench/posters.py [--people 50] [--seconds 30] [--trace-writes]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/EMPTY_DATABASE]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import date
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
VENV_BIN = Path(sys.executable).parent
PASSWORD = "posters bench password 1"
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
POST_RE = re.compile(r"/posts/(\d+)$")
# Seconds from the start of posting that count as the burst's onset. Everyone starts at once,
# so for the first few cycles people move in step and the line fills in waves.
ONSET = 10.0
SHOPS = ["Corner Bakery", "Daily Basket", "River Books", "Golden Optician", "Harbour Bikes"]


def free_port() -> int:
    """Return a free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_businesses(env: dict) -> list[tuple[int, str]]:
    """Create the businesses people praise with the app's services; return (id, slug) pairs."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        from webapp import create_app
        from webapp.extensions import db
        from webapp.services import businesses

        app = create_app()
        with app.app_context():
            made = [businesses.create_business(name) for name in SHOPS]
            db.session.commit()
            pairs = [(b.id, b.slug) for b in made]
            db.engine.dispose()
        return pairs
    finally:
        os.environ.clear()
        os.environ.update(saved)


class Tally:
    """What every thread saw, under one lock."""

    def __init__(self) -> None:
        """Start empty."""
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = {
            "GET /register": [],
            "POST /register": [],
            "GET /posts/new": [],
            "POST /posts/new": [],
            "GET /posts/<id>": [],
        }
        self.sent_at: dict[str, list[float]] = {kind: [] for kind in self.latencies}
        self.accepted: list[tuple[int, int]] = []  # (post id, business id)
        self.errors: Counter = Counter()
        self.refused: Counter = Counter()
        self.told: list[str] = []  # the first few exceptions, in their own words

    def timed(self, kind: str, call):
        """Run one request, record its latency, and count 5xx answers and exceptions as errors."""
        started = time.perf_counter()
        try:
            response = call()
        except requests.RequestException as exc:
            with self.lock:
                self.errors[f"{kind}: {type(exc).__name__}"] += 1
                if len(self.told) < 5:
                    self.told.append(f"{kind} after {time.perf_counter() - started:.1f} s: {exc}")
            return None
        elapsed = time.perf_counter() - started
        with self.lock:
            self.latencies[kind].append(elapsed)
            self.sent_at[kind].append(started)
            if response.status_code >= 500:
                self.errors[f"{kind}: HTTP {response.status_code}"] += 1
        return response


class Start:
    """When posting starts: once everyone has signed up (or given up)."""

    def __init__(self, people: int, seconds: float, server: int) -> None:
        """Wait for this many people, then post for this many seconds (server: its pid)."""
        self.barrier = threading.Barrier(people, action=self.go)
        self.seconds = seconds
        self.server = server
        self.until = 0.0
        self.started = 0.0
        self.cpu = 0.0

    def go(self) -> None:
        """Start the clock, in the last thread to arrive."""
        self.cpu = cpu_seconds(self.server)
        self.started = time.perf_counter()
        self.until = time.monotonic() + self.seconds


def person(base: str, number: int, shops: list, start: Start, tally: Tally) -> None:
    """Sign up, wait for everyone, then post praise until the time is up."""
    browser = requests.Session()
    signed_up = sign_up(browser, base, number, tally)
    start.barrier.wait()
    # The server closed connections left idle while everyone signed up; a browser would open
    # a new one after such a pause, rather than race the server's close on the old one.
    for adapter in browser.adapters.values():
        adapter.close()
    if signed_up:
        post_praise(browser, base, number, shops, start.until, tally)


def sign_up(browser: requests.Session, base: str, number: int, tally: Tally) -> bool:
    """Sign up through the form; tell whether it worked."""
    username = f"poster{number}"
    page = tally.timed(
        "GET /register", lambda: browser.get(base + "/register", allow_redirects=False, timeout=60)
    )
    if page is None or not (token := CSRF_RE.search(page.text)):
        return False
    signup = {
        "csrf_token": token.group(1),
        "username": username,
        "password": PASSWORD,
        "confirm": PASSWORD,
    }
    signed = tally.timed(
        "POST /register",
        lambda: browser.post(base + "/register", data=signup, allow_redirects=False, timeout=60),
    )
    if signed is None or signed.status_code != 302:
        with tally.lock:
            tally.refused[f"register: HTTP {getattr(signed, 'status_code', '-')}"] += 1
        return False
    return True


def post_praise(
    browser: requests.Session, base: str, number: int, shops: list, until: float, tally: Tally
) -> None:
    """Post praise the way a browser does until the time is up."""
    username = f"poster{number}"
    get = lambda path: browser.get(base + path, allow_redirects=False, timeout=30)  # noqa: E731
    n = 0
    while time.monotonic() < until:
        n += 1
        business_id, _ = shops[(number + n) % len(shops)]
        form = tally.timed("GET /posts/new", lambda: get("/posts/new"))
        if form is None or not (token := CSRF_RE.search(form.text)):
            continue
        data = {
            "csrf_token": token.group(1),
            "kind": "praise",
            "business_id": str(business_id),
            "body": f"{username} #{n}: quick, kind and patient with my order.",
            "rating": "5",
            "happened_on": date.today().isoformat(),
            "channel": "in_person",
            "is_on_wall": "y",
            "shows_name": "y",
            "visibility": "public",
        }
        sent = tally.timed(
            "POST /posts/new",
            lambda data=data: browser.post(
                base + "/posts/new", data=data, allow_redirects=False, timeout=30
            ),
        )
        if sent is None:
            continue
        found = POST_RE.search(sent.headers.get("Location", ""))
        if sent.status_code != 302 or not found:
            if sent.status_code < 500:
                with tally.lock:
                    tally.refused[f"post: HTTP {sent.status_code}"] += 1
            continue
        with tally.lock:
            tally.accepted.append((int(found.group(1)), business_id))
        tally.timed("GET /posts/<id>", lambda found=found: get(f"/posts/{found.group(1)}"))


def on_walls(base: str, shops: list) -> tuple[set[int], list[str]]:
    """Return every post id on the businesses' walls (API pages), and first-page problems."""
    seen: set[int] = set()
    problems = []
    for _, slug in shops:
        url = f"{base}/api/v1/businesses/{slug}/posts?kind=praise&limit=50"
        newest = None
        while url:
            page = requests.get(url, timeout=30)
            page.raise_for_status()
            body = page.json()
            ids = [item["id"] for item in body["items"]]
            newest = newest or (ids[0] if ids else None)
            seen.update(ids)
            cursor = body["next_cursor"]
            url = (
                f"{base}/api/v1/businesses/{slug}/posts?kind=praise&limit=50&cursor={cursor}"
                if cursor
                else None
            )
        html = requests.get(f"{base}/b/{slug}", timeout=30).text
        if newest is not None and f"/posts/{newest}" not in html:
            problems.append(f"/b/{slug} does not show its newest post {newest}")
    return seen, problems


def percentile(values: list[float], q: float) -> float:
    """Return the q-th percentile of the values, in milliseconds."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] * 1000


def p99_onset_and_after(tally: Tally, kind: str, started: float) -> tuple[float, float]:
    """Return the p99 of the requests sent in the burst's first ONSET seconds, and after them."""
    onset, after = [], []
    for latency, sent in zip(tally.latencies[kind], tally.sent_at[kind], strict=True):
        (onset if sent - started < ONSET else after).append(latency)
    return percentile(onset, 99), percentile(after, 99)


def stored_posts(env: dict) -> dict[int, int]:
    """Read every post's business from the database the server used: {post id: business id}."""
    import sqlalchemy as sa

    url = env.get("DATABASE_URL") or f"sqlite:///{Path(env['WEBAPP_INSTANCE_PATH'])}/praisewall.db"
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                row[0]: row[1] for row in conn.execute(sa.text("SELECT id, business_id FROM post"))
            }
    finally:
        engine.dispose()


def cycle_line(people: int, posts_per_second: float, tally: Tally) -> str:
    """Tell how long a cycle lasts and how its three waits add up to it.

    Everyone posts back to back, so a cycle (the form, the post, the post's page) lasts the
    people divided by posts per second; the server's line only shares that time out.
    """
    if not posts_per_second:
        return "a cycle: no post accepted"
    waits = sum(
        statistics.fmean(tally.latencies[kind]) * 1000
        for kind in ("GET /posts/new", "POST /posts/new", "GET /posts/<id>")
        if tally.latencies[kind]
    )
    return (
        f"a cycle: {people} people / {posts_per_second:.1f} posts/s = "
        f"{people * 1000 / posts_per_second:.0f} ms; its three mean waits add up to {waits:.0f} ms"
    )


def load_average() -> str:
    """Return the machine's 1-minute load average, as the kernel reports it."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


def machine_pace() -> float:
    """Return the milliseconds a fixed piece of pure-Python work takes here, best of five.

    The same code's CPU per post has been seen to move by a third from one minute to the next
    on a shared machine; this tells a slow spell from a slow change.
    """
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        words = {}
        for i in range(200_000):
            key = f"w{i % 997}"
            words[key] = words.get(key, 0) + len(key)
        best = min(best, time.process_time() - started)
    return best * 1000


def cpu_seconds(pid: int) -> float:
    """Return the CPU time (user + system) a process and its children have used so far.

    Unlike latency, this hardly moves with what else the machine is running.
    """
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return total
    return total + sum(cpu_seconds(int(child)) for child in children)


def main() -> None:
    """Run the posters and print what happened."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument(
        "--database-url",
        help="an empty PostgreSQL database to use instead of SQLite in the instance folder",
    )
    parser.add_argument(
        "--trace-writes", action="store_true", help="time the server's write transactions"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="praisewall-posters-") as tmp:
        port = free_port()
        env = {
            **os.environ,
            "WEBAPP_INSTANCE_PATH": tmp,
            "FLASK_APP": "webapp",
            # One address signs up 50 people and posts far faster than a person would.
            "WEBAPP_REGISTER_RATE_LIMIT": "100000 per minute",
            "WEBAPP_POST_RATE_LIMIT": "100000 per minute",
            "WEBAPP_API_RATE_LIMIT": "100000 per minute",
        }
        for name in ("DATABASE_URL", "REDIS_URL", "TEST_DATABASE_URL"):
            env.pop(name, None)
        if args.database_url:
            env["DATABASE_URL"] = args.database_url
        database = "PostgreSQL" if args.database_url else "SQLite"
        flask = str(VENV_BIN / "flask")
        subprocess.run([flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
        shops = make_businesses(env)
        log = Path(tmp) / "serve.log"
        command = [flask]
        trace = Path(tmp) / "writes.tsv"
        if args.trace_writes:
            env["BENCH_WRITE_TRACE"] = str(trace)
            trace.touch()
            command = [sys.executable, str(ROOT / "bench" / "write_trace.py")]
        with open(log, "wb") as out:
            server = subprocess.Popen(
                [*command, "serve", "--host", "127.0.0.1", "--port", str(port)],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        base = f"http://127.0.0.1:{port}"
        pace_before = machine_pace()
        load_before = load_average()
        try:
            for _ in range(300):
                try:
                    requests.get(base + "/ping", timeout=1)
                    break
                except requests.RequestException:
                    time.sleep(0.1)
            tally = Tally()
            start = Start(args.people, args.seconds, server.pid)
            threads = [
                threading.Thread(target=person, args=(base, i, shops, start, tally))
                for i in range(args.people)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - start.started
            cpu = cpu_seconds(server.pid) - start.cpu
            load_after = load_average()
            pace_after = machine_pace()
            walls, problems = on_walls(base, shops)
        finally:
            os.killpg(server.pid, signal.SIGINT)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        stored = stored_posts(env)
        served = log.read_text(errors="replace")
        server_errors = served.count("Traceback")
        # What went wrong, in the server's words, for whoever has to fix it.
        told = [line for line in served.splitlines() if "Error" in line or " 50" in line]
        if args.trace_writes:
            sys.path.insert(0, str(ROOT / "bench"))
            from write_trace import summary

            traced = summary(str(trace))

    accepted = tally.accepted
    missing_db = [i for i, b in accepted if stored.get(i) != b]
    missing_wall = [i for i, _ in accepted if i not in walls]
    posting = [kind for kind in tally.latencies if "register" not in kind]
    requests_made = sum(len(tally.latencies[kind]) for kind in posting)
    errors = sum(tally.errors.values()) + server_errors
    print(
        f"\n{args.people} people, `flask serve` ({database}, worker in process); "
        f"load average {load_before} before, {load_after} after\n"
        f"posting for {elapsed:.1f} s: {requests_made} requests ({requests_made / elapsed:.0f} "
        f"req/s); posts accepted: {len(accepted)} ({len(accepted) / elapsed:.1f}/s)\n"
        f"server CPU while posting: {cpu:.1f} s ({cpu / elapsed:.0%} of a core), "
        f"{cpu * 1000 / max(len(accepted), 1):.1f} ms per post (form, post and its page)\n"
        f"{cycle_line(args.people, len(accepted) / elapsed, tally)}\n"
        f"machine pace (fixed work, lower is faster): {pace_before:.0f} ms before, "
        f"{pace_after:.0f} ms after"
    )
    print(
        f"| request | count | p50 ms | p99 ms | mean ms | p99 ms, first {ONSET:.0f} s "
        f"| p99 ms, after |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for kind, values in tally.latencies.items():
        mean = statistics.fmean(values) * 1000 if values else float("nan")
        onset, after = (
            p99_onset_and_after(tally, kind, start.started) if kind in posting else (None, None)
        )
        print(
            f"| {kind} | {len(values)} | {percentile(values, 50):.1f} | "
            f"{percentile(values, 99):.1f} | {mean:.1f} | "
            + (f"{onset:.1f} | {after:.1f} |" if onset is not None else "– | – |")
        )
    print(
        f"errors (5xx, exceptions, tracebacks in the server log): {errors} {dict(tally.errors)}\n"
        f"refused (4xx): {sum(tally.refused.values())} {dict(tally.refused)}\n"
        f"lost: {len(missing_db)} not in the database, {len(missing_wall)} not on their wall"
        + (f"; {'; '.join(problems)}" if problems else "")
    )
    if args.trace_writes:
        print("write transactions:", traced, sep="\n")
    if errors:
        print("what the client saw:", *tally.told, sep="\n  ")
        print("from the server's log:", *told[-20:], sep="\n  ")
    ok = not errors and not missing_db and not missing_wall and not problems and accepted
    print("no error, no lost post" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

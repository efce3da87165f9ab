"""Scale-out, shown running: two web processes and two queue workers on PostgreSQL and Redis.

Creates its own PostgreSQL database and claims an empty Redis database, migrates, starts the
fake Mastodon server (tests/fake_mastodon.py) in this process, then two gunicorn web processes on
two free ports and two `flask worker` processes, all sharing DATABASE_URL, REDIS_URL and the
same secret and encryption keys. It checks that:

- a person signed in on web A is signed in on web B (one session key everywhere);
- failed logins, half on A and half on B, trip the shared limit (counts live in Redis);
- 500 crossposts, half posted through A and half through B by people connected to the fake
  server through the real OAuth flow, reach it exactly once each (one status per idempotency
  key and per text), delivered by the two workers.

Then it stops everything, drops the database and empties its Redis database. Exit status 1 on
any failed check.

    .venv/bin/python bench/scale_out.py [--posts 500] [--people 10] [--timeout 120]
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from contextlib import ExitStack, contextmanager
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import redis
import requests
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
VENV_BIN = Path(sys.executable).parent
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_HOST = "redis://127.0.0.1:6379"
# The name both web processes answer to, as behind one load balancer: OAuth redirect URIs and
# links are built from it, so a sign-in started on A can finish on B.
PUBLIC_HOST = "praisewall.localhost"
PASSWORD = "scale-out password 1"
CLAIM_KEY = "praisewall-scale-out-claim"
# `flask worker` logs one line per delivery attempt, so each worker's share can be counted.
WORKER = (
    "import sys; sys.argv = ['flask', 'worker', '--workers', sys.argv[1]]; "
    "from flask.cli import main; main()"
)
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def free_port() -> int:
    """Return a free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def postgres_database():
    """Create a uniquely named PostgreSQL database; yield its URL and drop it afterwards."""
    name = f"praisewall_scale_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def redis_database():
    """Claim an empty Redis database (1-14; 15 is the tests'); yield its URL, then empty it."""
    token = uuid.uuid4().hex
    for number in range(1, 15):
        client = redis.Redis.from_url(f"{REDIS_HOST}/{number}", socket_connect_timeout=2)
        if client.dbsize() == 0 and client.set(CLAIM_KEY, token, nx=True):
            break
        client.close()
    else:
        raise RuntimeError("no empty Redis database among 1-14")
    try:
        yield f"{REDIS_HOST}/{number}"
    finally:
        if client.get(CLAIM_KEY) == token.encode():
            client.flushdb()
        client.close()


@contextmanager
def process(command: list[str], env: dict, log: Path):
    """Run a command in its own process group, logging to a file; stop it afterwards."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def wait_ready(base: str, proc: subprocess.Popen, log: Path) -> None:
    """Wait until a web process answers /ping."""
    for _ in range(300):
        if proc.poll() is not None:
            raise RuntimeError(f"{base} exited:\n{log.read_text()[-3000:]}")
        try:
            requests.get(base + "/ping", timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError(f"{base} did not start:\n{log.read_text()[-3000:]}")


class Web:
    """One web process as a browser sees it: its base URL, with the shared public host name."""

    def __init__(self, name: str, base: str) -> None:
        """Remember the process's label and address."""
        self.name = name
        self.base = base

    def get(self, session: requests.Session, path: str) -> requests.Response:
        """GET a path without following redirects."""
        return session.get(
            self.base + path, headers={"Host": PUBLIC_HOST}, allow_redirects=False, timeout=30
        )

    def post(self, session: requests.Session, path: str, data: dict) -> requests.Response:
        """POST a form without following redirects."""
        return session.post(
            self.base + path,
            data=data,
            headers={"Host": PUBLIC_HOST},
            allow_redirects=False,
            timeout=30,
        )

    def csrf(self, session: requests.Session, path: str) -> str:
        """Return the form token from a page."""
        page = self.get(session, path)
        found = CSRF_RE.search(page.text)
        if not found:
            raise RuntimeError(f"{self.name} {path}: no form token (HTTP {page.status_code})")
        return found.group(1)


class Checks:
    """Collect pass/fail lines and print them as they come."""

    def __init__(self) -> None:
        """Start with nothing failed."""
        self.failed = 0

    def check(self, ok: bool, what: str) -> bool:
        """Print one result and remember a failure."""
        print(f"{'ok  ' if ok else 'FAIL'} {what}", flush=True)
        self.failed += not ok
        return ok


def register(web: Web, username: str) -> requests.Session:
    """Sign up through the form on one web process; return the signed-in browser."""
    browser = requests.Session()
    token = web.csrf(browser, "/register")
    response = web.post(
        browser,
        "/register",
        {"csrf_token": token, "username": username, "password": PASSWORD, "confirm": PASSWORD},
    )
    if response.status_code != 302:
        raise RuntimeError(f"register {username} on {web.name}: HTTP {response.status_code}")
    return browser


def connect_mastodon(fake, start: Web, finish: Web, browser: requests.Session, username: str):
    """Connect a person's Mastodon account: OAuth starts on one process and ends on the other."""
    token = start.csrf(browser, "/settings")
    begun = start.post(
        browser, "/login/mastodon", {"csrf_token": token, "handle": f"{username}@{fake.domain}"}
    )
    if begun.status_code != 302:
        raise RuntimeError(f"connect {username}: HTTP {begun.status_code} {begun.text[:300]}")
    back = urlsplit(fake.approve(begun.headers["Location"], username))
    done = finish.get(browser, f"{back.path}?{back.query}")
    if done.status_code != 302 or "error" in done.headers.get("Location", ""):
        raise RuntimeError(f"callback {username}: HTTP {done.status_code} {done.headers}")


def post_praise(webs: list[Web], browser: requests.Session, business_id: int, texts: list[str]):
    """Post each text as praise crossposted to Mastodon, alternating web processes."""
    tokens = {web.name: web.csrf(browser, "/posts/new") for web in webs}
    accepted = []
    for i, text in enumerate(texts):
        web = webs[i % len(webs)]
        response = web.post(
            browser,
            "/posts/new",
            {
                "csrf_token": tokens[web.name],
                "kind": "praise",
                "business_id": str(business_id),
                "body": text,
                "happened_on": date.today().isoformat(),
                "channel": "in_person",
                "is_on_wall": "y",
                "shows_name": "y",
                "to_mastodon": "y",
                "visibility": "public",
            },
        )
        location = response.headers.get("Location", "")
        if response.status_code != 302 or "/posts/" not in location:
            raise RuntimeError(f"post via {web.name}: HTTP {response.status_code}")
        accepted.append((web.name, int(location.rsplit("/", 1)[1])))
    return accepted


def make_business(env: dict) -> int:
    """Create the business everyone praises, with the app's own services; return its id."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        from webapp import create_app
        from webapp.extensions import db
        from webapp.services import businesses

        app = create_app()
        with app.app_context():
            business = businesses.create_business("Scale Out Bakery")
            db.session.commit()
            business_id = business.id
            db.engine.dispose()
        return business_id
    finally:
        os.environ.clear()
        os.environ.update(saved)


def crosspost_states(db_url: str) -> Counter:
    """Count crosspost rows by state, straight from the database."""
    with psycopg.connect(db_url) as conn:
        return Counter(dict(conn.execute("SELECT state, count(*) FROM crosspost GROUP BY state")))


def run(args) -> int:
    """Start everything, run the three checks, and return the exit status."""
    from fake_mastodon import FakeMastodon

    checks = Checks()
    started = time.perf_counter()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="praisewall-scale-")))
        db_url = stack.enter_context(postgres_database())
        redis_url = stack.enter_context(redis_database())
        fake = stack.enter_context(FakeMastodon())
        people = [f"fan{i}" for i in range(args.people)]
        for name in people:
            fake.add_account(name, display_name=name.title())
        env = {
            **os.environ,
            "DATABASE_URL": db_url,
            "REDIS_URL": redis_url,
            "WEBAPP_INSTANCE_PATH": str(tmp / "instance"),
            "WEBAPP_SECRET_KEY": f'"{secrets.token_hex(32)}"',
            "WEBAPP_FERNET_KEYS": Fernet.generate_key().decode(),
            "WEBAPP_MASTODON_ALLOW_INSECURE": "true",
            "WEBAPP_RATELIMIT_KEY_PREFIX": f"scale-{uuid.uuid4().hex[:8]}",
            "WEBAPP_LOGIN_RATE_LIMIT": f"{args.login_limit} per minute",
            # The per-address limit is the one shared across processes here; the stricter
            # per-account ones would otherwise answer first, on whichever process.
            "WEBAPP_LOGIN_ADDRESS_ACCOUNT_RATE_LIMIT": "10000 per minute",
            "WEBAPP_LOGIN_ACCOUNT_RATE_LIMIT": "10000 per minute",
            # The run signs up and posts far faster than people do.
            "WEBAPP_REGISTER_RATE_LIMIT": "10000 per minute",
            "WEBAPP_POST_RATE_LIMIT": "10000 per minute",
            "WEBAPP_PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
            "FLASK_APP": "webapp",
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("TEST_DATABASE_URL", None)
        subprocess.run(
            [str(VENV_BIN / "flask"), "db", "upgrade"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        business_id = make_business(env)
        webs = []
        for name in ("A", "B"):
            port = free_port()
            log = tmp / f"web-{name}.log"
            command = [
                str(VENV_BIN / "gunicorn"),
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(args.web_workers),
                "--log-level",
                "warning",
                "webapp:create_app()",
            ]
            proc = stack.enter_context(process(command, env, log))
            webs.append((Web(name, f"http://127.0.0.1:{port}"), proc, log))
        for i in (1, 2):
            command = [sys.executable, "-c", WORKER, str(args.worker_threads)]
            stack.enter_context(process(command, env, tmp / f"worker-{i}.log"))
        for web, proc, log in webs:
            wait_ready(web.base, proc, log)
        a, b = webs[0][0], webs[1][0]
        print(
            f"web A {a.base}, web B {b.base} (gunicorn × {args.web_workers} each), 2 workers "
            f"× {args.worker_threads} threads; {db_url.rsplit('/', 1)[1]}, {redis_url}; "
            f"fake Mastodon {fake.url}",
            flush=True,
        )

        # 1. A session made on A works on B.
        browser = register(a, "session_check")
        on_b = requests.Session()
        on_b.cookies.update(browser.cookies)
        page = b.get(on_b, "/settings")
        checks.check(
            page.status_code == 200 and "session_check" in page.text,
            f"signed in on A, /settings on B: HTTP {page.status_code}",
        )

        # 2. 500 crossposts through both processes, delivered once each by the two workers.
        browsers = []
        for i, name in enumerate(people):
            start, finish = (a, b) if i % 2 == 0 else (b, a)
            browser = register(start, name)
            connect_mastodon(fake, start, finish, browser, name)
            browsers.append(browser)
        per_person = [args.posts // len(people)] * len(people)
        for i in range(args.posts % len(people)):
            per_person[i] += 1
        results: list[list] = [[] for _ in people]
        errors: list[BaseException] = []
        post_started = time.perf_counter()

        def poster(i: int) -> None:
            """Post one person's share, alternating A and B."""
            texts = [
                f"Scale-out praise {people[i]} #{n}: kind and quick." for n in range(per_person[i])
            ]
            order = [a, b] if i % 2 == 0 else [b, a]
            try:
                results[i] = post_praise(order, browsers[i], business_id, texts)
            except BaseException as exc:  # reported below, after every thread ends
                errors.append(exc)

        threads = [threading.Thread(target=poster, args=(i,)) for i in range(len(people))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        posted = [item for result in results for item in result]
        via = Counter(name for name, _ in posted)
        post_seconds = time.perf_counter() - post_started
        checks.check(
            not errors and len(posted) == args.posts,
            f"{len(posted)} crossposts accepted in {post_seconds:.1f} s "
            f"(A {via['A']}, B {via['B']}){': ' + repr(errors[0]) if errors else ''}",
        )
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline and len(fake.statuses) < args.posts:
            time.sleep(0.25)
        # Anything sent twice would show up a little after the last first copy.
        time.sleep(args.settle)
        delivered_seconds = time.perf_counter() - post_started
        statuses = list(fake.statuses)
        keys = Counter(s["idempotency_key"] for s in statuses)
        texts = Counter(s["status"].split("\n")[0] for s in statuses)
        states = crosspost_states(db_url)
        checks.check(
            len(statuses) == args.posts
            and len(keys) == args.posts
            and None not in keys
            and len(texts) == args.posts
            and states == Counter({"sent": args.posts}),
            f"fake Mastodon has {len(statuses)} statuses, {len(keys)} idempotency keys, "
            f"{len(texts)} texts (want {args.posts} of each) after {delivered_seconds:.1f} s; "
            f"crosspost rows {dict(states)}",
        )
        executed = [
            (tmp / f"worker-{i}.log").read_text(errors="replace").count("deliver crosspost=")
            for i in (1, 2)
        ]
        checks.check(
            all(executed),
            f"deliveries by worker 1: {executed[0]}, by worker 2: {executed[1]} "
            "(both take a share)",
        )

        # 3. Failed logins half on A, half on B trip the one shared limit.
        codes = []
        for i in range(args.login_limit):
            web = (a, b)[i % 2]
            guess = requests.Session()
            token = web.csrf(guess, "/login")
            wrong = {"csrf_token": token, "username": "session_check", "password": "wrong guess"}
            codes.append(web.post(guess, "/login", wrong).status_code)
        blocked = []
        for web in (a, b):
            guess = requests.Session()
            token = web.csrf(guess, "/login")
            right = {"csrf_token": token, "username": "session_check", "password": PASSWORD}
            blocked.append(web.post(guess, "/login", right).status_code)
        checks.check(
            codes == [401] * args.login_limit and blocked == [429, 429],
            f"{args.login_limit} failed logins alternating A/B answered {codes}; "
            f"then the right password on A and B: {blocked} (want 429 from both)",
        )
        for web, proc, log in webs:
            if proc.poll() is not None:
                checks.check(False, f"web {web.name} exited early:\n{log.read_text()[-2000:]}")
    print(
        f"{'all checks passed' if not checks.failed else f'{checks.failed} checks FAILED'} "
        f"in {time.perf_counter() - started:.1f} s; database dropped, processes stopped",
        flush=True,
    )
    return 1 if checks.failed else 0


def main() -> None:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=500)
    parser.add_argument("--people", type=int, default=10, help="connected posters")
    parser.add_argument("--login-limit", type=int, default=6, help="failed logins per minute")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers per process")
    parser.add_argument("--worker-threads", type=int, default=4, help="threads per flask worker")
    parser.add_argument("--timeout", type=float, default=120, help="seconds to wait for delivery")
    parser.add_argument("--settle", type=float, default=2, help="seconds to watch for repeats")
    args = parser.parse_args()
    sys.exit(run(args))


if __name__ == "__main__":
    main()

"""Benchmark: what each main page costs a phone on its first visit, against our budgets.

Starts the site under gunicorn on a fresh SQLite database filled with the demo community,
loads each page in Chromium (390×844, JavaScript on, empty cache) and records every request:
how many, the bytes transferred (headers plus compressed bodies), and which origins. Then the
critical HTML+CSS: the page's HTML plus the style sheets its <head> links, each gzipped.

Budgets: critical HTML+CSS ≤ 14 KB gzipped (it fits the first round trip), /posts/new ≤ 30 KB
in all, no request to another origin, text responses compressed, static files under
versioned URLs with a year-long lifetime. Exits 1 when one is broken (unless --no-fail).

    .venv/bin/python bench/pageweight.py [--no-fail] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, PHONE  # noqa: E402 # same Chromium

BIN = Path(sys.executable).parent
KB = 1024
CRITICAL_BUDGET = 14 * KB
TOTAL_BUDGETS = {"/posts/new": 30 * KB}
# Text below this size is sent as it is: compressing it would save less than the headers add.
COMPRESS_FROM = 500
TEXT_TYPES = ("text/", "application/javascript", "application/json", "application/atom+xml")
YEAR_CACHE = "max-age=31536000"
BENCH_PASSWORD = "bench-password-for-pages"
# (path, signed in?) — {slug} becomes the busiest business.
PAGES = [
    ("/", False),
    ("/posts/new", True),
    ("/wall", False),
    ("/b/{slug}", False),
    ("/challenge", True),
    ("/me", True),
]


@dataclass
class Site:
    """A running copy of the site, and who to sign in as."""

    url: str
    username: str
    password: str
    slug: str

    def page_url(self, path: str) -> str:
        """Return the full URL of a page path, with {slug} filled in."""
        return self.url + path.format(slug=self.slug)


@dataclass
class PageWeight:
    """What loading one page cost."""

    path: str
    signed_in: bool
    requests: int = 0
    transferred: int = 0
    critical: int = 0
    origins: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    files: list[tuple[str, int, str]] = field(default_factory=list)


def free_port() -> int:
    """Return a loopback port nobody is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_flask(env: dict[str, str], *args: str) -> str:
    """Run one of the app's commands against the bench instance; return what it printed."""
    done = subprocess.run(
        [str(BIN / "flask"), *args], env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    if done.returncode:
        sys.exit(f"flask {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout.strip()


def prepare_instance(env: dict[str, str]) -> tuple[str, str]:
    """Create the schema, add the demo data, and give its busiest poster a known password.

    Returns that person's username and the slug of the business with the most posts.
    """
    run_flask(env, "db", "upgrade")
    print(run_flask(env, "demo-data"), file=sys.stderr)
    sys.path.insert(0, str(ROOT))
    import sqlalchemy as sa

    from webapp import create_app
    from webapp.extensions import db
    from webapp.models import Business, Post, User

    app = create_app()
    with app.app_context():
        user = db.session.scalar(
            sa.select(User)
            .join(Post, Post.author_id == User.id)
            .group_by(User.id)
            # The busiest poster, so /me and /challenge show a full page.
            .order_by(sa.func.count(Post.id).desc(), User.id)
        )
        user.set_password(BENCH_PASSWORD)
        slug = db.session.scalar(
            sa.select(Business.slug)
            .join(Post, Post.business_id == Business.id)
            .group_by(Business.id)
            .order_by(sa.func.count(Post.id).desc(), Business.id)
        )
        db.session.commit()
        username = user.username
        db.engine.dispose()
    return username, slug


@contextlib.contextmanager
def running_site(workers: int = 2) -> Iterator[Site]:
    """Serve a fresh demo site under gunicorn from a temporary instance folder."""
    with tempfile.TemporaryDirectory(prefix="praisewall-bench-") as tmp:
        # This process builds the data too, so it must see the same settings as gunicorn.
        os.environ.update(FLASK_APP="webapp", WEBAPP_INSTANCE_PATH=tmp, PYTHONPATH=str(ROOT))
        for name in ("DATABASE_URL", "REDIS_URL"):
            os.environ.pop(name, None)
        env = dict(os.environ)
        username, slug = prepare_instance(env)
        port = free_port()
        server = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                f"--workers={workers}",
                f"--bind=127.0.0.1:{port}",
                "--log-level=warning",
                "webapp:create_app()",
            ],
            env=env,
            cwd=ROOT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_until_up(url, server)
            yield Site(url=url, username=username, password=BENCH_PASSWORD, slug=slug)
        finally:
            server.terminate()
            server.wait(timeout=30)


def wait_until_up(url: str, server: subprocess.Popen) -> None:
    """Wait for /healthz to answer, or give up after 30 seconds."""
    import requests

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit("gunicorn stopped before serving anything")
        with contextlib.suppress(requests.RequestException):
            if requests.get(url + "/healthz", timeout=2).ok:
                return
        time.sleep(0.2)
    sys.exit("the site did not come up within 30 seconds")


def session_cookie(site: Site) -> dict[str, str]:
    """Sign in through the login form; return the cookies a signed-in browser holds."""
    import requests

    with requests.Session() as http:
        form = http.get(site.url + "/login", timeout=10).text
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form)
        data = {"username": site.username, "password": site.password}
        if token:
            data["csrf_token"] = token.group(1)
        answer = http.post(site.url + "/login", data=data, timeout=10, allow_redirects=False)
        if answer.status_code != 302:
            sys.exit(f"could not sign in as {site.username}: HTTP {answer.status_code}")
        return http.cookies.get_dict()


def critical_size(html: str, page_url: str, fetch) -> tuple[int, list[str]]:
    """Return gzip(HTML) plus gzip(each style sheet linked in <head>), and those sheets' URLs."""
    head = html.split("</head>", 1)[0]
    sheets = [
        urljoin(page_url, match.group(1))
        for tag in re.findall(r"<link\b[^>]*>", head)
        if re.search(r'rel="?stylesheet"?', tag)
        for match in [re.search(r'href="([^"]+)"', tag)]
        if match
    ]
    total = len(gzip.compress(html.encode(), 6))
    for sheet in sheets:
        total += len(gzip.compress(fetch(sheet), 6))
    return total, sheets


def weigh(browser, site: Site, path: str, cookies: dict[str, str] | None) -> PageWeight:
    """Load one page in a fresh phone-sized context and add up what it fetched."""
    import requests

    result = PageWeight(path=path.format(slug=site.slug), signed_in=cookies is not None)
    # No service worker: its one-off copy of the shell would be counted against whichever
    # page happened to install it.
    context = browser.new_context(
        viewport=PHONE, device_scale_factor=3, is_mobile=True, service_workers="block"
    )
    if cookies:
        host = urlsplit(site.url).hostname
        context.add_cookies(
            [{"name": k, "value": v, "domain": host, "path": "/"} for k, v in cookies.items()]
        )
    finished = []
    context.on("requestfinished", lambda request: finished.append(request))
    page = context.new_page()
    url = site.page_url(path)
    response = page.goto(url, wait_until="networkidle")
    if response is None or response.status != 200 or response.url != url:
        status = response.status if response else "no response"
        result.problems.append(f"did not load as itself ({status}, {page.url})")
    html = response.text() if response else ""
    page.wait_for_timeout(300)
    origins = set()
    own = urlsplit(site.url)
    for request in finished:
        sizes = request.sizes()
        got = request.response()
        headers = got.all_headers() if got else {}
        transferred = sizes["responseHeadersSize"] + sizes["responseBodySize"]
        result.requests += 1
        result.transferred += transferred
        parts = urlsplit(request.url)
        if parts.scheme in ("http", "https"):
            origins.add(f"{parts.scheme}://{parts.netloc}")
            if (parts.scheme, parts.netloc) != (own.scheme, own.netloc):
                result.problems.append(f"request to another origin: {request.url}")
        kind = headers.get("content-type", "")
        encoding = headers.get("content-encoding", "")
        short = request.url.removeprefix(site.url)
        result.files.append((short, transferred, encoding or "-"))
        body_size = int(headers.get("content-length", sizes["responseBodySize"]) or 0)
        if kind.startswith(TEXT_TYPES) and not encoding and body_size >= COMPRESS_FROM:
            result.problems.append(f"sent uncompressed: {short} ({kind})")
        if parts.path.startswith("/static/"):
            if not re.search(r"(^|&)v=[0-9a-f]{8}", parts.query):
                result.problems.append(f"static file without a version: {short}")
            elif YEAR_CACHE not in headers.get("cache-control", ""):
                result.problems.append(f"versioned static file not cached a year: {short}")
    result.origins = sorted(origins)
    context.close()

    def fetch(sheet: str) -> bytes:
        """Fetch a style sheet's plain bytes."""
        return requests.get(sheet, headers={"Accept-Encoding": "identity"}, timeout=10).content

    result.critical, _ = critical_size(html, url, fetch)
    if result.critical > CRITICAL_BUDGET:
        result.problems.append(
            f"critical HTML+CSS {kib(result.critical)} is over {kib(CRITICAL_BUDGET)}"
        )
    budget = TOTAL_BUDGETS.get(path)
    if budget and result.transferred > budget:
        result.problems.append(f"transferred {kib(result.transferred)} is over {kib(budget)}")
    return result


def kib(size: int) -> str:
    """Format a byte count in KB (1024 bytes) with one decimal."""
    return f"{size / KB:.1f} KB"


def measure(site: Site) -> list[PageWeight]:
    """Weigh every page, signed in where the page needs it."""
    from playwright.sync_api import sync_playwright

    cookies = session_cookie(site)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            return [
                weigh(browser, site, path, cookies if signed_in else None)
                for path, signed_in in PAGES
            ]
        finally:
            browser.close()


def report(results: list[PageWeight], verbose: bool) -> str:
    """Return the results as a Markdown table, with any broken budget listed below it."""
    lines = [
        "| page | signed in | requests | transferred | critical HTML+CSS (gzip) | other origins |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        others = len(r.origins) - 1 if r.origins else 0
        lines.append(
            f"| `{r.path}` | {'yes' if r.signed_in else 'no'} | {r.requests} | "
            f"{kib(r.transferred)} | {kib(r.critical)} | {others} |"
        )
    if verbose:
        for r in results:
            lines.append(f"\n{r.path}:")
            lines += [f"  {size:>7} B  {enc:<4} {name}" for name, size, enc in r.files]
    problems = [f"- `{r.path}`: {p}" for r in results for p in r.problems]
    lines.append("")
    lines += ["Budgets broken:", *problems] if problems else ["All budgets met."]
    return "\n".join(lines)


def main() -> None:
    """Run the benchmark, print the table, and fail on a broken budget."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-fail", action="store_true", help="report, but exit 0 regardless")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("-v", "--verbose", action="store_true", help="list every request")
    args = parser.parse_args()
    with running_site() as site:
        results = measure(site)
    print(report(results, args.verbose))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    if any(r.problems for r in results) and not args.no_fail:
        sys.exit(1)


if __name__ == "__main__":
    main()

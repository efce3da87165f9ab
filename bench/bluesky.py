"""Post → visible: how long from sending the compose form to the post being readable, on
Bluesky (the real local network from tests/atproto) beside Mastodon (tests/fake_mastodon.py).

Starts the local AT Protocol network (PLC, PDS, AppView; Node >= 22.19 and PostgreSQL on
127.0.0.1:5432, as the tests need) and the fake Mastodon server, makes an app in this process on
a temporary SQLite database with its queue in memory, signs a person in and connects both
accounts (Bluesky with an app password, Mastodon through the real OAuth flow). Then, for each
of `--posts` posts per network, it times:

- **Bluesky, at the PDS**: from POST /posts/new until `com.atproto.repo.getRecord` returns the
  record (the form's request, the queued delivery: handle resolution, card drawing, blob upload,
  createRecord);
- **Bluesky, in the AppView**: until `app.bsky.feed.getPosts` on the AppView shows it (the
  AppView indexes on its own, polled every 20 ms);
- **Mastodon**: from POST /posts/new until the fake server returns the status by its id.

It prints p50 and p95 of each, in milliseconds. Everything stays on loopback.

    .venv/bin/python bench/bluesky.py [--posts 200] [--json figures.json]
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography.fernet import Fernet  # noqa: E402

from tests.fake_mastodon import FakeMastodon  # noqa: E402
from tests.fixtures.bluesky import (  # noqa: E402
    ATPROTO,
    ATPROTO_POSTGRES_URL,
    NODE22,
    AtprotoNetwork,
    _read_ready,
)
from webapp import create_app  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.infra.queue import huey  # noqa: E402
from webapp.models import Crosspost  # noqa: E402
from webapp.networks.bluesky import signin  # noqa: E402
from webapp.services import accounts, businesses  # noqa: E402

PASSWORD = "bench password 1"
POLL = 0.02  # seconds between reads while waiting for a post to show
WAIT = 30.0  # seconds a post may take to show before the run fails


def start_network(log: Path) -> tuple[AtprotoNetwork, subprocess.Popen]:
    """Start tests/atproto/network.mjs and return the network once it answers."""
    node = os.environ.get("NODE") or str(NODE22)
    out = log.open("wb")
    process = subprocess.Popen(
        [node, "--require", "./loopback.cjs", "network.mjs", "--postgres", ATPROTO_POSTGRES_URL],
        cwd=ATPROTO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=out,
        env={**os.environ, "REDIS_HOST": os.environ.get("REDIS_HOST", "127.0.0.1:6379")},
    )
    ready: queue.Queue = queue.Queue()
    threading.Thread(target=_read_ready, args=(process.stdout, out, ready), daemon=True).start()
    urls = ready.get(timeout=120)
    if urls is None:
        sys.exit(f"the local AT Protocol network did not start; see {log}")
    return AtprotoNetwork(urls, process, log), process


def run_tasks() -> None:
    """Run what the app queued, as the worker would."""
    while (task := huey.dequeue()) is not None:
        huey.execute(task)


def until(check, what: str) -> float:
    """Poll until `check()` is true; return when it became so (perf_counter)."""
    deadline = time.perf_counter() + WAIT
    while not check():
        if time.perf_counter() > deadline:
            sys.exit(f"{what} did not show within {WAIT} s")
        time.sleep(POLL)
    return time.perf_counter()


def form(business_id: int, n: int, network: str) -> dict[str, str]:
    """Return a compose form for the n-th post to one network."""
    return {
        "kind": "praise",
        "business_id": str(business_id),
        "body": f"Post {n}: they kept the last loaf for me and wrapped it warm. Thank you!",
        "happened_on": date.today().isoformat(),
        "channel": "in_person",
        "is_on_wall": "y",
        "shows_name": "y",
        f"to_{network}": "y",
        "visibility": "public",
    }


def post(client, business_id: int, n: int, network: str) -> Crosspost:
    """Send the compose form and run the delivery; return the crosspost row."""
    response = client.post("/posts/new", data=form(business_id, n, network))
    if response.status_code != 302:
        sys.exit(f"posting failed: HTTP {response.status_code}")
    post_id = int(response.headers["Location"].rsplit("/", 1)[1])
    run_tasks()
    db.session.expire_all()
    return db.session.scalars(
        db.select(Crosspost).where(Crosspost.post_id == post_id, Crosspost.network == network)
    ).one()


def percentiles(samples: list[float]) -> dict[str, float]:
    """Return p50 and p95 in milliseconds."""
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50_ms": round(cuts[49] * 1000, 1), "p95_ms": round(cuts[94] * 1000, 1)}


def main() -> None:
    """Run the bench and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=200, help="posts per network")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="praisewall-bench-bluesky-"))
    net, process = start_network(scratch / "network.log")
    fake = FakeMastodon().__enter__()
    try:
        fake.add_account("alice", display_name="Alice")
        fake.add_account("bakery", display_name="Corner Bakery")
        app = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "bench-only",
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{scratch / 'bench.db'}",
                "WTF_CSRF_ENABLED": False,
                "RATELIMIT_ENABLED": False,
                "RATELIMIT_STORAGE_URI": "memory://",
                "SERVER_NAME": "praisewall.test",
                "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
                "FERNET_KEYS": Fernet.generate_key().decode(),
                "QUEUE_BACKEND": "memory",
                "MASTODON_ALLOW_INSECURE": True,
                "PAGE_CACHE_SECONDS": 0,
                "BLUESKY_PLC_URL": net.plc_url,
                "BLUESKY_DEV_HANDLE_SERVER": net.pds_url,
                "BLUESKY_APPVIEW": f"{net.appview_did}#bsky_appview",
            }
        )
        with app.app_context():
            figures = measure(app, net, fake, args.posts)
    finally:
        fake.__exit__(None, None, None)
        if process.stdin is not None:
            process.stdin.close()
        process.wait(timeout=30)
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"{args.posts} posts per network")
    for name, numbers in figures.items():
        print(f"{name:<22} p50 {numbers['p50_ms']:>8.1f} ms   p95 {numbers['p95_ms']:>8.1f} ms")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


def measure(app, net: AtprotoNetwork, fake: FakeMastodon, posts: int) -> dict[str, dict]:
    """Connect both accounts, post to each network in turn and time each post until visible."""
    db.create_all()
    user = accounts.create_user("alice", PASSWORD)
    shop = net.create_account("shop")
    alice = net.create_account("alice")
    business = businesses.create_business("Corner Bakery", bluesky_handle=shop.handle)
    business.handle = f"@bakery@{fake.domain}"
    db.session.commit()
    answer = net.call(alice, "POST", "com.atproto.server.createAppPassword", json={"name": "bench"})
    signin.connect_app_password(user, alice.handle, answer.json()["password"])
    db.session.commit()

    client = app.test_client()
    client.post("/login", data={"username": "alice", "password": PASSWORD})
    start = client.post("/login/mastodon", data={"handle": f"alice@{fake.domain}"})
    back = urlsplit(fake.approve(start.headers["Location"], "alice"))
    client.get(f"{back.path}?{back.query}")

    pds, appview, mastodon = [], [], []
    http = requests.Session()
    for n in range(posts):
        began = time.perf_counter()
        row = post(client, business.id, n, "bluesky")
        if row.remote_id is None:
            sys.exit(f"a Bluesky post was not sent: {row.state} {row.last_error}")
        at_pds = until(
            lambda row=row: net.get_record(alice.did, "app.bsky.feed.post", row.remote_id).ok,
            "a post at the PDS",
        )
        uri = f"at://{alice.did}/app.bsky.feed.post/{row.remote_id}"
        in_appview = until(
            lambda uri=uri: bool(
                http.get(
                    f"{net.appview_url}/xrpc/app.bsky.feed.getPosts",
                    params={"uris": uri},
                    timeout=10,
                )
                .json()
                .get("posts")
            ),
            "a post in the AppView",
        )
        pds.append(at_pds - began)
        appview.append(in_appview - began)

        began = time.perf_counter()
        row = post(client, business.id, n, "mastodon")
        if row.remote_id is None:
            sys.exit(f"a Mastodon status was not sent: {row.state} {row.last_error}")
        shown = until(
            lambda row=row: http.get(f"{fake.url}/api/v1/statuses/{row.remote_id}", timeout=10).ok,
            "a Mastodon status",
        )
        mastodon.append(shown - began)
    return {
        "bluesky_at_pds": percentiles(pds),
        "bluesky_in_appview": percentiles(appview),
        "mastodon_fake": percentiles(mastodon),
    }


if __name__ == "__main__":
    main()

"""Delivery under faults: a flaky server, and a post deleted while its status is on the way.

The fake answers a seeded share of requests with 5xx, 429 or an answer too late (sometimes
after making the status), and every crosspost still arrives exactly once.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest
import sqlalchemy as sa
from conftest import FAR_FUTURE, TEST_DATABASE_URL, AuthActions, run_queued_tasks

from webapp import tasks
from webapp.extensions import db
from webapp.infra import crypto
from webapp.infra.queue import huey
from webapp.models import (
    Crosspost,
    CrosspostState,
    Kind,
    MastodonAccount,
    MastodonServer,
    Post,
    utcnow,
)
from webapp.services import accounts, crosspost

SITE = "praisewall.example.com"
HANDLE = "@support@cornerbakery.example"
USERS = 200
POSTS_EACH = 5  # 1,000 crossposts in all
THREADS = 8


@pytest.fixture
def app(make_app, tmp_path):
    """Return the app on a database file several worker threads can share, context pushed."""
    settings = {
        "SERVER_NAME": SITE,
        # Short, so the injected late answers cost little; the fake answers them after 0.8 s.
        "MASTODON_TIMEOUT": 0.5,
        # This server fails far more often than any real one; don't give up on it.
        "DELIVERY_MAX_ATTEMPTS": 100,
    }
    if not TEST_DATABASE_URL:
        settings["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'faults.db'}"
    app = make_app(**settings)
    with app.app_context():
        yield app


def connect(fake, server: MastodonServer, username: str):
    """Create a user connected to their own account on the fake; return the user."""
    fake.add_account(username)
    user = accounts.create_user(username, "correct horse battery")
    remote = next(a for a in fake._accounts.values() if a["acct"] == username)
    db.session.add(
        MastodonAccount(
            user=user,
            server=server,
            remote_id=remote["id"],
            acct=f"{username}@{fake.domain}",
            access_token=crypto.encrypt(fake.create_token(username)),
            scopes="read:accounts read:statuses write:statuses",
        )
    )
    return user


def author_and_bakery(fake, make_business, username: str) -> tuple:
    """Add the fake as a server, Corner Bakery, and a person connected there; return both."""
    server = MastodonServer(base_url=fake.url, max_characters=500, url_length=23)
    db.session.add(server)
    bakery = make_business("Corner Bakery", handle=HANDLE)
    user = connect(fake, server, username)
    db.session.commit()
    return user, bakery


def new_crosspost(user, business, number: int) -> Crosspost:
    """Add a post with its own text and its pending crosspost, as the compose form does."""
    post = Post(
        author=user,
        business=business,
        kind=Kind.PRAISE,
        body=f"Praise number {number}: they were lovely to {user.username}.",
        happened_on=date.today(),
        channel="in_person",
        is_on_wall=True,
        shows_name=True,
    )
    db.session.add(post)
    db.session.flush()
    return crosspost.start(
        post,
        user.mastodon_account,
        visibility="public",
        spoiler_text=None,
        post_url=f"http://{SITE}/posts/{post.id}",
    )


@pytest.fixture
def server(app, fake_mastodon) -> MastodonServer:
    """The fake as a known server, its limits already fetched."""
    row = MastodonServer(base_url=fake_mastodon.url, max_characters=500, url_length=23)
    db.session.add(row)
    db.session.commit()
    return row


def run_round() -> int:
    """Run everything queued or scheduled, due now, on several threads; return how many."""
    queued = []
    while (task := huey.dequeue()) is not None:
        queued.append(task)
    queued += huey.read_schedule(FAR_FUTURE)
    # Retries wait with backoff; move them to now rather than wait.
    db.session.execute(
        sa.update(Crosspost)
        .where(Crosspost.next_attempt_at > utcnow())
        .values(next_attempt_at=utcnow())
    )
    db.session.commit()
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(lambda task: huey.execute(task, timestamp=FAR_FUTURE), queued))
    db.session.expire_all()
    return len(queued)


def test_a_thousand_crossposts_through_a_flaky_server_arrive_once_each(
    app, fake_mastodon, server, make_business
):
    """5xx, late answers (some after making the status) and 429s: each status made exactly once."""
    bakery = make_business("Corner Bakery", handle=HANDLE)
    users = [connect(fake_mastodon, server, f"user{n:03d}") for n in range(USERS)]
    db.session.commit()
    ids = []
    for n in range(POSTS_EACH):
        for i, user in enumerate(users):
            ids.append(new_crosspost(user, bakery, n * USERS + i).id)
            db.session.commit()
    assert len(ids) == 1000
    fake_mastodon.chaos(
        rate_5xx=0.3,
        rate_timeout=0.1,
        rate_429=0.05,
        timeout_seconds=0.8,
        seed=7,
        paths=("/api/v1/statuses",),
    )
    for crosspost_id in ids:
        tasks.enqueue(tasks.deliver, crosspost_id)

    started = time.monotonic()
    for _ in range(60):
        if run_round() == 0:
            break
    counts = fake_mastodon.chaos_counts
    fake_mastodon.chaos()
    elapsed = time.monotonic() - started

    states = Counter(db.session.scalars(sa.select(Crosspost.state)))
    assert states == {CrosspostState.SENT: 1000}, (states, elapsed)
    assert counts["5xx"] > 200 and counts["429"] > 20 and counts["timeout_processed"] > 20
    statuses = [s for s in fake_mastodon.statuses if not s["deleted"]]
    assert len(statuses) == 1000
    assert set(Counter(s["idempotency_key"] for s in statuses).values()) == {1}
    assert set(Counter(s["status"] for s in statuses).values()) == {1}
    by_key = {s["idempotency_key"]: s for s in statuses}
    for row in db.session.scalars(sa.select(Crosspost)):
        assert row.remote_id is not None and by_key[row.idempotency_key]["id"] == row.remote_id
    print(f"delivered in {elapsed:.1f} s; faults: {counts}")


# --- A post deleted while its status is on the way ---


@pytest.mark.parametrize("answered", [True, False], ids=["answered", "timed-out"])
def test_deleting_a_post_while_its_status_is_on_the_way_deletes_it(
    app, client, fake_mastodon, server, make_business, answered
):
    """The delivery's late result never overwrites the deletion: the status it made goes too."""
    bakery = make_business("Corner Bakery", handle=HANDLE)
    user = connect(fake_mastodon, server, "dana")
    db.session.commit()
    row = new_crosspost(user, bakery, 1)
    db.session.commit()
    row_id, post_id = row.id, row.post_id
    # Answered late but within the client's timeout, or after it gave up.
    fake_mastodon.delay_next("POST", "/api/v1/statuses", 1.5 if answered else 1.0)
    app.config["MASTODON_TIMEOUT"] = 5 if answered else 0.5
    worker = threading.Thread(target=tasks.deliver.call_local, args=(row_id,))
    worker.start()
    deadline = time.monotonic() + 5
    while not fake_mastodon.statuses and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(fake_mastodon.statuses) == 1  # made on the server; the answer is still to come

    AuthActions(client).login("dana")
    assert client.post(f"/posts/{post_id}/delete").status_code == 302
    worker.join(timeout=10)
    assert not worker.is_alive()

    app.config["MASTODON_TIMEOUT"] = 5
    for _ in range(3):
        run_queued_tasks(scheduled=True)
    assert [s for s in fake_mastodon.statuses if not s["deleted"]] == []
    assert db.session.get(Crosspost, row_id) is None
    assert db.session.get(Post, post_id) is None

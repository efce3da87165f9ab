"""A queue worker killed in the middle of a delivery, then restarted: still exactly one status.

The worker runs as a real `flask worker` process on a SQLite database file and the SQLite queue,
and is killed with SIGKILL while the fake Mastodon holds its answer to the status it just made.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import TEST_FERNET_KEY
from helpers import clean_env, stop
from test_faults import author_and_bakery, new_crosspost

from webapp import tasks
from webapp.extensions import db
from webapp.models import Crosspost, CrosspostState, utcnow

ROOT = Path(__file__).resolve().parent.parent
WAIT_SECONDS = 30


@pytest.fixture
def app(instance_app):
    """Return the app on the worker's database and SQLite queue, context pushed."""
    return instance_app


def worker_env(app) -> dict[str, str]:
    """Return the environment for `flask worker` on this test's database and queue."""
    env = clean_env()
    env.update(
        WEBAPP_INSTANCE_PATH=app.instance_path,
        WEBAPP_SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        WEBAPP_FERNET_KEYS=TEST_FERNET_KEY,
        WEBAPP_MASTODON_ALLOW_INSECURE="true",
        WEBAPP_MASTODON_TIMEOUT="10",
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture
def start_worker(app, tmp_path: Path) -> Iterator:
    """Return a function that starts `flask worker`; every worker is stopped afterwards."""
    started: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        log = (tmp_path / f"worker{len(started)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "webapp", "worker", "--workers", "2"],
            cwd=ROOT,
            env=worker_env(app),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        started.append(process)
        return process

    yield start
    for process in started:
        stop(process, 10)


def wait_for(condition, what: str, logs: Path) -> None:
    """Poll until the condition holds, or fail with the workers' output."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            output = "\n".join(p.read_text(errors="replace")[-3000:] for p in logs.glob("*.log"))
            pytest.fail(f"timed out waiting for {what}\n{output}")
        time.sleep(0.1)


def test_a_worker_killed_mid_delivery_and_restarted_sends_once(
    app, fake_mastodon, make_business, start_worker, tmp_path
):
    """Killed while the server holds its answer; after a restart it is adopted, not resent."""
    user, bakery = author_and_bakery(fake_mastodon, make_business, "erin")
    rows = [new_crosspost(user, bakery, n) for n in range(3)]
    db.session.commit()
    ids = [row.id for row in rows]
    keys = {row.id: row.idempotency_key for row in rows}

    # The first status is made at once but answered only long after the kill.
    fake_mastodon.delay_next("POST", "/api/v1/statuses", 25)
    worker = start_worker()
    tasks.enqueue(tasks.deliver, ids[0])
    wait_for(lambda: len(fake_mastodon.statuses) == 1, "the held status", tmp_path)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    for crosspost_id in ids[1:]:
        tasks.enqueue(tasks.deliver, crosspost_id)

    db.session.expire_all()
    killed = db.session.get(Crosspost, ids[0])
    assert killed.state == CrosspostState.PENDING and killed.attempts == 1
    # Ten minutes on, the sweep finds the row whose task died with the worker.
    db.session.execute(
        sa.update(Crosspost)
        .where(Crosspost.id == ids[0])
        .values(next_attempt_at=utcnow() - timedelta(minutes=11))
    )
    db.session.commit()
    start_worker()
    tasks.sweep()

    def all_sent() -> bool:
        """Tell whether every row is sent."""
        db.session.expire_all()
        states = db.session.scalars(sa.select(Crosspost.state).where(Crosspost.id.in_(ids)))
        return set(states) == {CrosspostState.SENT}

    wait_for(all_sent, "every crosspost to be sent", tmp_path)
    statuses = [s for s in fake_mastodon.statuses if not s["deleted"]]
    assert sorted(s["idempotency_key"] for s in statuses) == sorted(keys.values())
    assert len({s["status"] for s in statuses}) == 3
    killed = db.session.get(Crosspost, ids[0])
    held = next(s for s in statuses if s["idempotency_key"] == keys[ids[0]])
    assert killed.remote_id == held["id"] and killed.attempts == 2
    # The restarted worker found the status the killed one made and adopted it.
    posts = [
        r
        for r in fake_mastodon.requests
        if r["method"] == "POST"
        and r["path"] == "/api/v1/statuses"
        and r["headers"].get("Idempotency-Key") == keys[ids[0]]
    ]
    assert len(posts) == 1


def test_the_worker_says_it_started_what_it_delivered_and_that_it_stopped(
    app, fake_mastodon, make_business, start_worker, tmp_path
):
    """`flask worker` logs a start line (queue and threads), a line per delivery, and a stop."""
    user, bakery = author_and_bakery(fake_mastodon, make_business, "erin")
    row_id = new_crosspost(user, bakery, 1).id
    db.session.commit()

    worker = start_worker()
    tasks.enqueue(tasks.deliver, row_id)

    def sent() -> bool:
        """Tell whether the row is sent."""
        db.session.expire_all()
        return db.session.get(Crosspost, row_id).state == CrosspostState.SENT

    wait_for(sent, "the delivery", tmp_path)
    log = tmp_path / "worker0.log"
    wait_for(lambda: f"crosspost={row_id}" in log.read_text(), "the delivery line", tmp_path)
    worker.send_signal(signal.SIGINT)
    assert worker.wait(timeout=WAIT_SECONDS) == 0
    output = log.read_text()
    queue_file = Path(app.instance_path) / "queue.db"
    assert f"Praisewall worker started: queue sqlite ({queue_file}), 2 worker threads" in output
    assert (
        f"deliver crosspost={row_id} server={fake_mastodon.domain} outcome='HTTP 200' "
        "state=sent next=-"
    ) in output
    assert output.rstrip().endswith("Praisewall worker stopped")
    assert fake_mastodon.statuses[0]["status"] not in output

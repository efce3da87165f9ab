"""Several web processes share their login limits through Redis when REDIS_URL is set."""

from __future__ import annotations

import uuid
from datetime import date

from conftest import PASSWORD, run_queued_tasks
from huey.storage import RedisStorage

from webapp.infra import queue


def test_failed_logins_count_across_processes(make_app, make_user, redis_url):
    """Two app instances on one Redis see each other's failed logins."""
    shared = {
        "RATELIMIT_STORAGE_URI": redis_url,
        "RATELIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        "LOGIN_RATE_LIMIT": "3 per minute",
    }
    first, second = make_app(**shared), make_app(**shared)
    with first.app_context():
        make_user("alice")
    bad = {"username": "alice", "password": "not the password"}
    assert first.test_client().post("/login", data=bad).status_code == 401
    assert second.test_client().post("/login", data=bad).status_code == 401
    assert first.test_client().post("/login", data=bad).status_code == 401
    blocked = second.test_client().post("/login", data={"username": "alice", "password": PASSWORD})
    assert blocked.status_code == 429


def test_with_redis_url_the_queue_lives_in_redis(
    app, client, connected, fake_mastodon, make_business, redis_url, monkeypatch
):
    """With REDIS_URL set, deliveries are queued in Redis and a worker anywhere can send them."""
    monkeypatch.setenv("REDIS_URL", redis_url)
    app.config.pop("QUEUE_BACKEND")
    queue.init_app(app)
    try:
        assert isinstance(queue.huey.storage, RedisStorage)
        queue.huey.storage.flush_all()
        shop = make_business("Corner Bakery", handle="@support@cornerbakery.example")
        response = client.post(
            "/posts/new",
            data={
                "kind": "praise",
                "business_id": str(shop.id),
                "body": "Queued in Redis",
                "happened_on": date.today().isoformat(),
                "channel": "in_person",
                "is_on_wall": "y",
                "to_mastodon": "y",
                "visibility": "public",
            },
        )
        assert response.status_code == 302
        assert fake_mastodon.statuses == []
        assert queue.huey.storage.queue_size() == 1
        assert run_queued_tasks() == 1
        assert [s["status"].split("\n")[0] for s in fake_mastodon.statuses] == ["Queued in Redis"]
    finally:
        queue.huey.storage.flush_all()
        app.config["QUEUE_BACKEND"] = "memory"
        queue.init_app(app)

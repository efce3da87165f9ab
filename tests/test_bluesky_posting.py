"""Posting to Bluesky against the real local network: the post with its mention facet, link
facet and link card, read back from the PDS; the business notified; exactly one post however
often or however concurrently it is delivered, through 5xx, timeouts, 429 and lost answers;
deletes; a post deleted elsewhere; the business's reply found by its DID and confirmed by its
own PDS, never taken on the poster's server's word; a thread of the wrong shape; an adopted
post's date kept between its first attempt and now."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import Flask

from tests.conftest import PASSWORD, AuthActions, run_queued_tasks
from tests.fault_proxy import FaultProxy
from tests.fixtures.bluesky import Account, AtprotoNetwork, new_tid
from tests.fixtures.bluesky import now as fixture_now
from webapp.extensions import db
from webapp.models import (
    BlueskyAccount,
    Business,
    ComplaintStatus,
    Crosspost,
    CrosspostState,
    Post,
    User,
    utcnow,
)
from webapp.networks import Status, replies
from webapp.networks.bluesky import client as bluesky_client
from webapp.networks.bluesky import signin, text
from webapp.networks.bluesky.network import network as bluesky
from webapp.services import crosspost, stats

POST = "app.bsky.feed.post"
CREATE = "/xrpc/com.atproto.repo.createRecord"


@pytest.fixture
def app(make_app: Callable[..., Flask], atproto_network: AtprotoNetwork):
    """The app, resolving handles and DIDs on the local network and reading its AppView."""
    net = atproto_network
    app = make_app(
        BLUESKY_PLC_URL=net.plc_url,
        BLUESKY_DEV_HANDLE_SERVER=net.pds_url,
        BLUESKY_APPVIEW=f"{net.appview_did}#bsky_appview",
        MASTODON_TIMEOUT=3,
    )
    with app.app_context():
        yield app


def connect(net: AtprotoNetwork, user: User, account: Account) -> None:
    """Connect the user's Bluesky account with a new app password, as settings would."""
    answer = net.call(
        account,
        "POST",
        "com.atproto.server.createAppPassword",
        json={"name": f"praisewall-{user.id}-{time.time_ns()}"},
    )
    assert answer.status_code == 200, answer.text
    signin.connect_app_password(user, account.handle, answer.json()["password"])
    db.session.commit()


@pytest.fixture
def people(app, atproto_network, make_user, client):
    """Alice (signed in, her Bluesky connected) and a shop with its own Bluesky account."""
    net = atproto_network
    alice = make_user("alice")
    alice_there, shop_there = net.create_account("alice"), net.create_account("shop")
    connect(net, alice, alice_there)
    AuthActions(client).login()
    return alice, alice_there, shop_there


@pytest.fixture
def shop(make_business, people) -> Business:
    """The business, with the shop's Bluesky handle."""
    return make_business("Corner Bakery", bluesky_handle=people[2].handle)


def compose(client, business: Business, **fields: str) -> Crosspost:
    """Post through the compose form to Bluesky; return the crosspost row it made."""
    data = {
        "kind": "praise",
        "business_id": str(business.id),
        "body": "They saved the last sourdough for me — merci ☺",
        "happened_on": datetime.now(UTC).date().isoformat(),
        "channel": "in_person",
        "is_on_wall": "y",
        "shows_name": "y",
        "to_bluesky": "y",
        **fields,
    }
    response = client.post("/posts/new", data=data)
    assert response.status_code == 302, response.text
    post_id = int(response.headers["Location"].rsplit("/", 1)[1])
    return db.session.scalars(sa.select(Crosspost).where(Crosspost.post_id == post_id)).one()


def record_of(net: AtprotoNetwork, did: str, rkey: str) -> dict | None:
    """Read a post record from the PDS; None when there is none."""
    answer = net.get_record(did, POST, rkey)
    if answer.status_code == 400:
        return None
    assert answer.status_code == 200, answer.text
    return answer.json()


def posts_of(net: AtprotoNetwork, did: str) -> list[dict]:
    """Return every post in the account's repository."""
    return net.list_records(did, POST)


def marked(record: dict, feature: str) -> tuple[str, dict]:
    """Return the text a facet of this kind marks, by its UTF-8 byte offsets, and the feature."""
    data = record["text"].encode("utf-8")
    for facet in record.get("facets", []):
        found = facet["features"][0]
        if found["$type"] == f"app.bsky.richtext.facet#{feature}":
            index = facet["index"]
            return data[index["byteStart"] : index["byteEnd"]].decode("utf-8"), found
    raise AssertionError(f"no {feature} facet in {record}")


def test_post_mentions_the_business_links_back_and_shows_a_card(
    client, atproto_network, people, shop
) -> None:
    net = atproto_network
    alice, alice_there, shop_there = people
    row = compose(client, shop)
    run_queued_tasks()
    db.session.refresh(row)
    assert row.state == CrosspostState.SENT, row.last_error
    assert row.remote_id == row.idempotency_key
    assert row.mention_resolved is True and row.mention_account_id == shop_there.did
    assert row.remote_url == f"https://bsky.app/profile/{alice_there.did}/post/{row.remote_id}"

    record = record_of(net, alice_there.did, row.remote_id)["value"]
    link = f"http://praisewall.test/posts/{row.post_id}"
    assert record["text"] == (
        "They saved the last sourdough for me — merci ☺\n\n"
        f"@{shop_there.handle} #CustomerServiceWin\npraisewall.test/posts/{row.post_id}"
    )
    assert marked(record, "mention") == (
        f"@{shop_there.handle}",
        {"$type": "app.bsky.richtext.facet#mention", "did": shop_there.did},
    )
    assert marked(record, "link")[0] == f"praisewall.test/posts/{row.post_id}"
    assert marked(record, "link")[1]["uri"] == link
    assert marked(record, "tag")[1]["tag"] == "CustomerServiceWin"
    card = record["embed"]
    assert card["$type"] == "app.bsky.embed.external"
    assert card["external"]["uri"] == link
    assert card["external"]["title"] == "Praise for Corner Bakery"
    assert card["external"]["description"] == "They saved the last sourdough for me — merci ☺"
    assert card["external"]["thumb"]["mimeType"] == "image/png"
    assert card["external"]["thumb"]["size"] > 1000

    net.process_all()
    notifications = net.call(
        shop_there, "GET", "app.bsky.notification.listNotifications", proxy=True
    ).json()["notifications"]
    assert [(n["reason"], n["author"]["did"]) for n in notifications] == [
        ("mention", alice_there.did)
    ]
    page = client.get(f"/posts/{row.post_id}").text
    assert "Sent to Bluesky." in page
    assert row.remote_url in page


def test_an_unresolved_handle_is_the_plain_name_and_the_person_is_told(
    client, atproto_network, people, make_business
) -> None:
    net = atproto_network
    nowhere = make_business("Harbour Ferries", bluesky_handle="nobody-here.test")
    row = compose(client, nowhere, kind="complaint", body="Slow refund.")
    run_queued_tasks()
    db.session.refresh(row)
    assert row.state == CrosspostState.SENT, row.last_error
    assert row.mention_resolved is False
    record = record_of(net, people[1].did, row.remote_id)["value"]
    assert "Harbour Ferries #CustomerService\n" in record["text"]
    assert all("mention" not in f["features"][0]["$type"] for f in record["facets"])
    page = client.get(f"/posts/{row.post_id}").text
    assert "couldn't confirm nobody-here.test on Bluesky" in page
    assert "names Harbour Ferries in plain text" in page


@pytest.mark.parametrize("outage", ["503", "down"])
def test_a_handle_server_that_doesnt_answer_is_asked_again_later(
    app, client, atproto_network, people, shop, faulty_pds: FaultProxy, outage: str
) -> None:
    """Not reaching the handle's server is no "no": nothing is posted yet, and the retry,
    once it answers, mentions the business."""
    net, shop_there = atproto_network, people[2]
    if outage == "503":
        faulty_pds.fail_next("/.well-known/atproto-did", status=503)
        app.config["BLUESKY_DEV_HANDLE_SERVER"] = faulty_pds.url
    else:
        app.config["BLUESKY_DEV_HANDLE_SERVER"] = "http://127.0.0.1:1"  # nobody listens
    row = compose(client, shop)
    run_queued_tasks()
    db.session.refresh(row)
    assert row.state == CrosspostState.PENDING, (row.state, row.last_error)
    assert "couldn't check the business's Bluesky handle" in row.last_error
    assert row.mention_resolved is None
    assert posts_of(net, people[1].did) == []

    app.config["BLUESKY_DEV_HANDLE_SERVER"] = net.pds_url
    run_queued_tasks(scheduled=True)
    db.session.refresh(row)
    assert row.state == CrosspostState.SENT, row.last_error
    assert row.mention_resolved is True and row.mention_account_id == shop_there.did
    record = record_of(net, people[1].did, row.remote_id)["value"]
    assert marked(record, "mention")[1]["did"] == shop_there.did


def test_delivering_again_and_at_once_makes_one_post(
    app, client, atproto_network, people, shop
) -> None:
    net = atproto_network
    alice_there = people[1]
    row = compose(client, shop)
    run_queued_tasks()
    assert crosspost.deliver(row.id) is None  # sent already: nothing to do
    db.session.refresh(row)
    assert [r["uri"].rsplit("/", 1)[1] for r in posts_of(net, alice_there.did)] == [row.remote_id]

    # Two workers writing the same record at once: one makes it, the other adopts it.
    account = people[0].bluesky_account
    status = text.compose(
        "Twice at once.",
        kind="praise",
        business_name="Corner Bakery",
        handle=None,
        link="https://praisewall.test/posts/99",
    )
    key = bluesky.new_key()
    results: list = []

    def write() -> None:
        with app.app_context():
            session = bluesky.session(db.session.get(type(account), account.id))
            try:
                results.append(post_status(session, status, key))
            finally:
                db.session.remove()

    workers = [threading.Thread(target=write) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert sorted(type(r).__name__ for r in results) == ["Sent", "Sent"], results
    assert {r.id for r in results} == {key}
    keys = [r["uri"].rsplit("/", 1)[1] for r in posts_of(net, alice_there.did)]
    assert sorted(keys) == sorted([row.remote_id, key])


def post_status(session, status: Status, key: str):
    """Post a composed status with a key, returning what came back (or the failure)."""
    try:
        return session.post(
            status.text, visibility="public", spoiler_text=None, key=key, status=status
        )
    except Exception as error:  # noqa: BLE001 # the test reports what happened
        return error


def via_proxy(user: User, proxy: FaultProxy) -> None:
    """Send the user's Bluesky calls through the fault proxy in front of their PDS."""
    user.bluesky_account.pds_url = proxy.url
    db.session.commit()


def test_a_lost_answer_is_adopted_not_posted_twice(
    client, atproto_network, people, shop, faulty_pds: FaultProxy
) -> None:
    net = atproto_network
    via_proxy(people[0], faulty_pds)
    faulty_pds.lose_answer_next(CREATE, how="drop")
    row = compose(client, shop)
    run_queued_tasks()
    db.session.refresh(row)
    assert row.state == CrosspostState.SENT, row.last_error  # found at once under its key
    assert row.attempts == 1
    assert len(posts_of(net, people[1].did)) == 1

    faulty_pds.lose_answer_next(CREATE, how="502")
    second = compose(client, shop, body="Another good day.")
    run_queued_tasks()
    db.session.refresh(second)
    assert second.state == CrosspostState.SENT, second.last_error
    assert len(posts_of(net, people[1].did)) == 2


def test_server_errors_and_timeouts_are_retried_with_backoff(
    client, atproto_network, people, shop, faulty_pds: FaultProxy
) -> None:
    net = atproto_network
    via_proxy(people[0], faulty_pds)
    faulty_pds.fail_next(CREATE, status=503)
    faulty_pds.fail_next("/xrpc/com.atproto.repo.getRecord", status=503)
    row = compose(client, shop)
    started = utcnow()
    run_queued_tasks()
    db.session.refresh(row)
    assert row.state == CrosspostState.PENDING
    assert "HTTP 503" in row.last_error
    assert row.next_attempt_at >= started + timedelta(seconds=20)
    assert posts_of(net, people[1].did) == []

    # A late answer: the write happens, we time out, and the retry finds and adopts it.
    faulty_pds.delay_next(CREATE, seconds=6, forward=True)
    run_queued_tasks(scheduled=True)
    db.session.refresh(row)
    assert row.state == CrosspostState.SENT, row.last_error
    assert len(posts_of(net, people[1].did)) == 1


def test_a_rate_limit_waits_for_its_reset(
    client, atproto_network, people, shop, faulty_pds: FaultProxy
) -> None:
    via_proxy(people[0], faulty_pds)
    reset = int(time.time()) + 3 * 3600
    faulty_pds.rate_limit_next(CREATE, reset=reset)
    row = compose(client, shop)
    run_queued_tasks()
    db.session.refresh(row)
    assert row.state == CrosspostState.PENDING
    assert row.next_attempt_at >= datetime.fromtimestamp(reset, UTC)
    run_queued_tasks(scheduled=True)
    db.session.refresh(row)
    assert row.state == CrosspostState.SENT
    assert len(posts_of(atproto_network, people[1].did)) == 1


def test_deleting_the_post_deletes_it_on_bluesky(client, atproto_network, people, shop) -> None:
    net = atproto_network
    row = compose(client, shop)
    run_queued_tasks()
    db.session.refresh(row)
    rkey, post_id = row.remote_id, row.post_id
    assert record_of(net, people[1].did, rkey) is not None
    assert client.post(f"/posts/{post_id}/delete").status_code == 302
    run_queued_tasks()
    assert record_of(net, people[1].did, rkey) is None
    assert db.session.scalars(sa.select(Crosspost)).all() == []


def test_a_post_deleted_on_bluesky_shows_as_deleted(client, atproto_network, people, shop) -> None:
    net = atproto_network
    row = compose(client, shop)
    run_queued_tasks()
    db.session.refresh(row)
    net.process_all()
    assert replies.check_reply(row.id) == "waiting"
    answer = net.call(
        people[1],
        "POST",
        "com.atproto.repo.deleteRecord",
        json={"repo": people[1].did, "collection": POST, "rkey": row.remote_id},
    )
    assert answer.status_code == 200, answer.text
    net.process_all()
    assert replies.check_reply(row.id) == "gone"
    db.session.commit()
    assert "Deleted on Bluesky." in client.get(f"/posts/{row.post_id}").text


def test_the_business_reply_is_found_by_its_did(client, atproto_network, people, shop) -> None:
    net = atproto_network
    alice, alice_there, shop_there = people
    row = compose(client, shop, kind="complaint", body="My order was lost.")
    run_queued_tasks()
    db.session.refresh(row)
    sent = record_of(net, alice_there.did, row.remote_id)
    parent = {"uri": sent["uri"], "cid": sent["cid"]}
    # Someone else answers first, even naming the shop: it doesn't count.
    stranger = net.create_account("stranger")
    net.post(stranger, f"I am {shop_there.handle}, honest.", reply_to=parent)
    net.process_all()
    assert replies.check_reply(row.id) == "waiting"
    db.session.commit()
    answer = net.post(shop_there, "So sorry! We found it and it's on its way.", reply_to=parent)
    net.process_all()
    db.session.refresh(row)
    row.next_reply_check_at = utcnow()
    db.session.commit()
    assert replies.check_reply(row.id) == "replied"
    db.session.commit()
    db.session.refresh(row)
    rkey = answer["uri"].rsplit("/", 1)[1]
    assert row.reply_url == f"https://bsky.app/profile/{shop_there.did}/post/{rkey}"
    assert row.reply_text == "So sorry! We found it and it's on its way."
    assert row.sent_at <= row.replied_at <= utcnow()
    post = db.session.get(Post, row.post_id)
    assert post.complaint_status == ComplaintStatus.REPLIED

    page = client.get(f"/posts/{row.post_id}").text
    assert "Corner Bakery replied after" in page
    assert "Read the reply on Bluesky" in page
    assert row.reply_url in page
    numbers = stats.business_numbers(db.session.get(Business, shop.id))
    assert (numbers.askable, numbers.answered) == (1, 1)
    assert numbers.answers_by_source == [("on Bluesky", 1)]
    assert numbers.median_reply is not None


def test_leaving_with_the_posts_deletes_them_on_bluesky(
    client, atproto_network, people, shop
) -> None:
    net = atproto_network
    alice, alice_there = people[0], people[1]
    row = compose(client, shop)
    run_queued_tasks()
    db.session.refresh(row)
    rkey = row.remote_id
    form = {"password": PASSWORD, "delete_statuses": "y"}
    response = client.post("/settings/delete", data=form, follow_redirects=True)
    assert "Your posts on Bluesky are being deleted, 1 in all." in response.text
    run_queued_tasks(scheduled=True)
    assert record_of(net, alice_there.did, rkey) is None
    # Nothing left to delete: the connection is forgotten, its session ended.
    assert db.session.scalars(sa.select(BlueskyAccount)).all() == []
    assert db.session.scalars(sa.select(Crosspost)).all() == []
    assert db.session.get(User, alice.id) is None


def test_a_failed_delete_is_tried_again_until_done(
    client, atproto_network, people, shop, faulty_pds: FaultProxy
) -> None:
    net = atproto_network
    via_proxy(people[0], faulty_pds)
    row = compose(client, shop)
    run_queued_tasks()
    db.session.refresh(row)
    rkey, row_id = row.remote_id, row.id
    faulty_pds.fail_next("/xrpc/com.atproto.repo.deleteRecord", status=502, times=2)
    assert client.post(f"/posts/{row.post_id}/delete").status_code == 302
    run_queued_tasks()
    left = db.session.get(Crosspost, row_id)
    assert left is not None and left.state == CrosspostState.DELETING
    assert record_of(net, people[1].did, rkey) is not None
    run_queued_tasks(scheduled=True)
    run_queued_tasks(scheduled=True)
    assert db.session.get(Crosspost, row_id) is None
    assert record_of(net, people[1].did, rkey) is None


def test_a_revoked_app_password_asks_to_reconnect(client, atproto_network, people, shop) -> None:
    net = atproto_network
    alice_there = people[1]
    names = net.call(alice_there, "GET", "com.atproto.server.listAppPasswords").json()
    for password in names["passwords"]:
        answer = net.call(
            alice_there,
            "POST",
            "com.atproto.server.revokeAppPassword",
            json={"name": password["name"]},
        )
        assert answer.status_code == 200, answer.text
    # The access token lives on until it ends; then renewing it is refused.
    people[0].bluesky_account.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    row = compose(client, shop)
    run_queued_tasks()
    db.session.refresh(row)
    assert row.state == CrosspostState.NEEDS_LOGIN, (row.state, row.last_error)
    assert posts_of(net, alice_there.did) == []
    page = client.get(f"/posts/{row.post_id}").text
    assert "Reconnect Bluesky" in page


def thread_rewritten(monkeypatch: pytest.MonkeyPatch, rewrite: Callable[[dict], dict]) -> None:
    """Make the poster's PDS answer every thread read as `rewrite` turns the real answer."""
    real = bluesky_client.Client.get

    def get(self, nsid: str, params: dict | None = None, *, proxy_appview: bool = False) -> dict:
        answer = real(self, nsid, params, proxy_appview=proxy_appview)
        return rewrite(answer) if nsid == "app.bsky.feed.getPostThread" else answer

    monkeypatch.setattr(bluesky_client.Client, "get", get)


def shown_reply(did: str, handle: str, uri: str, words: str, parent: dict) -> dict:
    """Return a reply as the AppView shows it in a thread: by `did`, at `uri`, saying `words`."""
    return {
        "$type": "app.bsky.feed.defs#threadViewPost",
        "post": {
            "uri": uri,
            "cid": parent["cid"],
            "author": {"did": did, "handle": handle},
            "record": {
                "$type": POST,
                "text": words,
                "createdAt": fixture_now(),
                "reply": {"root": parent, "parent": parent},
            },
            "indexedAt": fixture_now(),
        },
        "replies": [],
    }


def look_again(row: Crosspost) -> str:
    """Check the post for a reply now, as the watch would when due."""
    db.session.refresh(row)
    row.next_reply_check_at = utcnow()
    db.session.commit()
    outcome = replies.check_reply(row.id)
    db.session.commit()
    db.session.refresh(row)
    return outcome


def test_a_reply_only_the_posters_server_claims_does_not_count(
    client, atproto_network, people, shop, monkeypatch
) -> None:
    net = atproto_network
    alice, alice_there, shop_there = people
    row = compose(client, shop, kind="complaint", body="My order was lost.")
    run_queued_tasks()
    db.session.refresh(row)
    sent = record_of(net, alice_there.did, row.remote_id)
    parent = {"uri": sent["uri"], "cid": sent["cid"]}
    elsewhere = net.post(shop_there, "Fresh bread at seven tomorrow.")
    shown: list[dict] = [
        # A record the shop's PDS doesn't have, "by" the shop's DID.
        shown_reply(
            shop_there.did,
            shop_there.handle,
            f"at://{shop_there.did}/{POST}/{new_tid()}",
            "Sorry! Here is a refund.",
            parent,
        ),
        # A real post of the shop's, but not a reply to this post.
        shown_reply(
            shop_there.did, shop_there.handle, elsewhere["uri"], "Sorry! Refund sent.", parent
        ),
    ]

    def forge(answer: dict) -> dict:
        answer["thread"]["replies"] = [*shown, *answer["thread"].get("replies", [])]
        return answer

    thread_rewritten(monkeypatch, forge)
    net.process_all()
    assert look_again(row) == "waiting"
    assert row.replied_at is None and row.reply_url is None
    assert db.session.get(Post, row.post_id).complaint_status != ComplaintStatus.REPLIED
    page = client.get(f"/posts/{row.post_id}").text
    assert "Corner Bakery replied" not in page

    # The shop really answers; the thread's words for it are not taken, its own record's are.
    answer = net.post(shop_there, "So sorry! It's on its way.", reply_to=parent)
    net.process_all()

    def reword(reply: dict) -> dict:
        reply = forge(reply)
        for branch in reply["thread"]["replies"]:
            if branch["post"]["uri"] == answer["uri"]:
                branch["post"]["record"]["text"] = "We admit everything."
        return reply

    thread_rewritten(monkeypatch, reword)
    shown.clear()  # the real reply among at most as many candidates as are tried
    assert look_again(row) == "replied"
    assert row.reply_text == "So sorry! It's on its way."
    rkey = answer["uri"].rsplit("/", 1)[1]
    assert row.reply_url == f"https://bsky.app/profile/{shop_there.did}/post/{rkey}"
    assert row.sent_at <= row.replied_at <= utcnow()


@pytest.mark.parametrize(
    "thread",
    [
        ["not", "a", "thread"],
        {"$type": 7},
        {
            "$type": "app.bsky.feed.defs#threadViewPost",
            "replies": [
                "text",
                {"$type": None},
                {"$type": "app.bsky.feed.defs#threadViewPost", "post": ["x"], "replies": 5},
                {
                    "$type": "app.bsky.feed.defs#threadViewPost",
                    "post": {"author": "someone", "uri": 7, "indexedAt": []},
                    "replies": {"a": 1},
                },
            ],
        },
    ],
    ids=["list", "bad-type", "bad-replies"],
)
def test_a_malformed_thread_is_no_reply(
    client, atproto_network, people, shop, monkeypatch, thread
) -> None:
    row = compose(client, shop, kind="complaint", body="My order was lost.")
    run_queued_tasks()
    shop_did = people[2].did
    if isinstance(thread, dict) and isinstance(thread.get("replies"), list):
        # One more "by" the shop, its fields all of the wrong kind.
        bad = {"author": {"did": shop_did}, "uri": None, "indexedAt": 5, "record": "x"}
        thread["replies"].append(
            {"$type": "app.bsky.feed.defs#threadViewPost", "post": bad, "replies": None}
        )
    thread_rewritten(monkeypatch, lambda answer: {"thread": thread})
    atproto_network.process_all()
    assert look_again(row) == "waiting"
    assert row.replied_at is None and row.state == CrosspostState.SENT


def test_an_adopted_post_is_dated_between_its_first_attempt_and_now(
    client, atproto_network, people, shop
) -> None:
    net = atproto_network
    alice_there = people[1]
    for claimed in ("2001-01-01T00:00:00.000Z", "2999-01-01T00:00:00.000Z"):
        row = compose(client, shop, body=f"Written earlier, dated {claimed[:4]}.")
        # A record already under the row's key, as a lost answer would leave, dated anyhow.
        record = {"$type": POST, "text": "Dated oddly.", "createdAt": claimed}
        made = net.create_record(alice_there, POST, record, rkey=row.idempotency_key)
        assert made.status_code == 200, made.text
        run_queued_tasks()
        db.session.refresh(row)
        assert row.state == CrosspostState.SENT, row.last_error
        assert row.remote_id == row.idempotency_key
        assert row.created_at - timedelta(seconds=1) <= row.sent_at <= utcnow()

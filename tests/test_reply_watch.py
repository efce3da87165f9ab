"""Watching for the business's reply to a sent status, and the reply numbers on its wall.

The status goes out to the fake Mastodon server through the real form and queue; the business
(@bakery, an account on the same server, its handle the server's own domain) then replies in the
fake, and the reply check runs as the worker would run it: the reply counts once WebFinger on the
handle's domain and the business's server (here, the same fake) confirm it.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from conftest import BAKERY_ACCT, PASSWORD, run_queued_tasks, send

from webapp import tasks
from webapp.extensions import db
from webapp.models import ComplaintStatus, Crosspost, Post, utcnow
from webapp.networks import replies as crosspost


def check(row: Crosspost) -> None:
    """Run one reply check on the row, as the worker does, and reload it."""
    tasks.check_reply.call_local(row.id)
    db.session.expire_all()


def backdate(row: Crosspost, age: timedelta) -> None:
    """Pretend the status was sent `age` ago, with its check due now."""
    row.sent_at = utcnow() - age
    row.next_reply_check_at = utcnow()
    db.session.commit()


def words(page: str) -> str:
    """Return a page's visible text, tags dropped and whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def number(page: str, label: str) -> str:
    """Return one of the figures on a business's wall."""
    match = re.search(rf"<dt>{label}</dt><dd>(.*?)</dd>", page)
    assert match, f"no {label!r} on the page"
    return " ".join(html.unescape(match.group(1)).split())


# --- When to look ---


@pytest.mark.parametrize(
    ("age", "wait"),
    [
        (timedelta(0), timedelta(minutes=5)),
        (timedelta(minutes=59), timedelta(minutes=5)),
        (timedelta(hours=1), timedelta(minutes=30)),
        (timedelta(hours=5, minutes=59), timedelta(minutes=30)),
        (timedelta(hours=6), timedelta(hours=3)),
        (timedelta(hours=47), timedelta(hours=3)),
        (timedelta(days=2), timedelta(days=1)),
        (timedelta(days=13), timedelta(days=1)),
    ],
)
def test_checks_come_at_growing_intervals(age, wait):
    """The watch looks every few minutes at first, then half-hourly, then every 3 h, then daily."""
    assert crosspost.next_reply_check(age) == wait


def test_first_check_is_five_minutes_after_sending(
    client, connected, fake_mastodon, bakery_on_fake
):
    """A sent status that mentions a found business is first checked five minutes later."""
    row = send(client, bakery_on_fake)
    assert row.mention_account_id is not None
    assert row.next_reply_check_at - row.sent_at == timedelta(minutes=5)


@pytest.mark.parametrize(
    ("age", "wait"),
    [
        (timedelta(minutes=10), timedelta(minutes=5)),
        (timedelta(hours=3), timedelta(minutes=30)),
        (timedelta(hours=20), timedelta(hours=3)),
        (timedelta(days=5), timedelta(days=1)),
        (timedelta(days=13, hours=23), timedelta(days=1)),
        (timedelta(days=15), None),
    ],
)
def test_a_check_without_a_reply_schedules_the_next(
    client, connected, fake_mastodon, bakery_on_fake, age, wait
):
    """After a check that finds nothing, the next one is spaced by age; after 14 days, none."""
    row = send(client, bakery_on_fake)
    backdate(row, age)
    check(row)
    assert row.reply_checked_at is not None and row.replied_at is None
    if wait is None:
        assert row.next_reply_check_at is None
    else:
        assert row.next_reply_check_at - row.reply_checked_at == wait
    assert any(r["path"].endswith(f"/{row.remote_id}/context") for r in fake_mastodon.requests)


def test_unfound_handle_is_not_watched(client, connected, fake_mastodon, make_business):
    """A status that couldn't mention the business has nobody to wait for."""
    shop = make_business("Nowhere Shop", handle="@nobody@nowhere.example")
    row = send(client, shop)
    assert row.next_reply_check_at is None
    tasks.sweep.call_local()
    assert run_queued_tasks() == 0


def test_sweep_starts_due_checks(client, connected, fake_mastodon, bakery_on_fake):
    """The periodic sweep queues the checks that are due, and they find the reply."""
    row = send(client, bakery_on_fake)
    fake_mastodon.reply(row.remote_id, BAKERY_ACCT, "Thank you!")
    tasks.sweep.call_local()
    assert run_queued_tasks() == 0  # not due yet
    backdate(row, timedelta(minutes=6))
    tasks.sweep.call_local()
    assert run_queued_tasks() == 1
    assert row.replied_at is not None


# --- Finding the reply ---


@pytest.mark.parametrize("nested", [False, True])
def test_business_reply_is_found_in_the_thread(
    client, connected, fake_mastodon, bakery_on_fake, nested
):
    """The business's reply, directly or further down the thread, is stored with its link."""
    fake_mastodon.add_account("bob")
    row = send(client, bakery_on_fake)
    parent = row.remote_id
    if nested:
        parent = fake_mastodon.reply(parent, "bob", "Me too!")["id"]
    reply = fake_mastodon.reply(parent, BAKERY_ACCT, "Thanks for coming in!")
    check(row)
    # The server reports times to the millisecond.
    assert abs(row.replied_at - reply["created_at"]) < timedelta(milliseconds=1)
    assert row.reply_url == reply["url"]
    assert row.next_reply_check_at is None
    page = words(client.get(f"/posts/{row.post_id}").text)
    assert "Corner Bakery replied after" in page


def test_the_first_of_several_replies_counts(client, connected, fake_mastodon, bakery_on_fake):
    """When the business replied more than once, the earliest reply is the one kept."""
    row = send(client, bakery_on_fake)
    sent = row.sent_at
    later = fake_mastodon.reply(
        row.remote_id, BAKERY_ACCT, "Anything else?", at=sent + timedelta(hours=5)
    )
    first = fake_mastodon.reply(row.remote_id, BAKERY_ACCT, "Thanks!", at=sent + timedelta(hours=1))
    assert int(later["id"]) < int(first["id"])  # the later reply was posted first
    check(row)
    assert row.reply_url == first["url"]
    assert crosspost.reply_delay(row) == timedelta(hours=1)


@pytest.mark.parametrize("acct", ["bob", "support@elsewhere.example", "alice"])
def test_replies_from_anyone_else_dont_count(
    client, connected, fake_mastodon, bakery_on_fake, acct
):
    """Another person's reply (even a same-named account elsewhere), or the author's, isn't it."""
    if acct != "alice":
        user, _, domain = acct.partition("@")
        fake_mastodon.add_account(user, domain=domain or None)
    row = send(client, bakery_on_fake)
    fake_mastodon.reply(row.remote_id, acct, "Great bakery, right?")
    check(row)
    assert row.replied_at is None and row.reply_url is None
    assert row.next_reply_check_at is not None
    assert "replied after" not in client.get(f"/posts/{row.post_id}").text


def test_reply_moves_a_complaint_to_business_replied(
    client, connected, fake_mastodon, bakery_on_fake
):
    """A complaint the business answered on Mastodon shows "Business replied"."""
    row = send(client, bakery_on_fake, kind="complaint", body="My order was cold.")
    post = db.session.get(Post, row.post_id)
    assert post.complaint_status == ComplaintStatus.OPEN
    fake_mastodon.reply(row.remote_id, BAKERY_ACCT, "So sorry, we'll make it right.")
    check(row)
    assert post.complaint_status == ComplaintStatus.REPLIED
    assert "Business replied" in words(client.get(f"/posts/{row.post_id}").text)


def test_reply_leaves_a_resolved_complaint_resolved(
    client, connected, fake_mastodon, bakery_on_fake
):
    """A late reply doesn't reopen a complaint the author already marked resolved."""
    row = send(client, bakery_on_fake, kind="complaint", body="My order was cold.")
    assert client.post(f"/posts/{row.post_id}/resolve", data={"note": ""}).status_code == 302
    fake_mastodon.reply(row.remote_id, BAKERY_ACCT, "So sorry.")
    check(row)
    assert row.replied_at is not None
    assert db.session.get(Post, row.post_id).complaint_status == ComplaintStatus.RESOLVED


# --- Showing it ---


def test_permalink_says_how_long_the_business_took(
    client, connected, fake_mastodon, bakery_on_fake
):
    """The permalink shows "Corner Bakery replied after 2 h 10 min" with a link to the reply."""
    row = send(client, bakery_on_fake)
    reply = fake_mastodon.reply(
        row.remote_id, BAKERY_ACCT, "Thank you!", at=row.sent_at + timedelta(hours=2, minutes=10)
    )
    check(row)
    client.post("/logout")
    page = client.get(f"/posts/{row.post_id}").text
    assert "Corner Bakery replied after 2 h 10 min." in words(page)
    assert f'href="{html.escape(reply["url"])}"' in page


def test_business_wall_shows_reply_rate_and_median_time(
    client, connected, fake_mastodon, bakery_on_fake
):
    """Reply rate is of statuses mentioning the found handle; the median is of first replies."""
    page = client.get(f"/b/{bakery_on_fake.slug}").text
    assert number(page, "Replies") == "–"
    assert number(page, "Median reply time") == "–"

    for delay in (timedelta(hours=1), timedelta(hours=3), None):
        row = send(client, bakery_on_fake)
        if delay is not None:
            fake_mastodon.reply(row.remote_id, BAKERY_ACCT, "Thanks!", at=row.sent_at + delay)
        check(row)
    # A status whose handle didn't resolve couldn't notify the business: not in the rate.
    bakery_on_fake.handle = "@nobody@nowhere.example"
    db.session.commit()
    unresolved = send(client, bakery_on_fake)
    assert unresolved.mention_resolved is False

    page = client.get(f"/b/{bakery_on_fake.slug}").text
    assert number(page, "Replies") == "67%"
    assert number(page, "Median reply time") == "2 h"


def test_statuses_are_what_the_rate_counts_not_posts(
    client, connected, fake_mastodon, bakery_on_fake, make_post
):
    """Posts never sent to Mastodon don't lower a business's reply rate."""
    make_post(connected, bakery_on_fake)
    row = send(client, bakery_on_fake)
    fake_mastodon.reply(
        row.remote_id, BAKERY_ACCT, "Thanks!", at=row.sent_at + timedelta(minutes=30)
    )
    check(row)
    page = client.get(f"/b/{bakery_on_fake.slug}").text
    assert number(page, "Replies") == "100%"
    assert number(page, "Median reply time") == "30 min"


def test_deleting_the_account_leaves_nothing_to_watch(
    client, connected, fake_mastodon, bakery_on_fake
):
    """After the author leaves, no delivery row lingers for the sweep to keep picking up."""
    send(client, bakery_on_fake)
    assert client.post("/settings/delete", data={"password": PASSWORD}).status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Crosspost)) == 0
    assert crosspost.watch_due() == []

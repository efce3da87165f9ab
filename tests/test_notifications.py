"""Email notifications people choose, against a real SMTP server on loopback.

A person ticks kinds in their settings once their address is confirmed; the periodic task
finds committed events (a business's reply through the fake Mastodon, a finished challenge
round, a quiet month) and mails each once, never about what happened before they asked. Every
message carries a one-click unsubscribe link (RFC 8058) that works without signing in.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from conftest import PASSWORD, AuthActions, business_on, compose_form, run_queued_tasks, send
from helpers import count, page_text
from test_email import Inbox, body, confirmed, free_port, set_address, start_smtp

from webapp import tasks
from webapp.extensions import db
from webapp.models import ChallengeRound, Crosspost, MailMessage, User, utcnow
from webapp.services import emails, notifications

KINDS = ("replies", "status", "rounds", "nudge")
SENDER = "Praisewall <hello@praisewall.test>"


@pytest.fixture
def smtp() -> Iterator[Inbox]:
    """A real SMTP server on loopback."""
    inbox = Inbox(free_port())
    controller = start_smtp(inbox)
    yield inbox
    controller.stop()


@pytest.fixture
def app(make_app, smtp):
    """The app, sending its mail to the loopback SMTP server."""
    app = make_app(MAIL_URL=smtp.url, MAIL_FROM=SENDER)
    with app.app_context():
        yield app


@pytest.fixture
def alice(client, make_user, smtp) -> User:
    """Alice, signed in, with alice@example.com confirmed and nothing in the inbox."""
    user = make_user("alice")
    AuthActions(client).login()
    confirmed(client, smtp, "alice@example.com")
    smtp.messages.clear()
    db.session.refresh(user)
    return user


@pytest.fixture
def on_mastodon(client, alice, fake_mastodon, make_business):
    """Alice connected to her Mastodon account, and a bakery there that can reply."""
    start = client.post("/login/mastodon", data={"handle": f"alice@{fake_mastodon.domain}"})
    back = urlsplit(fake_mastodon.approve(start.headers["Location"], "alice"))
    assert client.get(f"{back.path}?{back.query}").status_code == 302
    return business_on(fake_mastodon, make_business, "bakery")


def choose(client, *kinds: str):
    """Send the notifications form with these kinds ticked (and the rest not)."""
    return client.post("/settings/notifications", data=dict.fromkeys(kinds, "y"))


def scan() -> None:
    """Run the periodic notification task as the worker would, and send what it queued."""
    tasks.notify.call_local()
    run_queued_tasks()


def business_replies(fake_mastodon, row: Crosspost, text: str = "Thanks for coming in!") -> None:
    """The bakery replies to the status; the reply watch records it, as the worker would."""
    fake_mastodon.reply(row.remote_id, "bakery", text)
    row.next_reply_check_at = utcnow()
    db.session.commit()
    tasks.check_reply.call_local(row.id)
    db.session.expire_all()
    assert row.replied_at is not None


def unsubscribe_path(message: EmailMessage) -> str:
    """Return the path of the one-click link in a message's List-Unsubscribe header."""
    match = re.fullmatch(
        r"<https?://praisewall\.test(/unsubscribe/[^>]+)>", message["List-Unsubscribe"]
    )
    assert match, message["List-Unsubscribe"]
    return match.group(1)


def ticked(page: str, name: str) -> bool:
    """Tell whether the page's checkbox of this name is ticked."""
    [box] = re.findall(rf'<input[^>]*name="{name}"[^>]*>', page)
    return " checked" in box


def count_where(model: type, *conditions) -> int:
    """Count the rows of a model that meet the conditions."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*conditions))


def chosen(user: User) -> dict[str, bool]:
    """Return the kinds the person has on, read afresh from the database."""
    db.session.expire_all()
    return notifications.choices(db.session.get(User, user.id))


def praise(client, business, **fields):
    """Post a praise through the compose form."""
    response = client.post("/posts/new", data=compose_form(business, **fields))
    assert response.status_code == 302, response.text
    return response


# --- Choosing ---


def test_boxes_wait_for_a_confirmed_address(client, make_user, auth, smtp):
    """Before the address is confirmed, the boxes are disabled, say why, and saving is refused."""
    make_user("alice")
    auth.login()
    set_address(client, "alice@example.com")  # asked for, not confirmed
    page = client.get("/settings")
    text = page_text(page)
    assert "Notifications" in text
    assert "We send these only to a confirmed email address" in text
    assert re.search(r"<fieldset disabled", page.text)
    assert choose(client, "replies").status_code == 409
    assert not any(chosen(db.session.scalars(sa.select(User)).one()).values())


def test_choices_are_saved_and_shown(client, alice):
    """Ticking boxes turns those kinds on; the page shows them ticked; unticking turns off."""
    page = client.get("/settings")
    assert "<fieldset disabled" not in page.text
    for kind in notifications.KINDS:
        assert kind.label in page_text(page)
    assert not any(chosen(alice).values())
    response = choose(client, "replies", "nudge")
    assert response.status_code == 302
    assert chosen(alice) == {"replies": True, "status": False, "rounds": False, "nudge": True}
    page = client.get("/settings")
    assert ticked(page.text, "replies") and not ticked(page.text, "status")
    choose(client, "nudge")
    assert chosen(alice) == {"replies": False, "status": False, "rounds": False, "nudge": True}


def test_ticking_again_keeps_when_it_was_turned_on(client, alice):
    """Saving the form again doesn't move a kind's start, so nothing in between is skipped."""
    choose(client, "replies")
    first = db.session.get(User, alice.id).notify_replies_since
    choose(client, "replies", "rounds")
    db.session.expire_all()
    assert db.session.get(User, alice.id).notify_replies_since == first


# --- A business replied ---


def test_a_reply_is_mailed_once_with_unsubscribe_headers(
    client, alice, on_mastodon, smtp, fake_mastodon
):
    """A business's reply to my status is mailed once, however often the task runs."""
    choose(client, "replies")
    row = send(client, on_mastodon, body="They kept a loaf for me.")
    business_replies(fake_mastodon, row)
    scan()
    scan()
    [message] = smtp.to("alice@example.com")
    assert message["From"] == SENDER
    assert message["Subject"] == "Corner Bakery replied to your praise"
    assert "Thanks for coming in!" in body(message)
    assert f"/posts/{row.post_id}" in body(message)
    assert "See your post</a>" in body(message, "html")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    path = unsubscribe_path(message)
    assert path in body(message) and path in body(message, "html")
    assert count_where(MailMessage, MailMessage.key == f"notify:reply:{row.id}") == 1


def test_nothing_is_mailed_when_the_kind_is_off(client, alice, on_mastodon, smtp, fake_mastodon):
    """With every box unticked, a reply sends nothing."""
    choose(client, "rounds")
    row = send(client, on_mastodon)
    business_replies(fake_mastodon, row)
    scan()
    assert smtp.to("alice@example.com") == []


def test_a_reply_before_opting_in_is_not_mailed(client, alice, on_mastodon, smtp, fake_mastodon):
    """A reply recorded before I asked is old news; one after is mailed."""
    earlier = send(client, on_mastodon, body="First visit.")
    business_replies(fake_mastodon, earlier)
    choose(client, "replies")
    scan()
    assert smtp.to("alice@example.com") == []
    later = send(client, on_mastodon, body="Second visit.")
    business_replies(fake_mastodon, later)
    scan()
    [message] = smtp.to("alice@example.com")
    assert "Second visit" not in body(message) and f"/posts/{later.post_id}" in body(message)


def test_without_a_confirmed_address_nothing_is_mailed(
    client, alice, on_mastodon, smtp, fake_mastodon
):
    """Removing my address turns every kind off: nothing is mailed, the boxes wait again."""
    choose(client, "replies", "nudge")
    assert (
        client.post("/settings/email", data={"email": "", "password": PASSWORD}).status_code == 302
    )
    assert not any(chosen(alice).values())
    run_queued_tasks()
    smtp.messages.clear()
    row = send(client, on_mastodon)
    business_replies(fake_mastodon, row)
    scan()
    assert smtp.messages == []
    page = client.get("/settings")
    assert "We send these only to a confirmed email address" in page_text(page)
    assert not ticked(page.text, "replies") and not ticked(page.text, "nudge")


# --- A complaint changed status ---


def test_a_complaint_moved_to_business_replied_is_mailed_once(
    client, alice, on_mastodon, smtp, fake_mastodon
):
    """With only "my complaint changed status" on, the reply that moves it is mailed, once."""
    choose(client, "status")
    praised = send(client, on_mastodon, body="Lovely bread.")
    business_replies(fake_mastodon, praised)
    complaint = send(client, on_mastodon, kind="complaint", body="The loaf was stale.", rating=None)
    business_replies(fake_mastodon, complaint, "Sorry, come back for a fresh one.")
    scan()
    scan()
    [message] = smtp.to("alice@example.com")  # the reply to the praise is not a status change
    assert message["Subject"] == "Corner Bakery replied to your complaint"
    assert "Business replied" in body(message)
    # Its link stops this kind, the one I asked for.
    assert client.post(unsubscribe_path(message)).status_code == 200
    assert chosen(alice)["status"] is False


def test_both_kinds_on_mail_a_complaint_reply_once(client, alice, on_mastodon, smtp, fake_mastodon):
    """A reply to a complaint is one event: one message, even with both kinds on."""
    choose(client, "replies", "status")
    complaint = send(client, on_mastodon, kind="complaint", body="Stale.", rating=None)
    business_replies(fake_mastodon, complaint)
    scan()
    assert len(smtp.to("alice@example.com")) == 1


# --- A challenge round finished ---


def test_a_finished_round_is_mailed_once(client, alice, smtp, make_business):
    """The third praise finishes a round; the task mails it once."""
    choose(client, "rounds")
    bakery = make_business("Corner Bakery")
    for words in ("Warm bread.", "Kind staff.", "Fair prices."):
        praise(client, bakery, body=words)
    assert count_where(ChallengeRound, ChallengeRound.completed_at.is_not(None)) == 1
    scan()
    scan()
    [message] = smtp.to("alice@example.com")
    assert message["Subject"] == "You finished a round of the three-praise challenge"
    assert "/challenge" in body(message)
    assert message["List-Unsubscribe"]


def test_a_round_finished_before_opting_in_is_not_mailed(client, alice, smtp, make_business):
    """A round already done when I asked is not news."""
    bakery = make_business("Corner Bakery")
    for words in ("Warm bread.", "Kind staff.", "Fair prices."):
        praise(client, bakery, body=words)
    choose(client, "rounds")
    scan()
    assert smtp.to("alice@example.com") == []


# --- The monthly nudge ---


def test_the_nudge_comes_at_most_once_a_month(client, alice, smtp, monkeypatch):
    """Opted in and quiet: one nudge now, none again for 30 days, one after."""
    choose(client, "nudge")
    scan()
    scan()
    [message] = smtp.to("alice@example.com")
    assert message["Subject"] == "Has a company impressed you lately?"
    assert "/posts/new?kind=praise" in body(message)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    now = utcnow()
    monkeypatch.setattr(tasks, "utcnow", lambda: now + timedelta(days=29))
    scan()
    assert len(smtp.to("alice@example.com")) == 1
    monkeypatch.setattr(tasks, "utcnow", lambda: now + timedelta(days=31))
    scan()
    scan()
    assert len(smtp.to("alice@example.com")) == 2


def test_the_last_and_first_of_a_month_get_one_nudge_between_them(client, alice, smtp, monkeypatch):
    """A new calendar month is not a new month of quiet: late on the 31st, then just after
    midnight, one nudge."""
    choose(client, "nudge")
    evening = utcnow().replace(month=1, day=31, hour=23, minute=0) + timedelta(days=366)
    monkeypatch.setattr(tasks, "utcnow", lambda: evening)
    scan()
    monkeypatch.setattr(tasks, "utcnow", lambda: evening + timedelta(minutes=90))
    scan()
    assert len(smtp.to("alice@example.com")) == 1


def test_no_nudge_after_a_recent_praise_or_when_off(client, alice, smtp, make_business, make_user):
    """Someone who praised lately, or didn't ask, gets no nudge."""
    choose(client, "nudge")
    praise(client, make_business("Corner Bakery"), body="Warm bread.")
    bob = make_user("bob")  # quiet, but never asked
    bob.email = "bob@example.com"
    db.session.commit()
    scan()
    assert smtp.messages == []


# --- Unsubscribing ---


def test_one_click_post_unsubscribes_without_signing_in(client, alice, smtp, app):
    """A mail client's one-click POST, with no session and no CSRF token, turns that kind off."""
    choose(client, "nudge", "rounds")
    scan()
    [message] = smtp.to("alice@example.com")
    stranger = app.test_client()
    response = stranger.post(
        unsubscribe_path(message),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert "Unsubscribed" in page_text(response)
    assert chosen(alice) == {"replies": False, "status": False, "rounds": True, "nudge": False}


def test_one_click_works_with_csrf_protection_on(csrf_app, make_user):
    """The one-click POST is exempt from the CSRF check: the signed link is the authorization."""
    user = make_user("alice")
    user.email, user.notify_nudge_since = "alice@example.com", utcnow()
    db.session.commit()
    path = f"/unsubscribe/{notifications.unsubscribe_token(user, 'nudge')}"
    response = csrf_app.test_client().post(path, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert chosen(user)["nudge"] is False


def test_opening_the_link_only_asks(client, alice, smtp, app):
    """A GET (a person, or a link scanner) shows a button and changes nothing."""
    choose(client, "nudge")
    scan()
    path = unsubscribe_path(smtp.to("alice@example.com")[0])
    response = app.test_client().get(path)
    assert response.status_code == 200
    assert "Stop these emails" in page_text(response)
    assert f'action="{path}"' in response.text
    assert chosen(alice)["nudge"] is True


@pytest.mark.parametrize(
    "token",
    [
        "forged",
        "tampered",
        "other-salt",
        "unknown-kind",
        "gone-user",
    ],
)
def test_a_bad_token_is_refused_and_changes_nothing(client, alice, app, make_user, token):
    """Forged, altered, signed for another purpose, or naming nothing: a 400, nothing changes."""
    choose(client, *KINDS)
    genuine = notifications.unsubscribe_token(alice, "replies")
    bob = make_user("bob")
    tokens = {
        "forged": "eyJ1IjoxLCJrIjoicmVwbGllcyJ9.Zz.bad",
        "tampered": genuine[:-2] + ("AA" if not genuine.endswith("AA") else "BB"),
        # A genuine link of another kind (an address confirmation) can't unsubscribe.
        "other-salt": emails.serializer().dumps({"u": alice.id, "k": "replies"}),
        "unknown-kind": notifications.unsubscribe_signer().dumps({"u": alice.id, "k": "all"}),
        "gone-user": notifications.unsubscribe_token(bob, "replies"),
    }
    if token == "gone-user":
        db.session.delete(bob)
        db.session.commit()
    before = chosen(alice)
    stranger = app.test_client()
    assert stranger.post(f"/unsubscribe/{tokens[token]}").status_code == 400
    assert stranger.get(f"/unsubscribe/{tokens[token]}").status_code == 400
    assert chosen(alice) == before


# --- Privacy ---


def test_no_unsubscribe_token_in_the_database_or_logs(
    client, alice, on_mastodon, smtp, fake_mastodon, caplog, app
):
    """Unsubscribe links live only in the (encrypted) messages, never in a log."""
    caplog.set_level(logging.DEBUG)
    for name in ("werkzeug", "webapp", "huey"):
        caplog.set_level(logging.DEBUG, logger=name)
    choose(client, "replies")
    row = send(client, on_mastodon)
    business_replies(fake_mastodon, row)
    scan()
    [message] = smtp.to("alice@example.com")
    path = unsubscribe_path(message)
    app.test_client().get(path)
    assert app.test_client().post(path).status_code == 200
    token = path.rsplit("/", 1)[1]
    dump = "\n".join(
        repr(tuple(r))
        for table in db.metadata.sorted_tables
        for r in db.session.execute(sa.select(table))
    )
    logs = "\n".join(
        f"{record.name} {record.getMessage()} {record.args!r}"
        for record in caplog.records
        if not record.name.startswith("mail.log")  # the test's own SMTP server, not ours
    )
    assert "mail" in logs, "nothing was logged, so the check would prove nothing"
    assert token not in dump and token not in logs


def test_export_holds_the_choices(client, alice):
    """My data export says which emails I chose, and since when."""
    choose(client, "replies", "nudge")
    account = client.get("/settings/export.json").json["account"]
    assert account["notify_replies_since"] and account["notify_nudge_since"]
    assert account["notify_status_since"] is None and account["notify_rounds_since"] is None


def test_leaving_takes_the_choices_and_stops_the_mail(client, alice, smtp):
    """Deleting the account removes the choices with it; the task then mails nobody."""
    choose(client, *KINDS)
    assert client.post("/settings/delete", data={"password": PASSWORD}).status_code == 302
    assert db.session.scalar(sa.select(User).where(User.id == alice.id)) is None
    assert count_where(User, User.notify_nudge_since.is_not(None)) == 0
    scan()
    assert smtp.messages == []
    assert count(MailMessage) == 0


# --- Running twice at once ---


def test_a_scan_racing_another_queues_each_event_once(client, alice, monkeypatch):
    """If another scan commits the same event's message first, this one skips it, not fails."""
    choose(client, "nudge")
    [notice] = notifications.nudge_notices(utcnow())
    # The other scan's message, committed after this scan looked and before it inserts.
    theirs = MailMessage(
        key=notice.key, to_address="alice@example.com", subject="x", body_encrypted="x"
    )
    db.session.add(theirs)
    db.session.commit()

    def insert_without_looking(key, to, subject, text, html, user=None, headers=None):
        row = MailMessage(key=key, to_address=to, subject=subject, body_encrypted="x")
        db.session.add(row)
        db.session.flush()  # the unique key refuses the second message
        return row

    monkeypatch.setattr(notifications.mail, "queue", insert_without_looking)
    with notifications.site_links():
        assert notifications.queue_once(notice, utcnow()) is None
    db.session.commit()  # the rest of this scan's work still commits
    [row] = db.session.scalars(sa.select(MailMessage).where(MailMessage.key == notice.key))
    assert row.id == theirs.id


# --- Links written outside a request ---


def quiet_member_with_the_nudge(make_user) -> User:
    """Alice, with a confirmed address and the monthly nudge on, set directly."""
    user = make_user("alice")
    user.email, user.notify_nudge_since = "alice@example.com", utcnow()
    db.session.commit()
    return user


def test_links_name_the_site_url(make_app, make_user, smtp):
    """Without SERVER_NAME, the worker builds the mail's links from SITE_URL."""
    site = make_app(MAIL_URL=smtp.url, SERVER_NAME=None, SITE_URL="https://praisewall.example/")
    with site.app_context():
        quiet_member_with_the_nudge(make_user)
        scan()
    [message] = smtp.messages
    assert message["List-Unsubscribe"].startswith("<https://praisewall.example/unsubscribe/")
    assert "https://praisewall.example/posts/new?kind=praise" in body(message)


def test_without_a_site_address_nothing_is_queued(make_app, make_user, smtp, caplog):
    """With neither SITE_URL nor SERVER_NAME, links can't be written: nothing goes, and the
    log says which setting is missing."""
    site = make_app(MAIL_URL=smtp.url, SERVER_NAME=None)
    with site.app_context():
        quiet_member_with_the_nudge(make_user)
        scan()
        assert count(MailMessage) == 0
    assert smtp.messages == []
    assert "WEBAPP_SITE_URL" in caplog.text


def test_without_a_site_address_and_nobody_asking_nothing_is_logged(make_app, make_user, caplog):
    """A site where nobody chose notifications doesn't warn every five minutes."""
    site = make_app(SERVER_NAME=None)
    with site.app_context():
        make_user("alice")
        scan()
    assert "WEBAPP_SITE_URL" not in caplog.text


# --- A business answered on its wall ---


def claimed_by(make_user, make_business, owner_name: str = "bakery"):
    """A bakery whose owner answers on its Praisewall page; return it and a browser as them."""
    owner = make_user(owner_name)
    business = make_business("Corner Bakery")
    business.owner = owner
    business.claimed_at = utcnow()
    db.session.commit()
    return business


def answer_on_wall(app, business, post_id: int, text: str) -> None:
    """The owner publishes (or edits) the business's reply under the post."""
    owner = app.test_client()
    AuthActions(owner).login("bakery", PASSWORD)
    response = owner.post(f"/b/{business.slug}/posts/{post_id}/reply", data={"body": text})
    assert response.status_code == 302


def test_an_answer_on_the_wall_is_mailed_once(client, alice, smtp, make_user, make_business, app):
    """The business's reply on its wall is mailed once; editing it mails nothing more."""
    choose(client, "replies")
    bakery = claimed_by(make_user, make_business)
    post_id = int(praise(client, bakery, body="Lovely bread.").headers["Location"].split("/")[-1])
    answer_on_wall(app, bakery, post_id, "Thank you, Alice!")
    scan()
    answer_on_wall(app, bakery, post_id, "Thank you so much, Alice!")
    scan()
    [message] = smtp.to("alice@example.com")
    assert message["Subject"] == "Corner Bakery replied to your praise"
    assert "replied to your praise on its Praisewall page" in body(message)
    assert "Thank you, Alice!" in body(message)
    assert f"/posts/{post_id}" in body(message)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert count_where(MailMessage, MailMessage.key.like("notify:wall-reply:%")) == 1


def test_an_answer_to_a_complaint_on_the_wall_is_a_status_change(
    client, alice, smtp, make_user, make_business, app
):
    """With only the status kind on, the answer that moves a complaint is mailed."""
    choose(client, "status")
    bakery = claimed_by(make_user, make_business)
    response = praise(client, bakery, kind="complaint", body="Stale.", rating=None)
    post_id = int(response.headers["Location"].split("/")[-1])
    answer_on_wall(app, bakery, post_id, "Sorry, come back for a fresh one.")
    scan()
    [message] = smtp.to("alice@example.com")
    assert message["Subject"] == "Corner Bakery replied to your complaint"
    assert "Business replied" in body(message)


def test_an_answer_on_the_wall_before_opting_in_is_not_mailed(
    client, alice, smtp, make_user, make_business, app
):
    """Only answers after I asked are mailed."""
    bakery = claimed_by(make_user, make_business)
    post_id = int(praise(client, bakery, body="Lovely.").headers["Location"].split("/")[-1])
    answer_on_wall(app, bakery, post_id, "Thanks!")
    choose(client, "replies")
    scan()
    assert smtp.to("alice@example.com") == []

"""Delivery against servers that aren't quite Mastodon, what it logs, and the operators' commands.

Everything runs against the fake Mastodon server over loopback, through the real compose form,
the real queued tasks and the real `flask crossposts` commands.
"""

# The fixtures imported from test_crosspost are named again as test arguments, as pytest wants.
# ruff: noqa: F811

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from conftest import run_queued_tasks, send, submit
from fake_mastodon import FakeMastodon
from mastodon import Mastodon
from test_crosspost import (  # noqa: F401  (fixtures)
    HANDLE,
    app,
    connect_alice,
    crosspost_box,
    live_statuses,
    make_fake,
    permalink,
    run_retries,
    status_requests,
    words,
)

from webapp.extensions import db
from webapp.infra import crypto
from webapp.infra.queue import huey
from webapp.models import Crosspost, CrosspostState, utcnow
from webapp.networks import delivery as crosspost
from webapp.networks.mastodon import client as mastodon

BODY = "They saved the last sourdough for me."


def expected_text(row: Crosspost, body: str = BODY) -> str:
    """Return the status the app sends for a praise post about the bakery."""
    return f"{body}\n\n{HANDLE} #CustomerServiceWin\n{permalink(row)}"


def post_as_alice(fake: FakeMastodon, text: str, *, age: timedelta = timedelta(0)) -> str:
    """Post a status as alice straight on the server, dated `age` ago; return its id."""
    token = fake.create_token("alice")
    status = Mastodon(access_token=token, api_base_url=fake.url).status_post(text)
    record = next(s for s in fake.statuses if s["id"] == str(status.id))
    record["created_at"] -= age
    return str(status.id)


def searches(fake: FakeMastodon) -> list[dict]:
    """Return the requests that looked through an account's statuses."""
    return [r for r in fake.requests if r["method"] == "GET" and r["path"].endswith("/statuses")]


# --- Adopting only a status this row's own attempts made ---


def test_a_first_delivery_posts_even_if_an_older_status_has_the_same_link(
    client, connected, fake_mastodon, bakery_with_handle
):
    """A status the server already holds for a reused /posts/N is left alone: ours is posted."""
    row = submit(client, bakery_with_handle, body=BODY)
    older = post_as_alice(fake_mastodon, expected_text(row), age=timedelta(days=30))
    run_queued_tasks()
    assert row.state == CrosspostState.SENT
    assert row.remote_id != older
    assert [r["status"] for r in status_requests(fake_mastodon)] == [200, 200]
    assert len(live_statuses(fake_mastodon)) == 2
    assert searches(fake_mastodon) == []  # a first attempt has nothing to look for
    box = words(crosspost_box(client.get(f"/posts/{row.post_id}").text))
    assert "Sent to Mastodon." in box


@pytest.mark.parametrize("kind", ["older", "other words"])
def test_a_retry_adopts_no_status_its_attempts_could_not_have_made(
    client, connected, fake_mastodon, bakery_with_handle, kind
):
    """After an attempt that may have posted, an older status or one with other words is skipped."""
    fake_mastodon.fail_next("POST", "/api/v1/statuses", 503)
    row = submit(client, bakery_with_handle, body=BODY)
    run_queued_tasks()
    assert row.state == CrosspostState.PENDING
    if kind == "older":
        other = post_as_alice(fake_mastodon, expected_text(row), age=timedelta(hours=2))
    else:
        other = post_as_alice(fake_mastodon, expected_text(row, "Somebody else's story."))
    run_retries()
    assert row.state == CrosspostState.SENT and row.remote_id != other
    assert len(searches(fake_mastodon)) == 1  # the 503 may have posted, so it looked
    assert len(live_statuses(fake_mastodon)) == 2


def test_a_lost_answer_is_adopted_exactly_once(
    client, connected, fake_mastodon, bakery_with_handle, monkeypatch
):
    """The status made by an attempt that timed out is adopted, past the idempotency hour, once."""
    monkeypatch.setattr(mastodon, "TIMEOUT", 1)
    fake_mastodon.delay_next("POST", "/api/v1/statuses", 2)
    row = submit(client, bakery_with_handle, body=BODY)
    run_queued_tasks()
    assert row.state == CrosspostState.PENDING and row.first_attempt_at is not None
    (made,) = fake_mastodon.statuses
    fake_mastodon.advance_clock(3601)  # the server has forgotten the idempotency key
    run_retries(3)
    assert row.state == CrosspostState.SENT and row.remote_id == made["id"]
    assert len(status_requests(fake_mastodon)) == 1
    assert len(searches(fake_mastodon)) == 1
    assert live_statuses(fake_mastodon) == [made]


def test_a_refused_attempt_is_not_searched_for(
    client, connected, fake_mastodon, bakery_with_handle
):
    """A 429 made nothing, so the retry posts straight away without looking first."""
    fake_mastodon.fail_next("POST", "/api/v1/statuses", 429)
    row = submit(client, bakery_with_handle)
    run_queued_tasks()
    assert row.state == CrosspostState.PENDING and row.status_text is None
    run_retries()
    assert row.state == CrosspostState.SENT
    assert searches(fake_mastodon) == []
    assert len(live_statuses(fake_mastodon)) == 1


# --- Servers that count every character ---

LONG_BODY = "The baker remembered my name, my order and my dog's name too."  # 61 characters


def test_a_server_counting_every_character_gets_a_strictly_shortened_status(
    client, connect_alice, make_fake, bakery_with_handle
):
    """Refused as too long, the status is shortened by the raw count and sent once more."""
    fake = make_fake(max_characters=130, count_raw=True)
    connect_alice(fake)
    row = submit(client, bakery_with_handle, body=LONG_BODY)
    run_queued_tasks()
    assert row.state == CrosspostState.SENT, row.last_error
    first, second = status_requests(fake)
    assert [first["status"], second["status"]] == [422, 200]
    # Its own key (Pleroma replays a refusal to a repeated key), derived from the row's.
    assert first["headers"]["Idempotency-Key"] == row.idempotency_key
    assert second["headers"]["Idempotency-Key"] == f"{row.idempotency_key}-strict"
    (status,) = live_statuses(fake)
    story, tail = status["status"].split("\n\n")
    assert tail == f"{HANDLE} #CustomerServiceWin\n{permalink(row)}"
    assert story.endswith("…") and LONG_BODY.startswith(story.removesuffix("…"))
    assert len(status["status"]) <= 130
    assert status["mentions"] == ["support@cornerbakery.example"]
    assert row.status_text == status["status"]


def test_too_long_even_counted_strictly_says_so_plainly(
    client, connect_alice, make_fake, bakery_with_handle
):
    """When the handle, tag and link alone are too long by the raw count, it stops and says so."""
    fake = make_fake(max_characters=70, count_raw=True)
    connect_alice(fake)
    row = submit(client, bakery_with_handle, body=LONG_BODY)
    run_retries(2)
    assert row.state == CrosspostState.FAILED
    assert [r["status"] for r in status_requests(fake)] == [422]
    assert live_statuses(fake) == []
    box = words(crosspost_box(client.get("/me").text))
    assert f"Not sent: {crosspost.STRICT_TOO_LONG}" in box


# --- Refusals without a JSON body, and tokens refused in other words ---


@pytest.mark.parametrize(
    ("status", "body", "content_type", "shown"),
    [
        (418, "I'm a teapot", "text/plain", "(HTTP 418): I'm a teapot"),
        (418, "", "text/plain", "(HTTP 418): I'M A TEAPOT"),  # the reason phrase
        (
            400,
            "<html><head><title>400</title><style>p{}</style></head><body>"
            "<h1>Bad request</h1><p>Try <b>again</b> &amp; <script>alert(1)</script>later</p>"
            "</body></html>",
            "text/html",
            "(HTTP 400): Bad request Try again & later",
        ),
        (422, "x" * 1000, "text/plain", "(HTTP 422): " + "x" * 199 + "…"),
    ],
    ids=["text", "empty", "html", "long"],
)
def test_a_refusal_without_json_shows_the_code_and_the_servers_words(
    client, connected, fake_mastodon, bakery_with_handle, status, body, content_type, shown
):
    """/me shows the status code and the server's text (trimmed, escaped), never "None"."""
    fake_mastodon.fail_next(
        "POST", "/api/v1/statuses", status, body=body, content_type=content_type
    )
    row = submit(client, bakery_with_handle)
    run_queued_tasks()
    assert row.state == CrosspostState.FAILED
    page = client.get("/me").text
    box = crosspost_box(page)
    assert f"Not sent: Your server refused it {shown}" in words(box)
    assert "None" not in words(box)
    assert "<script>" not in page and "<h1>Bad" not in box


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, "Invalid credentials."),  # Pleroma, Akkoma
        (403, "Invalid credentials."),
        (401, "Unauthorized: token not supplied or invalid"),  # GoToSocial
        (400, "The access token is invalid"),  # Doorkeeper
    ],
)
def test_a_token_refused_in_other_words_asks_to_reconnect(
    client, connected, fake_mastodon, bakery_with_handle, status, error
):
    """Whatever the code, an answer that the token is invalid means "needs re-login"."""
    fake_mastodon.revoke_tokens("alice", status=status, error=error)
    row = submit(client, bakery_with_handle)
    run_queued_tasks()
    assert row.state == CrosspostState.NEEDS_LOGIN
    page = client.get("/me").text
    assert "Your Mastodon server no longer accepts our sign-in" in page
    assert "Reconnect Mastodon" in page
    assert "Needs re-login:" in words(crosspost_box(page))


def test_a_400_about_something_else_is_a_refusal(
    client, connected, fake_mastodon, bakery_with_handle
):
    """A 400 that says nothing of the token is shown as a refusal, with no reconnect banner."""
    fake_mastodon.fail_next("POST", "/api/v1/statuses", 400, body={"error": "Unknown language"})
    row = submit(client, bakery_with_handle)
    run_queued_tasks()
    assert row.state == CrosspostState.FAILED
    page = client.get("/me").text
    assert "(HTTP 400): Unknown language" in words(crosspost_box(page))
    assert "Reconnect Mastodon" not in page


# --- One log line per attempt, never a token or the status text ---


def delivery_lines(caplog) -> list[str]:
    """Return the delivery log's lines."""
    return [r.getMessage() for r in caplog.records if r.name == "webapp.delivery"]


@pytest.mark.parametrize(
    ("fault", "outcome", "state", "waits"),
    [
        (None, "'HTTP 200'", "sent", False),
        (("POST", "/api/v1/statuses", 503), "'HTTP 503'", "pending", True),
        (("POST", "/api/v1/statuses", 429), "'HTTP 429'", "pending", True),
        (("POST", "/api/v1/statuses", 422), "'HTTP 422'", "failed", False),
        (("GET", "/api/v1/accounts/lookup", 401), "'HTTP 401'", "needs_login", False),
    ],
    ids=["sent", "5xx", "429", "refused", "needs-login"],
)
def test_each_delivery_attempt_logs_one_line(
    client, connected, fake_mastodon, bakery_with_handle, caplog, fault, outcome, state, waits
):
    """One line per attempt: row, server, outcome, new state and next attempt; no secrets."""
    caplog.set_level(logging.DEBUG)
    if fault:
        fake_mastodon.fail_next(*fault)
    row = submit(client, bakery_with_handle, body=BODY)
    run_queued_tasks()
    assert row.state == state
    (line,) = delivery_lines(caplog)
    assert line.startswith(f"deliver crosspost={row.id} server={fake_mastodon.domain} ")
    assert f"outcome={outcome} state={state} " in line
    if waits:
        assert line.endswith(f"next={row.next_attempt_at.isoformat(timespec='seconds')}")
    else:
        assert line.endswith("next=-")
    assert_no_secrets(caplog, connected, row)


def test_a_deletion_logs_one_line(client, connected, fake_mastodon, bakery_with_handle, caplog):
    """Deleting the status there logs one line too, and the row is gone."""
    row = send(client, bakery_with_handle, body=BODY)
    row_id, status_text = row.id, row.status_text
    caplog.clear()
    caplog.set_level(logging.DEBUG)
    assert client.post(f"/posts/{row.post_id}/delete").status_code == 302
    run_queued_tasks()
    (line,) = delivery_lines(caplog)
    assert line == (
        f"delete crosspost={row_id} server={fake_mastodon.domain} "
        "outcome='HTTP 200' state=deleted next=-"
    )
    assert live_statuses(fake_mastodon) == []
    token = crypto.decrypt(connected.mastodon_account.access_token)
    for record in caplog.records:
        assert token not in record.getMessage() and status_text not in record.getMessage()


def assert_no_secrets(caplog, user, row: Crosspost) -> None:
    """Fail if any log record holds the access token, the story or the status text."""
    token = crypto.decrypt(user.mastodon_account.access_token)
    for record in caplog.records:
        message = record.getMessage() + (record.exc_text or "")
        assert token not in message
        assert BODY not in message
        assert not row.status_text or row.status_text not in message


# --- flask crossposts ---


def test_crossposts_list_and_show(app, client, connected, fake_mastodon, bakery_with_handle):
    """An operator lists crossposts (by state) and reads one in full."""
    fake_mastodon.fail_next("POST", "/api/v1/statuses", 503)
    waiting = submit(client, bakery_with_handle, body=BODY)
    run_queued_tasks()
    sent = send(client, bakery_with_handle, body="Second story.")
    runner = app.test_cli_runner()

    listing = runner.invoke(args=["crossposts", "list"])
    assert listing.exit_code == 0, listing.output
    assert f"{sent.id:>6}  post {sent.post_id}" in listing.output
    assert "pending" in listing.output and "Your server had a problem (503)." in listing.output

    pending_only = runner.invoke(args=["crossposts", "list", "--state", "pending"])
    assert f"post {waiting.post_id} " in pending_only.output
    assert f"post {sent.post_id} " not in pending_only.output

    shown = runner.invoke(args=["crossposts", "show", str(sent.id)])
    assert shown.exit_code == 0
    assert "state:            sent" in shown.output
    assert f"status:           {sent.remote_url}" in shown.output
    assert sent.status_text in shown.output
    token = crypto.decrypt(connected.mastodon_account.access_token)
    assert token not in shown.output

    missing = runner.invoke(args=["crossposts", "show", "999999"])
    assert missing.exit_code == 1 and "There is no crosspost 999999." in missing.output
    bad = runner.invoke(args=["crossposts", "list", "--state", "lost"])
    assert bad.exit_code == 2


def test_crossposts_deliver_sends_one_now(
    app, client, connected, fake_mastodon, bakery_with_handle
):
    """`deliver ID` sends a retrying post now, and puts a refused one back in line first."""
    fake_mastodon.fail_next("POST", "/api/v1/statuses", 503)
    row = submit(client, bakery_with_handle)
    run_queued_tasks()
    assert row.next_attempt_at > utcnow()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["crossposts", "deliver", str(row.id)])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert row.state == CrosspostState.SENT and "sent" in result.output
    assert len(live_statuses(fake_mastodon)) == 1

    again = runner.invoke(args=["crossposts", "deliver", str(row.id)])
    assert again.exit_code == 1 and "is sent; nothing to send" in again.output

    fake_mastodon.fail_next("POST", "/api/v1/statuses", 422, body={"error": "Spam"})
    refused = submit(client, bakery_with_handle, body="Another story.")
    run_queued_tasks()
    assert refused.state == CrosspostState.FAILED
    result = runner.invoke(args=["crossposts", "deliver", str(refused.id)])
    db.session.expire_all()
    assert refused.state == CrosspostState.SENT, result.output
    assert len(live_statuses(fake_mastodon)) == 2


def test_crossposts_run_due_and_check_replies(
    app, client, connected, fake_mastodon, bakery_with_handle
):
    """`run-due` delivers what is due now; `check-replies ID` finds the business's reply now."""
    # An account on the author's server, whose replies that server (and WebFinger) confirms.
    fake_mastodon.add_account("bakery")
    bakery_with_handle.handle = f"@bakery@{fake_mastodon.domain}"
    db.session.commit()
    row = submit(client, bakery_with_handle)
    huey.storage.flush_queue()  # as if the queue lost the message
    runner = app.test_cli_runner()
    result = runner.invoke(args=["crossposts", "run-due"])
    assert result.exit_code == 0, result.output
    assert "Ran 1 due task." in result.output
    db.session.expire_all()
    assert row.state == CrosspostState.SENT

    fake_mastodon.reply(row.remote_id, "bakery", "Thank you!")
    result = runner.invoke(args=["crossposts", "check-replies", str(row.id)])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert row.replied_at is not None and "replied" in result.output
    page = words(client.get(f"/posts/{row.post_id}").text)
    assert "Thank you!" in page

    nothing = runner.invoke(args=["crossposts", "run-due"])
    assert "Ran 0 due tasks." in nothing.output

"""No address that came from another server, or from someone's typing, is linked unless it is
https (http too under the development setting MASTODON_ALLOW_INSECURE): not a status's, not a
reply's, not a profile's, not a verified website, not a business's own website.

The fake Mastodon server plays a server of someone's own that hands out `javascript:` and
`data:` links; rows stored before the rule (with http ones too) must not be linked either.
"""

from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa
from conftest import BAKERY_ACCT, mastodon_sign_in, run_queued_tasks, send
from fake_mastodon import FakeMastodon
from helpers import page_text

from webapp import tasks
from webapp.extensions import db
from webapp.infra.links import safe_remote_url
from webapp.models import Business, Crosspost, MastodonAccount, User
from webapp.services import api_tokens

SCRIPT = "javascript:alert(document.cookie)"
DATA = "data:text/html,<script>alert(1)</script>"
PLAIN = "http://status.example/@alice/1"


def everything_shown(client, app, post_id: int, business: Business, user: User) -> dict[str, str]:
    """Return every page, feed and API answer that may show the post's links, by name."""
    token = api_tokens.create(user, "Links")
    db.session.commit()
    bearer = {"Authorization": f"Bearer {token.plain}"}
    visitor = app.test_client()
    slug = business.slug
    return {
        "post, to its author": client.get(f"/posts/{post_id}").text,
        "post, to a visitor": visitor.get(f"/posts/{post_id}").text,
        "wall": visitor.get(f"/b/{slug}").text,
        "wall, to the author": client.get(f"/b/{slug}").text,
        "unanswered": visitor.get(f"/b/{slug}?tab=unanswered").text,
        "everyone's wall": visitor.get("/wall").text,
        "my posts": client.get("/me").text,
        "settings": client.get("/settings").text,
        "wall feed": visitor.get("/wall/feed.atom").text,
        "business feed": visitor.get(f"/b/{slug}/feed.atom").text,
        "person feed": visitor.get(f"/u/{user.username}/feed.atom").text,
        "api post": visitor.get(f"/api/v1/posts/{post_id}").text,
        "api own post": client.get(f"/api/v1/posts/{post_id}", headers=bearer).text,
        "api business": visitor.get(f"/api/v1/businesses/{slug}").text,
        "api business posts": visitor.get(f"/api/v1/businesses/{slug}/posts").text,
        "api wall": visitor.get("/api/v1/wall").text,
        "export": client.get("/settings/export.json").text,
    }


def assert_never_shown(shown: dict[str, str], *addresses: str) -> None:
    """No page, feed or answer carries any of the addresses, in any spelling."""
    for name, body in shown.items():
        text = body.replace("\\/", "/").replace("\\u003c", "<").replace("&lt;", "<")
        for address in addresses:
            assert address not in text, f"{address} on {name}"
            scheme = address.split(":", 1)[0]
            if scheme != "http":  # our own pages link to themselves over http in tests
                assert not re.search(rf"""(href|cite|src)=["']?\s*{scheme}:""", text, re.I), name


@pytest.mark.parametrize("bad", [SCRIPT, DATA], ids=["javascript", "data"])
def test_a_server_s_bad_status_and_reply_links_are_never_stored_or_shown(
    app, client, connected, fake_mastodon: FakeMastodon, bakery_on_fake, bad
):
    fake_mastodon.lie_about_links("alice", bad)
    fake_mastodon.lie_about_links(BAKERY_ACCT, bad)
    fake_mastodon.lie_about("alice", url=bad)
    # Signing in again reads the profile link the server now gives.
    assert mastodon_sign_in(client, fake_mastodon).status_code == 302
    unanswered = send(client, bakery_on_fake, body="Still waiting to hear back.")
    row = send(client, bakery_on_fake)
    fake_mastodon.reply(row.remote_id, BAKERY_ACCT, "Thank you, see you Saturday!")
    tasks.check_reply.call_local(row.id)
    db.session.expire_all()

    assert row.replied_at is not None and row.reply_text == "Thank you, see you Saturday!"
    assert row.remote_url is None and unanswered.remote_url is None
    # The reply's link is its id on the business's own server, which proved it; never `bad`.
    assert row.reply_url.startswith(f"{fake_mastodon.url}/users/{BAKERY_ACCT}/statuses/")
    assert connected.mastodon_account.profile_url is None
    shown = everything_shown(client, app, row.post_id, bakery_on_fake, connected)
    assert "Thank you, see you Saturday!" in page_text(shown["post, to a visitor"])
    assert "Connected as @alice@" in page_text(shown["settings"])
    assert_never_shown(shown, bad)


@pytest.fixture
def old_rows(client, connected, fake_mastodon, bakery_on_fake):
    """A replied and an unanswered post whose stored links came before the rule, as given."""

    def store(links: dict[str, str]) -> Crosspost:
        unanswered = send(client, bakery_on_fake, body="Still waiting to hear back.")
        row = send(client, bakery_on_fake)
        fake_mastodon.reply(row.remote_id, BAKERY_ACCT, "Thank you!")
        tasks.check_reply.call_local(row.id)
        run_queued_tasks()
        db.session.execute(
            sa.update(Crosspost).values(remote_url=links["status"], reply_url=links["reply"])
        )
        db.session.execute(sa.update(MastodonAccount).values(profile_url=links["profile"]))
        business = db.session.get(Business, bakery_on_fake.id)
        business.owner = connected
        business.verified_website = links["verified"]
        business.website = links["website"]
        db.session.commit()
        assert unanswered.post_id != row.post_id
        return row

    return store


@pytest.mark.parametrize(
    "address",
    [SCRIPT, DATA, "JavaScript:alert(1)", " javascript:alert(1)", "java\tscript:alert(1)", PLAIN],
    ids=["javascript", "data", "capitals", "space", "tab", "http"],
)
def test_links_stored_before_the_rule_are_not_shown_either(
    app, client, connected, bakery_on_fake, old_rows, address
):
    row = old_rows(
        {
            "status": address,
            "reply": address,
            "profile": address,
            "verified": address,
            "website": address,
        }
    )
    app.config["MASTODON_ALLOW_INSECURE"] = False

    shown = everything_shown(client, app, row.post_id, bakery_on_fake, connected)

    assert "Thank you!" in page_text(shown["post, to a visitor"])
    # The export keeps the websites people typed as they typed them; a server's links go.
    export = json.loads(shown.pop("export"))
    assert_never_shown(shown, address.strip())
    crossposts = [c for post in export["posts"] for c in post["crossposts"]]
    assert crossposts and {(c["remote_url"], c["reply_url"]) for c in crossposts} == {(None, None)}
    assert export["mastodon_account"]["profile_url"] is None
    assert export["businesses_managed"][0]["verified_website"] is None


def test_https_links_are_shown_and_http_only_under_the_development_setting(
    app, client, connected, bakery_on_fake, old_rows
):
    secure = {
        "status": "https://social.example/@alice/1",
        "reply": "https://social.example/@support/2",
        "profile": "https://social.example/@alice",
        "verified": "https://bakery.example/",
        "website": "https://www.cornerbakery.example/",
    }
    row = old_rows(secure)
    app.config["MASTODON_ALLOW_INSECURE"] = False

    shown = everything_shown(client, app, row.post_id, bakery_on_fake, connected)

    assert f'href="{secure["reply"]}"' in shown["post, to a visitor"]
    assert f'href="{secure["status"]}"' in shown["post, to its author"]
    assert f'href="{secure["status"]}"' in shown["unanswered"]
    assert f'href="{secure["profile"]}"' in shown["settings"]
    assert f'href="{secure["verified"]}"' in shown["wall"]
    assert f'href="{secure["website"]}"' in shown["wall"]
    assert secure["reply"] in shown["api post"] and secure["status"] in shown["api own post"]
    assert secure["website"] in shown["api business"]

    app.config["MASTODON_ALLOW_INSECURE"] = True
    db.session.execute(sa.update(Crosspost).values(reply_url=PLAIN))
    db.session.commit()
    assert f'href="{PLAIN}"' in app.test_client().get(f"/posts/{row.post_id}").text


@pytest.mark.parametrize(
    ("address", "shown"),
    [
        ("https://social.example/@a/1", True),
        ("HTTPS://social.example/@a/1", True),
        ("https:/social.example", False),
        ("https://", False),
        ("https:\\\\evil.example", False),
        ("https://bad host.example/", False),
        ("https://[::1", False),
        ("//social.example/@a/1", False),
        ("/relative", False),
        ("ftp://social.example/", False),
        ("vbscript:msgbox(1)", False),
        ("javascript://social.example/%0aalert(1)", False),
        ("", False),
        (None, False),
        (42, False),
    ],
)
def test_only_https_addresses_with_a_host_are_safe(app, address, shown):
    app.config["MASTODON_ALLOW_INSECURE"] = False
    assert safe_remote_url(address) == (address if shown else None)

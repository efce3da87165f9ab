"""Claiming a wall by its website: a code of ours, published on the business's site.

The business's website is a tiny HTTP server of ours on loopback, named bakery.example through a
patched resolver; the development setting lets the app reach it over http. The hostile addresses
are tests/test_ssrf.py's own, with the setting off as in production.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa
import test_ssrf
from conftest import PASSWORD, AuthActions
from helpers import page_text
from test_claim_checks import fresh, last_checked, run_checks
from test_ssrf import INSIDE, NAME

from webapp.audit import AuditEntry
from webapp.extensions import db
from webapp.infra.http import fetch_json
from webapp.models import Business, BusinessManager, User
from webapp.services import site_proof

# The SSRF tests' resolver, under the test's control.
resolve = test_ssrf.resolve
SITE = "bakery.example"
OTHER = "elsewhere.example"
WELL_KNOWN = "/.well-known/praisewall-verification.txt"


class Site:
    """A website on loopback: paths answered with (status, headers, body), requests noted."""

    def __init__(self) -> None:
        """Start serving nothing but 404s on a free port."""
        self.pages: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.requests: list[str] = []
        self.trickle = 0.0  # seconds between the bytes of each body, to play a slow site
        site = self

        class Handler(BaseHTTPRequestHandler):
            """Answer from the site's pages."""

            def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
                """Send the page for the path, or a 404."""
                site.requests.append(self.path)
                status, headers, body = site.pages.get(self.path, (404, {}, b"Not found"))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not site.trickle:
                    self.wfile.write(body)
                for byte in body if site.trickle else b"":
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(site.trickle)

            def log_message(self, *args) -> None:
                """Stay quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        """Return the site's address on loopback."""
        return f"http://127.0.0.1:{self.port}"

    def serve(self, path: str, body: str | bytes, status: int = 200, **headers: str) -> None:
        """Answer this path with this body."""
        data = body.encode() if isinstance(body, str) else body
        self.pages[path] = (status, headers, data)

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


def serve_site() -> Iterator[Site]:
    """Yield a started site and stop it afterwards."""
    site = Site()
    yield site
    site.stop()


@pytest.fixture
def bakery_website() -> Iterator[Site]:
    """The bakery's website."""
    yield from serve_site()


@pytest.fixture
def other_site() -> Iterator[Site]:
    """Another website, which a redirect may point at."""
    yield from serve_site()


@pytest.fixture
def named(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make bakery.example and elsewhere.example lead to loopback without real DNS."""
    real = socket.getaddrinfo

    def fake_getaddrinfo(host, *args, **kwargs):
        """Answer our two site names with loopback, anything else as the system would."""
        return real("127.0.0.1" if host in (SITE, OTHER) else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)


@pytest.fixture
def bakery_with_site(app, make_business, bakery_website: Site, named) -> Business:
    """Corner Bakery, whose website is the site on loopback."""
    return make_business("Corner Bakery", website=f"http://{SITE}:{bakery_website.port}")


def signed_in(app, username: str = "alice"):
    """Return a fresh browser signed in as a new person."""
    AuthActions(app.test_client()).register(username)
    browser = app.test_client()
    assert AuthActions(browser).login(username, PASSWORD).status_code == 302
    return browser


def code_for(browser, business: Business) -> str:
    """Read the person's code off the wall's claim page, as they would."""
    page = browser.get(f"/b/{business.slug}/claim")
    assert page.status_code == 200
    assert "Publish this code on" in page_text(page)
    match = re.search(r'<code class="token">([^<]+)</code>', page.text)
    assert match
    return match.group(1)


def claim(browser, business: Business):
    """Press "Check my website" on the claim page."""
    return browser.post(f"/b/{business.slug}/claim/website")


def wall_text(browser, business: Business) -> str:
    """Return what the wall says."""
    return page_text(browser.get(f"/b/{business.slug}"))


@pytest.fixture
def alice_browser(app):
    """Alice's browser, signed in: she runs the bakery's website."""
    return signed_in(app, "alice")


@pytest.fixture
def website_owner(alice_browser, bakery_with_site: Business, bakery_website: Site):
    """Alice, having claimed the bakery's wall with the code in the well-known file."""
    bakery_website.serve(WELL_KNOWN, code_for(alice_browser, bakery_with_site) + "\n")
    assert claim(alice_browser, bakery_with_site).status_code == 302
    return alice_browser


# --- Proving it ---


def test_the_code_in_the_well_known_file_claims_the_wall(
    alice_browser, bakery_with_site, bakery_website, caplog
):
    """Publishing the code as the file verifies the wall, which says how and when."""
    caplog.set_level(logging.DEBUG)
    code = code_for(alice_browser, bakery_with_site)
    assert code.startswith("praisewall-")
    assert "Verified" not in wall_text(alice_browser, bakery_with_site)
    bakery_website.serve(WELL_KNOWN, f"{code}\n")
    response = claim(alice_browser, bakery_with_site)
    assert response.status_code == 302
    wall = wall_text(alice_browser, bakery_with_site)
    assert f"✓ Verified Verified by its website, {SITE} · checked" in wall
    assert "Manage this page" in wall
    assert WELL_KNOWN in bakery_website.requests
    business = fresh(bakery_with_site)
    assert (business.owner.username, business.claim_proof) == ("alice", "website")
    entry = db.session.scalars(sa.select(AuditEntry)).one()
    assert (entry.action, entry.actor_name, entry.detail["proof"]) == (
        "business.claim",
        "alice",
        "website",
    )
    assert code not in caplog.text  # never logged
    assert code not in repr(db.session.execute(sa.select(Business.__table__)).all())


def test_the_code_in_a_meta_tag_on_the_home_page_claims_the_wall(
    alice_browser, bakery_with_site, bakery_website
):
    """Without the file, a meta tag in the home page's head does it too."""
    code = code_for(alice_browser, bakery_with_site)
    bakery_website.serve(
        "/", f'<html><head><meta name="praisewall-verification" content="{code}"></head>'
    )
    assert claim(alice_browser, bakery_with_site).status_code == 302
    assert "Verified by its website" in wall_text(alice_browser, bakery_with_site)
    assert bakery_website.requests == [WELL_KNOWN, "/"]


def test_the_code_is_the_persons_own(app, alice_browser, bakery_with_site, bakery_website):
    """Bob can't claim the wall with Alice's code published: each code names its person."""
    bakery_website.serve(WELL_KNOWN, code_for(alice_browser, bakery_with_site))
    bob = signed_in(app, "bob")
    assert code_for(bob, bakery_with_site) != code_for(alice_browser, bakery_with_site)
    response = claim(bob, bakery_with_site)
    assert response.status_code == 403
    assert "We didn't find your code" in page_text(response)
    assert fresh(bakery_with_site).owner_id is None


@pytest.mark.parametrize(
    ("pages", "says"),
    [
        ({WELL_KNOWN: "praisewall-0000"}, "We didn't find your code"),
        ({}, "We didn't find your code"),
        ({"/": '<meta name="praisewall-verification" content="wrong">'}, "didn't find your code"),
        ({WELL_KNOWN: "x" * (5 * 1024)}, "too big to read"),
    ],
    ids=["wrong code", "missing", "wrong meta", "too big"],
)
def test_a_failed_proof_says_why_and_claims_nothing(
    alice_browser, bakery_with_site, bakery_website, pages, says
):
    """A wrong code, none at all, or a file too big to read: a plain refusal, no claim."""
    for path, body in pages.items():
        bakery_website.serve(path, body)
    response = claim(alice_browser, bakery_with_site)
    assert response.status_code == 403
    assert says in page_text(response)
    assert fresh(bakery_with_site).owner_id is None
    assert "Verified" not in wall_text(alice_browser, bakery_with_site)


def test_a_redirect_to_another_host_is_refused(
    alice_browser, bakery_with_site, bakery_website, other_site
):
    """Even with the development setting on, the site can't send us to another host."""
    code = code_for(alice_browser, bakery_with_site)
    other_site.serve(WELL_KNOWN, code)
    elsewhere = f"http://{OTHER}:{other_site.port}{WELL_KNOWN}"
    bakery_website.serve(WELL_KNOWN, "", 302, Location=elsewhere)
    bakery_website.serve("/", "", 302, Location=elsewhere)
    response = claim(alice_browser, bakery_with_site)
    assert response.status_code == 403
    assert f"sent us to another website, {OTHER}:{other_site.port}" in page_text(response)
    assert other_site.requests == []
    assert fresh(bakery_with_site).owner_id is None


def test_a_redirect_to_an_unreadable_address_is_a_plain_refusal(
    alice_browser, bakery_with_site, bakery_website
):
    """A Location that isn't a URL (an unclosed IPv6 bracket) fails the proof, no error page."""
    bakery_website.serve(WELL_KNOWN, "", 302, Location="http://[::1")
    bakery_website.serve("/", "", 302, Location="http://[::1")
    response = claim(alice_browser, bakery_with_site)
    assert response.status_code == 403
    assert "didn't answer" in page_text(response)
    assert fresh(bakery_with_site).owner_id is None


def test_an_unreadable_redirect_in_a_json_answer_is_no_answer(app, bakery_website, named):
    """WebFinger or an instance document redirected to an unreadable Location: no document."""
    bakery_website.serve("/.well-known/webfinger", "", 302, Location="http://[::1")
    url = f"http://{SITE}:{bakery_website.port}/.well-known/webfinger"
    with app.app_context():
        assert fetch_json(url, hops=3) is None


def test_a_redirect_on_the_same_site_is_followed(alice_browser, bakery_with_site, bakery_website):
    """A redirect to another path on the same site still finds the code."""
    bakery_website.serve(WELL_KNOWN, "", 301, Location="/verify.txt")
    bakery_website.serve("/verify.txt", code_for(alice_browser, bakery_with_site))
    assert claim(alice_browser, bakery_with_site).status_code == 302
    assert fresh(bakery_with_site).claim_proof == "website"


def test_a_wall_naming_a_handle_is_not_claimed_by_its_website(
    app, alice_browser, make_business, bakery_website
):
    """Customers type websites too: a wall with a handle is its holder's to claim, on Mastodon."""
    shop = make_business(
        "Harbour Bakery",
        website=f"http://{SITE}:{bakery_website.port}",
        handle="@care@harbour.example",
    )
    page = page_text(alice_browser.get(f"/b/{shop.slug}/claim"))
    assert "names a Mastodon account, @care@harbour.example, so only that account" in page
    assert "Publish this code" not in page and "Check my website" not in page
    bakery_website.serve(WELL_KNOWN, site_proof.token(shop, db.session.scalar(sa.select(User))))
    response = claim(alice_browser, shop)
    assert response.status_code == 403
    assert "only that account can claim it, by signing in with Mastodon" in page_text(response)
    assert bakery_website.requests == []
    assert fresh(shop).owner_id is None


def test_a_site_that_trickles_its_answer_is_no_answer(
    app, alice_browser, bakery_with_site, bakery_website
):
    """A site sending a byte at a time is cut off at the deadline, however often it sends."""
    app.config["FETCH_DEADLINE"] = 0.3
    bakery_website.serve(
        WELL_KNOWN, code_for(alice_browser, bakery_with_site)
    )  # it would prove the claim, in the end
    bakery_website.trickle = 0.05
    response = claim(alice_browser, bakery_with_site)
    assert response.status_code == 403
    assert "didn't answer" in page_text(response)
    assert fresh(bakery_with_site).owner_id is None


def test_claims_are_limited_per_person(app, alice_browser, bakery_with_site, bakery_website):
    """Each claim fetches from elsewhere: past a few, both ways are refused with the 429 page."""
    app.config["CLAIM_RATE_LIMIT"] = "2 per minute"
    assert claim(alice_browser, bakery_with_site).status_code == 403  # no code published
    assert alice_browser.post(f"/b/{bakery_with_site.slug}/claim").status_code != 429
    refused = claim(alice_browser, bakery_with_site)
    assert refused.status_code == 429
    assert "Too many" in page_text(refused)
    assert alice_browser.post(f"/b/{bakery_with_site.slug}/claim").status_code == 429
    bob = signed_in(app, "bob")
    assert claim(bob, bakery_with_site).status_code == 403  # someone else isn't held back


def test_a_business_without_a_website_cant_be_proven_this_way(app, alice_browser, make_business):
    """No website: the claim page says so plainly, and the check is refused."""
    shop = make_business("Cornershop")
    page = alice_browser.get(f"/b/{shop.slug}/claim")
    assert page.status_code == 200
    assert "Cornershop has no website on Praisewall" in page_text(page)
    response = claim(alice_browser, shop)
    assert response.status_code == 403
    assert "Cornershop has no website on Praisewall to prove it with." in page_text(response)


def test_the_website_of_a_wall_proven_by_it_cant_change(website_owner, bakery_with_site):
    """The proof is about that site: another would be unproven, so the edit is refused."""
    response = website_owner.post(
        f"/b/{bakery_with_site.slug}/manage", data={"website": "other.example", "description": "Hi"}
    )
    assert response.status_code == 422
    assert f"This page was verified by {SITE}, so its website can't change" in page_text(response)
    assert fresh(bakery_with_site).domain == SITE
    same = website_owner.post(
        f"/b/{bakery_with_site.slug}/manage",
        data={"website": fresh(bakery_with_site).website, "description": "Fresh bread daily."},
    )
    assert same.status_code == 302
    assert fresh(bakery_with_site).description == "Fresh bread daily."


def test_someone_else_cant_claim_a_claimed_wall(
    app, website_owner, bakery_with_site, bakery_website
):
    """Once claimed, the wall is the owner's: another person's proof is refused."""
    bob = signed_in(app, "bob")
    assert "has already been claimed by its owner" in page_text(
        bob.get(f"/b/{bakery_with_site.slug}/claim")
    )
    code = site_proof.token(
        fresh(bakery_with_site), db.session.scalar(sa.select(User).filter_by(username="bob"))
    )
    bakery_website.serve("/", f'<meta name="praisewall-verification" content="{code}">')
    response = claim(bob, bakery_with_site)
    assert response.status_code == 403
    assert "already been claimed" in page_text(response)
    assert fresh(bakery_with_site).owner.username == "alice"


# --- Proving it again ---


def test_a_lost_proof_takes_the_verified_mark_away_at_the_recheck(
    website_owner, bakery_with_site, bakery_website
):
    """The code gone from the site: at the daily check, the wall is no longer verified."""
    last_checked(bakery_with_site, timedelta(days=1))
    assert run_checks() == 1
    assert fresh(bakery_with_site).owner_id is not None  # the code still there
    del bakery_website.pages[WELL_KNOWN]
    last_checked(bakery_with_site, timedelta(days=1))
    run_checks()
    business = fresh(bakery_with_site)
    assert (business.owner_id, business.claim_proof) == (None, None)
    assert "Verified" not in wall_text(website_owner, bakery_with_site)
    assert website_owner.get(f"/b/{bakery_with_site.slug}/manage").status_code == 403
    entry = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == "business.unverify")
    ).one()
    assert entry.detail["proof"] == "website" and "didn't find your code" in entry.detail["reason"]


def kept_a_day_then_dropped_after_the_grace(bakery_with_site: Business) -> None:
    """Check a claim whose site gives no answer: kept when a day old, dropped when 4 days old."""
    last_checked(bakery_with_site, timedelta(days=1))
    run_checks()
    business = fresh(bakery_with_site)
    assert business.owner_id is not None
    assert business.claim_next_check_at is not None
    last_checked(bakery_with_site, timedelta(days=4))
    run_checks()
    assert fresh(bakery_with_site).owner_id is None


def test_a_site_that_doesnt_answer_keeps_the_claim_for_a_while(
    website_owner, bakery_with_site, bakery_website
):
    """A 503 is no answer: the claim stays and is asked again, as for Mastodon."""
    bakery_website.serve(WELL_KNOWN, "down", 503)
    bakery_website.serve("/", "down", 503)
    kept_a_day_then_dropped_after_the_grace(bakery_with_site)


def test_a_check_that_fails_unexpectedly_still_ends_the_claim_after_the_grace_period(
    website_owner, bakery_with_site, bakery_website, monkeypatch
):
    """A fault we didn't foresee counts as no answer: asked again, dropped after the grace."""

    def broken(*args, **kwargs):
        """Fail as no foreseen answer does."""
        raise RuntimeError("unforeseen")

    monkeypatch.setattr(site_proof, "fetch", broken)
    kept_a_day_then_dropped_after_the_grace(bakery_with_site)
    entry = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == "business.unverify")
    ).one()
    assert "No proof for 3 days" in entry.detail["reason"]


# --- Hostile addresses, as for Mastodon (tests/test_ssrf.py) ---


@pytest.fixture
def hostile(app, make_business, alice_browser) -> Business:
    """A business whose website is at the name test_ssrf.py resolves as it chooses."""
    return make_business("Sly Shop", website=f"https://{NAME}")


@pytest.mark.parametrize("address", INSIDE)
def test_a_website_inside_a_network_is_refused(alice_browser, hostile, strict, resolve, address):
    """A website whose name leads inside a network is refused before and at connecting."""
    resolve.append([address])
    response = claim(alice_browser, hostile)
    assert response.status_code == 403
    assert f"{NAME} isn't a public website" in page_text(response)
    with pytest.raises(site_proof.Failed, match="isn't a public server"):
        site_proof.fetch(f"https://{NAME}{WELL_KNOWN}", 1024)
    assert fresh(hostile).owner_id is None


def test_rebinding_after_the_first_check_is_refused(alice_browser, hostile, strict, resolve):
    """Public when first checked, inside a network when connecting: refused."""
    resolve.extend([["93.184.216.34"], ["10.0.0.1"]])
    response = claim(alice_browser, hostile)
    assert response.status_code == 403
    assert f"{NAME} isn't a public server" in page_text(response)
    assert resolve.lookups >= 2
    assert fresh(hostile).owner_id is None


def test_http_websites_are_refused_without_the_development_setting(app, strict, bakery_with_site):
    """In production a website is only ever asked over https."""
    assert site_proof.site_origin(bakery_with_site).startswith("https://")


def test_managers_go_with_the_claim(app, website_owner, bakery_with_site, make_user):
    """A lost proof removes the managers too."""
    website_owner.post(
        f"/b/{bakery_with_site.slug}/managers", data={"username": "bob"}
    )  # nobody yet
    make_user("bob")
    assert (
        website_owner.post(
            f"/b/{bakery_with_site.slug}/managers", data={"username": "bob"}
        ).status_code
        == 302
    )
    assert db.session.scalar(sa.select(sa.func.count()).select_from(BusinessManager)) == 1
    assert website_owner.post(f"/b/{bakery_with_site.slug}/release").status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(BusinessManager)) == 0


def test_a_redirect_to_another_port_of_the_same_host_is_refused(
    alice_browser, bakery_with_site, bakery_website, other_site
):
    """Another port is another site, even on the same host."""
    elsewhere = f"http://{SITE}:{other_site.port}{WELL_KNOWN}"
    other_site.serve(WELL_KNOWN, code_for(alice_browser, bakery_with_site))
    bakery_website.serve(WELL_KNOWN, "", 302, Location=elsewhere)
    response = claim(alice_browser, bakery_with_site)
    assert response.status_code == 403
    assert "sent us to another website" in page_text(response)
    assert other_site.requests == []


def test_a_former_owners_managers_dont_come_back_with_a_new_claim(
    app, website_owner, bakery_with_site, bakery_website
):
    """The owner deletes their account: whoever claims next starts with no managers."""
    AuthActions(app.test_client()).register("bob")
    assert (
        website_owner.post(
            f"/b/{bakery_with_site.slug}/managers", data={"username": "bob"}
        ).status_code
        == 302
    )
    assert website_owner.post("/settings/delete", data={"password": PASSWORD}).status_code == 302
    carol = signed_in(app, "carol")
    bakery_website.serve(WELL_KNOWN, code_for(carol, bakery_with_site))
    assert claim(carol, bakery_with_site).status_code == 302
    bob = app.test_client()
    AuthActions(bob).login("bob")
    assert bob.get(f"/b/{bakery_with_site.slug}/manage").status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(BusinessManager)) == 0


def test_flask_walls_recheck_proves_a_website_claim_now(
    app, website_owner, bakery_with_site, bakery_website
):
    """The command looks for the code now, and names the site that didn't answer."""
    runner = app.test_cli_runner()
    result = runner.invoke(args=["walls", "recheck", bakery_with_site.slug])
    assert "the claim holds" in result.output
    bakery_website.serve(WELL_KNOWN, "down", 503)
    bakery_website.serve("/", "down", 503)
    result = runner.invoke(args=["walls", "recheck", bakery_with_site.slug])
    assert f"no answer from {SITE}; the claim stays" in result.output

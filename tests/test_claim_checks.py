"""A claimed wall is proven again, about daily: the owner's server is asked who they are with
their stored token, and their handle proven the way signing in proves it. A proof that fails
takes the verified mark, the featured praise and the owner's tools away; a server that doesn't
answer keeps the claim for RECHECK_GRACE and is asked again.

The checks run as the worker runs them (the periodic task, then the queued checks), against fake
Mastodon servers on loopback: the business's own, and in the split-domain cases a server of
someone's own that lies about whose account it is.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from conftest import AuthActions, localhost, mastodon_sign_in, run_queued_tasks
from fake_mastodon import FakeMastodon
from helpers import page_text

from webapp import tasks
from webapp.audit import AuditEntry
from webapp.extensions import db
from webapp.models import Business, MastodonAccount, Post, User, utcnow
from webapp.services import owners

VERIFY = "/api/v1/accounts/verify_credentials"


def signed_in(app, fake: FakeMastodon, username: str):
    """Return a fresh browser signed in with this Mastodon account."""
    browser = app.test_client()
    assert mastodon_sign_in(browser, fake, username).status_code == 302
    return browser


@pytest.fixture
def mastodon_owner(app, fake_mastodon: FakeMastodon, bakery_on_fake: Business):
    """The bakery's own browser, having claimed its wall."""
    browser = signed_in(app, fake_mastodon, "cornerbakery")
    assert browser.post(f"/b/{bakery_on_fake.slug}/claim").status_code == 302
    return browser


def fresh(business: Business) -> Business:
    """Return the business as the database has it now."""
    db.session.expire_all()
    return db.session.get(Business, business.id)


def last_checked(business: Business, ago: timedelta) -> None:
    """Pretend the claim's proof last held `ago`, with its next check due now."""
    business = fresh(business)
    business.claim_checked_at = utcnow() - ago
    business.claim_next_check_at = utcnow() - timedelta(minutes=1)
    db.session.commit()


def run_checks() -> int:
    """Run the periodic task and the checks it queued, as the worker does; return how many."""
    tasks.recheck_claims.call_local()
    return run_queued_tasks()


def verify_requests(fake: FakeMastodon) -> int:
    """Count the times the fake was asked who a token's account is."""
    return sum(1 for r in fake.requests if r["path"] == VERIFY)


def unverify_entries() -> list[AuditEntry]:
    """Return the audit log's entries for walls that lost their verified mark."""
    return list(
        db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "business.unverify"))
    )


def assert_no_longer_managed(browser, business: Business) -> None:
    """The wall isn't verified, and its former owner's page and edits are refused plainly."""
    wall = page_text(browser.get(f"/b/{business.slug}"))
    assert "✓ Verified" not in wall and "Manage this page" not in wall
    manage = browser.get(f"/b/{business.slug}/manage")
    assert manage.status_code == 403
    assert "Only the business's verified owner and managers can do that." in page_text(manage)
    edit = browser.post(f"/b/{business.slug}/manage", data={"website": "", "description": "Hi"})
    assert edit.status_code == 403
    assert fresh(business).description is None
    assert fresh(business).claim_checked_at is None


# --- the proof holds ---


def test_a_fresh_claim_is_not_checked_again_until_tomorrow(
    mastodon_owner, bakery_on_fake, fake_mastodon
):
    asked = verify_requests(fake_mastodon)

    assert run_checks() == 0

    assert verify_requests(fake_mastodon) == asked
    wall = fresh(bakery_on_fake)
    assert wall.claim_next_check_at - wall.claim_checked_at == owners.RECHECK_EVERY
    assert "Checked with Mastodon just now" in page_text(
        mastodon_owner.get(f"/b/{bakery_on_fake.slug}")
    )


def test_a_claim_that_still_holds_is_checked_again_and_says_when(
    app, mastodon_owner, bakery_on_fake, fake_mastodon
):
    last_checked(bakery_on_fake, timedelta(days=1, hours=2))
    visitor = app.test_client()
    assert "Checked with Mastodon 1 day ago" in page_text(visitor.get(f"/b/{bakery_on_fake.slug}"))
    asked = verify_requests(fake_mastodon)

    assert run_checks() == 1

    assert verify_requests(fake_mastodon) == asked + 1
    wall = page_text(visitor.get(f"/b/{bakery_on_fake.slug}"))
    assert "✓ Verified Verified on Mastodon as" in wall
    assert "Checked with Mastodon just now" in wall
    assert mastodon_owner.get(f"/b/{bakery_on_fake.slug}/manage").status_code == 200
    assert not unverify_entries()


def test_the_newly_verified_website_is_read_at_the_check(
    mastodon_owner, bakery_on_fake, fake_mastodon
):
    fake_mastodon.set_profile_fields(
        "cornerbakery",
        [
            {
                "name": "Web",
                "value": '<a href="https://bakery.example" rel="me">bakery.example</a>',
                "verified_at": "2026-11-20T08:00:00Z",
            }
        ],
    )
    last_checked(bakery_on_fake, timedelta(days=1))

    run_checks()

    wall = page_text(mastodon_owner.get(f"/b/{bakery_on_fake.slug}"))
    assert "their website bakery.example is verified on their Mastodon profile" in wall


# --- the proof fails: the claim goes ---


@pytest.mark.parametrize(
    "failure",
    ["revoked", "401", "gone", "handle changed", "disconnected"],
)
def test_a_claim_whose_proof_fails_loses_the_verified_mark(
    app, mastodon_owner, bakery_on_fake, fake_mastodon, make_user, make_post, failure
):
    customer = make_user("carol")
    praise = make_post(customer, bakery_on_fake)
    assert mastodon_owner.post(f"/b/{bakery_on_fake.slug}/featured/{praise.id}").status_code == 302
    if failure == "revoked":
        fake_mastodon.revoke_tokens("cornerbakery")
    elif failure == "401":
        fake_mastodon.fail_next("GET", VERIFY, 401)
    elif failure == "gone":
        fake_mastodon.fail_next("GET", VERIFY, 404)
    elif failure == "handle changed":
        fresh(bakery_on_fake).handle = f"@bakery@{fake_mastodon.domain}"
        db.session.commit()
    else:
        db.session.execute(sa.delete(MastodonAccount))
        db.session.commit()
    last_checked(bakery_on_fake, timedelta(days=1))

    run_checks()

    assert_no_longer_managed(mastodon_owner, bakery_on_fake)
    assert db.session.get(Post, praise.id).featured_at is None
    (entry,) = unverify_entries()
    assert entry.target_id == bakery_on_fake.id and entry.actor_name == "claim check"
    assert entry.detail["owner"] == "cornerbakery"
    admin = app.test_client()
    make_user("ada", is_admin=True)
    AuthActions(admin).login("ada")
    log = page_text(admin.get("/admin/audit"))
    assert "claim check business.unverify business" in log
    # Nothing is left to check on an unclaimed wall.
    assert run_checks() == 0


def test_the_owner_can_claim_again_once_the_proof_holds_again(
    mastodon_owner, bakery_on_fake, fake_mastodon
):
    fake_mastodon.fail_next("GET", VERIFY, 401)
    last_checked(bakery_on_fake, timedelta(days=1))
    run_checks()
    assert fresh(bakery_on_fake).owner_id is None
    browser = signed_in(mastodon_owner.application, fake_mastodon, "cornerbakery")

    assert browser.post(f"/b/{bakery_on_fake.slug}/claim").status_code == 302

    assert "✓ Verified" in page_text(browser.get(f"/b/{bakery_on_fake.slug}"))


# --- no answer: the claim stays, for a while ---


@pytest.mark.parametrize("status", [503, 429])
def test_a_server_that_does_not_answer_keeps_the_claim_and_is_asked_again(
    mastodon_owner, bakery_on_fake, fake_mastodon, status
):
    fake_mastodon.fail_next("GET", VERIFY, status)
    last_checked(bakery_on_fake, timedelta(days=1))

    assert run_checks() == 1

    wall = fresh(bakery_on_fake)
    assert wall.owner_id is not None
    assert wall.claim_next_check_at - utcnow() > owners.RECHECK_RETRY - timedelta(minutes=1)
    assert wall.claim_next_check_at - utcnow() <= owners.RECHECK_RETRY
    assert mastodon_owner.get(f"/b/{bakery_on_fake.slug}/manage").status_code == 200
    assert not unverify_entries()
    # Not due again until then.
    assert run_checks() == 0


def test_a_claim_unproven_for_the_whole_grace_period_goes(
    mastodon_owner, bakery_on_fake, fake_mastodon
):
    fake_mastodon.fail_next("GET", VERIFY, 503)
    last_checked(bakery_on_fake, owners.RECHECK_GRACE + timedelta(minutes=1))

    run_checks()

    assert_no_longer_managed(mastodon_owner, bakery_on_fake)
    (entry,) = unverify_entries()
    assert entry.detail["reason"].startswith(f"No proof for {owners.RECHECK_GRACE.days} days")


# --- split domains: the business's handle domain has the last word ---


@pytest.fixture
def harbour_owner(app, harbour_server: FakeMastodon, harbour: Business):
    """Harbour Savings' own browser, having claimed its wall through WebFinger's proof."""
    browser = signed_in(app, harbour_server, "care")
    assert browser.post(f"/b/{harbour.slug}/claim").status_code == 302
    return browser


def test_a_handle_domain_that_still_confirms_keeps_the_claim(
    harbour_owner, harbour, harbour_server
):
    last_checked(harbour, timedelta(days=1))
    asked = [r for r in harbour_server.requests if r["path"] == "/.well-known/webfinger"]

    run_checks()

    again = [r for r in harbour_server.requests if r["path"] == "/.well-known/webfinger"]
    assert len(again) == len(asked) + 1
    assert again[-1]["headers"]["Host"] == localhost(harbour_server)
    assert fresh(harbour).claim_checked_at > utcnow() - timedelta(minutes=1)


def test_a_handle_domain_that_no_longer_confirms_the_account_ends_the_claim(
    harbour_owner, harbour, harbour_server
):
    # The domain now answers that it has no such account (it moved, or changed hands).
    harbour_server.fail_next("GET", "/.well-known/webfinger", 404, times=2)
    last_checked(harbour, timedelta(days=1))

    run_checks()

    assert_no_longer_managed(harbour_owner, harbour)
    (entry,) = unverify_entries()
    assert f"{localhost(harbour_server)} doesn't confirm it" in entry.detail["reason"]


def test_a_handle_domain_that_does_not_answer_keeps_the_claim_for_now(
    harbour_owner, harbour, harbour_server
):
    harbour_server.fail_next("GET", "/.well-known/webfinger", 503, times=2)
    last_checked(harbour, timedelta(days=1))

    run_checks()

    wall = fresh(harbour)
    assert wall.owner_id is not None
    assert wall.claim_next_check_at > utcnow() + owners.RECHECK_RETRY - timedelta(minutes=1)
    assert not unverify_entries()


def test_a_wall_claimed_before_handles_were_proven_goes_at_its_next_check(
    app, fake_mastodon, harbour_server, harbour
):
    # A server of someone's own calls its account care@<Harbour's domain>; the claim was made
    # when a server's word was taken for it.
    fake_mastodon.add_account("care")
    fake_mastodon.lie_about("care", acct=f"care@{localhost(harbour_server)}")
    liar = signed_in(app, fake_mastodon, "care")
    user = db.session.scalar(sa.select(User).join(MastodonAccount))
    user.mastodon_account.acct = f"care@{localhost(harbour_server)}"
    wall = fresh(harbour)
    wall.owner, wall.claimed_at = user, utcnow() - timedelta(days=30)
    db.session.commit()
    assert "Manage this page" in page_text(liar.get(f"/b/{harbour.slug}"))

    run_checks()

    assert_no_longer_managed(liar, harbour)
    (entry,) = unverify_entries()
    assert f"{localhost(harbour_server)} doesn't confirm it" in entry.detail["reason"]
    # WebFinger was asked at the business's domain, never at the liar.
    assert any(r["path"] == "/.well-known/webfinger" for r in harbour_server.requests)
    assert not any(r["path"] == "/.well-known/webfinger" for r in fake_mastodon.requests)
    assert fresh(harbour).owner_id is None


# --- how many, and in which order ---


def test_each_run_takes_a_bounded_batch_the_longest_unchecked_first(app, make_business, make_user):
    owner = make_user("owner")
    walls = []
    for n, hours in enumerate((5, 50, 20)):
        wall = make_business(f"Shop {n}", handle=f"@shop{n}@shops.example")
        wall.owner, wall.claimed_at = owner, utcnow()
        wall.claim_next_check_at = utcnow() - timedelta(hours=hours)
        walls.append(wall)
    legacy = make_business("Old Shop", handle="@old@shops.example")
    legacy.owner, legacy.claimed_at = owner, utcnow()
    not_due = make_business("New Shop", handle="@new@shops.example")
    not_due.owner, not_due.claimed_at = owner, utcnow()
    not_due.claim_next_check_at = utcnow() + timedelta(hours=3)
    db.session.commit()

    first = owners.due_claims(limit=3)
    db.session.commit()
    rest = owners.due_claims(limit=3)

    assert first == [legacy.id, walls[1].id, walls[2].id]
    assert rest == [walls[0].id]
    assert owners.due_claims(limit=3) == []


# --- from the command line ---


def test_flask_walls_recheck_checks_one_wall_now(
    mastodon_owner, bakery_on_fake, fake_mastodon, runner
):
    result = runner.invoke(args=["walls", "recheck", bakery_on_fake.slug])
    assert result.exit_code == 0, result.output
    assert "Corner Bakery: the claim holds; checked now." in result.output

    fake_mastodon.fail_next("GET", VERIFY, 503)
    result = runner.invoke(args=["walls", "recheck", bakery_on_fake.slug])
    assert "no answer from Mastodon; the claim stays" in result.output

    fake_mastodon.revoke_tokens("cornerbakery")
    result = runner.invoke(args=["walls", "recheck", bakery_on_fake.slug])
    assert "the claim no longer holds; the wall is not verified any more" in result.output
    assert fresh(bakery_on_fake).owner_id is None

    result = runner.invoke(args=["walls", "recheck", "no-such-shop"])
    assert result.exit_code != 0
    assert "No business at /b/no-such-shop." in result.output

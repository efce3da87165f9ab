"""Managers: up to five people the verified owner lets manage the wall with them.

A manager does what the owner does on the manage page (the details, featured praise) but can't
add or remove managers, nor give up the claim. Every owner action goes to the audit log.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from conftest import PASSWORD, AuthActions
from helpers import page_text

from webapp.audit import AuditEntry
from webapp.extensions import db
from webapp.models import Business, BusinessManager, Kind, Post, utcnow
from webapp.services import owners


@pytest.fixture
def claimed_bakery(app, make_user, make_business) -> Business:
    """Corner Bakery, claimed by its owner, with people around who might help."""
    owner = make_user("bakery")
    for name in ("mo", "bob", "cy", "di", "ed", "flo", "gus"):
        make_user(name)
    business = make_business("Corner Bakery")
    business.owner = owner
    business.claimed_at = utcnow()
    business.claim_proof = owners.MASTODON
    db.session.commit()
    return business


def browser(app, username: str):
    """Return a browser signed in as this person."""
    client = app.test_client()
    assert AuthActions(client).login(username, PASSWORD).status_code == 302
    return client


def manager_names(business: Business) -> list[str]:
    """Return who manages the wall, first added first."""
    db.session.expire_all()
    return [m.user.username for m in owners.managers(business)]


def actions() -> list[tuple[str, str]]:
    """Return the audit log's (action, who) entries, oldest first."""
    entries = db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id))
    return [(e.action, e.actor_name) for e in entries]


def test_the_owner_adds_and_removes_a_manager_on_the_manage_page(app, claimed_bakery):
    """Adding by username shows them on the page; removing takes them off; both are logged."""
    owner = browser(app, "bakery")
    page = owner.get(f"/b/{claimed_bakery.slug}/manage")
    assert "Managers (0 of 5)" in page_text(page)
    response = owner.post(f"/b/{claimed_bakery.slug}/managers", data={"username": "mo"})
    assert response.status_code == 302
    page = page_text(owner.get(response.headers["Location"]))
    assert "mo can now manage this page." in page and "Managers (1 of 5)" in page
    assert manager_names(claimed_bakery) == ["mo"]
    mo = db.session.scalar(sa.select(BusinessManager.user_id))
    response = owner.post(f"/b/{claimed_bakery.slug}/managers/{mo}/remove")
    assert response.status_code == 302
    assert "mo no longer manages this page." in page_text(owner.get(response.headers["Location"]))
    assert manager_names(claimed_bakery) == []
    assert actions() == [
        ("business.manager_add", "bakery"),
        ("business.manager_remove", "bakery"),
    ]


@pytest.mark.parametrize(
    ("username", "says"),
    [
        ("nobody", "Nobody is called nobody on Praisewall."),
        ("bakery", "You already manage this page as its owner."),
        ("", "Enter their username."),
    ],
)
def test_a_manager_that_cant_be_added_is_refused_plainly(app, claimed_bakery, username, says):
    """Nobody by that name, the owner, or nothing: the form says why, nothing changes."""
    response = browser(app, "bakery").post(
        f"/b/{claimed_bakery.slug}/managers", data={"username": username}
    )
    assert response.status_code == 422
    assert says in page_text(response)
    assert manager_names(claimed_bakery) == [] and actions() == []


def test_up_to_five_managers(app, claimed_bakery):
    """A sixth is refused; the same person twice too."""
    owner = browser(app, "bakery")
    for name in ("mo", "bob", "cy", "di", "ed"):
        assert (
            owner.post(f"/b/{claimed_bakery.slug}/managers", data={"username": name}).status_code
            == 302
        )
    again = owner.post(f"/b/{claimed_bakery.slug}/managers", data={"username": "mo"})
    assert again.status_code == 422
    sixth = owner.post(f"/b/{claimed_bakery.slug}/managers", data={"username": "flo"})
    assert sixth.status_code == 422
    assert "A page can have up to 5 managers. Remove one first." in page_text(sixth)
    assert manager_names(claimed_bakery) == ["mo", "bob", "cy", "di", "ed"]


def test_a_manager_edits_and_features_but_doesnt_manage_managers_or_release(app, claimed_bakery):
    """The manage page, edits and features work for a manager; the owner's own tools don't."""
    owner = browser(app, "bakery")
    owner.post(f"/b/{claimed_bakery.slug}/managers", data={"username": "mo"})
    mo = browser(app, "mo")
    wall = page_text(mo.get(f"/b/{claimed_bakery.slug}"))
    assert "Manage this page" in wall
    page = page_text(mo.get(f"/b/{claimed_bakery.slug}/manage"))
    assert "About the business" in page and "Featured praise" in page
    assert "Add manager" not in page and "Give up the claim" not in page
    response = mo.post(
        f"/b/{claimed_bakery.slug}/manage",
        data={"website": "", "description": "Fresh bread daily."},
    )
    assert response.status_code == 302
    post = Post(
        kind=Kind.PRAISE,
        author_id=claimed_bakery.owner_id,
        business_id=claimed_bakery.id,
        body="Lovely.",
        happened_on=utcnow().date(),
        channel="in_person",
    )
    db.session.add(post)
    db.session.commit()
    assert mo.post(f"/b/{claimed_bakery.slug}/featured/{post.id}").status_code == 302
    assert mo.post(f"/b/{claimed_bakery.slug}/featured/{post.id}/remove").status_code == 302
    refused = mo.post(f"/b/{claimed_bakery.slug}/managers", data={"username": "bob"})
    assert refused.status_code == 403
    assert "Only the business's verified owner can do that." in page_text(refused)
    assert mo.post(f"/b/{claimed_bakery.slug}/release").status_code == 403
    mo_id = db.session.scalar(sa.select(BusinessManager.user_id))
    assert mo.post(f"/b/{claimed_bakery.slug}/managers/{mo_id}/remove").status_code == 403
    assert manager_names(claimed_bakery) == ["mo"]
    assert db.session.get(Business, claimed_bakery.id).description == "Fresh bread daily."
    assert actions() == [
        ("business.manager_add", "bakery"),
        ("business.edit", "mo"),
        ("business.feature", "mo"),
        ("business.unfeature", "mo"),
    ]


def test_giving_up_the_claim_removes_the_managers(app, claimed_bakery):
    """Released: the managers lose the manage page with the owner; the log says who did it."""
    owner = browser(app, "bakery")
    owner.post(f"/b/{claimed_bakery.slug}/managers", data={"username": "mo"})
    assert owner.post(f"/b/{claimed_bakery.slug}/release").status_code == 302
    assert manager_names(claimed_bakery) == []
    assert browser(app, "mo").get(f"/b/{claimed_bakery.slug}/manage").status_code == 403
    assert actions()[-1] == ("business.release", "bakery")


def test_owner_actions_show_in_the_admin_audit_log(app, claimed_bakery, make_user):
    """An admin reads the owners' actions on /admin/audit."""
    browser(app, "bakery").post(f"/b/{claimed_bakery.slug}/managers", data={"username": "mo"})
    make_user("root", is_admin=True)
    page = page_text(browser(app, "root").get("/admin/audit"))
    assert "business.manager_add" in page and "bakery" in page


def test_a_manager_of_another_wall_gets_nothing_here(app, claimed_bakery, make_business):
    """Managing one wall gives no say over another."""
    browser(app, "bakery").post(f"/b/{claimed_bakery.slug}/managers", data={"username": "mo"})
    other = make_business("Cornershop")
    other.owner_id = claimed_bakery.owner_id
    other.claimed_at = utcnow()
    db.session.commit()
    assert browser(app, "mo").get(f"/b/{other.slug}/manage").status_code == 403

"""Verified businesses: claiming a wall with the business's own Mastodon account, the verified
website, the owner's details and featured praise, and what an owner can never do.

The business signs in through the real OAuth flow against the fake Mastodon server.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import AuthActions, compose_form, mastodon_sign_in
from fake_mastodon import FakeMastodon
from helpers import page_text

from webapp.extensions import db
from webapp.models import Business, Kind, Moderation, Post, User, utcnow

VERIFIED_WEBSITE = '<a href="https://bakery.example" rel="nofollow noopener me">bakery.example</a>'


@pytest.fixture
def owner_client(app, fake_mastodon: FakeMastodon, bakery_on_fake: Business):
    """A browser signed in with Corner Bakery's own Mastodon account, not yet claiming."""
    client = app.test_client()
    assert mastodon_sign_in(client, fake_mastodon, "cornerbakery").status_code == 302
    return client


@pytest.fixture
def claimed(owner_client, bakery_on_fake: Business):
    """Corner Bakery's wall, claimed by the business; returns the owner's browser."""
    assert owner_client.post(f"/b/{bakery_on_fake.slug}/claim").status_code == 302
    return owner_client


def the_owner(bakery_on_fake: Business) -> User | None:
    """Return who owns the business now, read fresh from the database."""
    db.session.expire_all()
    return db.session.get(Business, bakery_on_fake.id).owner


# --- claiming ---


def test_the_business_account_claims_its_wall_and_the_wall_says_verified(
    owner_client, bakery_on_fake, fake_mastodon
):
    before = page_text(owner_client.get(f"/b/{bakery_on_fake.slug}"))
    assert f"Claim this page as @cornerbakery@{fake_mastodon.domain}" in before
    assert "Verified" not in before

    response = owner_client.post(f"/b/{bakery_on_fake.slug}/claim")

    assert response.status_code == 302
    wall = page_text(owner_client.get(f"/b/{bakery_on_fake.slug}"))
    assert f"✓ Verified Verified on Mastodon as @cornerbakery@{fake_mastodon.domain}" in wall
    assert "Manage this page" in wall
    assert the_owner(bakery_on_fake).mastodon_account.acct == f"cornerbakery@{fake_mastodon.domain}"
    visitor = page_text(owner_client.application.test_client().get(f"/b/{bakery_on_fake.slug}"))
    assert "✓ Verified" in visitor and "Manage this page" not in visitor


def test_only_the_matching_mastodon_account_can_claim(
    app, client, connected, bakery_on_fake, fake_mastodon, make_user
):
    # Alice is signed in with her own Mastodon account, not the bakery's.
    assert "Claim this page" not in page_text(client.get(f"/b/{bakery_on_fake.slug}"))

    response = client.post(f"/b/{bakery_on_fake.slug}/claim")

    assert response.status_code == 403
    assert f"Only @cornerbakery@{fake_mastodon.domain} can claim this page" in page_text(response)
    assert the_owner(bakery_on_fake) is None

    # Someone with only a password can't either, and strangers are sent to log in.
    make_user("bob")
    bob = app.test_client()
    AuthActions(bob).login("bob")
    assert bob.post(f"/b/{bakery_on_fake.slug}/claim").status_code == 403
    stranger = app.test_client()
    assert stranger.post(f"/b/{bakery_on_fake.slug}/claim").status_code == 302
    assert the_owner(bakery_on_fake) is None
    hint = page_text(stranger.get(f"/b/{bakery_on_fake.slug}"))
    assert f"Sign in with Mastodon as @cornerbakery@{fake_mastodon.domain} to claim" in hint


def test_a_business_without_a_mastodon_handle_cannot_be_claimed(
    owner_client, make_business, bakery_on_fake
):
    other = make_business("Harbour Books")

    response = owner_client.post(f"/b/{other.slug}/claim")

    assert response.status_code == 403
    assert "has no Mastodon account on Praisewall" in page_text(response)
    assert db.session.get(Business, other.id).owner_id is None


def test_claim_checks_the_sign_in_with_the_server(owner_client, bakery_on_fake, fake_mastodon):
    fake_mastodon.revoke_tokens("cornerbakery")

    response = owner_client.post(f"/b/{bakery_on_fake.slug}/claim")

    assert response.status_code == 403
    assert "Your Mastodon sign-in has expired" in page_text(response)
    assert the_owner(bakery_on_fake) is None


def test_claim_survives_a_server_that_cannot_be_reached(
    owner_client, bakery_on_fake, fake_mastodon
):
    fake_mastodon.fail_next("GET", "/api/v1/accounts/verify_credentials", 503)

    response = owner_client.post(f"/b/{bakery_on_fake.slug}/claim")

    assert response.status_code == 403
    assert "couldn't reach your Mastodon server" in page_text(response)
    assert the_owner(bakery_on_fake) is None


def test_a_claimed_wall_cannot_be_claimed_again_by_someone_else(
    claimed, bakery_on_fake, app, fake_mastodon
):
    owner = the_owner(bakery_on_fake)
    # The same Mastodon account on a second Praisewall user is impossible: signing in with it
    # again lands on the same user. Someone else's account is refused.
    other = app.test_client()
    assert mastodon_sign_in(other, fake_mastodon, "alice").status_code == 302

    assert other.post(f"/b/{bakery_on_fake.slug}/claim").status_code == 403
    assert the_owner(bakery_on_fake).id == owner.id


# --- verified website ---


def test_the_wall_shows_the_website_the_mastodon_profile_verifies(
    owner_client, bakery_on_fake, fake_mastodon
):
    fake_mastodon.set_profile_fields(
        "cornerbakery",
        [
            {"name": "Shop", "value": '<a href="https://unverified.example">x</a>'},
            {"name": "Website", "value": VERIFIED_WEBSITE, "verified_at": "2026-11-01T10:00:00Z"},
        ],
    )

    owner_client.post(f"/b/{bakery_on_fake.slug}/claim")

    wall = owner_client.get(f"/b/{bakery_on_fake.slug}")
    assert "their website bakery.example is verified on their Mastodon profile" in page_text(wall)
    assert 'href="https://bakery.example"' in wall.text
    assert "unverified.example" not in wall.text
    stored = db.session.get(Business, bakery_on_fake.id)
    assert stored.website_verified_at.isoformat() == "2026-11-01T10:00:00+00:00"


def test_an_unverified_profile_link_is_never_shown_as_verified(
    owner_client, bakery_on_fake, fake_mastodon
):
    fake_mastodon.set_profile_fields(
        "cornerbakery", [{"name": "Website", "value": VERIFIED_WEBSITE, "verified_at": None}]
    )

    owner_client.post(f"/b/{bakery_on_fake.slug}/claim")

    wall = page_text(owner_client.get(f"/b/{bakery_on_fake.slug}"))
    assert "✓ Verified" in wall
    assert "verified on their Mastodon profile" not in wall


def test_checking_again_picks_up_a_newly_verified_website(claimed, bakery_on_fake, fake_mastodon):
    assert "verified on their Mastodon profile" not in page_text(
        claimed.get(f"/b/{bakery_on_fake.slug}")
    )
    fake_mastodon.set_profile_fields(
        "cornerbakery",
        [{"name": "Web", "value": VERIFIED_WEBSITE, "verified_at": "2026-11-20T08:00:00Z"}],
    )

    response = claimed.post(f"/b/{bakery_on_fake.slug}/claim", follow_redirects=True)

    assert "Checked your Mastodon profile again" in page_text(response)
    assert "bakery.example is verified on their Mastodon profile" in page_text(response)


# --- the owner's details ---


def test_the_owner_edits_website_and_description(claimed, bakery_on_fake):
    assert claimed.get(f"/b/{bakery_on_fake.slug}/manage").status_code == 200

    response = claimed.post(
        f"/b/{bakery_on_fake.slug}/manage",
        data={"website": "cornerbakery.example", "description": "Sourdough since 1998."},
    )

    assert response.status_code == 302
    wall = page_text(claimed.get(f"/b/{bakery_on_fake.slug}"))
    assert "Sourdough since 1998." in wall
    assert "cornerbakery.example" in wall
    assert db.session.get(Business, bakery_on_fake.id).domain == "cornerbakery.example"


def test_the_owner_s_words_lose_characters_that_would_break_a_feed(claimed, bakery_on_fake):
    response = claimed.post(
        f"/b/{bakery_on_fake.slug}/manage",
        data={
            "website": "corner\x01bakery.example",
            "description": "Sourdough\x1b since\x07 1998.",
        },
    )

    assert response.status_code == 302
    business = db.session.get(Business, bakery_on_fake.id)
    assert business.description == "Sourdough since 1998."
    assert business.domain == "cornerbakery.example"


def test_a_bad_website_is_explained_and_the_text_kept(claimed, bakery_on_fake, make_business):
    make_business("Harbour Books", website="harbourbooks.example")
    kept = "We bake at <dawn> & sell till noon."

    bad = claimed.post(
        f"/b/{bakery_on_fake.slug}/manage", data={"website": "not a website", "description": kept}
    )
    taken = claimed.post(
        f"/b/{bakery_on_fake.slug}/manage",
        data={"website": "harbourbooks.example", "description": kept},
    )
    too_long = claimed.post(
        f"/b/{bakery_on_fake.slug}/manage", data={"website": "", "description": "x" * 501}
    )

    assert bad.status_code == 422
    assert "doesn't look like a website address" in page_text(bad)
    assert "We bake at &lt;dawn&gt; &amp; sell till noon." in bad.text
    assert taken.status_code == 422
    assert "already the website of Harbour Books" in page_text(taken)
    assert too_long.status_code == 422
    assert "Keep it under 500 characters" in page_text(too_long)
    assert db.session.get(Business, bakery_on_fake.id).description is None


def test_only_the_owner_may_manage(app, claimed, bakery_on_fake, make_user):
    make_user("bob")
    bob = app.test_client()
    AuthActions(bob).login("bob")

    assert bob.get(f"/b/{bakery_on_fake.slug}/manage").status_code == 403
    assert (
        bob.post(f"/b/{bakery_on_fake.slug}/manage", data={"description": "Bob's now"}).status_code
        == 403
    )
    assert bob.post(f"/b/{bakery_on_fake.slug}/release").status_code == 403
    assert app.test_client().get(f"/b/{bakery_on_fake.slug}/manage").status_code == 302
    assert db.session.get(Business, bakery_on_fake.id).description is None


# --- featured praise ---


@pytest.fixture
def customer_praise(bakery_on_fake, make_user, make_post) -> list[Post]:
    """Four praise posts and a complaint from customers, oldest first."""
    carol = make_user("carol")
    dan = make_user("dan")
    posts = [
        make_post(carol if i % 2 else dan, bakery_on_fake, body=f"Lovely bread, visit {i}")
        for i in range(4)
    ]
    posts.append(make_post(carol, bakery_on_fake, kind=Kind.COMPLAINT, body="Stale croissant."))
    return posts


def featured_section(response) -> str:
    """Return the text of the wall's "Featured by" section, or "" without one."""
    text = response.text
    if 'class="featured"' not in text:
        return ""
    start = text.index(">", text.index('class="featured"')) + 1
    return page_text(text[start : text.index("</section>", start)])


def test_the_owner_features_up_to_three_praise_posts(claimed, bakery_on_fake, customer_praise):
    first, second, third, fourth, complaint = customer_praise
    for post in (third, first, second):
        assert claimed.post(f"/b/{bakery_on_fake.slug}/featured/{post.id}").status_code == 302

    wall = claimed.get(f"/b/{bakery_on_fake.slug}")
    featured = featured_section(wall)
    assert featured.startswith("Featured by Corner Bakery")
    # In the order the owner picked them.
    assert featured.index("visit 2") < featured.index("visit 0") < featured.index("visit 1")

    refused = claimed.post(f"/b/{bakery_on_fake.slug}/featured/{fourth.id}")
    assert refused.status_code == 409
    assert "You can feature up to 3 posts" in page_text(refused)
    not_praise = claimed.post(f"/b/{bakery_on_fake.slug}/featured/{complaint.id}")
    assert not_praise.status_code == 409
    assert "Only public praise of your business can be featured" in page_text(not_praise)
    assert db.session.get(Post, fourth.id).featured_at is None

    # Taking one off frees a place.
    assert claimed.post(f"/b/{bakery_on_fake.slug}/featured/{first.id}/remove").status_code == 302
    assert claimed.post(f"/b/{bakery_on_fake.slug}/featured/{fourth.id}").status_code == 302
    featured = featured_section(claimed.get(f"/b/{bakery_on_fake.slug}"))
    assert "visit 3" in featured and "visit 0" not in featured


def test_featuring_never_moves_or_changes_anyone_s_words(claimed, bakery_on_fake, customer_praise):
    claimed.post(f"/b/{bakery_on_fake.slug}/featured/{customer_praise[0].id}")

    wall = claimed.get(f"/b/{bakery_on_fake.slug}").text
    after_featured = wall[wall.index("</section>", wall.index('class="featured"')) :]
    # Every post is still in the list, newest first, the featured one included.
    places = [after_featured.index(f"Lovely bread, visit {i}") for i in (3, 2, 1, 0)]
    assert places == sorted(places)
    assert db.session.get(Post, customer_praise[0].id).body == "Lovely bread, visit 0"


def test_someone_else_s_praise_of_another_business_cannot_be_featured(
    claimed, bakery_on_fake, make_business, make_user, make_post
):
    elsewhere = make_post(make_user("erin"), make_business("Harbour Books"), body="Great books")

    response = claimed.post(f"/b/{bakery_on_fake.slug}/featured/{elsewhere.id}")

    assert response.status_code == 409
    assert db.session.get(Post, elsewhere.id).featured_at is None


def test_only_the_owner_may_feature(app, claimed, bakery_on_fake, customer_praise, make_user):
    make_user("bob")
    bob = app.test_client()
    AuthActions(bob).login("bob")
    post = customer_praise[0]

    assert bob.post(f"/b/{bakery_on_fake.slug}/featured/{post.id}").status_code == 403
    assert app.test_client().post(f"/b/{bakery_on_fake.slug}/featured/{post.id}").status_code == 302
    assert "Feature this" not in bob.get(f"/b/{bakery_on_fake.slug}").text
    assert "Feature this" in claimed.get(f"/b/{bakery_on_fake.slug}").text
    assert db.session.get(Post, post.id).featured_at is None


def test_a_hidden_post_leaves_the_featured_list(claimed, bakery_on_fake, customer_praise):
    post = customer_praise[0]
    claimed.post(f"/b/{bakery_on_fake.slug}/featured/{post.id}")
    db.session.get(Post, post.id).moderation = Moderation.PENDING
    db.session.commit()

    assert "visit 0" not in claimed.get(f"/b/{bakery_on_fake.slug}").text


# --- what an owner can never do ---


def test_the_owner_can_never_hide_edit_or_delete_a_customer_s_post(
    claimed, bakery_on_fake, customer_praise
):
    post = customer_praise[0]

    assert claimed.post(f"/admin/posts/{post.id}/hide").status_code == 403
    assert claimed.post(f"/posts/{post.id}/delete").status_code == 403
    assert claimed.get(f"/posts/{post.id}/edit").status_code == 403
    assert claimed.post(f"/posts/{post.id}/edit", data={"body": "Owner's words"}).status_code == 403

    db.session.expire_all()
    kept = db.session.get(Post, post.id)
    assert kept.body == "Lovely bread, visit 0"
    assert kept.is_public
    assert "Lovely bread, visit 0" in claimed.get(f"/b/{bakery_on_fake.slug}").text


def test_giving_up_the_claim_unverifies_and_unfeatures(claimed, bakery_on_fake, customer_praise):
    claimed.post(f"/b/{bakery_on_fake.slug}/featured/{customer_praise[0].id}")

    assert claimed.post(f"/b/{bakery_on_fake.slug}/release").status_code == 302

    wall = claimed.get(f"/b/{bakery_on_fake.slug}")
    assert "✓ Verified" not in page_text(wall)
    assert featured_section(wall) == ""
    assert db.session.get(Post, customer_praise[0].id).featured_at is None
    # And it can be claimed again.
    assert "Claim this page as" in page_text(wall)


def test_deleting_the_owner_account_unverifies_the_wall(claimed, bakery_on_fake):
    response = claimed.post("/settings/delete", data={"password": "cornerbakery"})

    assert response.status_code == 302
    assert the_owner(bakery_on_fake) is None
    assert "✓ Verified" not in page_text(claimed.get(f"/b/{bakery_on_fake.slug}"))


def test_the_owner_s_export_lists_the_businesses_they_manage(
    claimed, bakery_on_fake, customer_praise
):
    claimed.post(f"/b/{bakery_on_fake.slug}/featured/{customer_praise[1].id}")
    claimed.post(f"/b/{bakery_on_fake.slug}/manage", data={"website": "", "description": "Bread."})

    exported = claimed.get("/settings/export.json").get_json()

    [managed] = exported["businesses_managed"]
    assert managed["slug"] == bakery_on_fake.slug
    assert managed["description"] == "Bread."
    assert managed["featured_posts"] == [customer_praise[1].id]
    assert exported["mastodon_account"]["acct"].startswith("cornerbakery@")
    assert "token" not in str(exported["mastodon_account"])


# --- a feature stays with the wall and the words it was given for ---


@pytest.fixture
def harbour_books(make_business, make_user) -> Business:
    """Harbour Books, claimed by its own owner before anything below was featured."""
    business = make_business("Harbour Books")
    business.owner = make_user("harbourbooks")
    business.claimed_at = utcnow() - timedelta(days=1)
    db.session.commit()
    return business


def carol_edits(app, post: Post, business: Business, **fields: str | None):
    """Carol, the post's author, edits it through the real form."""
    carol = app.test_client()
    assert AuthActions(carol).login("carol").status_code == 302
    data = compose_form(business, body=post.body, to_mastodon=None) | {
        k: v for k, v in fields.items() if v is not None
    }
    response = carol.post(f"/posts/{post.id}/edit", data=data)
    assert response.status_code == 302, response.text
    return response


def test_a_feature_never_follows_a_post_to_another_business(
    app, claimed, bakery_on_fake, harbour_books, customer_praise
):
    post = customer_praise[1]  # carol's
    claimed.post(f"/b/{bakery_on_fake.slug}/featured/{post.id}")
    assert "visit 1" in featured_section(claimed.get(f"/b/{bakery_on_fake.slug}"))

    carol_edits(app, post, harbour_books, body="Harbour Books is the best shop in town")

    visitor = app.test_client()
    harbour_wall = visitor.get(f"/b/{harbour_books.slug}")
    assert featured_section(harbour_wall) == ""
    assert "Featured by Harbour Books" not in page_text(harbour_wall)
    assert "Harbour Books is the best shop in town" in harbour_wall.text  # in the list, as posted
    assert featured_section(visitor.get(f"/b/{bakery_on_fake.slug}")) == ""
    assert db.session.get(Post, post.id).featured_at is None


def test_a_feature_left_behind_is_never_shown_on_the_wall_it_now_sits_on(
    app, claimed, bakery_on_fake, harbour_books, customer_praise
):
    """Old rows: a post featured elsewhere and moved without the edit form stays unfeatured."""
    post = customer_praise[1]
    claimed.post(f"/b/{bakery_on_fake.slug}/featured/{post.id}")
    db.session.get(Post, post.id).business_id = harbour_books.id  # as an older version left it
    db.session.commit()

    wall = app.test_client().get(f"/b/{harbour_books.slug}")

    assert "Featured by Harbour Books" not in page_text(wall)


def test_new_words_end_a_feature_and_other_changes_keep_it(
    app, claimed, bakery_on_fake, customer_praise
):
    """The owner vouched for the words they read: rewritten, the post needs featuring again."""
    kept, rewritten = customer_praise[1], customer_praise[3]  # both carol's
    for post in (kept, rewritten):
        claimed.post(f"/b/{bakery_on_fake.slug}/featured/{post.id}")

    carol_edits(app, kept, bakery_on_fake, shows_name=None)  # now anonymous, same words
    carol_edits(app, rewritten, bakery_on_fake, body="Rude staff, never again")

    featured = featured_section(app.test_client().get(f"/b/{bakery_on_fake.slug}"))
    assert "visit 1" in featured
    assert "Rude staff" not in featured
    # The owner sees it can be featured again.
    assert claimed.post(f"/b/{bakery_on_fake.slug}/featured/{rewritten.id}").status_code == 302
    assert "Rude staff" in featured_section(claimed.get(f"/b/{bakery_on_fake.slug}"))


def test_features_from_an_earlier_claim_do_not_come_back_with_a_new_one(
    claimed, bakery_on_fake, customer_praise, fake_mastodon
):
    """The owner's account is deleted (no release); the business claims again later."""
    claimed.post(f"/b/{bakery_on_fake.slug}/featured/{customer_praise[0].id}")
    assert claimed.post("/settings/delete", data={"password": "cornerbakery"}).status_code == 302

    again = claimed.application.test_client()
    assert mastodon_sign_in(again, fake_mastodon, "cornerbakery").status_code == 302
    assert again.post(f"/b/{bakery_on_fake.slug}/claim").status_code == 302

    wall = again.get(f"/b/{bakery_on_fake.slug}")
    assert "✓ Verified" in page_text(wall)
    assert featured_section(wall) == ""
    assert "Stop featuring" not in page_text(wall)

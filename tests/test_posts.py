"""Writing, reading, editing and deleting posts, and the complaint lifecycle."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from helpers import count

from webapp.extensions import db
from webapp.models import Business, Post

TODAY = date.today().isoformat()


def form(**fields: str) -> dict[str, str]:
    """Return a complete compose form, with fields overridden."""
    data = {
        "kind": "praise",
        "body": "They swapped my broken kettle on the spot.",
        "happened_on": TODAY,
        "channel": "in_person",
        "is_on_wall": "y",
        "shows_name": "y",
        "rating": "5",
    }
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}


def only_post() -> Post:
    """Return the single post in the database."""
    return db.session.scalars(sa.select(Post)).one()


def test_compose_needs_login(client):
    """Anonymous visitors are sent to log in first, and come back after."""
    response = client.get("/posts/new?kind=praise")
    assert response.status_code == 302
    assert "/login?next=" in response.headers["Location"]


def test_praise_about_an_existing_business(client, signed_in_alice, bakery_with_website):
    """Picking a business from the list posts about it and opens the permalink."""
    response = client.post("/posts/new", data=form(business_id=str(bakery_with_website.id)))
    assert response.status_code == 302
    post = only_post()
    assert response.headers["Location"].endswith(f"/posts/{post.id}")
    page = client.get(f"/posts/{post.id}").text
    assert "They swapped my broken kettle on the spot." in page
    assert "Corner Bakery" in page and "Rated 5 of 5" in page
    assert post.author_id == signed_in_alice.id and post.is_on_wall and post.shows_name


def test_typing_the_exact_name_without_javascript_finds_the_business(
    client, signed_in_alice, bakery_with_website
):
    """Without the type-ahead, an exact (normalized) name still finds the business."""
    response = client.post("/posts/new", data=form(business="  corner   BAKERY "))
    assert response.status_code == 302
    assert only_post().business_id == bakery_with_website.id


def test_an_unknown_name_offers_matches_and_keeps_everything(
    client, signed_in_alice, bakery_with_website
):
    """A name that matches nothing exactly re-renders with suggestions and all fields kept."""
    response = client.post(
        "/posts/new",
        data=form(business="Corner", body="Kind staff <b>really</b>", rating="4", channel="phone"),
    )
    assert response.status_code == 422
    assert "Pick one of these" in response.text
    assert f'value="{bakery_with_website.id}"' in response.text
    assert "Kind staff &lt;b&gt;really&lt;/b&gt;" in response.text
    assert '<option selected value="4">' in response.text
    assert '<option selected value="phone">' in response.text
    assert count(Post) == 0


def test_a_name_nobody_knows_is_offered_as_a_new_business(client, signed_in_alice):
    """An unknown name with no matches pre-fills the "add a new business" fields."""
    response = client.post("/posts/new", data=form(business="Zebra Cycles"))
    assert response.status_code == 422
    assert "We don&#39;t know that business yet" in response.text
    assert 'name="new_business_name" type="text" value="Zebra Cycles"' in response.text


def test_adding_a_new_business_inline(client, signed_in_alice):
    """A new business is created with its website domain and handle, and tagged."""
    response = client.post(
        "/posts/new",
        data=form(
            new_business_name="Zebra Cycles",
            new_business_website="https://www.zebracycles.example/shop",
            new_business_handle="hello@ZebraCycles.example",
        ),
    )
    assert response.status_code == 302
    business = db.session.scalars(sa.select(Business)).one()
    assert (business.slug, business.domain, business.handle) == (
        "zebra-cycles",
        "zebracycles.example",
        "@hello@zebracycles.example",
    )
    assert business.created_by_id == signed_in_alice.id
    assert only_post().business_id == business.id


@pytest.mark.parametrize(
    ("name", "website"),
    [
        ("corner bakery", ""),
        ("Corner Bakery!", ""),
        ("The Corner Bakery Shop", "cornerbakery.example"),
        ("Something Else", "https://www.cornerbakery.example/about"),
    ],
)
def test_duplicate_businesses_are_caught(
    client, signed_in_alice, bakery_with_website, name, website
):
    """A "new" business matching one by normalized name or website domain is picked instead."""
    response = client.post(
        "/posts/new", data=form(new_business_name=name, new_business_website=website)
    )
    assert response.status_code == 422
    assert "is already here, so we picked it for you" in response.text
    assert f'name="business_id" type="hidden" value="{bakery_with_website.id}"' in response.text
    assert count(Business) == 1
    # Posting the re-rendered form as it stands now tags the existing business.
    response = client.post("/posts/new", data=form(business_id=str(bakery_with_website.id)))
    assert response.status_code == 302
    assert only_post().business_id == bakery_with_website.id


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"body": ""}, "Tell us what happened."),
        ({"body": "   \n  "}, "Tell us what happened."),
        ({"body": "x" * 2001}, "Keep it under 2,000 characters."),
        ({"kind": "rant"}, "Not a valid choice"),
        ({"kind": None}, "Choose praise or complaint."),
        ({"rating": "6"}, "Not a valid choice"),
        ({"rating": "-1"}, "Not a valid choice"),
        ({"channel": "carrier-pigeon"}, "Not a valid choice"),
        ({"happened_on": ""}, "Give the date it happened."),
        ({"happened_on": "not a date"}, "Not a valid date value."),
        (
            {"happened_on": (date.today() + timedelta(days=2)).isoformat()},
            "That date is in the future.",
        ),
        ({"happened_on": "1901-01-01"}, "That date is too long ago."),
        ({"business_id": "999999"}, "We couldn&#39;t find that business."),
        ({"business_id": "99999999999999999999"}, "We couldn&#39;t find that business."),
        ({"business_id": "abc"}, "We couldn&#39;t find that business."),
        ({"business_id": ""}, "Which business was it?"),
        ({"business_id": "", "new_business_name": "!!!"}, "Give the business a name with letters"),
        (
            {"business_id": "", "new_business_name": "Acme", "new_business_website": "not a site"},
            "doesn&#39;t look like a website",
        ),
        (
            {"business_id": "", "new_business_name": "Acme", "new_business_handle": "acme"},
            "A handle looks like @support@brand.example.",
        ),
        (
            {"business_id": "", "new_business_name": "Acme", "new_business_handle": "@a@b"},
            "A handle looks like @support@brand.example.",
        ),
        ({"make_right": "y" * 1001}, "Keep it under 1,000 characters."),
    ],
)
def test_bad_input_gets_a_clear_message_and_keeps_the_text(
    client, signed_in_alice, bakery_with_website, fields, message
):
    """Every validation failure re-renders with a message, a 422 and the story kept."""
    data = form(business_id=str(bakery_with_website.id), body="A story worth keeping")
    data.update({k: v for k, v in fields.items() if v is not None})
    for key in [k for k, v in fields.items() if v is None]:
        data.pop(key)
    response = client.post("/posts/new", data=data)
    assert response.status_code == 422
    assert message in response.text
    if "body" not in fields:
        assert "A story worth keeping" in response.text
    assert count(Post) == 0


def test_text_is_stored_as_typed_and_shown_escaped(client, signed_in_alice, bakery_with_website):
    """Script tags and odd unicode are kept as text and never run."""
    body = "<script>alert('x')</script> café 👍🏽 \u202eevil\u202c ZWJ👩‍👩‍👧"
    client.post("/posts/new", data=form(business_id=str(bakery_with_website.id), body=body))
    post = only_post()
    assert post.body == body
    page = client.get(f"/posts/{post.id}").text
    assert "<script>alert" not in page
    assert html.escape(body, quote=True).replace("&#x27;", "&#39;") in page


def test_compose_prefills_from_the_query(client, signed_in_alice, bakery_with_website):
    """?kind= and ?business= pre-fill the compose form."""
    page = client.get("/posts/new?kind=complaint&business=corner-bakery").text
    assert re.search(r'<input checked[^>]*name="kind"[^>]*value="complaint"', page)
    assert 'value="Corner Bakery"' in page
    assert f'name="business_id" type="hidden" value="{bakery_with_website.id}"' in page
    assert 'value="' + date.today().isoformat() + '"' in page
    assert "What would make it right?" in page


def test_unknown_prefill_is_ignored(client, signed_in_alice):
    """Unknown ?kind= or ?business= values leave a plain form."""
    response = client.get("/posts/new?kind=rant&business=nope")
    assert response.status_code == 200
    assert re.search(r'<input checked[^>]*name="kind"[^>]*value="praise"', response.text)


def test_private_and_anonymous_choices(client, signed_in_alice, bakery_with_website, make_user):
    """Unticked boxes keep a post off the wall, or show it as "a customer"."""
    client.post(
        "/posts/new",
        data=form(business_id=str(bakery_with_website.id), body="Anon", shows_name=None),
    )
    client.post(
        "/posts/new",
        data=form(business_id=str(bakery_with_website.id), body="Private", is_on_wall=None),
    )
    wall = client.get("/wall").text
    assert "Anon" in wall and "a customer" in wall and "Private" not in wall
    assert "Anon" not in client.get("/u/alice").text
    private = db.session.scalar(sa.select(Post).where(Post.body == "Private"))
    assert client.get(f"/posts/{private.id}").status_code == 200
    client.post("/logout")
    assert client.get(f"/posts/{private.id}").status_code == 404


def test_complaint_asks_what_would_make_it_right(client, signed_in_alice, bakery_with_website):
    """A complaint stores its "what would make it right" and starts open."""
    client.post(
        "/posts/new",
        data=form(
            kind="complaint",
            business_id=str(bakery_with_website.id),
            make_right="A refund",
            rating="2",
        ),
    )
    post = only_post()
    assert (post.make_right, post.complaint_status) == ("A refund", "open")
    page = client.get(f"/posts/{post.id}").text
    assert "A refund" in page and "Open" in page and "Mark resolved" in page


@pytest.mark.parametrize(
    ("body", "hint"),
    [
        ("THEY LOST MY PARCEL AND NOBODY CARES", "capital letters"),
        ("The staff were useless and rude", "“useless”"),
        ("Still waiting for my refund!!!", "runs of “!!!”"),
    ],
)
def test_tone_check_suggests_but_never_blocks(
    client, signed_in_alice, bakery_with_website, body, hint
):
    """A heated complaint is posted, with a friendly suggestion on the page."""
    response = client.post(
        "/posts/new",
        data=form(kind="complaint", business_id=str(bakery_with_website.id), body=body),
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert count(Post) == 1
    assert hint in response.text and "flash-tone" in response.text


def test_calm_complaints_and_praise_get_no_tone_note(client, signed_in_alice, bakery_with_website):
    """Calm complaints, and shouty praise, pass without a suggestion."""
    calm = client.post(
        "/posts/new",
        data=form(
            kind="complaint", business_id=str(bakery_with_website.id), body="The order came late."
        ),
        follow_redirects=True,
    )
    happy = client.post(
        "/posts/new",
        data=form(business_id=str(bakery_with_website.id), body="BEST BAKERY IN TOWN!!!"),
        follow_redirects=True,
    )
    assert "flash-tone" not in calm.text and "flash-tone" not in happy.text


def test_permalink_has_open_graph_tags(client, make_user, bakery_with_website, make_post):
    """Link previews get a title, description and the canonical URL."""
    post = make_post(make_user("bob"), bakery_with_website, body='Fresh bread & a "hello"')
    page = client.get(f"/posts/{post.id}").text
    assert '<meta property="og:title" content="Praise for Corner Bakery">' in page
    assert '<meta property="og:description" content="Fresh bread &amp; a &#34;hello&#34;">' in page
    assert f'<meta property="og:url" content="http://praisewall.test/posts/{post.id}">' in page


def test_missing_post_is_404(client):
    """An unknown or absurd post id is a plain 404."""
    assert client.get("/posts/12345").status_code == 404
    assert client.get("/posts/99999999999999999999").status_code == 404


def test_edit_my_post(client, signed_in_alice, bakery_with_website, make_business):
    """The author can change the story, the business and the choices."""
    client.post("/posts/new", data=form(business_id=str(bakery_with_website.id)))
    post = only_post()
    page = client.get(f"/posts/{post.id}/edit").text
    assert "They swapped my broken kettle" in page and 'value="Corner Bakery"' in page
    other = make_business("Zebra Cycles")
    response = client.post(
        f"/posts/{post.id}/edit",
        data=form(business_id=str(other.id), body="Edited story", rating="", is_on_wall=None),
    )
    assert response.status_code == 302
    db.session.refresh(post)
    assert (post.body, post.business_id, post.rating, post.is_on_wall) == (
        "Edited story",
        other.id,
        None,
        False,
    )
    assert post.updated_at is not None


def test_edit_keeps_text_on_error(client, signed_in_alice, bakery_with_website):
    """A failed edit re-renders with the new text, and the stored post is unchanged."""
    client.post("/posts/new", data=form(business_id=str(bakery_with_website.id)))
    post = only_post()
    response = client.post(
        f"/posts/{post.id}/edit",
        data=form(
            business_id=str(bakery_with_website.id), body="New words", happened_on="2999-01-01"
        ),
    )
    assert response.status_code == 422
    assert "New words" in response.text
    db.session.refresh(post)
    assert post.body.startswith("They swapped")


def test_delete_my_post(client, signed_in_alice, bakery_with_website):
    """Deleting removes the post everywhere."""
    client.post("/posts/new", data=form(business_id=str(bakery_with_website.id)))
    post_id = only_post().id
    response = client.post(f"/posts/{post_id}/delete")
    assert response.status_code == 302
    assert count(Post) == 0
    assert client.get(f"/posts/{post_id}").status_code == 404
    assert "They swapped" not in client.get("/wall").text


def test_complaint_lifecycle(client, signed_in_alice, bakery_with_website):
    """Open → resolved (with a note) → reopened → resolved; the wall shows the state."""
    client.post("/posts/new", data=form(kind="complaint", business_id=str(bakery_with_website.id)))
    post = only_post()
    response = client.post(f"/posts/{post.id}/resolve", data={"note": "They refunded me"})
    assert response.status_code == 302
    page = client.get(f"/posts/{post.id}").text
    assert "Resolved" in page and "They refunded me" in page
    assert "Post a win about how they fixed it" in page
    assert "Resolved" in client.get("/b/corner-bakery?tab=complaints").text
    client.post(f"/posts/{post.id}/reopen")
    db.session.refresh(post)
    assert (post.complaint_status, post.resolved_at, post.resolution_note) == ("open", None, None)
    client.post(f"/posts/{post.id}/resolve", data={"note": ""})
    db.session.refresh(post)
    assert post.complaint_status == "resolved" and post.resolved_at is not None


def test_resolve_note_too_long_keeps_the_note(client, signed_in_alice, bakery_with_website):
    """An over-long resolution note is refused with the words kept."""
    client.post("/posts/new", data=form(kind="complaint", business_id=str(bakery_with_website.id)))
    post = only_post()
    response = client.post(f"/posts/{post.id}/resolve", data={"note": "n" * 1001})
    assert response.status_code == 422
    assert "Keep it under 1,000 characters." in response.text and "n" * 1001 in response.text
    db.session.refresh(post)
    assert post.complaint_status == "open"


def test_praise_cannot_be_resolved(client, signed_in_alice, bakery_with_website):
    """Resolve and reopen are for complaints only."""
    client.post("/posts/new", data=form(business_id=str(bakery_with_website.id)))
    post = only_post()
    assert client.post(f"/posts/{post.id}/resolve").status_code == 400
    assert client.post(f"/posts/{post.id}/reopen").status_code == 400


def test_a_fixed_complaint_leads_to_linked_praise(client, signed_in_alice, bakery_with_website):
    """ "Post a win about how they fixed it" pre-fills praise that links back to the complaint."""
    client.post("/posts/new", data=form(kind="complaint", business_id=str(bakery_with_website.id)))
    complaint = only_post()
    client.post(f"/posts/{complaint.id}/resolve", data={"note": "Sorted"})
    page = client.get(f"/posts/new?kind=praise&business=corner-bakery&fixes={complaint.id}").text
    assert f'name="fixes" type="hidden" value="{complaint.id}"' in page
    response = client.post(
        "/posts/new",
        data=form(
            business_id=str(bakery_with_website.id),
            body="They made it right",
            fixes=str(complaint.id),
        ),
    )
    praise = db.session.get(Post, int(response.headers["Location"].rsplit("/", 1)[1]))
    assert praise.fixes_id == complaint.id
    assert "a complaint that got fixed" in client.get(f"/posts/{praise.id}").text
    assert "Fixed, and praised afterwards" in client.get(f"/posts/{complaint.id}").text


def test_praise_cannot_claim_someone_elses_complaint(
    client, signed_in_alice, bakery_with_website, make_user, make_post
):
    """?fixes= only links to my own resolved complaint."""
    theirs = make_post(
        make_user("bob"), bakery_with_website, kind="complaint", complaint_status="resolved"
    )
    client.post(
        "/posts/new", data=form(business_id=str(bakery_with_website.id), fixes=str(theirs.id))
    )
    mine = db.session.scalar(sa.select(Post).where(Post.author_id == signed_in_alice.id))
    assert mine.fixes_id is None


def test_me_lists_my_posts_newest_first_with_their_state(
    client, signed_in_alice, bakery_with_website, make_user, make_post
):
    """/me shows only my posts, newest first, each with its state."""
    make_post(make_user("bob"), bakery_with_website, body="Bob's post")
    for body, extra in [
        ("First praise", {}),
        ("A private one", {"is_on_wall": None}),
        ("A complaint", {"kind": "complaint"}),
    ]:
        client.post(
            "/posts/new", data=form(business_id=str(bakery_with_website.id), body=body, **extra)
        )
    page = client.get("/me").text
    assert "Bob&#39;s post" not in page
    assert page.index("A complaint") < page.index("A private one") < page.index("First praise")
    assert "Private" in page and "Open" in page


def test_a_suggestion_picked_without_javascript_is_used(
    client, signed_in_alice, bakery_with_website, make_business
):
    """Choosing a "did you mean" radio posts about that business."""
    make_business("Corner Shop")
    response = client.post(
        "/posts/new", data=form(business="Corner", business_choice=str(bakery_with_website.id))
    )
    assert response.status_code == 302
    assert only_post().business_id == bakery_with_website.id


def test_a_name_changed_after_an_error_is_followed_without_javascript(
    client, signed_in_alice, bakery_with_website, make_business
):
    """A kept business id doesn't win over a business name typed afresh after an error."""
    other = make_business("Zebra Cycles")
    response = client.post(
        "/posts/new", data=form(business="Zebra Cycles", business_id=str(bakery_with_website.id))
    )
    assert response.status_code == 302
    assert only_post().business_id == other.id


def test_resolving_twice_keeps_the_first_resolution(client, signed_in_alice, bakery_with_website):
    """A repeated "mark resolved" doesn't move the date or wipe the note."""
    client.post("/posts/new", data=form(kind="complaint", business_id=str(bakery_with_website.id)))
    post = only_post()
    client.post(f"/posts/{post.id}/resolve", data={"note": "Refunded"})
    db.session.refresh(post)
    first = post.resolved_at
    client.post(f"/posts/{post.id}/resolve", data={"note": ""})
    db.session.refresh(post)
    assert (post.resolved_at, post.resolution_note) == (first, "Refunded")


@pytest.mark.parametrize("body", ["\u200b\u200b\u200b", "\u200d", "\u00a0 \u2003", "\ufeff"])
def test_invisible_text_is_no_story(client, signed_in_alice, bakery_with_website, body):
    """A body of only invisible characters counts as empty."""
    response = client.post(
        "/posts/new", data=form(business_id=str(bakery_with_website.id), body=body)
    )
    assert response.status_code == 422
    assert "Tell us what happened." in response.text


@pytest.mark.parametrize(
    ("complaint_named", "praise_named", "linked"),
    [(True, True, True), (False, False, True), (False, True, False), (True, False, False)],
)
def test_fixed_it_links_never_unmask_an_anonymous_post(
    client, signed_in_alice, bakery_with_website, complaint_named, praise_named, linked
):
    """A complaint and its follow-up link to each other only if both show the name, or neither."""
    client.post(
        "/posts/new",
        data=form(
            kind="complaint",
            business_id=str(bakery_with_website.id),
            shows_name="y" if complaint_named else None,
        ),
    )
    complaint = only_post()
    client.post(f"/posts/{complaint.id}/resolve")
    response = client.post(
        "/posts/new",
        data=form(
            business_id=str(bakery_with_website.id),
            fixes=str(complaint.id),
            body="They fixed it",
            shows_name="y" if praise_named else None,
        ),
    )
    praise_id = int(response.headers["Location"].rsplit("/", 1)[1])
    client.post("/logout")
    praise_page = client.get(f"/posts/{praise_id}").text
    complaint_page = client.get(f"/posts/{complaint.id}").text
    assert ("a complaint that got fixed" in praise_page) is linked
    assert ("Fixed, and praised afterwards" in complaint_page) is linked

"""The three-praise challenge: rounds, progress counted from posts, badges and community totals."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa
from conftest import PASSWORD
from helpers import count, page_text, utc

from webapp.extensions import db
from webapp.models import ChallengeRound, Kind, Post


def compose(client, business, **fields):
    """Post through the real compose form: public, named praise unless fields say otherwise.

    A field given as None is left out, as a browser leaves out an unticked checkbox.
    """
    data = {
        "kind": "praise",
        "business_id": str(business.id),
        "body": "They went out of their way for me.",
        "happened_on": date.today().isoformat(),
        "channel": "in_person",
        "is_on_wall": "y",
        "shows_name": "y",
    }
    data.update(fields)
    data = {key: value for key, value in data.items() if value is not None}
    response = client.post("/posts/new", data=data)
    assert response.status_code == 302, response.text
    return response


def posted_id(response) -> int:
    """Read the new post's id from the redirect to its page."""
    return int(response.headers["Location"].rsplit("/", 1)[1])


@pytest.fixture
def shops(make_business):
    """Return three businesses to praise."""
    return [make_business(name) for name in ("Corner Bakery", "Quick Cobbler", "Night Pharmacy")]


def test_anonymous_visitor_is_invited_to_sign_up(client, auth):
    """Someone not logged in sees a sign-up link, no button; signing up comes back here."""
    response = client.get("/challenge")
    assert response.status_code == 200
    assert "Sign up to take it" in response.text
    assert 'href="/register?next=/challenge"' in response.text
    assert "Take the challenge" not in page_text(response).split("Everyone")[0]
    assert 'action="/challenge/start"' not in response.text
    response = client.post(
        "/register?next=/challenge",
        data={"username": "newbie", "password": PASSWORD, "confirm": PASSWORD},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/challenge"
    assert "Take the challenge" in client.get("/challenge").text


def test_starting_a_round_needs_a_login(client):
    """POST /challenge/start without a login goes to the login page and starts nothing."""
    response = client.post("/challenge/start")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=%2Fchallenge%2Fstart"
    assert count(ChallengeRound) == 0


def test_newcomer_sees_an_empty_ring_and_the_take_the_challenge_button(client, signed_in_alice):
    """A logged-in user with no round sees 0 of 3 and the button to take the challenge."""
    response = client.get("/challenge")
    assert response.status_code == 200
    assert 'aria-label="0 of 3"' in response.text
    assert "Take the challenge" in response.text
    assert "Or just post your first public praise" in response.text
    assert count(ChallengeRound) == 0


def test_take_the_challenge_button_starts_a_round_at_zero(client, signed_in_alice):
    """The button starts a round: 0 of 3, three to go, nothing counted yet."""
    response = client.post("/challenge/start")
    assert response.status_code == 302
    assert response.headers["Location"] == "/challenge"
    text = page_text(client.get("/challenge"))
    assert "You're in!" in text
    assert "0 of 3" in text
    assert "3 to go" in text
    assert "None yet: public praise that names a business counts." in text
    assert "Take the challenge" not in text.split("Everyone")[0]
    assert count(ChallengeRound) == 1


def test_first_public_praise_starts_a_round_and_counts(client, signed_in_alice, shops):
    """Without pressing anything, the first public praise starts a round at 1 of 3."""
    compose(client, shops[0], body="Fixed my cake order in minutes.")
    text = page_text(client.get("/challenge"))
    assert "1 of 3" in text
    assert "2 to go" in text
    assert "The posts that counted Corner Bakery — Fixed my cake order in minutes." in text
    rounds = db.session.scalars(sa.select(ChallengeRound)).all()
    assert [(r.user_id, r.completed_at) for r in rounds] == [(signed_in_alice.id, None)]


@pytest.mark.parametrize("praises", [1, 2])
def test_ring_shows_how_many_of_three(client, signed_in_alice, shops, praises):
    """The ring and the page say n of 3 and how many are left."""
    for shop in shops[:praises]:
        compose(client, shop)
    response = client.get("/challenge")
    assert f'aria-label="{praises} of 3"' in response.text
    assert f"<strong>{praises} of 3</strong>" in response.text
    assert f"{3 - praises} to go" in page_text(response)
    assert "Challenge complete!" not in response.text
    assert f"Challenge: {praises} of 3" in page_text(client.get("/me"))


NOT_COUNTING = [
    pytest.param({"is_on_wall": None}, id="private praise"),
    pytest.param({"kind": "complaint"}, id="public complaint"),
    pytest.param({"kind": "complaint", "is_on_wall": None}, id="private complaint"),
]


@pytest.mark.parametrize("fields", NOT_COUNTING)
def test_posts_that_are_not_public_praise_start_no_round(client, signed_in_alice, shops, fields):
    """Private posts and complaints don't start the challenge."""
    compose(client, shops[0], **fields)
    response = client.get("/challenge")
    assert 'aria-label="0 of 3"' in response.text
    assert "Take the challenge" in response.text
    assert count(ChallengeRound) == 0


@pytest.mark.parametrize("fields", NOT_COUNTING)
def test_posts_that_are_not_public_praise_do_not_count(client, signed_in_alice, shops, fields):
    """In a running round, private posts and complaints leave progress where it was."""
    compose(client, shops[0], body="This one counts.")
    compose(client, shops[1], body="This one must not count.", **fields)
    text = page_text(client.get("/challenge"))
    assert "1 of 3" in text
    assert "This one counts." in text
    assert "This one must not count." not in text


def test_praise_written_before_a_button_started_round_does_not_count(
    client, signed_in_alice, shops, make_post
):
    """An older private praise made public after pressing the button stays outside the round."""
    old = make_post(
        signed_in_alice, shops[0], is_on_wall=False, body="Old story.", created_at=utc(2024, 5, 1)
    )
    client.post("/challenge/start")
    response = client.post(
        f"/posts/{old.id}/edit",
        data={
            "kind": "praise",
            "business_id": str(shops[0].id),
            "body": "Old story.",
            "happened_on": "2024-05-01",
            "channel": "in_person",
            "is_on_wall": "y",
            "shows_name": "y",
        },
    )
    assert response.status_code == 302
    text = page_text(client.get("/challenge"))
    assert "0 of 3" in text
    assert "Old story." not in text
    compose(client, shops[1], body="A new story.")
    text = page_text(client.get("/challenge"))
    assert "1 of 3" in text
    assert "A new story." in text
    assert "Old story." not in text


def test_third_praise_completes_the_round(client, signed_in_alice, shops):
    """The third public praise shows the badge, the three posts and a new-round button."""
    for number, shop in enumerate(shops, start=1):
        compose(client, shop, body=f"Story number {number}.")
    response = client.get("/challenge")
    text = page_text(response)
    assert 'aria-label="3 of 3"' in response.text
    assert "Challenge complete!" in text
    assert "Start a new round" in text
    assert "to go" not in text
    for number, shop in enumerate(shops, start=1):
        assert f"{shop.name} — Story number {number}." in text
    completed = db.session.scalar(sa.select(ChallengeRound.completed_at))
    last_post = db.session.scalar(sa.select(sa.func.max(Post.created_at)))
    assert completed == last_post
    assert "Challenge: 3 of 3 — done!" in page_text(client.get("/me"))


def test_deleting_a_counted_post_lowers_progress(client, signed_in_alice, shops):
    """Deleting one of the posts that counted takes it off the page and the count down."""
    compose(client, shops[0], body="Keep me.")
    doomed = posted_id(compose(client, shops[1], body="Delete me."))
    assert "2 of 3" in page_text(client.get("/challenge"))
    response = client.post(f"/posts/{doomed}/delete")
    assert response.status_code == 302
    text = page_text(client.get("/challenge"))
    assert "1 of 3" in text
    assert "Keep me." in text
    assert "Delete me." not in text


def test_a_finished_round_stays_finished_when_one_of_its_posts_goes(client, signed_in_alice, shops):
    """Once earned, the badge stays: deleting a post from a finished round doesn't undo it."""
    ids = [posted_id(compose(client, shop)) for shop in shops]
    client.post(f"/posts/{ids[0]}/delete")
    response = client.get("/challenge")
    assert 'aria-label="3 of 3"' in response.text
    assert "Challenge complete!" in page_text(response)
    assert "Challenge: 3 of 3 — done!" in page_text(client.get("/me"))


def test_making_a_counted_post_private_lowers_progress(client, signed_in_alice, shops):
    """Progress is counted from posts, so taking a praise off the wall uncounts it."""
    post_id = posted_id(compose(client, shops[0], body="Going private."))
    client.post(
        f"/posts/{post_id}/edit",
        data={
            "kind": "praise",
            "business_id": str(shops[0].id),
            "body": "Going private.",
            "happened_on": date.today().isoformat(),
            "channel": "in_person",
            "shows_name": "y",
        },
    )
    text = page_text(client.get("/challenge"))
    assert "0 of 3" in text
    assert "Going private." not in text


def test_pressing_start_during_a_round_keeps_its_progress(client, signed_in_alice, shops):
    """Starting while a round is under way doesn't throw the progress away."""
    compose(client, shops[0])
    client.post("/challenge/start")
    assert "1 of 3" in page_text(client.get("/challenge"))
    assert count(ChallengeRound) == 1


def test_starting_a_new_round_resets_to_zero(client, signed_in_alice, shops):
    """After finishing, "Start a new round" gives 0 of 3; the old posts don't count in it."""
    for number, shop in enumerate(shops, start=1):
        compose(client, shop, body=f"Round one, story {number}.")
    response = client.post("/challenge/start")
    assert response.status_code == 302
    text = page_text(client.get("/challenge"))
    assert "0 of 3" in text
    assert "3 to go" in text
    assert "Challenge complete!" not in text
    assert "Round one" not in text
    assert count(ChallengeRound) == 2
    compose(client, shops[0], body="Round two, story 1.")
    text = page_text(client.get("/challenge"))
    assert "1 of 3" in text
    assert "Round two, story 1." in text
    assert "Round one" not in text


def test_praise_after_a_finished_round_waits_for_a_new_round(client, signed_in_alice, shops):
    """A fourth praise doesn't start round two by itself; the finished round stays on show."""
    for shop in shops:
        compose(client, shop)
    compose(client, shops[0], body="The fourth one.")
    text = page_text(client.get("/challenge"))
    assert "3 of 3" in text
    assert "Challenge complete!" in text
    assert "The fourth one." not in text
    assert count(ChallengeRound) == 1


def test_old_praise_made_public_after_a_finished_round_is_not_counted_twice(
    client, signed_in_alice, shops, make_post
):
    """Posts of a finished round can't count again in a round started by an older post."""
    make_post(signed_in_alice, shops[0], created_at=utc(2026, 1, 1))
    hidden = make_post(
        signed_in_alice,
        shops[1],
        is_on_wall=False,
        body="Kept private.",
        created_at=utc(2026, 1, 2),
    )
    make_post(signed_in_alice, shops[1], created_at=utc(2026, 1, 3))
    make_post(signed_in_alice, shops[2], created_at=utc(2026, 1, 4))
    assert "Three-praise challenge × 1" in page_text(client.get("/u/alice"))
    response = client.post(
        f"/posts/{hidden.id}/edit",
        data={
            "kind": "praise",
            "business_id": str(shops[1].id),
            "body": "Kept private.",
            "happened_on": "2026-01-02",
            "channel": "in_person",
            "is_on_wall": "y",
            "shows_name": "y",
        },
    )
    assert response.status_code == 302
    assert "Three-praise challenge × 1" in page_text(client.get("/u/alice"))
    completed = db.session.scalar(
        sa.select(sa.func.count(ChallengeRound.completed_at)).where(
            ChallengeRound.user_id == signed_in_alice.id
        )
    )
    assert completed == 1


def test_hidden_praise_stops_counting(client, signed_in_alice, shops):
    """A praise hidden by reports no longer counts toward the round."""
    post_id = posted_id(compose(client, shops[0], body="Reported away."))
    db.session.execute(sa.update(Post).where(Post.id == post_id).values(moderation="pending"))
    db.session.commit()
    text = page_text(client.get("/challenge"))
    assert "0 of 3" in text
    assert "Reported away." not in text


@pytest.mark.parametrize(
    ("path", "sentence"),
    [
        ("/challenge", "2 people have taken the challenge; 1 round finished."),
        ("/", "2 people have taken it; 1 round finished."),
    ],
)
def test_community_totals_count_participants_and_finished_rounds(
    client, make_user, make_post, shops, path, sentence
):
    """Everyone who started a round is a participant; finished rounds are counted."""
    finisher, starter, _bystander = make_user("ana"), make_user("ben"), make_user("cy")
    for shop in shops:
        make_post(finisher, shop)
    make_post(starter, shops[0])
    make_post(_bystander, shops[0], kind=Kind.COMPLAINT)
    response = client.get(path)
    assert response.status_code == 200
    assert sentence in page_text(response)


@pytest.mark.parametrize(
    ("path", "sentence"),
    [
        ("/challenge", "0 people have taken the challenge; 0 rounds finished."),
        ("/", "0 people have taken it; 0 rounds finished."),
    ],
)
def test_community_totals_start_at_zero(client, path, sentence):
    """An empty community shows zeros, not an error."""
    assert sentence in page_text(client.get(path))


def test_button_started_round_counts_its_participant(client, signed_in_alice):
    """Pressing the button alone makes one participant (singular wording)."""
    client.post("/challenge/start")
    text = page_text(client.get("/challenge"))
    assert "1 person has taken the challenge; 0 rounds finished." in text


@pytest.mark.parametrize("rounds", [1, 2])
def test_profile_shows_finished_rounds(client, auth, make_user, make_post, shops, rounds):
    """A person's public page shows how many rounds they finished."""
    ana = make_user("ana")
    auth.login("ana")
    for _ in range(rounds):
        for shop in shops:
            make_post(ana, shop)
        client.post("/challenge/start")
    make_post(ana, shops[0])  # an unfinished round adds nothing
    assert count(ChallengeRound) == rounds + 1
    text = page_text(client.get("/u/ana"))
    assert f"Three-praise challenge × {rounds}" in text


def test_profile_without_finished_rounds_has_no_badge(client, make_user, make_post, shops):
    """Someone part way through a round has no badge yet."""
    ana = make_user("ana")
    make_post(ana, shops[0])
    make_post(ana, shops[1])
    response = client.get("/u/ana")
    assert response.status_code == 200
    assert "Three-praise challenge" not in response.text


def test_restoring_a_hidden_praise_can_finish_the_round(client, auth, make_user, make_post, shops):
    """When an admin restores a praise that was hidden, it counts again and can finish the round."""
    alice = make_user("alice")
    make_user("admin", is_admin=True)
    make_post(alice, shops[0], created_at=utc(2026, 1, 1))
    hidden = make_post(alice, shops[1], created_at=utc(2026, 1, 2), moderation="hidden")
    make_post(alice, shops[2], created_at=utc(2026, 1, 3))
    auth.login("alice")
    assert 'aria-label="2 of 3"' in client.get("/challenge").text
    auth.logout()
    auth.login("admin")
    assert client.post(f"/admin/posts/{hidden.id}/restore").status_code == 302
    auth.logout()
    auth.login("alice")
    response = client.get("/challenge")
    assert 'aria-label="3 of 3"' in response.text
    assert "Challenge complete!" in page_text(response)

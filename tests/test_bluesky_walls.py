"""A business's replies on Bluesky count beside Mastodon's: the wall's reply rate and median reply
time over every network, each reply's network named on the wall, the permalink, the API and the
feed; public Bluesky posts count for the challenge."""

from __future__ import annotations

from datetime import timedelta

from helpers import page_text
from test_reply_watch import number
from test_stats_counters import assert_counters_match

from webapp.extensions import db
from webapp.models import Crosspost, CrosspostState, Post, utcnow
from webapp.services import challenge, stats


def sent_on(post: Post, network: str, *, replied_after: timedelta | None = None) -> Crosspost:
    """Record the post's public status on a network, named the business, maybe replied to."""
    sent_at = utcnow() - timedelta(days=1)
    row = Crosspost(
        post=post,
        network=network,
        idempotency_key=f"{network}-{post.id}",
        post_url=f"https://praisewall.test/posts/{post.id}",
        state=CrosspostState.SENT,
        visibility="public",
        sent_at=sent_at,
        mention_resolved=True,
        mention_account_id="did:plc:bakery" if network == "bluesky" else "1",
        remote_id=f"3l{post.id:011d}",
        remote_url=f"https://bsky.app/profile/did:plc:alice/post/3l{post.id:011d}",
    )
    db.session.add(row)
    db.session.commit()
    if replied_after is not None:
        # As the reply watch finds it: later, on the row already sent.
        row.replied_at = sent_at + replied_after
        row.reply_url = "https://bsky.app/profile/did:plc:bakery/post/3lreply00000a"
        row.reply_text = "Thank you so much!"
        db.session.commit()
    return row


def test_wall_counts_replies_on_every_network(client, make_user, make_post, bakery) -> None:
    alice = make_user("alice")
    on_bluesky = make_post(alice, bakery, body="Bluesky praise.")
    on_mastodon = make_post(alice, bakery, body="Mastodon praise.")
    unanswered = make_post(alice, bakery, body="Nobody answered this one.")
    sent_on(on_bluesky, "bluesky", replied_after=timedelta(hours=1))
    sent_on(on_mastodon, "mastodon", replied_after=timedelta(hours=3))
    sent_on(unanswered, "bluesky")
    assert_counters_match()

    numbers = stats.business_numbers(bakery)
    assert (numbers.askable, numbers.answered) == (3, 2)
    assert numbers.answers_by_source == [("on Bluesky", 1), ("on Mastodon", 1)]
    assert abs(numbers.median_reply - timedelta(hours=2)) < timedelta(minutes=1)

    wall = client.get(f"/b/{bakery.slug}")
    assert number(wall.text, "Replies") == "67%"
    assert "Answers: 1 on Bluesky · 1 on Mastodon" in page_text(wall)
    assert "Corner Bakery replied on Bluesky after 1 h" in page_text(wall)

    permalink = page_text(client.get(f"/posts/{on_bluesky.id}"))
    assert "Corner Bakery replied after 1 h. Read the reply on Bluesky" in permalink
    assert "Corner Bakery on Bluesky," in permalink

    api = client.get(f"/api/v1/businesses/{bakery.slug}").get_json()
    assert api["numbers"]["replied_by_network"] == {"bluesky": 1, "mastodon": 1}
    assert api["numbers"]["reply_rate"] == 2 / 3
    post = client.get(f"/api/v1/posts/{on_bluesky.id}").get_json()
    assert post["business_reply"]["network"] == "bluesky"
    assert post["business_reply"]["url"].startswith("https://bsky.app/profile/did:plc:bakery/")

    feed = client.get(f"/b/{bakery.slug}/feed.atom").text
    assert "Corner Bakery replied on Bluesky after 1\xa0h." in feed
    assert "Corner Bakery replied on Mastodon after 3\xa0h." in feed


def test_public_bluesky_post_counts_for_the_challenge(make_user, make_post, bakery) -> None:
    alice = make_user("alice")
    # Not on the wall here: only its public post on Bluesky makes it public praise.
    praise = make_post(alice, bakery, body="Kept my order warm.", is_on_wall=False)
    assert challenge.latest_progress(alice) is None
    sent_on(praise, "bluesky")
    challenge.record_praise(praise)
    db.session.commit()
    progress = challenge.latest_progress(alice)
    assert progress is not None and progress.posts == [praise]

"""A business's counters stay equal to a recount, whatever happens to its posts."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import (
    Business,
    BusinessNetwork,
    BusinessReply,
    BusinessWeek,
    Crosspost,
    CrosspostState,
    Kind,
    Moderation,
    Post,
    utcnow,
)
from webapp.services import accounts, moderation, posts, stats


def assert_counters_match() -> None:
    """Check every business's counters, weeks and medians against a count of its posts."""
    db.session.expire_all()
    connection = db.session.connection()
    recount = stats.tally(connection)
    for business in db.session.scalars(sa.select(Business)):
        stored = [getattr(business, name) for name in stats.COUNTERS]
        assert stored == recount.get(business.id, [0] * len(stats.COUNTERS)), business.slug
    weeks = {
        (row.business_id, row.week): [row.praise, row.complaints]
        for row in db.session.scalars(sa.select(BusinessWeek))
        if row.praise or row.complaints
    }
    assert weeks == stats.tally_weeks(connection)
    networks = {
        (row.business_id, row.network): row.replied
        for row in db.session.scalars(sa.select(BusinessNetwork))
        if row.replied
    }
    assert networks == stats.tally_networks(connection)
    medians = {b.id: (b.median_resolve_days, b.median_reply_seconds) for b in all_businesses()}
    stats.refresh_medians(connection)
    db.session.expire_all()
    assert medians == {
        b.id: (b.median_resolve_days, b.median_reply_seconds) for b in all_businesses()
    }


def all_businesses() -> list[Business]:
    """Return every business."""
    return list(db.session.scalars(sa.select(Business)))


def test_counters_follow_every_change(app, make_user, make_business, make_post):
    """Create, edit, move, hide, restore, resolve, reopen, reply and delete keep counts exact."""
    alice, bob = make_user("alice"), make_user("bob")
    shop, other = make_business("Corner Bakery"), make_business("Bike Hub")
    praise = make_post(alice, shop, rating=5)
    complaint = make_post(bob, shop, kind=Kind.COMPLAINT, rating=1)
    make_post(bob, shop, is_on_wall=False, rating=2)
    assert_counters_match()
    assert (shop.praise_count, shop.complaint_count, shop.rating_count) == (1, 1, 2)

    posts.resolve_complaint(complaint, "Refunded")
    db.session.commit()
    assert_counters_match()
    assert shop.resolved_count == 1
    posts.reopen_complaint(complaint)
    db.session.commit()
    assert_counters_match()

    praise.rating = 3
    praise.business = other
    db.session.commit()
    assert_counters_match()
    assert (shop.praise_count, other.praise_count, other.rating_sum) == (0, 1, 3)

    moderation.hide(praise)
    db.session.commit()
    assert_counters_match()
    assert other.praise_count == 0
    moderation.restore(praise)
    db.session.commit()
    assert_counters_match()

    sent = Crosspost(
        post=complaint,
        idempotency_key="k1",
        post_url="https://praisewall.example/posts/1",
        state=CrosspostState.SENT,
        sent_at=utcnow(),
        mention_resolved=True,
    )
    db.session.add(sent)
    db.session.commit()
    assert_counters_match()
    assert (shop.mentioned_count, shop.replied_count) == (1, 0)
    sent.replied_at = sent.sent_at + timedelta(hours=2)
    db.session.commit()
    assert_counters_match()
    assert shop.replied_count == 1
    assert stats.business_numbers(shop).median_reply == timedelta(hours=2)
    assert db.session.get(Crosspost, sent.id).business_id == shop.id
    skeet = Crosspost(
        post=complaint,
        network="bluesky",
        idempotency_key="k2",
        post_url="https://praisewall.example/posts/1",
        state=CrosspostState.SENT,
        sent_at=utcnow(),
        mention_resolved=True,
        replied_at=sent.replied_at + timedelta(hours=1),
    )
    db.session.add(skeet)
    db.session.commit()
    assert_counters_match()
    assert stats.business_numbers(shop).replied_on == {"bluesky": 1, "mastodon": 1}
    moderation.hide(complaint)
    db.session.commit()
    assert_counters_match()
    assert stats.replies_by_network(shop) == {}
    moderation.restore(complaint)
    db.session.commit()
    assert_counters_match()
    assert stats.replies_by_network(shop) == {"bluesky": 1, "mastodon": 1}

    posts.delete_post(complaint)
    db.session.commit()
    assert_counters_match()
    assert (shop.complaint_count, shop.mentioned_count) == (0, 0)

    complaint = make_post(bob, other, kind=Kind.COMPLAINT)
    db.session.execute(sa.update(Post).where(Post.id == complaint.id).values(moderation="hidden"))
    db.session.commit()
    assert_counters_match()
    assert other.complaint_count == 0

    accounts.delete_account(alice)
    db.session.commit()
    assert_counters_match()
    assert other.praise_count == 0


def test_numbers_read_from_counters_and_samples(app, make_user, make_business, make_post):
    """The wall's numbers agree with the posts, medians included."""
    alice = make_user("alice")
    shop = make_business("Corner Bakery")
    for days in (1, 2, 4):
        post = make_post(alice, shop, kind=Kind.COMPLAINT, rating=2)
        posts.resolve_complaint(post, None)
        post.resolved_at = post.created_at + timedelta(days=days)
    make_post(alice, shop, rating=5, moderation=Moderation.HIDDEN)
    db.session.commit()
    numbers = stats.business_numbers(shop)
    assert (numbers.praise, numbers.complaints, numbers.resolved) == (0, 3, 3)
    assert numbers.median_days_to_resolve == 2
    assert numbers.average_rating == 2
    assert not numbers.resolve_median_sampled


def test_a_sampled_median_says_so_on_the_wall(
    app, client, make_user, make_business, make_post, monkeypatch
):
    """Past the sample size the median is of the latest resolved only, and the wall says so."""
    monkeypatch.setattr(stats, "MEDIAN_SAMPLE", 2)
    alice = make_user("alice")
    shop = make_business("Corner Bakery")
    # Resolved in this order, taking 10, 1 and 3 days: the latest two give a median of 2 days.
    for n, days in enumerate((10, 1, 3)):
        post = make_post(alice, shop, kind=Kind.COMPLAINT)
        posts.resolve_complaint(post, None)
        post.resolved_at = utcnow() - timedelta(days=10 - n)
        post.created_at = post.resolved_at - timedelta(days=days)
    db.session.commit()

    numbers = stats.business_numbers(shop)

    assert numbers.resolve_median_sampled and numbers.median_days_to_resolve == 2
    assert "of the latest 2" in client.get("/b/corner-bakery").text


def test_posts_written_together_with_their_rows_count_exactly(app, make_user, make_business):
    """Posts written in one flush count right, alone or with a status or a wall answer beside."""
    alice = make_user("alice")
    shop = make_business("Corner Bakery")
    now = utcnow()

    def post(**fields) -> Post:
        return Post(
            author=alice,
            business=shop,
            body="Written with others.",
            happened_on=now.date(),
            channel="in_person",
            **{"kind": Kind.PRAISE, **fields},
        )

    plain, hidden = post(rating=4), post(is_on_wall=False, rating=1)
    resolved = post(kind=Kind.COMPLAINT, complaint_status="resolved", resolved_at=now)
    answered, sent = post(), post(rating=5)
    db.session.add_all([plain, hidden, resolved, answered, sent])
    db.session.add(BusinessReply(post=answered, business=shop, body="Thank you!"))
    db.session.add(
        Crosspost(
            post=sent,
            idempotency_key="k-together",
            post_url="https://praisewall.example/posts/5",
            state=CrosspostState.SENT,
            sent_at=now,
            mention_resolved=True,
            replied_at=now + timedelta(minutes=5),
        )
    )
    db.session.commit()
    assert_counters_match()
    assert (shop.praise_count, shop.complaint_count, shop.resolved_count) == (3, 1, 1)
    assert (shop.rating_sum, shop.mentioned_count, shop.wall_replied_count) == (9, 1, 1)

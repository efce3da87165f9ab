"""A business's wall: its trend, sorting, unanswered praise, replies, arcs, and the widget."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import uuid
from datetime import UTC, datetime, time, timedelta

import pytest
import sqlalchemy as sa
from conftest import AuthActions, compose_form, send
from helpers import count_queries, utc

from webapp import tasks
from webapp.extensions import db
from webapp.models import Crosspost, Post, utcnow
from webapp.networks.mastodon.text import plain_text
from webapp.services import posts, trend

BUSINESS_ACCT = "support@cornerbakery.example"


def bodies(page: str) -> list[str]:
    """Return the post texts on a page, in order."""
    return [html.unescape(b) for b in re.findall(r'<p class="body">(.*?)</p>', page, re.S)]


def words(page: str) -> str:
    """Return a page's visible text, tags dropped and whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def all_pages(client, url: str) -> list[str]:
    """Follow the "Older" links from url and return every post text, in order."""
    seen = []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.text
        seen += bodies(response.text)
        more = re.search(r'rel="next" href="([^"]+)"', response.text)
        url = html.unescape(more.group(1)) if more else None
    return seen


def sent(post, **fields) -> Crosspost:
    """Give a post a crosspost row that went out publicly, naming the business."""
    values = {
        "post": post,
        "idempotency_key": str(uuid.uuid4()),
        "post_url": f"http://praisewall.test/posts/{post.id}",
        "state": "sent",
        "visibility": "public",
        "mention_acct": f"@{BUSINESS_ACCT}",
        "mention_resolved": True,
        "remote_id": str(post.id),
        "remote_url": f"https://social.example/@bob/{post.id}",
        "sent_at": post.created_at,
    }
    values.update(fields)
    row = Crosspost(**values)
    db.session.add(row)
    db.session.commit()
    return row


# --- The trend ---


def this_monday() -> datetime:
    """Return the start of the current ISO week, in UTC."""
    today = utcnow().date()
    return datetime.combine(today - timedelta(days=today.weekday()), time(), UTC)


def trend_rows(page: str) -> list[tuple[str, int, int]]:
    """Return the trend's text alternative: (ISO week, praise, complaints) per row."""
    rows = re.findall(
        r'<tr><th scope="row"><time datetime="([^"]+)">[^<]*</time></th>'
        r"<td>(\d+)</td><td>(\d+)</td></tr>",
        page,
    )
    return [(week, int(praise), int(complaints)) for week, praise, complaints in rows]


def iso_week(moment: datetime) -> str:
    """Return a moment's ISO week, like "2026-W09"."""
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def test_trend_counts_the_last_twelve_weeks(
    client, bob, bakery_with_handle, make_business, make_post
):
    """Twelve ISO weeks, empty ones too, today's last; older and non-public posts don't count."""
    monday = this_monday()
    make_post(bob, bakery_with_handle, created_at=monday + timedelta(minutes=1))
    make_post(bob, bakery_with_handle, created_at=monday + timedelta(minutes=2))
    make_post(
        bob, bakery_with_handle, kind="complaint", created_at=monday - timedelta(weeks=3, days=-6)
    )
    make_post(bob, bakery_with_handle, created_at=monday - timedelta(weeks=3))
    make_post(
        bob, bakery_with_handle, created_at=monday - timedelta(weeks=11)
    )  # the oldest week shown
    make_post(
        bob, bakery_with_handle, created_at=monday - timedelta(weeks=11, seconds=1)
    )  # 13 weeks back
    make_post(bob, bakery_with_handle, created_at=monday - timedelta(weeks=12, days=-2))
    make_post(bob, bakery_with_handle, created_at=monday, is_on_wall=False)
    make_post(bob, bakery_with_handle, created_at=monday, moderation="hidden")
    make_post(bob, make_business("Other Shop"), created_at=monday)

    page = client.get("/b/corner-bakery").text
    weeks = [monday - timedelta(weeks=11 - n) for n in range(12)]
    expected = [(iso_week(w), 0, 0) for w in weeks]
    expected[0] = (iso_week(weeks[0]), 1, 0)
    expected[8] = (iso_week(weeks[8]), 1, 1)
    expected[11] = (iso_week(weeks[11]), 2, 0)
    assert trend_rows(page) == expected
    assert "Last 12 weeks: 4 praise, 1 complaint." in words(page)


@pytest.mark.parametrize(
    ("busiest", "labels"),
    [(7, ["0", "4", "8"]), (950, ["0", "500", "1k"]), (8000, ["0", "5k", "10k"])],
)
def test_trend_axis_labels_fit_the_margin(busiest, labels):
    """Big weeks are labelled 5k and 10k, so a busy wall's axis isn't cut off at 360 px."""
    weeks = [trend.Week(this_monday().date() - timedelta(weeks=n)) for n in range(12)]
    weeks[-1].praise = busiest
    assert [tick["text"] for tick in trend.chart(weeks).ticks] == labels


def test_trend_is_accessible_svg_without_script(client, bob, bakery_with_handle, make_post):
    """The chart is inline SVG with a title and description; praise bars, complaint dots."""
    make_post(bob, bakery_with_handle)
    make_post(bob, bakery_with_handle, kind="complaint")
    page = client.get("/b/corner-bakery").text
    figure = re.search(r'<figure class="trend">.*?</figure>', page, re.S).group(0)
    svg = re.search(r'<svg class="trend-chart".*?</svg>', figure, re.S).group(0)
    assert 'role="img"' in svg and 'aria-labelledby="trend-title trend-desc"' in svg
    assert '<title id="trend-title">Praise (bars) and complaints (line)' in svg
    assert svg.count('<rect class="bar"') == 1 and svg.count('<circle class="dot"') == 12
    assert "<script" not in figure and "style=" not in figure and "<script>" not in page
    width = int(re.search(r'viewBox="0 0 (\d+) ', svg).group(1))
    assert width <= 360


# --- Sorting and paging ---


def test_sort_by_rating_pages_by_cursor(app, client, bob, bakery_with_handle, make_post):
    """Best rated first, unrated last, ties newest first; paging follows a cursor, no OFFSET."""
    app.config["PER_PAGE"] = 2
    make_post(bob, bakery_with_handle, body="Five old", rating=5, created_at=utc(2026, 1, 1))
    make_post(bob, bakery_with_handle, body="Unrated new", created_at=utc(2026, 1, 9))
    make_post(bob, bakery_with_handle, body="Three", rating=3, created_at=utc(2026, 1, 2))
    make_post(bob, bakery_with_handle, body="Five new", rating=5, created_at=utc(2026, 1, 3))
    make_post(bob, bakery_with_handle, body="One", rating=1, created_at=utc(2026, 1, 4))
    make_post(bob, bakery_with_handle, body="Unrated old", created_at=utc(2026, 1, 5))
    make_post(bob, bakery_with_handle, body="Five tie", rating=5, created_at=utc(2026, 1, 3))
    make_post(bob, bakery_with_handle, body="A complaint", kind="complaint", rating=5)
    offsets: list[str] = []

    def record_offsets(conn, cursor, sql, params, *args):
        if "OFFSET" in sql.upper() and not (isinstance(params, tuple) and params[-1] == 0):
            offsets.append(sql)

    sa.event.listen(db.engine, "before_cursor_execute", record_offsets)
    try:
        rated = all_pages(client, "/b/corner-bakery?sort=rating")
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record_offsets)
    assert offsets == []
    assert rated == [
        "Five tie",
        "Five new",
        "Five old",
        "Three",
        "One",
        "Unrated new",
        "Unrated old",
    ]
    assert all_pages(client, "/b/corner-bakery?sort=nonsense") == all_pages(
        client, "/b/corner-bakery"
    )
    assert all_pages(client, "/b/corner-bakery")[0] == "Unrated new"


def test_complaints_sort_by_rating_too(client, bob, bakery_with_handle, make_post):
    """The complaints tab sorts by rating the same way."""
    make_post(
        bob, bakery_with_handle, body="Bad", kind="complaint", rating=1, created_at=utc(2026, 1, 2)
    )
    make_post(
        bob, bakery_with_handle, body="Meh", kind="complaint", rating=3, created_at=utc(2026, 1, 1)
    )
    make_post(bob, bakery_with_handle, body="Unrated", kind="complaint", created_at=utc(2026, 1, 3))
    page = client.get("/b/corner-bakery?tab=complaints&sort=rating").text
    assert bodies(page) == ["Meh", "Bad", "Unrated"]
    assert 'aria-current="true">Best rated' in page


def test_a_cursor_from_another_sort_is_a_400(app, client, bob, bakery_with_handle, make_post):
    """A newest-first cursor can't be reused for the rating order (or the reverse)."""
    app.config["PER_PAGE"] = 1
    make_post(bob, bakery_with_handle, rating=2)
    make_post(bob, bakery_with_handle, rating=4)
    newest = re.search(r"cursor=([\w-]+)", client.get("/b/corner-bakery").text).group(1)
    rated = re.search(r"cursor=([\w-]+)", client.get("/b/corner-bakery?sort=rating").text).group(1)
    assert client.get(f"/b/corner-bakery?sort=rating&cursor={newest}").status_code == 400
    assert client.get(f"/b/corner-bakery?cursor={rated}").status_code == 400


# --- Unanswered praise ---


@pytest.fixture(params=["few waiting", "many waiting"])
def unanswered_shape(request, monkeypatch) -> None:
    """Have the unanswered tab read the waiting statuses first, or walk the praise."""
    monkeypatch.setattr(posts, "few_unanswered", lambda *args: request.param == "few waiting")


def test_unanswered_lists_sent_praise_without_a_reply(
    client, bob, bakery_with_handle, make_business, make_post, unanswered_shape
):
    """Only public praise whose public status named the found handle and has no reply yet."""
    waiting_old = make_post(
        bob, bakery_with_handle, body="Waiting, older", created_at=utc(2026, 2, 1)
    )
    waiting_new = make_post(
        bob, bakery_with_handle, body="Waiting, newer", created_at=utc(2026, 2, 2)
    )
    sent(waiting_old)
    sent(waiting_new)
    sent(
        make_post(bob, bakery_with_handle, body="Answered"),
        replied_at=utcnow(),
        reply_url="https://x.example/1",
    )
    sent(make_post(bob, bakery_with_handle, body="Handle not found"), mention_resolved=False)
    sent(make_post(bob, bakery_with_handle, body="Unlisted"), visibility="unlisted")
    sent(make_post(bob, bakery_with_handle, body="Still pending"), state="pending", sent_at=None)
    sent(make_post(bob, bakery_with_handle, body="Complaint", kind="complaint"))
    sent(make_post(bob, bakery_with_handle, body="Private", is_on_wall=False))
    sent(make_post(bob, bakery_with_handle, body="Hidden", moderation="hidden"))
    sent(make_post(bob, make_business("Other Shop"), body="Elsewhere"))
    make_post(bob, bakery_with_handle, body="Never crossposted")

    page = client.get("/b/corner-bakery?tab=unanswered").text
    assert bodies(page) == ["Waiting, newer", "Waiting, older"]
    for post in (waiting_new, waiting_old):
        assert f'href="https://social.example/@bob/{post.id}"' in page
    assert page.count("Reply on Mastodon") == 2
    assert 'aria-current="page">Unanswered' in page


def test_unanswered_praise_on_two_networks_is_listed_once(
    client, bob, bakery_with_handle, make_post, unanswered_shape
):
    """Praise waiting for an answer on Mastodon and on Bluesky is one post, listed once."""
    for n in range(21):
        post = make_post(
            bob, bakery_with_handle, body=f"Waiting {n}", created_at=utc(2026, 2, n + 1)
        )
        sent(post)
        sent(post, network="bluesky", remote_url=f"https://bsky.example/{post.id}")
    seen = all_pages(client, "/b/corner-bakery?tab=unanswered")
    assert seen == [f"Waiting {n}" for n in reversed(range(21))]


def test_unanswered_reads_only_the_waiting_statuses(app, bob, bakery_with_handle, make_post):
    """With few statuses waiting, the tab reads them from their index: it never walks the
    praise to find them (on SQLite, whose plan is checked without statistics, as the app
    never gathers them; bench/load.py --growth checks a generated database's, which has).
    """
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the plan is checked on SQLite")
    for n in range(40):
        sent(make_post(bob, bakery_with_handle, body=f"Answered {n}"), replied_at=utcnow())
    sent(make_post(bob, bakery_with_handle, body="Waiting"))
    stmt = posts.unanswered_praise(bakery_with_handle, app.config["PER_PAGE"])
    stmt = stmt.order_by(Post.created_at.desc(), Post.id.desc()).limit(21)
    sql = str(stmt.compile(db.engine, compile_kwargs={"literal_binds": True}))
    plan = [row[-1] for row in db.session.execute(sa.text("EXPLAIN QUERY PLAN " + sql))]
    assert any("ix_crosspost_business_unanswered (business_id=?)" in step for step in plan), plan
    assert not any(step.startswith(("SCAN post", "SEARCH post USING INDEX")) for step in plan), plan
    assert [p.body for p in db.session.scalars(stmt).unique()] == ["Waiting"]


def test_no_unanswered_praise_says_so(client, bakery_with_handle):
    """An empty unanswered tab says everything has an answer."""
    page = client.get("/b/corner-bakery?tab=unanswered").text
    assert "every praise that reached them on Mastodon or Bluesky has an answer" in page


# --- The business's reply, shown under the post ---


def check(row: Crosspost) -> None:
    """Run one reply check on the row, as the worker does, and reload it."""
    tasks.check_reply.call_local(row.id)
    db.session.expire_all()


def test_reply_text_is_stored_and_shown_escaped(
    client, connected, fake_mastodon, bakery_with_handle
):
    """The reply's words appear under the post on the wall and permalink, never as HTML."""
    # An account on the author's server, whose replies that server (and WebFinger) confirms.
    fake_mastodon.add_account("bakery")
    bakery_with_handle.handle = f"@bakery@{fake_mastodon.domain}"
    db.session.commit()
    row = send(client, bakery_with_handle)
    reply = fake_mastodon.reply(
        row.remote_id,
        "bakery",
        "@alice Thank you! <script>alert(1)</script> & <b>come back</b>\n\nSee you soon",
        at=row.sent_at + timedelta(hours=1),
    )
    check(row)
    assert row.reply_text == (
        "@alice Thank you! <script>alert(1)</script> & <b>come back</b>\n\nSee you soon"
    )
    client.post("/logout")
    for path in ("/b/corner-bakery", f"/posts/{row.post_id}"):
        page = client.get(path).text
        assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;come back&lt;/b&gt;" in page
        assert "<script>" not in page and "<b>come back" not in page
        assert f'href="{html.escape(reply["url"])}"' in page
    wall = words(client.get("/b/corner-bakery").text)
    assert "Corner Bakery replied on Mastodon after 1 h" in wall
    assert "See you soon" in wall
    assert client.get("/b/corner-bakery?tab=unanswered").text.count("Reply on Mastodon") == 0


@pytest.mark.parametrize(
    ("content", "text"),
    [
        ("<p>Hello<br />there</p><p>Second</p>", "Hello\nthere\n\nSecond"),
        ('<p><span class="h-card"><a href="u">@<span>bob</span></a></span> hi</p>', "@bob hi"),
        ("<p>Tom &amp; Jerry &lt;3</p>", "Tom & Jerry <3"),
        ("<p>ok</p><script>steal()</script><style>p{}</style>", "ok"),
        ("<p>  lots   of\tspace </p>", "lots of space"),
        ("", ""),
    ],
)
def test_reply_html_becomes_plain_text(content, text):
    """Mastodon's HTML turns into plain words: breaks kept, tags and scripts dropped."""
    assert plain_text(content) == text


def test_reply_text_is_capped():
    """A very long reply is kept to 500 characters, ending with an ellipsis."""
    text = plain_text("<p>" + "word " * 400 + "</p>")
    assert len(text) == 500 and text.endswith("…")


# --- Complaint, resolved, praise ---


def arc_steps(page: str) -> list[str]:
    """Return the steps of the one complaint-to-praise arc on a page, as text."""
    (arc,) = re.findall(r'<ol class="arc".*?</ol>', page, re.S)
    steps = re.findall(r"<li[^>]*>(.*?)</li>", arc, re.S)
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", "", step)).split()) for step in steps]


def test_complaint_resolved_praise_arc(client, bob, bakery_with_handle, make_post):
    """A fixed complaint and the praise that followed show together on both tabs."""
    made = utc(2026, 3, 1, 9)
    complaint = make_post(
        bob,
        bakery_with_handle,
        body="Order lost",
        kind="complaint",
        created_at=made,
        complaint_status="resolved",
        resolved_at=made + timedelta(days=2),
    )
    praise = make_post(
        bob, bakery_with_handle, body="They found it and added a cake", fixes=complaint
    )
    complaints = client.get("/b/corner-bakery?tab=complaints").text
    assert arc_steps(complaints) == [
        "This complaint",
        "Resolved after 2 days",
        "Then praise: “They found it and added a cake”",
    ]
    assert f'href="/posts/{praise.id}"' in complaints
    praise_tab = client.get("/b/corner-bakery").text
    assert arc_steps(praise_tab) == [
        "A complaint: “Order lost”",
        "Resolved after 2 days",
        "Then this praise",
    ]
    assert f'href="/posts/{complaint.id}"' in praise_tab


@pytest.mark.parametrize(
    "complaint_fields",
    [
        {"shows_name": False},  # linking would name the anonymous complainer
        {"is_on_wall": False},
        {"complaint_status": "open", "resolved_at": None},  # reopened since
    ],
)
def test_arc_is_hidden_when_it_would_unmask_or_no_longer_holds(
    client, bob, bakery_with_handle, make_post, complaint_fields
):
    """No arc when one end is anonymous and the other named, private, or not resolved."""
    fields = {
        "kind": "complaint",
        "body": "Order lost",
        "complaint_status": "resolved",
        "resolved_at": utcnow(),
    }
    fields.update(complaint_fields)
    complaint = make_post(bob, bakery_with_handle, **fields)
    make_post(bob, bakery_with_handle, body="Fixed it", fixes=complaint)
    praise_tab = client.get("/b/corner-bakery").text
    assert 'class="arc"' not in praise_tab and f"/posts/{complaint.id}" not in praise_tab
    assert 'class="arc"' not in client.get("/b/corner-bakery?tab=complaints").text


def test_wall_tabs_cost_the_same_queries_for_few_or_many(
    client, bob, bakery_with_handle, make_user, make_post
):
    """Arcs, replies and the trend load per page, never per post."""
    paths = [f"/b/corner-bakery{query}" for query in ("", "?tab=complaints", "?tab=unanswered")]

    def add(n: int) -> None:
        author = make_user(f"user{n}")
        complaint = make_post(
            author,
            bakery_with_handle,
            kind="complaint",
            complaint_status="resolved",
            resolved_at=utcnow(),
        )
        sent(make_post(author, bakery_with_handle, fixes=complaint))

    client.get(paths[0])  # the wall's address is looked up once, then kept
    add(0)
    few = {path: count_queries(client, path) for path in paths}
    for n in range(1, 12):
        add(n)
    many = {path: count_queries(client, path) for path in paths}
    assert many == few
    assert max(many.values()) <= 6


# --- The widget ---


@pytest.fixture
def busy_shop(bob, bakery_with_handle, make_user, make_post):
    """The bakery with praise, a complaint, and statuses that did and didn't get a reply."""
    carol = make_user("carol")
    answered = make_post(
        bob, bakery_with_handle, body="Oldest praise", rating=5, created_at=utc(2026, 1, 1)
    )
    sent(answered, replied_at=utc(2026, 1, 1, 3), reply_url="https://x.example/r")
    sent(
        make_post(
            carol, bakery_with_handle, body="Second praise", rating=4, created_at=utc(2026, 1, 2)
        )
    )
    make_post(
        bob, bakery_with_handle, body="Third praise", created_at=utc(2026, 1, 3), shows_name=False
    )
    make_post(carol, bakery_with_handle, body="Newest praise", created_at=utc(2026, 1, 4))
    make_post(bob, bakery_with_handle, body="A complaint", kind="complaint", rating=1)
    make_post(bob, bakery_with_handle, body="Private praise", is_on_wall=False, rating=1)
    return bakery_with_handle


def test_embed_shows_the_right_numbers(client, busy_shop):
    """Name, praise count, reply rate, average rating and the three newest praise."""
    page = client.get("/b/corner-bakery/embed").text
    numbers = dict(re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", page))
    assert numbers == {"Praise": "4", "Replied": "50%", "Rating": "3.3"}
    assert ">Corner Bakery</a>" in page
    shown = re.findall(r"<li>“(.*?)”<small>(.*?),", page)
    assert shown == [
        ("Newest praise", "carol"),
        ("Third praise", "a customer"),
        ("Second praise", "carol"),
    ]
    assert "Private praise" not in page and "A complaint" not in page


def test_badge_shows_the_right_numbers(client, busy_shop):
    """The badge says the same praise count and reply rate as the widget."""
    svg = client.get("/b/corner-bakery/badge.svg").text
    assert "praise 4 · replies 50%" in svg


def test_only_the_embed_may_be_framed(client, busy_shop):
    """The widget allows any site to frame it; the wall and everything else never."""
    embed = client.get("/b/corner-bakery/embed")
    policy = embed.headers["Content-Security-Policy"]
    assert "frame-ancestors *" in policy and "X-Frame-Options" not in embed.headers
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert "unsafe-inline" not in policy
    css = re.search(r"<style>(.*?)</style>", embed.text, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in policy
    for path in ("/b/corner-bakery", "/b/corner-bakery/badge.svg", "/wall"):
        response = client.get(path)
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Frame-Options"] == "DENY"


def test_embed_loads_nothing_and_opens_links_in_a_new_tab(client, busy_shop):
    """No script, no style attributes, no outside addresses; every link opens a new tab."""
    page = client.get("/b/corner-bakery/embed").text
    assert "<script" not in page and "style=" not in page and "src=" not in page
    assert "<link" not in page and "@import" not in page and "url(" not in page
    addresses = re.findall(r'(?:href|src|action)="([^"]*)"', page)
    assert addresses and all(a.startswith("http://praisewall.test/") for a in addresses)
    links = re.findall(r"<a [^>]*>", page)
    assert links and all('target="_blank"' in a and 'rel="noopener"' in a for a in links)


@pytest.mark.parametrize(
    ("query", "theme"),
    [("?theme=light", "light"), ("?theme=dark", "dark"), ("", "auto"), ("?theme=<x>", "auto")],
)
def test_embed_has_light_and_dark(client, bakery_with_handle, query, theme):
    """?theme= picks light or dark; anything else follows the visitor's colour scheme."""
    page = client.get(f"/b/corner-bakery/embed{query}").text
    assert f'<html lang="en" class="{theme}">' in page
    assert "@media (prefers-color-scheme:dark){.auto{" in page
    assert ".dark{" in page


def test_embed_stays_under_10_kb(client, bob, make_business, make_post):
    """Even with the longest name and posts, the widget page is under 10 KB in all."""
    shop = make_business("Ü" * 120)
    for n in range(5):
        make_post(bob, shop, body=f"{n} " + "très bien & <merci> " * 250, rating=5)
    response = client.get(f"/b/{shop.slug}/embed")
    assert response.status_code == 200
    assert len(response.data) < 10 * 1024
    assert response.headers["Content-Length"] == str(len(response.data))


def test_embed_revalidates_with_304(client, bob, bakery_with_handle, make_post):
    """The widget carries an ETag and public Cache-Control, and answers 304 while unchanged."""
    make_post(bob, bakery_with_handle, body="First")
    first = client.get("/b/corner-bakery/embed")
    etag = first.headers["ETag"]
    cache_control = first.headers["Cache-Control"]
    assert "public" in cache_control and "max-age" in cache_control
    again = client.get("/b/corner-bakery/embed", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    make_post(bob, bakery_with_handle, body="Second")
    changed = client.get("/b/corner-bakery/embed", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


@pytest.mark.parametrize(
    "path",
    [
        "/b/corner-bakery?tab=complaints",
        "/b/corner-bakery?tab=unanswered",
        "/b/corner-bakery?sort=rating",
        "/b/corner-bakery/embed?theme=dark",
    ],
)
def test_wall_views_revalidate_with_304(client, bob, bakery_with_handle, make_post, path):
    """Every view of the wall is cacheable and answers 304 to a current copy."""
    make_post(bob, bakery_with_handle, kind="complaint")
    first = client.get(path)
    assert first.headers["ETag"] and "public" in first.headers["Cache-Control"]
    assert client.get(path, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304


def test_wall_offers_the_widget_and_badge_snippets(client, make_business):
    """The wall shows copyable HTML with the absolute widget and badge addresses."""
    make_business('Joe\'s "Best" Bakery')
    page = client.get("/b/joes-best-bakery").text
    textareas = re.findall(r"<textarea[^>]*readonly>(.*?)</textarea>", page)
    iframe, badge = (html.unescape(text) for text in textareas)
    assert iframe.startswith('<iframe src="http://praisewall.test/b/joes-best-bakery/embed"')
    assert 'title="Joe&#39;s &#34;Best&#34; Bakery on Praisewall"' in iframe
    assert iframe.endswith("></iframe>")
    assert '<a href="http://praisewall.test/b/joes-best-bakery">' in badge
    assert 'src="http://praisewall.test/b/joes-best-bakery/badge.svg"' in badge


def test_a_follow_up_moved_to_another_business_leaves_the_arc(
    client, bob, bakery_with_handle, make_business, make_post
):
    """A praise that followed up this wall's complaint, edited to name another business."""
    complaint = make_post(
        bob,
        bakery_with_handle,
        body="Order lost",
        kind="complaint",
        complaint_status="resolved",
        resolved_at=utcnow(),
    )
    praise = make_post(bob, bakery_with_handle, body="They found it", fixes=complaint)
    moved = make_post(bob, bakery_with_handle, body="Old row", fixes=complaint)
    other = make_business("Harbour Books")
    # An older version let this happen without an edit: the link is checked where it shows.
    moved.business_id = other.id
    db.session.commit()
    AuthActions(client).login("bob")

    edited = client.post(
        f"/posts/{praise.id}/edit",
        data=compose_form(other, body="Harbour Books is great", to_mastodon=None),
    )

    assert edited.status_code == 302
    assert db.session.get(Post, praise.id).fixes_id is None
    for path in ("/b/corner-bakery?tab=complaints", "/b/harbour-books", f"/posts/{complaint.id}"):
        page = client.get(path).text
        assert 'class="arc"' not in page, path
        assert "Harbour Books is great" not in page or path == "/b/harbour-books"
        assert "Old row" not in page or path == "/b/harbour-books"

"""Kept parts of pages: a wall, /wall, a profile, my posts, the challenge and the feeds are
rendered once and kept, and every change made through the app shows on the next read at once.

Each test reads a page first, so its part is kept, then changes something the way a person (or
the reply watch) does, then reads the page again. Test apps keep parts in the process
(ONE_PROCESS); the Redis tests share them between two app instances on one database.
"""

from __future__ import annotations

import re
from datetime import date

import flask
import pytest
import sqlalchemy as sa
import sqlalchemy.orm as so
from conftest import (
    BAKERY_ACCT,
    PASSWORD,
    AuthActions,
    run_queued_tasks,
    send,
    submit,
)
from helpers import csrf_token, page_text
from test_crosspost import make_row

from webapp import tasks
from webapp.extensions import db
from webapp.infra import fragments
from webapp.models import Business, utcnow
from webapp.services import accounts, businesses, owners

TODAY = date.today().isoformat()
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


def compose(business: Business | int, **fields: str | None) -> dict[str, str]:
    """Return a complete compose form for public, named praise, with fields overridden."""
    data: dict[str, str | None] = {
        "kind": "praise",
        "business_id": str(business if isinstance(business, int) else business.id),
        "body": "They fixed my bike while I waited.",
        "happened_on": TODAY,
        "channel": "in_person",
        "is_on_wall": "y",
        "shows_name": "y",
        "rating": "5",
    }
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}


def write(client, business: Business | int, **fields: str | None) -> int:
    """Post through the compose form and return the new post's id."""
    response = client.post("/posts/new", data=compose(business, **fields))
    assert response.status_code == 302, response.text
    return int(response.headers["Location"].rsplit("/", 1)[1])


def browser(app, username: str):
    """Return a browser signed in as this person through the login form."""
    client = app.test_client()
    assert AuthActions(client).login(username, PASSWORD).status_code == 302
    return client


def seen(client, path: str) -> str:
    """Return the words a person reads on a page, which must answer 200."""
    response = client.get(path)
    assert response.status_code == 200, path
    return page_text(response)


def read_counting(client, path: str) -> tuple[int, str]:
    """Read a page; return how many SQL statements it ran and the words it shows."""
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        words = seen(client, path)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    return len(statements), words


def featured_section(page: str) -> str:
    """Return the words of a wall's featured praise, or "" when it has none."""
    if 'class="featured"' not in page:
        return ""
    start = page.index(">", page.index('class="featured"')) + 1
    return page_text(page[start : page.index("</section>", start)])


@pytest.fixture
def shop(make_business) -> Business:
    """Return Zebra Cycles, a business with no owner."""
    return make_business("Zebra Cycles")


@pytest.fixture
def writer(app, make_user):
    """Return alice's browser, signed in: she writes the posts."""
    make_user("alice")
    return browser(app, "alice")


@pytest.fixture
def visitor(app):
    """Return a browser nobody is signed in on."""
    return app.test_client()


@pytest.fixture
def claimed_shop(make_user, shop) -> Business:
    """Return Zebra Cycles, claimed by its owner, whose password account is "zebra"."""
    shop.owner = make_user("zebra")
    shop.claimed_at = utcnow()
    shop.claim_proof = owners.MASTODON
    db.session.commit()
    return shop


PUBLIC_PAGES = ("/b/zebra-cycles", "/wall", "/u/alice")
FEEDS = ("/b/zebra-cycles/feed.atom", "/wall/feed.atom", "/u/alice/feed.atom")


def read_all(visitor, writer) -> dict[str, str]:
    """Read the public pages and feeds as a visitor and /me as alice; return what each shows."""
    pages = {path: seen(visitor, path) for path in (*PUBLIC_PAGES, *FEEDS)}
    pages["/me"] = seen(writer, "/me")
    return pages


# --- the part is kept ---


def test_a_second_read_of_a_wall_runs_fewer_statements_and_shows_the_same_posts(
    writer, visitor, shop
):
    """A visitor's second read of a wall comes from the kept part: fewer SQL statements."""
    for n in range(3):
        write(writer, shop, body=f"Visit number {n}, all good.")

    first, first_words = read_counting(visitor, f"/b/{shop.slug}")
    second, second_words = read_counting(visitor, f"/b/{shop.slug}")

    assert second < first
    assert second_words == first_words
    for n in range(3):
        assert f"Visit number {n}, all good." in second_words


# --- a post changes ---


def test_an_edit_shows_at_once_on_every_page_and_feed(writer, visitor, shop):
    """The author's edit shows on the wall, /wall, the profile, /me and all three feeds."""
    post_id = write(writer, shop, body="The old words about the bike.")
    before = read_all(visitor, writer)
    assert all("The old words about the bike." in words for words in before.values())

    response = writer.post(
        f"/posts/{post_id}/edit", data=compose(shop, body="The new words about the bike.")
    )

    assert response.status_code == 302
    after = read_all(visitor, writer)
    for path, words in after.items():
        assert "The new words about the bike." in words, path
        assert "The old words about the bike." not in words, path


def test_moving_a_post_to_another_business_moves_it_between_walls(
    writer, visitor, shop, make_business
):
    """An edit naming another business takes the post off the old wall and onto the new."""
    other = make_business("Harbour Books")
    post_id = write(writer, shop, body="Moved from one wall to another.")
    assert "Moved from one wall to another." in seen(visitor, f"/b/{shop.slug}")
    assert "Moved from one wall to another." not in seen(visitor, f"/b/{other.slug}")

    writer.post(
        f"/posts/{post_id}/edit",
        data=compose(other, body="Moved from one wall to another."),
    )

    assert "Moved from one wall to another." not in seen(visitor, f"/b/{shop.slug}")
    assert "Moved from one wall to another." in seen(visitor, f"/b/{other.slug}")
    assert "Harbour Books" in seen(visitor, "/wall")


def test_a_deleted_post_is_gone_at_once(writer, visitor, shop):
    """Deleting a post takes it off the wall, /wall, the profile, /me and the feeds."""
    write(writer, shop, body="This one stays.")
    post_id = write(writer, shop, body="This one goes away.")
    before = read_all(visitor, writer)
    assert all("This one goes away." in words for words in before.values())

    assert writer.post(f"/posts/{post_id}/delete").status_code == 302

    after = read_all(visitor, writer)
    for path, words in after.items():
        assert "This one goes away." not in words, path
        assert "This one stays." in words, path


def test_a_post_an_admin_hides_is_gone_at_once(app, writer, visitor, shop, make_user):
    """An admin's hide takes the post off the wall, /wall and the profile for everyone."""
    make_user("root", is_admin=True)
    post_id = write(writer, shop, body="Something nobody should read.")
    for path in PUBLIC_PAGES:
        assert "Something nobody should read." in seen(visitor, path)

    assert browser(app, "root").post(f"/admin/posts/{post_id}/hide").status_code == 302

    for path in PUBLIC_PAGES:
        assert "Something nobody should read." not in seen(visitor, path), path


def test_a_post_hidden_by_reports_is_gone_at_once(app, writer, visitor, shop, make_user):
    """The report that reaches REPORTS_TO_HIDE takes the post off the wall and /wall at once."""
    post_id = write(writer, shop, body="Reported until hidden.")
    readers = [make_user(name).username for name in ("bob", "carol", "dave")]
    for path in PUBLIC_PAGES:
        assert "Reported until hidden." in seen(visitor, path)

    for name in readers[:-1]:
        browser(app, name).post(f"/posts/{post_id}/report", data={"reason": "spam"})
    for path in PUBLIC_PAGES:
        assert "Reported until hidden." in seen(visitor, path)
    browser(app, readers[-1]).post(f"/posts/{post_id}/report", data={"reason": "spam"})

    for path in PUBLIC_PAGES:
        assert "Reported until hidden." not in seen(visitor, path), path


def test_a_resolved_complaint_shows_resolved_at_once(writer, visitor, shop):
    """The author marking a complaint resolved shows on the wall's complaints at once."""
    post_id = write(writer, shop, kind="complaint", rating=None, body="Wrong size frame.")
    wall = f"/b/{shop.slug}?tab=complaints"
    assert "state-resolved" not in visitor.get(wall).text

    assert writer.post(f"/posts/{post_id}/resolve", data={"note": ""}).status_code == 302

    assert "state-resolved" in visitor.get(wall).text
    assert writer.post(f"/posts/{post_id}/reopen").status_code == 302
    assert "state-resolved" not in visitor.get(wall).text


def test_the_worker_sending_a_status_shows_on_my_posts_at_once(
    client, connected, fake_mastodon, bakery_with_handle
):
    """/me says "Sending" until the worker sends the status, then "Sent" on the next read."""
    submit(client, bakery_with_handle)
    assert "Sending to Mastodon…" in seen(client, "/me")

    assert run_queued_tasks() == 1

    words = seen(client, "/me")
    assert "Sent to Mastodon." in words and "Sending to Mastodon…" not in words


# --- the business answers ---


def test_the_owner_s_answer_on_the_wall_shows_at_once(app, writer, visitor, claimed_shop):
    """An owner's reply shows under the post on the wall a visitor reads, and on /me."""
    post_id = write(writer, claimed_shop, kind="complaint", rating=None, body="Chain fell off.")
    wall = f"/b/{claimed_shop.slug}?tab=complaints"
    assert "Reply from Zebra Cycles" not in seen(visitor, wall)
    assert "Reply from Zebra Cycles" not in seen(visitor, "/u/alice")
    assert "Reply from Zebra Cycles" not in seen(writer, "/me")
    owner = browser(app, "zebra")

    response = owner.post(
        f"/b/{claimed_shop.slug}/posts/{post_id}/reply", data={"body": "Bring it back, on us."}
    )

    assert response.status_code == 302
    for words in (seen(visitor, wall), seen(visitor, "/u/alice"), seen(writer, "/me")):
        assert "Reply from Zebra Cycles" in words
        assert "Bring it back, on us." in words

    owner.post(f"/b/{claimed_shop.slug}/posts/{post_id}/reply/delete")
    assert "Bring it back, on us." not in seen(visitor, wall)


def test_an_answer_an_admin_hides_is_gone_from_the_wall_at_once(
    app, writer, visitor, claimed_shop, make_user
):
    """An admin hiding the business's answer takes it off the wall a visitor reads at once."""
    make_user("root", is_admin=True)
    post_id = write(writer, claimed_shop, kind="complaint", rating=None, body="Flat tyre again.")
    browser(app, "zebra").post(
        f"/b/{claimed_shop.slug}/posts/{post_id}/reply", data={"body": "Not our problem."}
    )
    wall = f"/b/{claimed_shop.slug}?tab=complaints"
    assert "Not our problem." in seen(visitor, wall)

    assert browser(app, "root").post(f"/admin/posts/{post_id}/reply/hide").status_code == 302

    words = seen(visitor, wall)
    assert "Not our problem." not in words and "Flat tyre again." in words


def test_a_reply_the_watch_finds_on_mastodon_shows_at_once(
    app, client, connected, fake_mastodon, bakery_on_fake
):
    """The reply watch finding the business's answer shows it on the wall and /me at once."""
    row = send(client, bakery_on_fake, body="Warm bread at seven.")
    visitor = app.test_client()
    wall = f"/b/{bakery_on_fake.slug}"
    assert "Warm bread at seven." in seen(visitor, wall)
    assert "replied on Mastodon" not in seen(visitor, wall)
    assert "replied on Mastodon" not in seen(client, "/me")
    fake_mastodon.reply(row.remote_id, BAKERY_ACCT, "See you tomorrow!")

    tasks.check_reply.call_local(row.id)

    for words in (seen(visitor, wall), seen(client, "/me")):
        assert "Corner Bakery replied on Mastodon" in words


def test_featuring_shows_at_once_to_a_visitor(app, writer, visitor, claimed_shop):
    """An owner's feature and unfeature show at once on the wall a visitor reads."""
    post_id = write(writer, claimed_shop, body="Best tune-up in town.")
    wall = f"/b/{claimed_shop.slug}"
    assert featured_section(visitor.get(wall).text) == ""
    owner = browser(app, "zebra")

    assert owner.post(f"/b/{claimed_shop.slug}/featured/{post_id}").status_code == 302

    featured = featured_section(visitor.get(wall).text)
    assert featured.startswith("Featured by Zebra Cycles")
    assert "Best tune-up in town." in featured

    assert owner.post(f"/b/{claimed_shop.slug}/featured/{post_id}/remove").status_code == 302

    assert featured_section(visitor.get(wall).text) == ""


def test_the_owner_s_wall_is_never_the_visitor_s_kept_part(app, writer, visitor, claimed_shop):
    """Whichever reads first, the owner gets their buttons and a visitor never does."""
    write(writer, claimed_shop, body="Quick and friendly.")
    owner = browser(app, "zebra")
    wall = f"/b/{claimed_shop.slug}"
    for _ in range(2):
        assert "Feature this" not in seen(visitor, wall)
        assert "Feature this" not in seen(writer, wall)
        assert "Feature this" in seen(owner, wall)
        assert "Manage this page" in seen(owner, wall)


def test_the_owner_s_details_show_at_once_to_a_visitor(app, visitor, claimed_shop):
    """The description the owner saves on the manage page shows on the wall at once."""
    wall = f"/b/{claimed_shop.slug}"
    assert "Spokes mended since 1987." not in seen(visitor, wall)

    response = browser(app, "zebra").post(
        f"/b/{claimed_shop.slug}/manage",
        data={"website": "", "description": "Spokes mended since 1987."},
    )

    assert response.status_code == 302
    assert "Spokes mended since 1987." in seen(visitor, wall)


def test_a_renamed_business_shows_its_new_name_everywhere(writer, visitor, shop):
    """A business's new name shows beside its posts on /wall, the profile, /me and its wall."""
    write(writer, shop, body="Great service.")
    pages = {path: seen(visitor, path) for path in PUBLIC_PAGES}
    pages["/me"] = seen(writer, "/me")
    assert all("Zebra Cycles" in words for words in pages.values())

    # No page renames a business; the service is how any rename is made, then committed.
    businesses.rename_business(db.session.get(Business, shop.id), "Zebra Bicycles")
    db.session.commit()

    pages = {path: seen(visitor, path) for path in PUBLIC_PAGES}
    pages["/me"] = seen(writer, "/me")
    for path, words in pages.items():
        assert "Zebra Bicycles" in words, path
        assert "Zebra Cycles" not in words, path


def test_a_deleted_account_s_posts_and_name_are_gone_at_once(app, visitor, shop, make_user):
    """Deleting an account takes its posts and name off the wall, /wall and the profile."""
    make_user("bob")
    bob = browser(app, "bob")
    write(bob, shop, body="Bob was here.")
    for path in (f"/b/{shop.slug}", "/wall", "/u/bob"):
        assert "Bob was here." in seen(visitor, path)

    assert bob.post("/settings/delete", data={"password": PASSWORD}).status_code == 302

    for path in (f"/b/{shop.slug}", "/wall"):
        assert "Bob was here." not in seen(visitor, path), path
    assert visitor.get("/u/bob").status_code == 404


# --- a person's own new post ---


def test_my_new_post_shows_at_once_on_my_pages_the_wall_and_the_challenge(writer, visitor, shop):
    """Right after posting, the author sees it on /me, /u/alice, the wall and /challenge."""
    assert writer.post("/challenge/start").status_code == 302
    mine = ("/me", "/u/alice", f"/b/{shop.slug}", "/wall")
    for path in mine:
        assert "First of three." not in seen(writer, path)
    assert "0 of 3" in seen(writer, "/challenge")
    assert "First of three." not in seen(visitor, "/wall")

    write(writer, shop, body="First of three.")

    for path in mine:
        assert "First of three." in seen(writer, path), path
    challenge = seen(writer, "/challenge")
    assert "1 of 3" in challenge and "First of three." in challenge
    assert "First of three." in seen(visitor, "/wall")


def test_finishing_the_challenge_moves_the_community_totals_for_visitors(writer, visitor, shop):
    """The third praise finishes a round, and a visitor's /challenge counts it at once."""
    writer.post("/challenge/start")
    write(writer, shop, body="One.")
    write(writer, shop, body="Two.")
    before = seen(visitor, "/challenge")

    write(writer, shop, body="Three.")

    assert "Challenge complete!" in seen(writer, "/challenge")
    assert seen(visitor, "/challenge") != before


def test_taking_the_challenge_moves_the_count_a_visitor_sees(writer, visitor):
    """Someone starting a round shows in a visitor's /challenge at once."""
    assert "0 people have taken the challenge" in seen(visitor, "/challenge")

    assert writer.post("/challenge/start").status_code == 302

    assert "1 person has taken the challenge" in seen(visitor, "/challenge")


@pytest.mark.parametrize(
    ("path", "part"), [("/b/zebra-cycles", "wall"), ("/b/zebra-cycles/feed.atom", "feed")]
)
def test_a_change_made_while_a_page_is_read_is_not_kept_stale(
    visitor, shop, monkeypatch, path, part
):
    """A rename another process commits after the page looked the business up, but before
    its part was looked for, shows on the next read: the part is not kept with the old name."""
    real_key = fragments.Fragments.key
    renamed: list[str] = []

    def key_after_a_rename(self, name, parts, scopes):
        """Look for the part only once another process has renamed the business."""
        if name == part and not renamed:
            with so.Session(db.engine) as other:
                businesses.rename_business(other.get(Business, shop.id), "Zebra Bicycles")
                other.commit()
            renamed.append(name)
        return real_key(self, name, parts, scopes)

    monkeypatch.setattr(fragments.Fragments, "key", key_after_a_rename)
    visitor.get(path)

    words = seen(visitor, path)
    assert renamed and "Zebra Bicycles" in words and "Zebra Cycles" not in words


# --- across processes ---


def test_an_edit_in_one_process_shows_at_once_in_another(two_processes):
    """App A keeps the wall; app B takes the edit; app A shows it on its next read."""
    first, second, shop_id = two_processes
    with first.app_context():
        author = browser(first, "alice")
        post_id = write(author, shop_id, body="Seen in the first process.")
    reader = first.test_client()
    for path in ("/b/zebra-cycles", "/wall", "/u/alice"):
        assert "Seen in the first process." in seen(reader, path)

    with second.app_context():
        editor = browser(second, "alice")
        response = editor.post(
            f"/posts/{post_id}/edit", data=compose(shop_id, body="Changed in the second process.")
        )
        assert response.status_code == 302

    with first.app_context():
        for path in ("/b/zebra-cycles", "/wall", "/u/alice"):
            words = seen(reader, path)
            assert "Changed in the second process." in words, path
            assert "Seen in the first process." not in words, path


def test_a_part_kept_by_one_process_is_served_by_another(two_processes):
    """A part app A rendered is read from Redis by app B, which then runs fewer statements."""
    first, second, shop_id = two_processes
    with first.app_context():
        write(browser(first, "alice"), shop_id, body="Shared through Redis.")
    with first.app_context():
        cold, rendered = read_counting(first.test_client(), "/b/zebra-cycles")
    with second.app_context():
        warm, words = read_counting(second.test_client(), "/b/zebra-cycles")
    assert "Shared through Redis." in words and words == rendered
    assert warm < cold


def test_pages_render_when_redis_is_unreachable(make_app):
    """With Redis down, every page still renders right, and changes still show."""
    app = make_app(FRAGMENT_CACHE_REDIS_URL=UNREACHABLE_REDIS)
    with app.app_context():
        accounts.create_user("alice", PASSWORD)
        shop = businesses.create_business("Zebra Cycles")
        db.session.commit()
        author = browser(app, "alice")
        post_id = write(author, shop, body="Written while Redis is down.")
        visitor = app.test_client()
        paths = (f"/b/{shop.slug}", "/wall", "/u/alice", f"/b/{shop.slug}/feed.atom")
        for path in paths:
            assert "Written while Redis is down." in seen(visitor, path), path
        assert "Written while Redis is down." in seen(author, "/me")
        assert "0 of 3" not in seen(author, "/challenge")

        author.post(f"/posts/{post_id}/edit", data=compose(shop, body="Edited while down."))

        for path in paths:
            assert "Edited while down." in seen(visitor, path), path
        assert "Edited while down." in seen(author, "/me")


def test_several_processes_without_redis_keep_nothing(make_app):
    """Without Redis and without ONE_PROCESS no part is kept, so none can go stale."""
    app = make_app(ONE_PROCESS=False, FRAGMENT_CACHE_REDIS_URL="")
    assert "fragments" not in app.extensions
    with app.app_context():
        accounts.create_user("alice", PASSWORD)
        shop = businesses.create_business("Zebra Cycles")
        db.session.commit()
        author = browser(app, "alice")
        post_id = write(author, shop, body="Nothing kept here.")
        visitor = app.test_client()
        for path in (f"/b/{shop.slug}", "/wall", "/u/alice"):
            assert "Nothing kept here." in seen(visitor, path)

        author.post(f"/posts/{post_id}/edit", data=compose(shop, body="Still nothing kept."))

        for path in (f"/b/{shop.slug}", "/wall", "/u/alice"):
            assert "Still nothing kept." in seen(visitor, path), path
    assert "fragments" not in app.extensions


# --- a kept part is still the reader's own ---


def retry_token(page: str, post_id: int) -> str:
    """Return the CSRF token in the "Try again" form of a post on a page."""
    action = f'action="/posts/{post_id}/crosspost/retry?network=mastodon"'
    match = re.search(re.escape(action) + r".*?</form>", page, re.S)
    assert match, "no Try again form on the page"
    return csrf_token(match.group(0))


def test_a_kept_me_page_carries_each_reader_s_own_csrf_token(
    app, client, connected, bakery_with_handle, make_post, make_user
):
    """/me kept from one browser gives another browser its own token: its "Try again" works."""
    post = make_post(connected, bakery_with_handle, body="Alice's own failed status.")
    make_row(post, connected.mastodon_account, state="failed", last_error="Refused")
    retry = f"/posts/{post.id}/crosspost/retry?network=mastodon"
    laptop = browser(app, "alice")
    make_post(make_user("bob"), bakery_with_handle, body="Bob's post.")
    bob = browser(app, "bob")
    app.config["WTF_CSRF_ENABLED"] = True

    first = client.get("/me").text
    second = client.get("/me").text
    on_laptop = laptop.get("/me").text
    bob_page = bob.get("/me").text

    assert "Try again" in page_text(second) and "Try again" in page_text(on_laptop)
    assert retry_token(on_laptop, post.id) != retry_token(first, post.id)
    assert laptop.post(retry, data={}).status_code == 400
    assert laptop.post(retry, data={"csrf_token": retry_token(first, post.id)}).status_code == 400
    response = laptop.post(retry, data={"csrf_token": retry_token(on_laptop, post.id)})
    assert response.status_code == 302
    assert retry_token(first, post.id) not in bob_page
    assert retry_token(on_laptop, post.id) not in bob_page
    assert "Alice's own failed status." not in page_text(bob_page)
    assert "Bob's post." in page_text(bob_page)


def test_posts_of_others_are_not_shown_on_my_kept_page(app, writer, shop, make_user):
    """Two people's /me parts are kept apart: each sees only their own posts."""
    make_user("bob")
    bob = browser(app, "bob")
    write(writer, shop, body="Alice wrote this.")
    write(bob, shop, body="Bob wrote this.")
    for _ in range(2):
        alice_words, bob_words = seen(writer, "/me"), seen(bob, "/me")
        assert "Alice wrote this." in alice_words and "Bob wrote this." not in alice_words
        assert "Bob wrote this." in bob_words and "Alice wrote this." not in bob_words


def compose_fields(page: str) -> str:
    """Return the markup of a compose page's own fields: from the kind to "Show my name"."""
    start = page.index('<fieldset class="kind-toggle">')
    return page[start : page.index("</div>", page.index('name="shows_name"'))]


def test_an_empty_compose_form_s_fields_are_made_once_for_everyone(app, writer, shop, make_user):
    """Alice's empty form keeps its fields; Bob's is the same, without making them again, and
    each carries its own token, which posts."""
    make_user("bob")
    bob = browser(app, "bob")
    app.config["WTF_CSRF_ENABLED"] = True
    made: list[str] = []

    def note(sender, template, context, **extra):
        made.append(template.name)

    with flask.template_rendered.connected_to(note, app):
        alice_page = writer.get("/posts/new").text
        bob_page = bob.get("/posts/new").text
    assert made.count("posts/_compose_fields.html") == 1
    assert compose_fields(bob_page) == compose_fields(alice_page)
    assert csrf_token(bob_page) != csrf_token(alice_page)
    sent = bob.post("/posts/new", data={**compose(shop), "csrf_token": csrf_token(bob_page)})
    assert sent.status_code == 302


def test_a_prefilled_or_refused_form_shows_its_own_values(app, writer, shop):
    """After an empty form's fields are kept, a form for one business names it, and a refused
    form keeps what was typed."""
    writer.get("/posts/new")
    prefilled = writer.get("/posts/new?business=zebra-cycles&kind=complaint").text
    assert 'value="Zebra Cycles"' in compose_fields(prefilled)
    assert re.search(r'<input checked[^>]*value="complaint"', compose_fields(prefilled))
    refused = writer.post("/posts/new", data=compose(shop, body="", make_right="A new chain."))
    assert refused.status_code == 422
    fields = compose_fields(refused.text)
    assert "A new chain." in fields and 'aria-invalid="true"' in fields
    assert compose_fields(writer.get("/posts/new").text) != fields


def test_a_form_following_up_my_complaint_is_never_another_s(app, writer, shop, make_user):
    """Alice's form to praise the fix of her resolved complaint names its business; Bob asking
    for the same address gets an empty form."""
    make_user("bob")
    bob = browser(app, "bob")
    complaint = write(writer, shop, kind="complaint", rating="1", make_right="A new chain.")
    assert writer.post(f"/posts/{complaint}/resolve", data={"note": "Fixed."}).status_code == 302
    address = f"/posts/new?fixes={complaint}"
    assert 'value="Zebra Cycles"' in compose_fields(writer.get(address).text)
    assert "Zebra Cycles" not in compose_fields(bob.get(address).text)

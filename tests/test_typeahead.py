"""Type-ahead through the business_word index: words kept with the name, order, edge cases."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Business, BusinessWord
from webapp.services import businesses


def words_of(business: Business) -> list[str]:
    """Return a business's indexed words, sorted, straight from the table."""
    return sorted(
        db.session.scalars(
            sa.select(BusinessWord.word).where(BusinessWord.business_id == business.id)
        )
    )


def names(q: str) -> list[str]:
    """Return the names the type-ahead finds for q, best first."""
    return [b.name for b in businesses.search(q)]


def test_a_new_business_has_each_word_of_its_name_once(make_business):
    """Creating a business indexes every distinct word of its normalized name."""
    shop = make_business("Joe's Café & Café")
    assert words_of(shop) == ["and", "cafe", "joes"]


def test_renaming_reindexes_the_words(app, make_business):
    """After a rename the old words find nothing and the new ones find the business."""
    shop = make_business("Corner Bakery")
    businesses.rename_business(shop, "River Bakery")
    db.session.commit()
    assert words_of(shop) == ["bakery", "river"]
    assert shop.slug == "corner-bakery"
    assert names("corner") == []
    assert names("riv") == ["River Bakery"]
    assert names("bak") == ["River Bakery"]


def test_deleting_a_business_deletes_its_words(app, make_business):
    """The words go with their business."""
    shop = make_business("Corner Bakery")
    db.session.delete(shop)
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(BusinessWord)) == 0


def test_order_exact_then_name_prefix_then_word_then_shorter(make_business):
    """Exact name first, then names starting with q, then a later word; shorter before longer."""
    for name in (
        "The Gold Shop",
        "Gold",
        "Goldsmiths of Bath",
        "Gold Bar",
        "Old Gold Mines",
        "Bold",
    ):
        make_business(name)
    assert names("gold") == [
        "Gold",
        "Gold Bar",
        "Goldsmiths of Bath",
        "The Gold Shop",
        "Old Gold Mines",
    ]


def test_a_business_matching_by_two_words_appears_once(make_business):
    """Two words starting with q still make one result."""
    make_business("Gold Golden Goldie")
    assert names("gol") == ["Gold Golden Goldie"]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("zz", ["Zz Top Tailors", "The Zzz Cafe"]),
        ("a9", ["A9 Motors"]),
        ("az", ["Azure Laundry"]),
        ("corner bak", ["Corner Bakery"]),
        ("bakery on", ["Bakery on the Corner"]),
        ("the corner", ["Bakery on the Corner"]),
        ("zürich", ["Café Zürich"]),
        ("9", ["Studio 9"]),
    ],
)
def test_prefix_edges(make_business, q, expected):
    """Terms ending in z or 9, several words, accents and digits all find what they should."""
    for name in (
        "Zz Top Tailors",
        "The Zzz Cafe",
        "A9 Motors",
        "Aa Books",
        "Azure Laundry",
        "B Side",
        "Corner Bakery",
        "Bakery on the Corner",
        "Café Zürich",
        "Studio 9",
        "Studio A",
    ):
        make_business(name)
    assert names(q) == expected


def test_prefix_end():
    """The range's upper end covers exactly the words starting with the term."""
    assert businesses.prefix_end("gold") == "gole"
    assert businesses.prefix_end("az") == "b"
    assert businesses.prefix_end("a9") == "aa"
    assert businesses.prefix_end("zz") is None


def test_search_reads_the_word_index_not_every_name(app, make_business):
    """On SQLite the word lookup is a range search on ix_business_word_word, not a scan."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the plan is checked on SQLite")
    make_business("Corner Bakery")
    stmt = businesses.search_query("cor")
    sql = str(stmt.compile(db.engine, compile_kwargs={"literal_binds": True}))
    plan = " | ".join(row[-1] for row in db.session.execute(sa.text("EXPLAIN QUERY PLAN " + sql)))
    assert "ix_business_word_word" in plan
    assert "SCAN business" not in plan


def test_a_huge_query_is_cut_to_a_name_s_length(client, auth, make_business):
    """100 KB typed into the business box finds what its start finds, and never errors."""
    make_business("Corner Bakery")

    assert [b.name for b in businesses.search("corner " + "x" * 100_000)] == []
    assert [b.name for b in businesses.search("c" * 100_000)] == []
    assert [b.name for b in businesses.search("Corner Bakery" + " " * 100_000)] == ["Corner Bakery"]
    auth.register()
    response = client.post("/posts/new", data={"business": "x" * 100_000, "body": "Kind."})
    assert response.status_code == 422


def test_best_matches_come_first_among_thousands(app, monkeypatch, make_business):
    """Only a bounded set is ranked, yet the exact name and names that start with q lead."""
    monkeypatch.setattr(businesses, "CANDIDATES", 5)
    for n in range(12):
        make_business(f"Old Gold Shop {n}")
    make_business("Golden Bakery")
    make_business("Gold")
    found = names("gold")
    assert found[:2] == ["Gold", "Golden Bakery"]
    # The first five "gold" words by id, and the two names that start with "gold".
    assert found[2:] == [f"Old Gold Shop {n}" for n in range(5)]


@pytest.mark.parametrize("q", ["g", "corner bak", "the old corner b"])
def test_ranking_reads_a_bounded_number_of_rows(app, q):
    """However many names match, the query asks for at most 2 × CANDIDATES ids to rank."""
    stmt = businesses.search_query(q)
    sql = str(stmt.compile(db.engine, compile_kwargs={"literal_binds": True}))
    assert sql.count(f"LIMIT {businesses.CANDIDATES}") == 2


def test_several_words_find_the_phrase_anywhere_in_the_name(make_business):
    """Whole words then a prefix: found at the start or in the middle of a name, not apart."""
    make_business("The Corner Bakery")
    make_business("Corner Bakehouse")
    make_business("Bakery on the Corner")
    assert names("corner bak") == ["Corner Bakehouse", "The Corner Bakery"]


def word_joins_run(client, path: str) -> int:
    """Fetch a page and return the most word-index joins any one of its queries made."""
    joins = [0]

    def record(conn, cursor, statement, *args):
        joins.append(statement.count("also_"))

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        response = client.get(path)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    assert response.status_code == 200, response.text[:300]
    return max(joins) // 3  # an alias appears three times: joined, and both sides of its ON


MANY_WORDS = " ".join("abcdefghijklmnopqrstuvwxyz"[n % 26] + str(n) for n in range(60))


@pytest.mark.parametrize(
    "path",
    [
        "/businesses?q=" + MANY_WORDS,
        "/businesses?q=" + " ".join("abcdefghijklmnopqrstuvwxyz" * 3),
        "/api/v1/businesses?q=" + MANY_WORDS,
    ],
)
def test_a_query_of_many_words_searches_only_the_first_few(client, make_business, path):
    """Sixty words cost what six do: each word is a join, so only the first few are used."""
    make_business("Corner Bakery")
    assert 0 < word_joins_run(client, path) <= businesses.SEARCH_WORDS - 1


def test_a_long_name_is_still_found_by_its_first_words(client, make_business):
    """A name longer than the words searched is found by all its words typed out."""
    make_business("The Old Corner Bakery on Main Street by the Station")
    typed = "the old corner bakery on main street by the station"
    assert names(typed) == ["The Old Corner Bakery on Main Street by the Station"]
    assert "The Old Corner Bakery" in client.get("/businesses", query_string={"q": typed}).text

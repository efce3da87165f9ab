"""Properties that must hold for any text: names, handles, tone, cursors."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from webapp.services import businesses, tone
from webapp.web.pagination import decode_cursor, encode_cursor

names = st.text(min_size=0, max_size=200)


@given(names)
def test_normalizing_a_name_is_stable(name):
    """Normalizing twice changes nothing, and the result has no outer or double spaces."""
    once = businesses.normalize_name(name)
    assert businesses.normalize_name(once) == once
    assert once == " ".join(once.split())


@given(names)
def test_slugs_are_url_safe(name):
    """Every slug is non-empty lowercase ASCII letters, digits and single hyphens."""
    slug = businesses.slugify(name)
    assert slug and set(slug) <= set("abcdefghijklmnopqrstuvwxyz0123456789-")
    assert "--" not in slug and not slug.startswith("-") and not slug.endswith("-")


@given(names)
def test_parsed_handles_are_canonical(text):
    """Whatever parses as a handle comes back as @user@domain and parses to itself."""
    handle = businesses.parse_handle(text)
    if handle is not None:
        assert handle.startswith("@") and handle.count("@") == 2
        assert businesses.parse_handle(handle) == handle


@given(st.text(max_size=2000))
def test_tone_check_only_ever_suggests(text):
    """The tone check returns a short list of suggestions for any text, never an error."""
    suggestions = tone.tone_suggestions(text)
    assert len(suggestions) <= 3 and all(isinstance(s, str) for s in suggestions)


@given(
    st.datetimes(
        min_value=datetime(1990, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    ),
    st.integers(min_value=1, max_value=2**31 - 1),
)
def test_cursors_round_trip(moment, row_id):
    """A cursor decodes to exactly the position it was made from."""
    assert decode_cursor(encode_cursor(moment, row_id), datetime) == (moment, row_id)

"""The API checked against its own OpenAPI document with schemathesis, over WSGI."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import schemathesis
import sqlalchemy as sa
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from webapp.extensions import db
from webapp.models import Business, Kind, Moderation, Post
from webapp.services import api_tokens

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
OPERATIONS = [
    ("GET", "/openapi.json"),
    ("GET", "/businesses"),
    ("GET", "/businesses/{slug}"),
    ("GET", "/businesses/{slug}/posts"),
    ("GET", "/wall"),
    ("POST", "/posts"),
    ("GET", "/posts/{post_id}"),
    ("GET", "/users/{username}/challenge"),
]
SLUGS = ["corner-bakery", "night-pharmacy"]
USERNAMES = ["alice", "bob"]


@pytest.fixture
def seeded(app: Flask, make_user, make_business, make_post) -> dict:
    """Fill the database with what the API shows: walls, posts of every kind, a finished round."""
    alice, bob = make_user("alice"), make_user("bob")
    bakery = make_business("Corner Bakery", handle="@support@cornerbakery.example")
    pharmacy = make_business("Night Pharmacy", website="nightpharmacy.example")
    posts = [make_post(alice, bakery, body=f"Win {n}", rating=n + 2) for n in range(3)]
    posts.append(make_post(bob, pharmacy, shows_name=False))
    resolved = make_post(
        bob,
        bakery,
        kind=Kind.COMPLAINT,
        make_right="A fresh loaf.",
        complaint_status="resolved",
        resolved_at=datetime.now(UTC),
    )
    posts.append(resolved)
    posts.append(make_post(bob, bakery, body="Fixed it", fixes=resolved))
    posts.append(make_post(alice, bakery, is_on_wall=False))
    posts.append(make_post(bob, bakery, moderation=Moderation.HIDDEN))
    token = api_tokens.create(alice, "Schema test").plain
    db.session.commit()
    return {"token": token, "post_ids": [post.id for post in posts]}


@pytest.fixture
def api_schema(app: Flask, seeded: dict) -> schemathesis.BaseSchema:
    """Load the OpenAPI document from the app itself, over WSGI."""
    # Generous limits: here the point is every operation's answers, not the limiter's.
    app.config["API_RATE_LIMIT"] = "100000 per minute"
    app.config["API_WRITE_RATE_LIMIT"] = "100000 per minute"
    app.config["POST_RATE_LIMIT"] = "100000 per minute"
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


def steer(data: st.DataObject, operation, seeded: dict) -> dict:
    """Often pick a slug, post or person that exists, so answers with data get checked too."""
    fixed = {}
    names = {p.name for p in operation.path_parameters}
    if data.draw(st.booleans(), label="real path parameters"):
        if "slug" in names:
            fixed["slug"] = data.draw(st.sampled_from(SLUGS))
        if "post_id" in names:
            fixed["post_id"] = data.draw(st.sampled_from(seeded["post_ids"]))
        if "username" in names:
            fixed["username"] = data.draw(st.sampled_from(USERNAMES))
    return fixed


def test_every_operation_is_fuzzed(api_schema):
    """The parametrization below covers each operation the document describes."""
    described = {
        (result.ok().method.upper(), result.ok().path) for result in api_schema.get_all_operations()
    }
    assert described == set(OPERATIONS) - {("GET", "/openapi.json")}


@pytest.mark.parametrize(
    ("method", "path", "mode"),
    [
        (method, path, mode)
        for method, path in OPERATIONS
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        # Nothing in a request without parameters can be made invalid.
        if path != "/openapi.json" or mode == GenerationMode.POSITIVE
    ],
)
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_every_operation_answers_as_documented(api_schema, seeded, method, path, mode, data):
    """No server errors, and every answer fits the document: status, type, headers, body."""
    operation = api_schema[path][method]
    strategy = operation.as_strategy(
        generation_mode=mode, path_parameters=steer(data, operation, seeded) or None
    )
    case = data.draw(strategy, label="case")
    # Over WSGI nobody undoes compression, so ask for the body as the document describes it.
    headers = {"Accept-Encoding": "identity"}
    if method == "POST" or (path == "/posts/{post_id}" and data.draw(st.booleans())):
        headers["Authorization"] = f"Bearer {seeded['token']}"
    if method == "POST" and isinstance(case.body, dict) and data.draw(st.booleans()):
        # Name a real business the one allowed way, so valid posts get written too.
        for key in ("business_name", "new_business"):
            case.body.pop(key, None)
        case.body["business"] = data.draw(st.sampled_from(SLUGS))
    case.call_and_validate(headers=headers, checks=CHECKS)


def test_linked_calls_answer_as_documented(api_schema, seeded):
    """Stateful: a post made through the API, then read back and followed to its business."""
    token = seeded["token"]

    class Machine(api_schema.as_state_machine()):
        """Chains calls along the document's links, with the token where one is needed."""

        def before_call(self, case):
            """Name a real business in about half the new posts, so posts get made and linked."""
            body = case.body
            if case.method == "POST" and isinstance(body, dict) and len(repr(body)) % 2:
                for key in ("business_name", "new_business"):
                    body.pop(key, None)
                body["business"] = SLUGS[len(body) % len(SLUGS)]

        def teardown(self):
            """Forget what this run wrote, so every run starts from the same data."""
            db.session.execute(sa.delete(Post).where(Post.id.not_in(seeded["post_ids"])))
            db.session.execute(sa.delete(Business).where(Business.slug.not_in(SLUGS)))
            db.session.commit()

        def get_call_kwargs(self, case):
            """Send the token and ask for uncompressed bodies (nothing undoes it over WSGI)."""
            return {"headers": {"Authorization": f"Bearer {token}", "Accept-Encoding": "identity"}}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            """Apply the same checks as the single-call test."""
            case.validate_response(response, checks=CHECKS)

    Machine.run(
        settings=settings(
            max_examples=25,
            stateful_step_count=6,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
    )


def nested(depth: int, inner: str = "1") -> str:
    """Return JSON of arrays and objects nested depth deep around inner."""
    opening = "".join('{"a":' if n % 2 else "[" for n in range(depth))
    closing = "".join("}" if n % 2 else "]" for n in reversed(range(depth)))
    return opening + inner + closing


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (nested(5000), 400),
        ("[" * 100_000, 400),
        ('{"business": "corner-bakery", "body": ' + nested(5000, '"x"') + "}", 400),
        ('{"business": "corner-bakery", "body": ' + nested(500, '"x"') + "}", 422),
        ('{"business": ' + nested(900) + ', "body": "Lovely."}', 422),
    ],
    ids=["5000 deep", "100000 open brackets", "5000 deep field", "500 deep field", "900 deep"],
)
def test_deeply_nested_json_is_a_problem_not_a_crash(app, seeded, body, status):
    """JSON nested past what Python parses is a 400; nested but parsed, its fields are a 422."""
    client = app.test_client()
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Post))
    response = client.post(
        "/api/v1/posts",
        data=body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {seeded['token']}"},
    )
    assert response.status_code == status, response.text[:300]
    assert response.mimetype == "application/problem+json"
    if status == 400:
        assert "couldn't read that body as JSON" in response.json["detail"]
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Post)) == before

"""The health check answers for the database."""

from __future__ import annotations


def test_healthz_is_ok_with_the_database_reachable(client):
    """A working database gives 200."""
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}


def test_healthz_is_503_when_the_database_is_unreachable(make_app):
    """A database that can't be reached gives 503, not a crash."""
    app = make_app(
        with_tables=False,
        SQLALCHEMY_DATABASE_URI="postgresql+psycopg://nobody@127.0.0.1:1/none",
    )
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["database"] == "unreachable"

"""Error pages: a friendly HTML page, or RFC 9457 problem details for the API."""

from __future__ import annotations

import time
from http import HTTPStatus

from flask import Flask, Response, current_app, g, json, render_template, request
from flask_login import AnonymousUserMixin
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError

from webapp.extensions import db, limiter

PROBLEM_MIMETYPE = "application/problem+json"

MESSAGES = {
    400: "That request didn't make sense to us.",
    403: "You can't do that.",
    404: "We couldn't find that page.",
    405: "That page doesn't take that kind of request.",
    413: "That was far too much to send. Posts are at most 2,000 characters.",
    429: "Too many tries. Please wait a while and try again.",
    500: "Something went wrong on our side. Nothing you typed was saved twice; please try again.",
    503: "We can't reach our database just now. Nothing you typed was saved; please try again "
    "in a minute.",
}
DATABASE_RETRY_AFTER = "30"


def init_app(app: Flask) -> None:
    """Register the handlers."""
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(InternalServerError, handle_server_error)
    app.register_error_handler(DBAPIError, handle_database_error)


def wants_json() -> bool:
    """Tell whether the caller is the JSON API."""
    return request.path.startswith("/api/")


def problem(
    status: int, detail: str, *, errors: dict[str, list[str]] | None = None, headers=None
) -> Response:
    """Build an application/problem+json response (RFC 9457)."""
    body: dict = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_MIMETYPE)
    response.headers["Cache-Control"] = "no-store"
    if headers:
        response.headers.extend(headers)
    return response


def render_error(status: int, message: str):
    """Render an error as problem details for the API or as a page for people."""
    if wants_json():
        return problem(status, message), status
    try:
        return render_template("error.html", status=status, message=message), status
    except DBAPIError as error:
        # The page header reads the signed-in user; with the database away, say that instead.
        return handle_database_error(error)


def handle_http_error(error: HTTPException):
    """Show an HTTP error with a plain explanation."""
    status = error.code or 500
    # Our own abort(..., description=...) calls speak to people; library defaults don't.
    custom = error.description != type(error).description and status not in (413, 429)
    message = error.description if custom else MESSAGES.get(status, error.description)
    if status == 429:
        message = too_many_message()
    body, status = render_error(status, message)
    allowed = getattr(error, "valid_methods", None)
    return body, status, {"Allow": ", ".join(allowed)} if allowed else {}


def too_many_message() -> str:
    """Say how long to wait after a rate limit, from when the limit that was hit resets."""
    hit = limiter.current_limit
    if hit is None:
        return MESSAGES[429]
    # The same whole seconds Flask-Limiter puts in Retry-After.
    return (
        f"Too many tries. Please wait and try again {wait_phrase(int(hit.reset_at - time.time()))}."
    )


def wait_phrase(seconds: int) -> str:
    """Say how long a wait is, as people do: "in a minute", "in 3 minutes", "in about an hour"."""
    minutes = max(1, round(seconds / 60))
    if minutes == 1:
        return "in a minute"
    if minutes < 45:
        return f"in {minutes} minutes"
    hours = round(minutes / 60)
    if hours <= 1:
        return "in about an hour"
    if hours < 24:
        return f"in about {hours} hours"
    days = round(hours / 24)
    return "in about a day" if days == 1 else f"in about {days} days"


def handle_csrf_error(error: CSRFError):
    """Explain an expired or missing form token."""
    return render_error(
        400, "This form expired or came from somewhere else. Go back, reload and try again."
    )


def handle_server_error(error: Exception):
    """Roll back whatever the request left and apologise."""
    db.session.rollback()
    return render_error(500, MESSAGES[500])


def handle_database_error(error: DBAPIError):
    """Answer 503 with Retry-After while the database is away, instead of a server error."""
    if not is_outage(error):
        raise error
    current_app.logger.warning("Database unavailable, answered 503: %s", str(error.orig)[:200])
    try:
        db.session.rollback()
    except DBAPIError:
        pass  # the connection is gone; the pool replaces it on the next request
    # The page must not need the database: show it as to someone signed out.
    g._login_user = AnonymousUserMixin()
    headers = {"Retry-After": DATABASE_RETRY_AFTER}
    if wants_json():
        return problem(503, MESSAGES[503], headers=headers)
    page = render_template("error.html", status=503, message=MESSAGES[503])
    return page, 503, headers


def is_outage(error: DBAPIError) -> bool:
    """Tell whether a database error means the server can't be reached (not a bad query)."""
    return isinstance(error, OperationalError | InterfaceError)

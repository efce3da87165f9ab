"""HTTP caching for public pages: ETag and Last-Modified, Cache-Control, and 304s."""

from __future__ import annotations

import hashlib
from datetime import datetime

from flask import Response, request

PUBLIC_MAX_AGE = 300  # seconds a cache may reuse a public page before asking again


def cacheable(
    response: Response, *, last_modified: datetime | None = None, shared: bool = True
) -> Response:
    """Tag a response for caching and answer 304 when the client's copy is current.

    :param shared: whether any cache may keep it; pages that greet a signed-in person may
        be kept only by that person's browser, and must be checked each time.
    """
    response.set_etag(hashlib.sha256(response.get_data()).hexdigest()[:32])
    if last_modified is not None:
        response.last_modified = last_modified
    if shared:
        response.cache_control.public = True
        response.cache_control.max_age = PUBLIC_MAX_AGE
    else:
        response.cache_control.private = True
        response.cache_control.no_cache = True
    response.vary.add("Cookie")
    return response.make_conditional(request)


def cacheable_page(html: str) -> Response:
    """Make a public page cacheable: shared for visitors, private for signed-in people."""
    from flask import make_response
    from flask_login import current_user

    return cacheable(make_response(html), shared=not current_user.is_authenticated)

"""HTTP caching for public pages: ETag and Last-Modified, Cache-Control, and 304s."""

from __future__ import annotations

import hashlib
from datetime import datetime

from flask import Response, request

PUBLIC_MAX_AGE = 300  # seconds a cache may reuse a public page before asking again


def cacheable(response: Response, *, last_modified: datetime | None = None) -> Response:
    """Tag a public response for caching and answer 304 when the client's copy is current."""
    response.set_etag(hashlib.sha256(response.get_data()).hexdigest()[:32])
    if last_modified is not None:
        response.last_modified = last_modified
    response.cache_control.public = True
    response.cache_control.max_age = PUBLIC_MAX_AGE
    return response.make_conditional(request)

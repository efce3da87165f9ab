"""The JSON API (v1)."""

from __future__ import annotations

from flask import Blueprint, request

from webapp.services import businesses

bp = Blueprint("api", __name__)


@bp.get("/businesses")
def search_businesses():
    """Find businesses for the type-ahead: prefix and word matches, best first."""
    q = request.args.get("q", "")[:120]
    try:
        limit = min(max(int(request.args.get("limit", businesses.SEARCH_LIMIT)), 1), 25)
    except ValueError:
        limit = businesses.SEARCH_LIMIT
    found = businesses.search(q, limit)
    return {"query": q, "results": [businesses.business_json(b) for b in found]}

"""Links that came from another server, or from someone's typing: shown only when https.

Every address a page, feed or API answer links to, and that we didn't build ourselves, goes
through `safe_remote_url`, and is stored through it when a server hands it to us.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from webapp.infra.http import insecure_allowed

# Browsers skip or drop these inside an address, so "java\tscript:" would still run.
INVISIBLE_RE = re.compile(r"[\x00-\x20\x7f]")


def safe_remote_url(url: object) -> str | None:
    """Return the address when a page may link to it, else None.

    Only https to a named host will do; http too while MASTODON_ALLOW_INSECURE is set.
    """
    if not isinstance(url, str) or not url or INVISIBLE_RE.search(url):
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return None
    allowed = ("https", "http") if insecure_allowed() else ("https",)
    return url if parts.scheme in allowed and host else None

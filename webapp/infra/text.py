"""Characters no text of ours may hold: those XML 1.0 forbids.

Feeds, the badge and the widget are XML or close to it, and one such character in a name or a
post makes a feed unreadable for every subscriber. They are dropped as text comes in, and again
as it goes out, so rows written before this rule can't break a feed either.
"""

from __future__ import annotations

import re

# Everything outside XML 1.0's Char production: C0 controls but tab, newline and carriage
# return; lone surrogates (JSON can carry them); and the two non-characters U+FFFE and U+FFFF.
XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: str | None) -> str | None:
    """Return the text without the characters XML 1.0 forbids (None stays None)."""
    if not isinstance(text, str):
        return text
    return XML_FORBIDDEN.sub("", text)

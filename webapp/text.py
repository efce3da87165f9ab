"""Text rules every layer shares: the characters XML 1.0 forbids, and how a duration is said.

Feeds, the badge and the widget are XML or close to it, and one such character in a name or a
post makes a feed unreadable for every subscriber. They are dropped as text comes in, and again
as it goes out, so rows written before this rule can't break a feed either.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import timedelta

# Everything outside XML 1.0's Char production: C0 controls but tab, newline and carriage
# return; lone surrogates (JSON can carry them); and the two non-characters U+FFFE and U+FFFF.
XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: str | None) -> str | None:
    """Return the text without the characters XML 1.0 forbids (None stays None)."""
    if not isinstance(text, str):
        return text
    return XML_FORBIDDEN.sub("", text)


def duration(span: timedelta | None) -> str:
    """Say how long something took, like "2 h 10 min" or "3 days 4 h"."""
    if span is None:
        return "–"
    minutes = round(span.total_seconds() / 60)
    days_, hours, mins = minutes // 1440, minutes % 1440 // 60, minutes % 60
    # Non-breaking spaces keep "2 h 10 min" on one line on a narrow screen.
    if days_:
        return f"{days_}\u00a0day{'s' if days_ != 1 else ''}" + (
            f"\u00a0{hours}\u00a0h" if hours else ""
        )
    if hours:
        return f"{hours}\u00a0h" + (f"\u00a0{mins}\u00a0min" if mins else "")
    return f"{max(mins, 1)}\u00a0min"


def strip_text(value: str | None) -> str | None:
    """Trim surrounding whitespace and drop characters that only hide text or break XML."""
    if not isinstance(value, str):
        return value
    value = xml_safe(value).replace("\r\n", "\n").strip()
    # Text made only of invisible characters (zero-width spaces and the like) is empty.
    if all(unicodedata.category(ch) in ("Cf", "Zs", "Cc") for ch in value):
        return ""
    return value

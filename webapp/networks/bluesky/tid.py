"""Record keys in the AT Protocol's TID form, fixed before a post is first sent.

A TID is 13 characters of base32-sortable: 53 bits of microseconds since the epoch, then a
10-bit clock id. Choosing it when the crosspost row is made means every attempt writes the
same record, so a delivery that runs twice can never make two posts.
"""

from __future__ import annotations

import re
import secrets
import threading
import time

ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
PATTERN = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")

_lock = threading.Lock()
_last = 0


def encode(number: int, length: int) -> str:
    """Write a number in base32-sortable, padded to the length."""
    digits = []
    for _ in range(length):
        digits.append(ALPHABET[number & 31])
        number >>= 5
    return "".join(reversed(digits))


def new_tid() -> str:
    """Return a new TID, later than every one this process made before."""
    global _last
    with _lock:
        micros = max(time.time_ns() // 1000, _last + 1)
        _last = micros
    clock_id = secrets.randbelow(1024)
    return encode((micros << 10) | clock_id, 13)


def is_tid(value: str) -> bool:
    """Tell whether a string is a valid TID."""
    return bool(PATTERN.match(value))

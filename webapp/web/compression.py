"""Compressed responses (brotli or gzip) for text, with an ETag per encoding."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

from flask import Flask, Response, g, request
from flask_compress import Compress

# Text only: PNGs and other images are compressed already, and recompressing them only costs time.
COMPRESSED_TYPES = [
    "text/html",
    "text/css",
    "text/javascript",
    "text/plain",
    "text/xml",
    "application/javascript",
    "application/json",
    "application/problem+json",
    "application/manifest+json",
    "application/atom+xml",
    "application/xml",
    "image/svg+xml",
]


# Compressed bodies one process keeps, by the hash of what they compress: at most this many bytes.
COPIES_MAX_BYTES = 16 * 1024 * 1024


class CompressedCopies:
    """Compressed bodies by encoding and the hash of the bytes compressed, newest kept longest.

    Pages made of kept parts come out byte for byte the same again and again; compressing them
    cost as much as putting them together. A copy is found only for those very bytes, so it can
    never be another page's or an older one.
    """

    def __init__(self, max_bytes: int = COPIES_MAX_BYTES) -> None:
        """Keep at most `max_bytes` of compressed bodies."""
        self.max_bytes = max_bytes
        self.copies: OrderedDict[str, bytes] = OrderedDict()
        self.size = 0
        self.lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        """Return the compressed copy under this key, if kept."""
        if key.endswith(";"):
            return None  # a body not hashed (see body_key): never kept
        with self.lock:
            found = self.copies.get(key)
            if found is not None:
                self.copies.move_to_end(key)
            return found

    def set(self, key: str, value: bytes) -> None:
        """Keep a compressed copy, dropping the least recently used past the size."""
        if key.endswith(";") or len(value) > self.max_bytes:
            return
        with self.lock:
            old = self.copies.pop(key, None)
            self.size += len(value) - (len(old) if old is not None else 0)
            self.copies[key] = value
            while self.size > self.max_bytes:
                _, dropped = self.copies.popitem(last=False)
                self.size -= len(dropped)


def body_key(request_being_answered) -> str:
    """Name the body about to be compressed by its hash (Flask-Compress's cache key)."""
    return g.pop("compressed_body_hash", "")


class CarefulCompress(Compress):
    """Flask-Compress, leaving alone byte ranges and clients that refuse every encoding we have."""

    def after_request(self, response: Response | None) -> Response:
        """Compress the response unless it is a 206 or the client said q=0 to all we offer."""
        # A compressed slice of a file means nothing; and Flask-Compress reads "gzip;q=0" as a
        # yes, where HTTP says it is a no.
        offered = self.streaming_algorithms + self.enabled_algorithms
        refused = all(request.accept_encodings.quality(name) == 0 for name in offered)
        if response is not None and (response.status_code == 206 or refused):
            response.vary.add("Accept-Encoding")
            return response
        g.pop("compressed_body_hash", None)  # never one left by an earlier response
        if (
            response is not None
            and response.mimetype in self.compress_mimetypes_set
            and not (response.is_streamed or response.direct_passthrough)
        ):
            body = response.get_data()
            g.compressed_body_hash = hashlib.blake2b(body, digest_size=16).hexdigest()
        return super().after_request(response)


def init_app(app: Flask) -> None:
    """Compress text responses for clients that accept brotli or gzip.

    Flask-Compress turns a strong ETag into one per encoding ("abc:br"), adds
    Vary: Accept-Encoding, and answers 304 itself when the client holds that variant, so the
    ETags and 304s from webapp.web.caching keep working for compressed pages.
    """
    app.config.setdefault("COMPRESS_MIMETYPES", COMPRESSED_TYPES)
    app.config.setdefault("COMPRESS_ALGORITHM", ["br", "gzip"])
    app.config.setdefault("COMPRESS_ALGORITHM_STREAMING", ["br", "deflate"])
    # Below this a compressed body saves less than the headers it adds.
    app.config.setdefault("COMPRESS_MIN_SIZE", 500)
    app.config.setdefault("COMPRESS_LEVEL", 6)
    app.config.setdefault("COMPRESS_BR_LEVEL", 5)
    app.config.setdefault("COMPRESS_CACHE_BACKEND", CompressedCopies)
    app.config.setdefault("COMPRESS_CACHE_KEY", body_key)
    app.extensions["compress"] = CarefulCompress(app)

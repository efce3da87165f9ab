"""Compressed responses (brotli or gzip) for text, with an ETag per encoding."""

from __future__ import annotations

from flask import Flask, Response, request
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
    app.extensions["compress"] = CarefulCompress(app)

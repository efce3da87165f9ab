"""A reverse proxy on loopback in front of a real server, which breaks on command.

Everything is forwarded as it came (method, path and query, headers with Authorization and
DPoP, body); the Host header names the server behind, as it would see a direct request. Faults
apply to the next N requests whose path contains a given text:

- `fail_next`: answer 500, 502 or 503 without forwarding;
- `rate_limit_next`: answer 429 with `ratelimit-limit`, `ratelimit-remaining: 0` and
  `ratelimit-reset` (epoch seconds), as Bluesky's PDS does, without forwarding;
- `delay_next`: forward, then hold the answer longer than the client waits: the request took
  effect, the client timed out (or, with `forward=False`, never reached the server at all);
- `lose_answer_next`: forward, so the write happens, then drop the connection without a word
  (`how="drop"`) or answer 502 (`how="502"`).

It also works as a plain HTTP proxy (`requests.get(pds_url, proxies={"http": proxy.url})`):
the client then keeps the server's own URL, which a DPoP proof must name in its `htu` claim.
Requests for anything but loopback are refused. `seen` lists every request, in order.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

LOOPBACK = ("127.0.0.1", "::1", "localhost")
TEXT = {"Content-Type": "text/plain; charset=utf-8"}
# Hop-by-hop headers (RFC 9110 section 7.6.1) stay with their own connection.
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}


@dataclass(frozen=True)
class Seen:
    """One request the proxy received, and the fault it got (None when passed through)."""

    method: str
    path: str
    fault: str | None


@dataclass
class _Rule:
    """A fault waiting for requests whose path contains `path`."""

    path: str
    kind: str
    times: int
    status: int = 503
    seconds: float = 0.0
    forward: bool = True
    reset: int = 0
    limit: int = 0
    how: str = "drop"


class FaultProxy:
    """Serve the proxy on a free loopback port from daemon threads."""

    def __init__(self, upstream: str, *, timeout: float = 30.0) -> None:
        """Bind now, so `url` is known before `start`; `upstream` is the server's base URL."""
        parts = urlsplit(upstream)
        self.upstream = upstream.rstrip("/")
        self.upstream_netloc = parts.netloc
        self.timeout = timeout
        self.seen: list[Seen] = []
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="fault-proxy", daemon=True
        )

    def start(self) -> FaultProxy:
        """Start forwarding."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop forwarding and cut every held answer short."""
        self._stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        """Start on entering a `with` block."""
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        """Stop on leaving it."""
        self.stop()

    # -- faults ------------------------------------------------------------------------------

    def fail_next(self, path: str, *, status: int = 503, times: int = 1) -> None:
        """Answer the next `times` matching requests with `status`, not forwarding them."""
        self._add(_Rule(path, "fail", times, status=status))

    def rate_limit_next(
        self, path: str, *, reset: int | None = None, limit: int = 5000, times: int = 1
    ) -> None:
        """Answer 429 with the rate-limit headers; `reset` is epoch seconds (default: in 60 s)."""
        reset = int(time.time()) + 60 if reset is None else reset
        self._add(_Rule(path, "rate_limit", times, reset=reset, limit=limit))

    def delay_next(
        self, path: str, *, seconds: float, forward: bool = True, times: int = 1
    ) -> None:
        """Hold the answer `seconds`; forward first (the write happens) unless `forward=False`."""
        self._add(_Rule(path, "delay", times, seconds=seconds, forward=forward))

    def lose_answer_next(self, path: str, *, how: str = "drop", times: int = 1) -> None:
        """Forward, then drop the connection (`how="drop"`) or answer 502 (`how="502"`)."""
        if how not in ("drop", "502"):
            raise ValueError(f"how is 'drop' or '502', not {how!r}")
        self._add(_Rule(path, "lose_answer", times, how=how))

    def clear(self) -> None:
        """Forget every fault still waiting."""
        with self._lock:
            self._rules.clear()

    def paths(self, method: str | None = None) -> list[str]:
        """Return the paths seen so far, in order, optionally for one method only."""
        return [s.path for s in self.seen if method is None or s.method == method]

    def _add(self, rule: _Rule) -> None:
        """Queue a fault behind those already waiting."""
        with self._lock:
            self._rules.append(rule)

    def _take(self, method: str, path: str) -> _Rule | None:
        """Record a request and return the fault it gets, using one of the rule's turns."""
        with self._lock:
            rule = next((r for r in self._rules if r.times > 0 and r.path in path), None)
            if rule is not None:
                rule.times -= 1
                if rule.times == 0:
                    self._rules.remove(rule)
            self.seen.append(Seen(method, path, rule.kind if rule else None))
            return rule

    def _wait(self, seconds: float) -> None:
        """Sleep, waking early when the proxy stops."""
        self._stopping.wait(seconds)


def _handler_for(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    """Return a request handler class bound to `proxy`."""

    class Handler(BaseHTTPRequestHandler):
        """Forward one request, or break it as the proxy was told."""

        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            """Keep quiet: `proxy.seen` is the log."""

        def _handle(self) -> None:
            """Read the request, apply the next fault for it, and answer."""
            target = urlsplit(self.path)
            if target.scheme:
                # Proxy form (`GET http://host:port/path`): the client kept the server's URL.
                if target.scheme != "http" or target.hostname not in LOOPBACK:
                    self._reply(502, b"the fault proxy forwards to loopback only\n", TEXT)
                    return
                netloc, host_header = target.netloc, self.headers.get("Host", target.netloc)
            else:
                netloc = host_header = proxy.upstream_netloc
            path_and_query = target.path + (f"?{target.query}" if target.query else "")
            body = self._read_body()
            rule = proxy._take(self.command, target.path)

            if rule is not None and rule.kind == "fail":
                self._reply(rule.status, b'{"error":"InternalServerError","message":"fault"}')
                return
            if rule is not None and rule.kind == "rate_limit":
                self._reply(
                    429,
                    b'{"error":"RateLimitExceeded","message":"Rate Limit Exceeded"}',
                    {
                        "ratelimit-limit": str(rule.limit),
                        "ratelimit-remaining": "0",
                        "ratelimit-reset": str(rule.reset),
                        "ratelimit-policy": f"{rule.limit};w=300",
                    },
                )
                return
            if rule is not None and rule.kind == "delay" and not rule.forward:
                proxy._wait(rule.seconds)
                self._drop()
                return

            try:
                status, headers, answer = self._forward(netloc, host_header, path_and_query, body)
            except OSError as exc:
                self._reply(502, f"the server behind the proxy failed: {exc}\n".encode(), TEXT)
                return

            if rule is not None and rule.kind == "delay":
                proxy._wait(rule.seconds)
            if rule is not None and rule.kind == "lose_answer":
                if rule.how == "drop":
                    self._drop()
                else:
                    self._reply(502, b"Bad Gateway\n", TEXT)
                return
            self._reply(status, answer, headers)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

        def _read_body(self) -> bytes:
            """Return the request body, whether sized or chunked."""
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass  # trailers
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _forward(
            self, netloc: str, host_header: str, path: str, body: bytes
        ) -> tuple[int, list[tuple[str, str]], bytes]:
            """Send the request on and return the server's status, headers and body."""
            host, _, port = netloc.rpartition(":")
            if host == "localhost":
                host = "127.0.0.1"  # the services bind 127.0.0.1 only
            connection = http.client.HTTPConnection(host, int(port), timeout=proxy.timeout)
            try:
                headers = {
                    name: value
                    for name, value in self.headers.items()
                    if name.lower() not in HOP_BY_HOP and name.lower() not in ("host",)
                }
                headers["Host"] = host_header
                if body or self.command in ("POST", "PUT", "PATCH"):
                    headers["Content-Length"] = str(len(body))
                connection.request(self.command, path, body=body or None, headers=headers)
                response = connection.getresponse()
                answer = response.read()
                kept = [
                    (name, value)
                    for name, value in response.getheaders()
                    if name.lower() not in HOP_BY_HOP and name.lower() != "content-length"
                ]
                return response.status, kept, answer
            finally:
                connection.close()

        def _reply(
            self,
            status: int,
            body: bytes,
            headers: list[tuple[str, str]] | dict[str, str] | None = None,
        ) -> None:
            """Answer with `status`, the headers and a sized body."""
            self.send_response(status)
            items = headers.items() if isinstance(headers, dict) else headers or []
            names = set()
            for name, value in items:
                self.send_header(name, value)
                names.add(name.lower())
            if "content-type" not in names and body:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _drop(self) -> None:
            """Close the connection without answering."""
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # the client left first

    return Handler

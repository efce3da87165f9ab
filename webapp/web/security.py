"""Security headers, Secure cookies under https, the proxy in front, and hostile input."""

from __future__ import annotations

import base64
import hashlib
import re

from flask import Flask, Response, abort, request
from flask.json.provider import DefaultJSONProvider
from flask.sessions import SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix


def content_security_policy(form_action: str = "'self'") -> str:
    """Return our policy: nothing from elsewhere, no inline script, never framed."""
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'",
            f"form-action {form_action}",
            "base-uri 'none'",
            "object-src 'none'",
            "frame-ancestors 'none'",
        ]
    )


CONTENT_SECURITY_POLICY = content_security_policy()


def embed_policy(style_hashes: list[str]) -> str:
    """Return the widget's policy: any site may frame it, and it loads nothing at all."""
    styles = " ".join(f"'sha256-{digest}'" for digest in style_hashes) or "'none'"
    return "; ".join(
        [
            "default-src 'none'",
            f"style-src {styles}",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors *",
        ]
    )


def allow_framing(response: Response) -> Response:
    """Let any site frame this page, allowing only the <style> blocks our template wrote.

    People's words are always escaped, so every <style> in the page is the template's own.
    """
    page = response.get_data(as_text=True)
    digests = [
        base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
        for css in re.findall(r"<style>(.*?)</style>", page, re.S)
    ]
    response.headers["Content-Security-Policy"] = embed_policy(digests)
    return response


class SessionInterface(SecureCookieSessionInterface):
    """Mark the session cookie Secure whenever the request came over https."""

    def get_cookie_secure(self, app: Flask) -> bool:
        """Return True under https or when configured."""
        return bool(app.config["SESSION_COOKIE_SECURE"] or request.is_secure)


class JSONProvider(DefaultJSONProvider):
    """Read JSON bodies, taking JSON nested past Python's recursion limit as malformed."""

    def loads(self, s: str | bytes, **kwargs):
        """Parse JSON; nesting too deep to parse is a ValueError, like any other bad JSON."""
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


def init_app(app: Flask) -> None:
    """Trust the configured proxies, refuse NUL bytes and files, and add the headers."""
    app.session_interface = SessionInterface()
    app.json = JSONProvider(app)
    hops = int(app.config.get("PROXY_FIX_HOPS", 0))
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    app.before_request(refuse_nul_bytes)
    app.before_request(refuse_files)
    app.after_request(add_security_headers)
    app.after_request(secure_cookies_under_https)


def refuse_nul_bytes() -> None:
    """Turn away NUL characters anywhere in the request: no text of ours contains one."""
    values = [request.path, *request.args.keys(), *request.args.values()]
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        values += [*request.form.keys(), *request.form.values()]
    if any("\x00" in value for value in values):
        abort(400, description="That request contained a NUL character, which no text needs.")


def refuse_files() -> None:
    """Turn away uploaded files: no form here takes one, and a file where text belongs breaks it."""
    if request.mimetype == "multipart/form-data" and request.files:
        abort(400, description="That form sent a file, but nothing here takes files: send text.")


def add_security_headers(response: Response) -> Response:
    """Add headers against framing (the widget aside), sniffing and leaking referrers."""
    policy = response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    if "frame-ancestors *" not in policy:
        response.headers.setdefault("X-Frame-Options", "DENY")
    return response


def secure_cookies_under_https(response: Response) -> Response:
    """Mark the cookies set so far (remember me) Secure when the request came over https."""
    if request.is_secure:
        cookies = response.headers.getlist("Set-Cookie")
        response.headers.remove("Set-Cookie")
        for cookie in cookies:
            if "; secure" not in cookie.lower():
                cookie += "; Secure"
            response.headers.add("Set-Cookie", cookie)
    return response

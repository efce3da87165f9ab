"""The web app manifest, the service worker, the offline page, a fresh CSRF token, and sharing."""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from webapp.infra.http import ServerProblem
from webapp.networks.mastodon.servers import parse_server
from webapp.pwa.forms import MastodonShareForm
from webapp.pwa.share import query, share_links
from webapp.web.security import content_security_policy

bp = Blueprint("pwa", __name__)

THEME_COLOR = "#13795b"
BACKGROUND_COLOR = "#f7f6f2"
# What the service worker keeps for offline use: the page it falls back on and what it needs.
SHELL_FILES = (
    "style.css",
    "app.js",
    "compose.js",
    "icon.svg",
    "icons/icon-192.png",
    "icons/icon-512.png",
    "icons/maskable-512.png",
    "icons/apple-touch-icon.png",
)


@bp.app_template_global("share_links")
def share_links_global(url: str, text: str) -> list[tuple[str, str]]:
    """Make share_links available to every template."""
    return share_links(url, text)


def manifest_icon(name: str, size: str, purpose: str = "any") -> dict[str, str]:
    """Describe one of the app's PNG icons."""
    return {
        "src": url_for("static", filename=f"icons/{name}"),
        "sizes": size,
        "type": "image/png",
        "purpose": purpose,
    }


@bp.get("/manifest.webmanifest")
def manifest():
    """Describe the app to phones that install it, including its place in the share sheet."""
    body = {
        "id": url_for("main.index"),
        "name": "Praisewall",
        "short_name": "Praisewall",
        "description": "Say in public when a business served you well, or badly.",
        "lang": "en",
        "start_url": url_for("main.index"),
        "scope": url_for("main.index"),
        "display": "standalone",
        "orientation": "portrait",
        "theme_color": THEME_COLOR,
        "background_color": BACKGROUND_COLOR,
        "icons": [
            manifest_icon("icon-192.png", "192x192"),
            manifest_icon("icon-512.png", "512x512"),
            manifest_icon("maskable-512.png", "512x512", "maskable"),
        ],
        "shortcuts": [
            {"name": "Log a win", "url": url_for("posts.new", kind="praise")},
            {"name": "Log a complaint", "url": url_for("posts.new", kind="complaint")},
        ],
        "share_target": {
            "action": url_for("posts.new"),
            "method": "GET",
            "params": {"title": "title", "text": "text", "url": "url"},
        },
    }
    response = jsonify(body)
    response.mimetype = "application/manifest+json"
    response.cache_control.public = True
    response.cache_control.max_age = 86400
    return response


def shell_version() -> str:
    """Fingerprint the shell's files, so any change to them installs a new service worker."""
    digest = hashlib.sha256()
    static = Path(current_app.static_folder)
    for name in SHELL_FILES:
        digest.update(name.encode() + b"\0" + (static / name).read_bytes())
    for name in ("offline.html", "pwa/sw.js"):
        source = current_app.jinja_loader.get_source(current_app.jinja_env, name)[0]
        digest.update(name.encode() + b"\0" + source.encode())
    return digest.hexdigest()[:16]


@bp.get("/sw.js")
def service_worker():
    """Serve the service worker from the root, so it looks after every page."""
    body = render_template(  # nosec B604 # "shell" is a template variable
        "pwa/sw.js",
        version=shell_version(),
        offline_url=url_for("pwa.offline"),
        static_prefix=url_for("static", filename=""),
        shell=[url_for("static", filename=name) for name in SHELL_FILES],
    )
    response = make_response(body)
    response.mimetype = "text/javascript"
    # Browsers look for a new worker on every visit; let them always get the latest.
    response.cache_control.no_cache = True
    return response


@bp.get("/offline")
def offline():
    """The page the service worker shows when a page can't be reached."""
    response = make_response(render_template("offline.html"))
    response.cache_control.no_cache = True
    return response


@bp.get("/csrf-token")
def csrf_token():
    """Give the outbox a fresh CSRF token (and who is signed in) to send a waiting post with."""
    response = jsonify(
        csrf_token=generate_csrf(),
        user=str(current_user.id) if current_user.is_authenticated else None,
    )
    response.cache_control.no_store = True
    return response


@bp.get("/share/mastodon")
def share_mastodon():
    """Ask which Mastodon server to share on, then hand the text to that server's share page."""
    form = MastodonShareForm(request.args)
    target = None
    if "server" not in request.args:
        form.text.data = (form.text.data or "")[: MastodonShareForm.TEXT_MAX]
        account = current_user.mastodon_account if current_user.is_authenticated else None
        if account is not None:
            form.server.data = account.server.base_url.split("://", 1)[1]
    elif form.validate():
        try:
            base = parse_server(form.server.data)
        except ServerProblem as problem:
            form.server.errors.append(str(problem))
        else:
            target = f"{base}/share?{query({'text': form.text.data or ''})}"
            # Straight there from our own form; a link from elsewhere shows where it leads first.
            if request.headers.get("Sec-Fetch-Site") == "same-origin":
                return redirect(target)
    status = 422 if form.errors else 200
    target_host = urlsplit(target).netloc if target else None
    page = render_template(
        "pwa/share_mastodon.html", form=form, target=target, target_host=target_host
    )
    response = make_response(page, status)
    # Browsers hold the redirect after this form to form-action too, and it goes to the
    # person's own server, wherever that is.
    response.headers["Content-Security-Policy"] = content_security_policy("'self' https:")
    return response

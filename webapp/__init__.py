"""Praisewall: say in public when a business served you well or badly."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.routing import IntegerConverter

ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the application: settings, extensions, blueprints and commands."""
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=os.environ.get("WEBAPP_INSTANCE_PATH", str(ROOT / "instance")),
        instance_relative_config=True,
    )
    app.config.from_object("webapp.config.DefaultConfig")
    if test_config is None:
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        app.config.from_pyfile("config.py", silent=True)
        if os.environ.get("DATABASE_URL"):
            app.config["SQLALCHEMY_DATABASE_URI"] = database_url(os.environ["DATABASE_URL"])
        if os.environ.get("REDIS_URL"):
            app.config["RATELIMIT_STORAGE_URI"] = os.environ["REDIS_URL"]
            app.config["FRAGMENT_CACHE_REDIS_URL"] = os.environ["REDIS_URL"]
        app.config.from_prefixed_env("WEBAPP")
        if not app.config.get("SECRET_KEY"):
            app.config["SECRET_KEY"] = instance_secret(app, "secret_key")
    else:
        app.config.update(test_config)

    from webapp import extensions
    from webapp.web import compression, errors, page_cache, security, static_files

    app.url_map.converters["int"] = DatabaseId

    # Inside the proxy fix (set up next), so kept pages are told apart by the real host and scheme.
    page_cache.init_app(app)
    # First, so its after-request hooks run last and see every cookie set.
    security.init_app(app)
    # Next, so it compresses only after every later-registered hook has had the body.
    compression.init_app(app)
    static_files.init_app(app)
    from webapp.infra import db_setup

    db_setup.engine_options(app)
    extensions.db.init_app(app)
    extensions.migrate.init_app(app, extensions.db, directory=str(ROOT / "webapp" / "migrations"))
    extensions.csrf.init_app(app)
    extensions.limiter.init_app(app)
    extensions.login_manager.init_app(app)
    extensions.login_manager.login_view = "auth.login"
    extensions.login_manager.login_message = "Please log in to do that."
    extensions.login_manager.login_message_category = "info"
    errors.init_app(app)

    # fragment_scopes is imported for its listeners: they tell the cache of every change.
    from webapp.infra import crypto, fragment_scopes, fragments, queue  # noqa: F401

    db_setup.init_app(app)
    crypto.init_app(app)
    fragments.init_app(app)
    queue.init_app(app)
    from webapp import tasks  # noqa: F401  (registers the tasks with the queue)
    from webapp.api.routes import bp as api_bp
    from webapp.auth.bluesky_routes import bp as bluesky_bp
    from webapp.auth.mastodon_routes import bp as mastodon_bp
    from webapp.auth.passkey_routes import bp as passkeys_bp
    from webapp.auth.routes import bp as auth_bp
    from webapp.businesses.routes import bp as businesses_bp
    from webapp.challenge.routes import bp as challenge_bp
    from webapp.feeds.routes import bp as feeds_bp
    from webapp.main.routes import bp as main_bp
    from webapp.moderation.routes import bp as moderation_bp
    from webapp.owners.routes import bp as owners_bp
    from webapp.posts.routes import bp as posts_bp
    from webapp.pwa.routes import bp as pwa_bp
    from webapp.settings.routes import bp as settings_bp

    for blueprint in (
        main_bp,
        auth_bp,
        mastodon_bp,
        bluesky_bp,
        passkeys_bp,
        posts_bp,
        businesses_bp,
        owners_bp,
        challenge_bp,
        feeds_bp,
        moderation_bp,
        settings_bp,
        pwa_bp,
    ):
        app.register_blueprint(blueprint)
    app.register_blueprint(api_bp, url_prefix="/api/v1")

    from webapp import cli
    from webapp.web import template_helpers

    cli.init_app(app)
    template_helpers.init_app(app)
    return app


class DatabaseId(IntegerConverter):
    """An <int:...> URL part that fits a database id, so huge numbers are a 404, not a crash."""

    regex = r"[0-9]+"

    def __init__(self, url_map, fixed_digits=0, min=None, max=None, signed=False):
        """Cap the number at the largest database id."""
        from webapp.models import MAX_ID

        super().__init__(url_map, fixed_digits=fixed_digits, min=min, max=MAX_ID, signed=signed)


def database_url(url: str) -> str:
    """Point a plain postgres:// URL at the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def instance_secret(app: Flask, name: str) -> str:
    """Read a secret from instance/, generating it on first use."""
    path = Path(app.instance_path) / name
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()

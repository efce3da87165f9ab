"""The app for `flask` commands run from this folder (found without --app) and for WSGI servers."""

from webapp import create_app

__all__ = ["create_app"]

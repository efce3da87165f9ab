"""The base of every form: Flask-WTF's, with a CSRF field that fits several forms on a page."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import Field


class Form(FlaskForm):
    """A Flask-WTF form whose hidden CSRF token is rendered without an id."""

    class Meta:
        """Rendering options shared by every form."""

        def render_field(self, field: Field, render_kw: dict) -> str:
            """Render a field; the CSRF token gets no id, since a page may have several forms."""
            if field.type == "CSRFTokenField":
                render_kw = {"id": False, **render_kw}
            return super().render_field(field, render_kw)

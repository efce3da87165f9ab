"""Demo data: a believable community to try the site with (`flask demo-data`)."""

from __future__ import annotations

from webapp.demo.generate import fill

__all__ = ["fill"]

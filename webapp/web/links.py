"""Links that lists repeat for every post, built without the routing map's work each time."""

from __future__ import annotations

from flask import has_request_context, request, url_for
from werkzeug.routing import BaseConverter, IntegerConverter, Map, UnicodeConverter

# Host names a process remembers prefixes for; a flood of made-up Host headers stops here.
MAX_PREFIXES = 64
MAX_FIXED = 2048  # links times script roots


class PathBuilder:
    """Build one endpoint's URL from its one argument exactly as url_for does, but from a
    prefix worked out once per script root (or host, for full URLs): a list of posts repeats
    three links per post, and the routing map's build cost a tenth of a wall's rendering.
    """

    def __init__(self, endpoint: str, argument: str, converter: type[BaseConverter]):
        """Build URLs of `endpoint`, whose rule ends with `argument` (of that converter)."""
        self.endpoint = endpoint
        self.argument = argument
        self.to_url = converter(Map()).to_url
        self.prefixes: dict[tuple[bool, str], str | None] = {}

    def __call__(self, value: object, _external: bool = False) -> str:
        """Return the URL url_for would give for this value, with the host when _external."""
        if not has_request_context():
            return url_for(self.endpoint, _external=_external, **{self.argument: value})
        key = (_external, request.url_root if _external else request.script_root)
        prefix = self.prefixes[key] if key in self.prefixes else self.learn(key)
        if not prefix:
            return url_for(self.endpoint, _external=_external, **{self.argument: value})
        return prefix + self.to_url(value)

    def learn(self, key: tuple[bool, str]) -> str | None:
        """Work out what comes before the argument; None when the rule doesn't end with it
        (then every call asks url_for)."""
        if len(self.prefixes) >= MAX_PREFIXES:
            return None
        prefixes = set()
        for sample in (1, 23):
            url = url_for(self.endpoint, _external=key[0], **{self.argument: sample})
            tail = self.to_url(sample)
            prefixes.add(url[: -len(tail)] if url.endswith(tail) else None)
        prefix = prefixes.pop() if len(prefixes) == 1 else None
        self.prefixes[key] = prefix
        return prefix


class FixedLinks:
    """URLs that never change while the process lives (the layout's links and its static
    files), worked out once per script root: every page repeats about fifteen of them."""

    def __init__(self) -> None:
        """Start with none known."""
        self.known: dict[tuple[str, str, str], str] = {}

    def __call__(self, endpoint: str, filename: str = "") -> str:
        """Return url_for(endpoint), or url_for("static", filename=...) for a static file."""
        values = {"filename": filename} if filename else {}
        if not has_request_context():
            return url_for(endpoint, **values)
        key = (request.script_root, endpoint, filename)
        found = self.known.get(key)
        if found is None:
            found = url_for(endpoint, **values)
            if len(self.known) < MAX_FIXED:
                self.known[key] = found
        return found


fixed_url = FixedLinks()
post_url = PathBuilder("posts.show", "post_id", IntegerConverter)
profile_url = PathBuilder("main.profile", "username", UnicodeConverter)
wall_url = PathBuilder("businesses.wall", "slug", UnicodeConverter)

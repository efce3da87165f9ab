"""Every page's markup: valid HTML by the W3C Nu checker, unique ids, a label for every control.

The pages are those of tests/site_pages.py: the whole URL map for each kind of person, plus
forms sent wrong so their messages show.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess  # nosec B404 # runs the pinned checker on files we wrote
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import Flask

from tests.site_pages import Community, build_community, html_pages

VNU = Path(__file__).resolve().parent / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
ON_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")  # as conftest's
# Inputs a person doesn't fill in, so they need no label.
UNLABELLED_TYPES = {"hidden", "submit", "button", "reset", "image"}


@pytest.fixture
def pages(csrf_app: Flask) -> dict[str, str]:
    """Return every page each kind of person sees, by "role path", as the HTML served."""
    community: Community = build_community()
    return dict(html_pages(csrf_app, community))


class Controls(HTMLParser):
    """Read a page's ids, labels and form controls."""

    def __init__(self) -> None:
        """Start with nothing seen."""
        super().__init__(convert_charrefs=True)
        self.ids: Counter[str] = Counter()
        self.label_for: list[str] = []
        self.references: list[tuple[str, str]] = []  # (attribute, id it names)
        self.controls: list[dict[str, str]] = []
        self.open_labels: list[list[dict[str, str]]] = []  # the controls inside each label
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Note ids, labels, references between elements and controls."""
        attributes = {name: value or "" for name, value in attrs}
        if "id" in attributes:
            self.ids[attributes["id"]] += 1
        for name in ("aria-labelledby", "aria-describedby", "aria-controls", "list"):
            self.references += [(name, ref) for ref in attributes.get(name, "").split()]
        if tag == "label":
            if "for" in attributes:
                self.label_for.append(attributes["for"])
            self.open_labels.append([])
        elif tag in ("select", "textarea") or (
            tag == "input" and attributes.get("type", "text") not in UNLABELLED_TYPES
        ):
            control = {"tag": tag, **attributes}
            control["wrapped"] = "yes" if self.open_labels else ""
            self.controls.append(control)
            if self.open_labels:
                self.open_labels[-1].append(control)

    def handle_endtag(self, tag: str) -> None:
        """Close a label, which may name one control only."""
        if tag == "label" and self.open_labels:
            inside = self.open_labels.pop()
            if len(inside) > 1:
                self.problems.append(f"one <label> wraps {len(inside)} controls")

    def findings(self) -> list[str]:
        """Return what is wrong: repeated ids, dangling references, unlabelled controls."""
        problems = list(self.problems)
        problems += [f'id="{id_}" is used {n} times' for id_, n in self.ids.items() if n > 1]
        references = [("label for", ref) for ref in self.label_for] + self.references
        problems += [
            f'{name}="{ref}" names no element' for name, ref in references if ref not in self.ids
        ]
        labelled = Counter(self.label_for)
        for control in self.controls:
            if not self.has_label(control, labelled):
                name = control.get("name") or control.get("id") or "?"
                problems.append(f"<{control['tag']} name={name}> has no label of its own")
        return problems

    def has_label(self, control: dict[str, str], labelled: Counter[str]) -> bool:
        """Tell whether a control has a name of its own: a label, aria-label or aria-labelledby."""
        if control.get("aria-label", "").strip() or control.get("aria-labelledby", "").strip():
            return True
        own_id = control.get("id")
        return bool(control["wrapped"]) or (bool(own_id) and labelled[own_id] == 1)


def test_every_page_has_unique_ids_and_a_label_for_every_control(pages: dict[str, str]) -> None:
    """No id repeats on a page, and every control a person fills in has a label of its own."""
    assert len(pages) > 30, "too few pages collected"
    assert any(where.startswith("member /settings") for where in pages)
    findings = {}
    for where, html in pages.items():
        parser = Controls()
        parser.feed(html)
        parser.close()
        if problems := parser.findings():
            findings[where] = problems
    report = "\n".join(f"{where}:\n  " + "\n  ".join(lines) for where, lines in findings.items())
    assert not findings, f"pages with id or label problems:\n{report}"


def test_the_control_check_finds_what_it_should() -> None:
    """The check itself: a repeated id, a shared label, a bare control and a dangling reference."""
    parser = Controls()
    parser.feed(
        '<label for="password">Password</label><input id="password" type="password">'
        '<label for="password">Again</label><input id="password" type="password">'
        '<select name="sort"></select><input type="hidden" name="csrf_token">'
        '<label>Both <input name="a"><input name="b"></label>'
        '<input name="q" aria-label="Search" aria-describedby="gone">'
    )
    assert parser.findings() == [
        "one <label> wraps 2 controls",
        'id="password" is used 2 times',
        'aria-describedby="gone" names no element',
        "<input name=password> has no label of its own",
        "<input name=password> has no label of its own",
        "<select name=sort> has no label of its own",
    ]


def require_vnu() -> list[str]:
    """Return the command that runs the Nu HTML Checker; without it, fail on CI, skip elsewhere."""
    java = shutil.which("java")
    if java and VNU.is_file():
        return [java, "-jar", str(VNU)]
    reason = (
        "the Nu HTML Checker needs java (Debian's default-jre-headless) and vnu-jar "
        "(`npm ci --prefix tests`)"
    )
    if ON_CI:
        pytest.fail(f"{reason}. CI must run it.", pytrace=False)
    pytest.skip(reason)


def test_every_page_is_valid_html(pages: dict[str, str], tmp_path: Path) -> None:
    """The W3C Nu HTML Checker finds no error on any page, for anyone."""
    command = require_vnu()
    files = {}
    for n, (where, html) in enumerate(pages.items()):
        path = tmp_path / f"page-{n:03}.html"
        path.write_text(html, encoding="utf-8")
        files[path.name] = where
    # One run for every page: the Java virtual machine is slow to start.
    done = subprocess.run(  # nosec B603 # a fixed command on our own files
        [
            *command,
            "--format",
            "json",
            "--stdout",
            "--errors-only",
            *(str(tmp_path / name) for name in files),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.stdout, f"the checker said nothing: {done.stderr}"
    messages = json.loads(done.stdout)["messages"]
    errors = [
        f"{files[Path(m['url']).name]} line {m.get('lastLine', '?')}: {m['message']}"
        f" | {m.get('extract', '').strip()}"
        for m in messages
        if m["type"] != "info"
    ]
    assert not errors, f"{len(errors)} HTML errors:\n" + "\n".join(errors)

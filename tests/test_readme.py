"""The README's commands and examples work as written, copied into a fresh shell.

Every `flask` command line in the README's sh blocks, and every `flask …` it names in its text,
runs from the project folder with no FLASK_APP and nothing set but the instance folder; a new
line that doesn't run fails here, not for a newcomer.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from webapp import ROOT
from webapp.extensions import db
from webapp.services import api_tokens

README = (ROOT / "README.md").read_text()
FLASK = ROOT / ".venv" / "bin" / "flask"


def sh_blocks() -> list[str]:
    """Return the README's fenced sh blocks."""
    return re.findall(r"^```sh\n(.*?)^```", README, re.S | re.M)


def documented_commands() -> list[list[str]]:
    """Return each flask command the README gives, as words, placeholders and all."""
    lines = [line.strip() for block in sh_blocks() for line in block.splitlines()]
    lines = [line for line in lines if line.startswith((".venv/bin/flask ", "flask "))]
    lines += re.findall(r"`((?:\.venv/bin/)?flask [^`]+)`", README)
    commands: dict[tuple[str, ...], list[str]] = {}
    for line in lines:
        words = shlex.split(line, comments=True)
        commands.setdefault(tuple(words[1:]), words)  # `flask` and `.venv/bin/flask` alike
    return list(commands.values())


COMMANDS = documented_commands()


def test_the_readme_has_commands_to_check():
    """The parsing finds the Commands section's lines, so the check below proves something."""
    assert len(COMMANDS) >= 10
    assert [".venv/bin/flask", "create-admin", "NAME"] in COMMANDS
    assert ["flask", "backup"] in COMMANDS


@pytest.mark.parametrize("words", COMMANDS, ids=[" ".join(words) for words in COMMANDS])
def test_each_documented_flask_command_runs_as_written(words, tmp_path: Path):
    """`<command> --help` finds the app and its command with only the documented setup."""
    assert FLASK.exists(), "run `make run` or `make test` first: it makes .venv"
    env = {
        "PATH": f"{FLASK.parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "WEBAPP_INSTANCE_PATH": str(tmp_path / "instance"),
    }
    result = subprocess.run(
        [str(FLASK), *words[1:], "--help"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Usage: flask" in result.stdout
    assert "Could not locate a Flask application" not in output
    assert "Error" not in output


def test_the_api_example_posts_against_the_demo_data(client, runner, make_user):
    """`make demo`, then the README's curl body with a token: 201 and the post on the wall."""
    filled = runner.invoke(args=["demo-data"])
    assert filled.exit_code == 0, filled.output
    (curl,) = [block for block in sh_blocks() if "curl" in block]
    path = re.search(r"https?://[^/\s]+(/api/v1/\S+)", curl).group(1)
    body = json.loads(re.search(r"-d '([^']*)'", curl).group(1))
    made = api_tokens.create(make_user("newcomer"), "Phone shortcut")
    db.session.commit()

    response = client.post(path, json=body, headers={"Authorization": f"Bearer {made.plain}"})
    assert response.status_code == 201, response.text
    assert body["body"] in client.get(f"/b/{body['business']}").text

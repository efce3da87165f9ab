"""The code's layout explains itself, and a machine keeps its dependencies pointing one way.

`make lint` runs the import contracts (`lint-imports`, configured in pyproject.toml) and mypy on
the rules and the networks. These tests show that both would catch a mistake, by making one in a
copy of the package, and that the layout stays what the README says it is.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from webapp import ROOT

PACKAGE = ROOT / "webapp"
BIN = Path(sys.executable).parent


def readme_layout() -> str:
    """Return the README's layout block."""
    readme = (ROOT / "README.md").read_text()
    return re.search(r"^## Layout\n\n```\n(.*?)^```", readme, re.S | re.M).group(1)


def packages() -> list[str]:
    """Name every package in webapp/, as a path like webapp/networks/mastodon/."""
    found = []
    for init in sorted(PACKAGE.rglob("__init__.py")):
        folder = init.parent
        if "migrations" in folder.parts or folder == PACKAGE:
            continue
        found.append(f"{folder.relative_to(ROOT).as_posix()}/")
    return found


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    """Copy the package and its settings somewhere a mistake can be made safely."""
    shutil.copytree(PACKAGE, tmp_path / "webapp", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def run_tool(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run one of the lint tools from the virtualenv on the copy."""
    return subprocess.run(
        [str(BIN / name), *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(cwd)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_top_of_the_package_holds_only_what_everyone_opens():
    """No more than eight modules sit at the top of webapp/; the rest live in named folders."""
    top = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(top) <= 8, top


def test_the_readme_layout_names_every_package_on_its_own_line():
    """Each package has one line in the README's layout, so a newcomer can find it."""
    lines = readme_layout().splitlines()
    for package in packages():
        assert any(line.startswith(package + " ") for line in lines), package


def test_a_rule_that_imports_a_view_breaks_the_import_contracts(package_copy: Path):
    """A service importing a blueprint fails `lint-imports`, naming the contract it broke."""
    kept = run_tool("lint-imports", cwd=package_copy)
    assert kept.returncode == 0, kept.stdout + kept.stderr

    rules = package_copy / "webapp" / "services" / "challenge.py"
    rules.write_text(rules.read_text() + "\nfrom webapp.posts import routes  # noqa: E402,F401\n")
    broken = run_tool("lint-imports", cwd=package_copy)

    assert broken.returncode != 0
    assert "Services and networks never import views or blueprints BROKEN" in broken.stdout
    assert "webapp.services.challenge -> webapp.posts.routes" in broken.stdout


def test_an_import_cycle_breaks_the_import_contracts(package_copy: Path):
    """Two packages that import each other fail `lint-imports`."""
    models = package_copy / "webapp" / "models.py"
    models.write_text(models.read_text() + "\nfrom webapp.services import stats  # noqa: E402\n")
    broken = run_tool("lint-imports", cwd=package_copy)

    assert broken.returncode != 0
    assert "No import cycles between the packages and modules of webapp BROKEN" in broken.stdout


def test_a_type_error_in_the_rules_fails_the_type_check(package_copy: Path):
    """mypy, as `make lint` runs it, refuses a service that returns the wrong type."""
    rules = package_copy / "webapp" / "services" / "challenge.py"
    rules.write_text(
        rules.read_text()
        + '\n\ndef window_days() -> int:\n    """Say how long."""\n    return "7"\n'
    )
    broken = run_tool("mypy", "--cache-dir", str(package_copy / ".mypy"), cwd=package_copy)

    assert broken.returncode != 0
    assert 'Incompatible return value type (got "str", expected "int")' in broken.stdout
    assert "webapp/services/challenge.py" in broken.stdout


def test_posts_are_created_in_one_place():
    """One function builds every Post: the compose form, the API, the demo and the tests use it."""
    builders = []
    for path in PACKAGE.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "Post"
            ):
                builders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert len(builders) == 1, builders

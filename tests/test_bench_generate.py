"""bench/generate.py leaves nothing behind in the temporary folder, the secrets it made included."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from webapp import ROOT


def generate(tmp_path: Path, scratch: Path) -> subprocess.CompletedProcess:
    """Run the generator on a small SQLite database, its temporary files under `scratch`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("WEBAPP_")}
    env.pop("DATABASE_URL", None)
    env["TMPDIR"] = str(scratch)
    return subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "generate.py"),
            "--posts",
            "200",
            "--db",
            f"sqlite:///{tmp_path / 'bench.db'}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_generate_cleans_up_its_instance_folder(tmp_path):
    """Whether it fills the database or refuses a full one, its scratch folder is gone after."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    filled = generate(tmp_path, scratch)
    assert filled.returncode == 0, filled.stdout + filled.stderr
    assert "200 posts" in filled.stdout
    assert list(scratch.iterdir()) == []
    refused = generate(tmp_path, scratch)
    assert refused.returncode != 0 and "already has posts" in refused.stderr
    assert list(scratch.iterdir()) == []

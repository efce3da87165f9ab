"""Two web processes and two queue workers on PostgreSQL and Redis share sessions, limits and work.

Runs bench/scale_out.py, which starts real processes against its own database; see
bench/README.md, "Scale-out".
"""

from __future__ import annotations

import subprocess
import sys

import psycopg
import pytest
import redis
from conftest import ON_CI

from webapp import ROOT


def require_services() -> None:
    """Skip (or, on CI, fail) unless PostgreSQL and Redis answer on loopback."""
    missing = []
    try:
        psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", connect_timeout=3).close()
    except psycopg.OperationalError:
        missing.append("PostgreSQL on 127.0.0.1:5432")
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0", socket_connect_timeout=2)
    try:
        client.ping()
    except redis.ConnectionError:
        missing.append("Redis on 127.0.0.1:6379")
    finally:
        client.close()
    if missing:
        message = f"{' and '.join(missing)} not running: skipping the scale-out run"
        if ON_CI:
            pytest.fail(message + "; CI needs them")
        pytest.skip(message)


def test_two_web_processes_and_two_workers_share_the_load():
    """Sessions and login limits cross processes; 500 crossposts are each delivered once."""
    require_services()
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "scale_out.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all checks passed" in result.stdout

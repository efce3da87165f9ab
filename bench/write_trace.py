"""Run a `flask` command while timing every write transaction the app makes.

`posters.py --trace-writes` starts the server through this instead of `flask`. Each write
transaction (one that ran an INSERT, UPDATE or DELETE) becomes one line in the file named by
BENCH_WRITE_TRACE: the thread that ran it, how many statements it sent in all, how many of
them after its first write, how long that first write waited (on SQLite, for the write lock),
and how long the transaction then held the lock: from its first write's return until its
COMMIT or ROLLBACK returned.

    BENCH_WRITE_TRACE=trace.tsv python bench/write_trace.py serve --port 5000
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WRITES = ("INSERT", "UPDATE", "DELETE", "BEGIN IMMEDIATE")


class Trace:
    """What each open transaction has done so far, by DBAPI connection; lines to a file."""

    def __init__(self, path: str) -> None:
        """Append to the file at path."""
        self.path = path
        self.lock = threading.Lock()
        self.open: dict[int, dict] = {}

    def state(self, conn: sa.Connection) -> dict:
        """Return the running tally of the connection's transaction."""
        key = raw_id(conn.connection)
        return self.open.setdefault(key, {"statements": 0, "first_write": None, "locked": 0})

    def before(self, conn, cursor, statement, parameters, context, executemany) -> None:
        """Count a statement; note the first write's start."""
        state = self.state(conn)
        state["statements"] += 1
        if state["first_write"] is None and statement.lstrip().upper().startswith(WRITES):
            state["first_write"] = time.perf_counter()
            state["first_sql"] = " ".join(statement.split())[:40]
            state["waiting"] = True
        if state["first_write"] is not None:
            state["locked"] += 1

    def after(self, conn, cursor, statement, parameters, context, executemany) -> None:
        """Note how long the first write took: on SQLite, mostly waiting for the lock."""
        state = self.state(conn)
        if state.pop("waiting", False):
            state["wait"] = time.perf_counter() - state["first_write"]

    def end(self, key: int, how: str) -> None:
        """Write the transaction's line when it wrote; start the next one afresh."""
        state = self.open.pop(key, None)
        if not state or state["first_write"] is None:
            return
        # Held from when the first write got the lock (it returned) until the end returned.
        held = time.perf_counter() - state["first_write"] - state.get("wait", 0)
        line = (
            f"{threading.current_thread().name}\t{how}\t{state['statements']}\t"
            f"{state['locked']}\t{state.get('wait', 0) * 1000:.2f}\t{held * 1000:.2f}\t"
            f"{state['first_sql']}\n"
        )
        with self.lock, open(self.path, "a") as out:
            out.write(line)


def install(path: str) -> None:
    """Listen on every engine the app makes."""
    trace = Trace(path)
    sa.event.listen(Engine, "before_cursor_execute", trace.before)
    sa.event.listen(Engine, "after_cursor_execute", trace.after)
    # "commit" fires before the COMMIT itself: wrap the dialect's do_commit to time it too.
    for name, how in (("do_commit", "commit"), ("do_rollback", "rollback")):
        _wrap(trace, name, how)


def _wrap(trace: Trace, name: str, how: str) -> None:
    """Close a transaction's line after the dialect's commit or rollback returns."""
    from sqlalchemy.engine.default import DefaultDialect

    original = getattr(DefaultDialect, name)

    def wrapped(self, dbapi_connection):
        """Run the dialect's commit or rollback, then end the transaction's line."""
        try:
            return original(self, dbapi_connection)
        finally:
            trace.end(raw_id(dbapi_connection), how)

    setattr(DefaultDialect, name, wrapped)


def raw_id(connection) -> int:
    """Return the id of the driver's own connection behind a pool's proxy (or itself)."""
    return id(getattr(connection, "dbapi_connection", None) or connection)


def summary(path: str) -> str:
    """Summarise a trace file: per thread kind, counts and lock times."""
    rows = [line.rstrip("\n").split("\t") for line in open(path)]
    if not rows:
        return "no write transactions"
    out = [
        "| who | transactions | statements p50 | after first write p50 | "
        "wait p50 / p99 ms | held p50 / p99 / max ms | held in all s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    groups: dict[str, list] = {}
    for row in rows:
        who = "request" if "ThreadPool" in row[0] or row[0].startswith("Thread") else row[0]
        who = "worker" if "Worker" in row[0] or "worker" in row[0] else who
        groups.setdefault(f"{who} ({row[6].split()[0].lower()} first)", []).append(row)
    for who, items in sorted(groups.items()):
        statements = sorted(int(r[2]) for r in items)
        locked = sorted(int(r[3]) for r in items)
        waits = sorted(float(r[4]) for r in items)
        held = sorted(float(r[5]) for r in items)

        def q(values, p):
            return values[min(len(values) - 1, int(p / 100 * len(values)))]

        out.append(
            f"| {who} | {len(items)} | {q(statements, 50)} | {q(locked, 50)} | "
            f"{q(waits, 50):.1f} / {q(waits, 99):.1f} | "
            f"{q(held, 50):.1f} / {q(held, 99):.1f} / {held[-1]:.1f} | {sum(held) / 1000:.2f} |"
        )
    return "\n".join(out)


if __name__ == "__main__":
    install(os.environ["BENCH_WRITE_TRACE"])
    from flask.cli import main

    sys.argv[0] = "flask"
    main()

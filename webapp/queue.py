"""The task queue (Huey): SQLite in instance/ by default, Redis when REDIS_URL is set.

The database row is the source of truth for every delivery; a queued task only says
"look at row N now", so a lost task loses nothing (the sweep finds the row again).
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask
from huey import MemoryHuey
from huey.consumer import Consumer
from huey.storage import MemoryStorage, RedisStorage, SqliteStorage

# Storage is chosen in init_app, once settings are known.
huey = MemoryHuey("praisewall", results=False, utc=True)
_state: dict[str, Flask] = {}


def init_app(app: Flask) -> None:
    """Point the queue at the configured storage and remember the app its tasks run in."""
    backend = app.config.get("QUEUE_BACKEND") or (
        "redis" if os.environ.get("REDIS_URL") else "sqlite"
    )
    if backend == "memory":
        huey.storage = MemoryStorage(huey.name)
    elif backend == "redis":
        huey.storage = RedisStorage(huey.name, url=os.environ["REDIS_URL"])
    else:
        huey.storage = SqliteStorage(huey.name, filename=str(Path(app.instance_path) / "queue.db"))
    _state["app"] = app
    from webapp import tasks  # noqa: F401  (registers the tasks with huey)


def task_app() -> Flask:
    """Return the app that queued tasks run in."""
    return _state["app"]


class InProcessConsumer(Consumer):
    """A consumer that shares the web server's process, leaving its signals alone."""

    def _set_signal_handlers(self) -> None:
        """Leave signal handling to the web server."""


def start_in_process(workers: int = 2) -> Consumer:
    """Start worker threads (and the periodic scheduler) inside this process."""
    consumer = InProcessConsumer(huey, workers=workers, worker_type="thread")
    consumer.start()
    return consumer

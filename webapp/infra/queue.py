"""The task queue (Huey): SQLite in instance/ by default, Redis when REDIS_URL is set.

The database row is the source of truth for every delivery; a queued task only says
"look at row N now", so a lost task loses nothing (the sweep finds the row again).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from flask import Flask
from huey import MemoryHuey
from huey.consumer import Consumer
from huey.storage import MemoryStorage, RedisStorage, SqliteStorage

# Storage is chosen in init_app, once settings are known.
huey = MemoryHuey("praisewall", results=False, utc=True)
_state: dict[str, Flask] = {}
log = logging.getLogger("webapp.worker")
LOG_FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s"


def init_app(app: Flask) -> None:
    """Point the queue at the configured storage and remember the app its tasks run in."""
    backend = backend_name(app)
    if backend == "memory":
        huey.storage = MemoryStorage(huey.name)
    elif backend == "redis":
        huey.storage = RedisStorage(huey.name, url=os.environ["REDIS_URL"])
    else:
        huey.storage = SqliteStorage(huey.name, filename=str(Path(app.instance_path) / "queue.db"))
    _state["app"] = app


def backend_name(app: Flask) -> str:
    """Name the queue's storage: memory, redis or sqlite."""
    return app.config.get("QUEUE_BACKEND") or ("redis" if os.environ.get("REDIS_URL") else "sqlite")


def task_app() -> Flask:
    """Return the app that queued tasks run in."""
    return _state["app"]


class InProcessConsumer(Consumer):
    """A consumer that shares the web server's process, leaving its signals alone."""

    def _set_signal_handlers(self) -> None:
        """Leave signal handling to the web server."""


def start_in_process(workers: int = 2) -> Consumer:
    """Start worker threads (and the periodic scheduler) inside this process."""
    log_to_stderr()
    consumer = InProcessConsumer(huey, workers=workers, worker_type="thread")
    consumer.start()
    log.info("queue worker started in the web process: %s", where_and_how(workers))
    return consumer


def run_worker(workers: int) -> None:
    """Run the queue worker in the foreground until SIGINT or SIGTERM, saying what it does."""
    log_to_stderr()
    consumer = huey.create_consumer(workers=workers, worker_type="thread")
    log.info("Praisewall worker started: %s", where_and_how(workers))
    try:
        consumer.run()
    finally:
        log.info("Praisewall worker stopped")


def where_and_how(workers: int) -> str:
    """Describe the queue's storage and the worker threads, for the start line."""
    app = task_app()
    backend = backend_name(app)
    if backend == "sqlite":
        backend = f"sqlite ({Path(app.instance_path) / 'queue.db'})"
    return f"queue {backend}, {workers} worker thread{'s' if workers != 1 else ''}"


class _StderrHandler(logging.StreamHandler):
    """Write to whatever sys.stderr is when a line is written, as gunicorn's error log does."""

    @property
    def stream(self):
        """Return the current standard error."""
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        """Ignore: the stream is always the current standard error."""


def log_to_stderr(level: int = logging.INFO) -> None:
    """Send the app's log lines (deliveries, the worker's start and stop) to standard error.

    One line each, formatted like gunicorn's, so the web and worker logs read alike. The
    queue's own notices (a worker died, a stale lock) go there too, its chatter per task not.
    """
    from flask.logging import default_handler

    app_logger, queue_logger = logging.getLogger("webapp"), logging.getLogger("huey")
    app_logger.removeHandler(default_handler)
    app_logger.setLevel(level)
    if any(isinstance(handler, _StderrHandler) for handler in app_logger.handlers):
        return
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT, "%Y-%m-%d %H:%M:%S %z"))
    app_logger.addHandler(handler)
    queue_logger.addHandler(handler)
    queue_logger.setLevel(logging.WARNING)

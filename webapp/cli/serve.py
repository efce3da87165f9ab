"""`flask serve`: gunicorn with the queue worker inside, for one machine and few people.

One gunicorn worker process answers requests on threads and runs the queue consumer beside
them. One process, not several: the consumer must run exactly once (its scheduler queues the
periodic sweeps), and the SQLite database and queue take their writes best from one process.
The consumer starts in the worker after the fork, never in the master: threads don't survive a
fork, and a worker that gunicorn replaces takes its consumer with it and the new one starts its
own. For more than one machine's worth, run gunicorn and `flask worker` apart (see README).

Requests take turns to run (webapp/web/admission.py): a few at once, pages before posts. The
threads are many so that a request waits in that line, which is ordered, rather than in
gunicorn's, which is not.
"""

from __future__ import annotations

import gc
from collections.abc import Callable

from flask import Flask
from gunicorn.app.base import BaseApplication

from webapp.extensions import db
from webapp.infra import fragments, queue
from webapp.web.admission import Admission


def around_flask(app: Flask, middleware: Callable[[Callable], Callable]) -> None:
    """Wrap the app's own WSGI callable in a middleware, inside the page cache and proxy fix."""
    holder: object = app
    name = "wsgi_app"
    inner = app.wsgi_app
    while hasattr(inner, "app"):
        holder, name, inner = inner, "app", inner.app
    setattr(holder, name, middleware(inner))


# Objects allocated between young-generation collections (Python's default is 700). A request
# makes thousands (ORM rows, forms, template contexts) that are nearly all gone when it ends;
# collecting every 700 walked them again and again: 0.46 ms of CPU per post (form, post and its
# page), against 0.22 ms at 10,000, whose longest collection took 8 ms.
YOUNG_COLLECTION_EVERY = 10_000


# What the templates folder holds: pages, the service worker and the badge. Other files there
# (an editor's backup, a desktop's folder notes) are not templates and must not stop a start.
TEMPLATE_KINDS = ("html", "js", "svg")


def compile_templates(app: Flask) -> None:
    """Compile every template before the first request, not during it.

    Jinja compiles a template the first time a page renders it. When many people arrive at
    once, the first of them all wait behind that work: about 0.15 s of CPU for the compose
    form, a post's page and what they include.
    """
    for name in app.jinja_env.list_templates(extensions=TEMPLATE_KINDS):
        app.jinja_env.get_template(name)


def settle_collector() -> None:
    """In a serving process once loaded: hide start-up objects from the collector, collect less.

    The app's modules, templates and settings live as long as the process; left in view, every
    full collection walks all of them again, a 40 ms pause that lands on somebody's request.
    """
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, middle, old)


class Server(BaseApplication):
    """The app served by one threaded gunicorn worker that also runs the queue consumer."""

    def __init__(
        self, app: Flask, host: str, port: int, threads: int, workers: int, running: int
    ) -> None:
        """Remember the app and the settings; gunicorn reads them in load_config."""
        self.app = app
        around_flask(app, lambda inner: Admission(inner, running))
        # One process serves every request and runs the queue: it alone must hear of changes.
        app.config["ONE_PROCESS"] = True
        fragments.init_app(app)
        self.settings = {
            "bind": f"{host}:{port}",
            "workers": 1,
            "worker_class": "gthread",
            "threads": threads,
            "control_socket_disable": True,
            # Plain functions: gunicorn checks each hook's number of arguments.
            "post_worker_init": lambda worker: self.start_consumer(),
            "worker_exit": lambda arbiter, worker: self.stop_consumer(),
        }
        self.queue_workers = workers
        self.consumer = None
        super().__init__()

    def load_config(self) -> None:
        """Hand gunicorn our settings instead of a command line or a config file."""
        for name, value in self.settings.items():
            self.cfg.set(name, value)

    def load(self) -> Flask:
        """Return the app the `flask` command loaded."""
        return self.app

    def start_consumer(self) -> None:
        """In the worker, after the fork: fresh connections, compiled templates, the consumer."""
        with self.app.app_context():
            # Connections opened by the master must not be shared with the worker.
            db.engine.dispose(close=False)
        compile_templates(self.app)
        self.consumer = queue.start_in_process(self.queue_workers)
        settle_collector()

    def stop_consumer(self) -> None:
        """Let the consumer finish the tasks it is running before the worker exits."""
        if self.consumer is not None:
            self.consumer.stop(graceful=True)

"""Gunicorn settings, read when gunicorn starts in this folder: `gunicorn 'webapp:create_app()'`."""


def post_worker_init(worker) -> None:
    """Settle the garbage collector once the worker has loaded the app (see settle_collector)."""
    from webapp.cli.serve import settle_collector

    settle_collector()

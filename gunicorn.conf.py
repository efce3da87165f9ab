"""Gunicorn settings, read when gunicorn starts in this folder: `gunicorn 'webapp:create_app()'`."""


def post_worker_init(worker) -> None:
    """Once the worker has loaded the app: compile its templates, then settle the collector."""
    from webapp.cli.serve import compile_templates, settle_collector

    # With --reload and a broken module, gunicorn serves its own error page instead of the app.
    if hasattr(worker.wsgi, "jinja_env"):
        compile_templates(worker.wsgi)
    settle_collector()

"""`flask serve`, as `make run` starts it: gunicorn, not the development server, with the queue
worker in the same process delivering to the fake Mastodon server with nothing else started.

And key rotation as the README tells it: crossposting goes on while and after the keys change,
whether they live in instance/fernet_keys (as after `make run`) or in WEBAPP_FERNET_KEYS.
"""

from __future__ import annotations

import importlib.util
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
import sqlalchemy as sa
from conftest import PASSWORD, AuthActions, mastodon_sign_in, send
from cryptography.fernet import Fernet, InvalidToken
from helpers import clean_env, stop, templates_compiled
from test_faults import author_and_bakery, new_crosspost

from webapp import ROOT, tasks
from webapp.cli import serve
from webapp.extensions import db
from webapp.infra import crypto
from webapp.models import Crosspost, CrosspostState, MastodonAccount, MastodonServer
from webapp.services import accounts, businesses

WAIT_SECONDS = 30
STOP_SECONDS = 15


@dataclass
class Site:
    """A running `flask serve` and where its output goes."""

    url: str
    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        """Return what the server printed so far."""
        return self.log.read_text(errors="replace")


def free_port() -> int:
    """Return a loopback port nobody is listening on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def command_env(app, **extra: str) -> dict[str, str]:
    """Return the environment for a `flask` command on the test's instance folder and database.

    No WEBAPP_FERNET_KEYS and no FLASK_APP: the keys come from the instance's key file and the
    app is found as a person running the README's commands finds it.
    """
    env = clean_env()
    env.update(
        WEBAPP_INSTANCE_PATH=app.instance_path,
        WEBAPP_SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        WEBAPP_MASTODON_ALLOW_INSECURE="true",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


def flask(app, *args: str, **extra: str) -> subprocess.CompletedProcess:
    """Run a `flask` command from the project folder, as the README writes it."""
    return subprocess.run(
        [sys.executable, "-m", "flask", *args],
        cwd=ROOT,
        env=command_env(app, **extra),
        capture_output=True,
        text=True,
        timeout=120,
    )


def answers(url: str) -> bool:
    """Tell whether the page answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def wait_for(condition: Callable[[], bool], what: str, site: Site) -> None:
    """Poll until the condition holds, or fail with the server's output."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline or site.process.poll() is not None:
            pytest.fail(f"no {what}; the server said:\n{site.output()[-4000:]}")
        time.sleep(0.1)


@pytest.fixture
def app(instance_app, instance: Path):
    """Return an app on the server's database and SQLite queue, context pushed."""
    # The server reads its key from the file, as after `make run`; the test encrypts with it too.
    (instance / "fernet_keys").write_text(instance_app.config["FERNET_KEYS"] + "\n")
    return instance_app


@pytest.fixture
def site(app, tmp_path: Path) -> Iterator[Site]:
    """Start `flask serve` on a free port, as `make run` does, and stop it with Ctrl-C after."""
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "flask", "serve", "--port", str(port)],
            cwd=ROOT,
            env=command_env(app),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    site = Site(f"http://127.0.0.1:{port}", process, log)
    try:
        wait_for(lambda: answers(f"{site.url}/ping"), "answer from the server", site)
        yield site
    finally:
        if stop(process, STOP_SECONDS):
            pytest.fail(f"flask serve ignored Ctrl-C for {STOP_SECONDS} s")


@pytest.fixture
def erin_and_bakery(app, fake_mastodon, make_business):
    """Return a person connected to the fake server, and the business they praise."""
    return author_and_bakery(fake_mastodon, make_business, "erin")


def deliver(site: Site, fake_mastodon, person, number: int) -> Crosspost:
    """Queue a crosspost as the compose form does and wait for the server's worker to send it."""
    user, bakery = person
    row = new_crosspost(user, bakery, number)
    db.session.commit()
    tasks.enqueue(tasks.deliver, row.id)
    before = len(fake_mastodon.statuses)

    def settled() -> bool:
        """Tell whether the row left the pending state."""
        db.session.expire_all()
        return db.session.get(Crosspost, row.id).state != CrosspostState.PENDING

    wait_for(settled, f"delivery of crosspost {number}", site)
    row = db.session.get(Crosspost, row.id)
    assert row.state == CrosspostState.SENT, row.last_error
    assert len(fake_mastodon.statuses) == before + 1
    assert f"Praise number {number}" in fake_mastodon.statuses[-1]["status"]
    return row


def flask_serve_worker(app) -> None:
    """Start `flask serve`'s worker as gunicorn does after the fork (its consumer left out)."""
    serve.Server.start_consumer(SimpleNamespace(app=app, queue_workers=1))


def gunicorn_worker(app) -> None:
    """Run gunicorn.conf.py's hook, as each gunicorn worker does once it has loaded the app."""
    spec = importlib.util.spec_from_file_location("gunicorn_settings", ROOT / "gunicorn.conf.py")
    settings = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(settings)
    settings.post_worker_init(SimpleNamespace(wsgi=app))


@pytest.mark.parametrize("start", [flask_serve_worker, gunicorn_worker], ids=["serve", "gunicorn"])
def test_a_worker_compiles_every_template_before_its_first_request(make_app, monkeypatch, start):
    """However the site is served, a worker compiles its templates as it starts: no visitor waits
    for a template to compile."""
    monkeypatch.setattr(serve.queue, "start_in_process", lambda workers: None)
    # The collector's settings are the test run's own; only the templates matter here.
    monkeypatch.setattr(serve, "settle_collector", lambda: None)
    app = make_app(with_tables=False)
    start(app)
    compiled = templates_compiled(app, monkeypatch)
    serve.compile_templates(app)
    assert compiled == []


def test_serve_is_a_production_server_with_its_own_queue_worker(
    site, fake_mastodon, erin_and_bakery
):
    """Pages answer, nothing says "development server", and a queued status reaches Mastodon."""
    with urllib.request.urlopen(f"{site.url}/", timeout=5) as response:
        assert response.status == 200
        assert "Praisewall" in response.read().decode()
    deliver(site, fake_mastodon, erin_and_bakery, 1)
    output = site.output()
    assert "gunicorn" in output
    assert "development server" not in output.lower()
    assert "Do not use it in a production deployment" not in output


class SilentServer:
    """A server that takes connections and never answers them, until it is closed."""

    def __init__(self) -> None:
        """Listen on a loopback port and hold every connection made to it."""
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.held: list[socket.socket] = []
        self.holding = threading.Thread(target=self.hold, daemon=True)
        self.holding.start()

    def hold(self) -> None:
        """Accept connections and keep them open, saying nothing."""
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.held.append(connection)

    def close(self) -> None:
        """Stop listening and drop every connection, so whoever waits gets an answer."""
        self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self.holding.join()
        for connection in self.held:
            connection.close()


def start_mastodon_sign_in(site: Site, handle: str) -> threading.Thread:
    """Ask the site, from a browser of its own, to sign in with this handle; don't wait."""
    browser = requests.Session()
    page = browser.get(f"{site.url}/login/mastodon", timeout=30).text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)

    def sign_in() -> None:
        """Send the form and wait for the answer, however long it takes."""
        with browser:
            browser.post(
                f"{site.url}/login/mastodon",
                data={"csrf_token": token, "handle": handle},
                timeout=60,
            )

    thread = threading.Thread(target=sign_in, daemon=True)
    thread.start()
    return thread


def test_people_waiting_on_a_silent_server_do_not_hold_up_the_site(site):
    """Three sign-ins wait on a Mastodon server that never answers; meanwhile the site answers
    everyone else: only a few requests run at once, and one waiting elsewhere gives up its turn."""
    silent = SilentServer()
    try:
        waiting = [
            start_mastodon_sign_in(site, f"person{n}@127.0.0.1:{silent.port}") for n in range(3)
        ]
        wait_for(lambda: len(silent.held) == 3, "three sign-ins asking the silent server", site)
        with urllib.request.urlopen(f"{site.url}/", timeout=30) as response:
            assert response.status == 200
        assert all(thread.is_alive() for thread in waiting), "the sign-ins were answered first"
    finally:
        silent.close()
    for thread in waiting:
        thread.join(WAIT_SECONDS)


# --- Key rotation ---


def stored_secrets() -> list[str]:
    """Return every encrypted value in the database."""
    db.session.expire_all()
    values = list(db.session.scalars(sa.select(MastodonAccount.access_token)))
    for server in db.session.scalars(sa.select(MastodonServer)):
        values += [v for v in (server.client_id, server.client_secret) if v]
    return values


def readable_by(key: str, value: str) -> bool:
    """Tell whether this one key decrypts the value."""
    try:
        Fernet(key).decrypt(value.encode())
    except InvalidToken:
        return False
    return True


def test_rotating_the_key_file_while_the_site_runs_keeps_crossposting(
    app, instance, site, fake_mastodon, erin_and_bakery
):
    """`flask rotate-keys` adds a key to the file the running site reads; the site goes on
    delivering, and --retire then drops the old key without breaking it."""
    old_key = app.config["FERNET_KEYS"]
    deliver(site, fake_mastodon, erin_and_bakery, 1)

    rotated = flask(app, "rotate-keys")
    assert rotated.returncode == 0, rotated.stdout + rotated.stderr
    assert "Re-encrypted 1 secrets" in rotated.stdout
    keys = crypto.split_keys((instance / "fernet_keys").read_text())
    assert len(keys) == 2 and keys[1] == old_key
    assert all(readable_by(keys[0], value) for value in stored_secrets())
    assert oct((instance / "fernet_keys").stat().st_mode & 0o777) == "0o600"

    # The site holds only the old key in memory until it reads the file again.
    row = deliver(site, fake_mastodon, erin_and_bakery, 2)
    assert not row.account.needs_login

    retired = flask(app, "rotate-keys", "--retire")
    assert retired.returncode == 0, retired.stdout + retired.stderr
    assert crypto.split_keys((instance / "fernet_keys").read_text()) == keys[:1]
    deliver(site, fake_mastodon, erin_and_bakery, 3)


def test_rotating_with_other_keys_than_the_sites_file_is_refused(app, instance, erin_and_bakery):
    """The README's old advice, WEBAPP_FERNET_KEYS="NEW,OLD" beside a key file, is refused
    before anything is re-encrypted."""
    old_key = app.config["FERNET_KEYS"]
    before = stored_secrets()
    new_key = Fernet.generate_key().decode()
    refused = flask(app, "rotate-keys", WEBAPP_FERNET_KEYS=f"{new_key},{old_key}")
    assert refused.returncode != 0
    assert "instance" in refused.stderr and "without WEBAPP_FERNET_KEYS" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert stored_secrets() == before
    assert crypto.split_keys((instance / "fernet_keys").read_text()) == [old_key]


def test_retire_waits_until_nothing_needs_the_old_key(app, instance, erin_and_bakery):
    """With a secret still under an older key, --retire refuses and keeps every key."""
    old_key = app.config["FERNET_KEYS"]
    new_key = Fernet.generate_key().decode()
    (instance / "fernet_keys").write_text(f"{new_key}\n{old_key}\n")
    refused = flask(app, "rotate-keys", "--retire")
    assert refused.returncode != 0
    assert "1 stored secrets still need an older key" in refused.stderr
    assert crypto.split_keys((instance / "fernet_keys").read_text()) == [new_key, old_key]


def test_rotating_environment_keys_keeps_crossposting(
    make_app, fake_mastodon, tmp_path, monkeypatch
):
    """With WEBAPP_FERNET_KEYS="NEW,OLD" everywhere, the rotation re-encrypts under NEW and a
    site given only NEW afterwards still delivers."""
    monkeypatch.setenv("WEBAPP_INSTANCE_PATH", str(tmp_path))  # no key file there
    old_key = Fernet.generate_key().decode()
    new_key = Fernet.generate_key().decode()
    app = make_app(FERNET_KEYS=old_key)
    with app.app_context():
        client = app.test_client()
        accounts.create_user("alice", PASSWORD)
        db.session.commit()
        AuthActions(client).login()
        assert mastodon_sign_in(client, fake_mastodon).status_code == 302
        bakery = businesses.create_business("Corner Bakery", handle="@support@cornerbakery.example")
        db.session.commit()

        app.config["FERNET_KEYS"] = f"{new_key},{old_key}"
        crypto.init_app(app)
        send(client, bakery, body="Sent while both keys are given.")
        result = app.test_cli_runner().invoke(args=["rotate-keys"])
        assert result.exit_code == 0, result.output
        assert "Re-encrypted 3 secrets" in result.output
        assert all(readable_by(new_key, value) for value in stored_secrets())
        retired = app.test_cli_runner().invoke(args=["rotate-keys", "--retire"])
        assert retired.exit_code == 0 and "drop the others" in retired.output

        app.config["FERNET_KEYS"] = new_key
        crypto.init_app(app)
        row = send(client, bakery, body="Sent with the new key alone.")
        assert not row.account.needs_login
    assert len(fake_mastodon.statuses) == 2


def test_a_secret_no_key_reads_fails_the_rotation_and_is_left_alone(app, erin_and_bakery):
    """A token under a key nobody has is reported, not lost: the command fails and says why."""
    account = db.session.scalar(sa.select(MastodonAccount))
    stranger = Fernet(Fernet.generate_key()).encrypt(b"token").decode()
    account.access_token = stranger
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["rotate-keys"])
    assert result.exit_code != 0
    assert "1 stored secrets could be read by no key" in result.output
    assert stored_secrets()[0] == stranger

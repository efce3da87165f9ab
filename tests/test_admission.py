"""Requests take turns in `flask serve`: a few run at once, the one due first runs next (pages
soon, posts later), and a request stuck on something else stops holding its turn, while one
busy on the CPU keeps it.

Driven through the WSGI middleware itself with an app that runs until the test lets it finish,
so each test decides exactly who is running and who is waiting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from webapp.web.admission import Admission

SETTLE_SECONDS = 10


class Held:
    """A WSGI app whose requests run until the test lets each one finish."""

    def __init__(self) -> None:
        """Start with nobody inside."""
        self.lock = threading.Lock()
        self.order: list[str] = []  # names, in the order they started running
        self.finish: dict[str, threading.Event] = {}

    def __call__(self, environ: dict, start_response) -> list[bytes]:
        """Note that this request runs, then wait until the test lets it finish."""
        name = environ["PATH_INFO"].strip("/")
        with self.lock:
            self.order.append(name)
            done = self.finish.setdefault(name, threading.Event())
        if name.startswith("broken"):
            raise RuntimeError("the app failed")
        if name.startswith("busy"):
            # Works on the CPU until told to stop, as a long page would.
            while not done.is_set():
                sum(range(1000))
        done.wait(SETTLE_SECONDS)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [name.encode()]

    def let_finish(self, name: str) -> None:
        """Let this request finish."""
        with self.lock:
            self.finish.setdefault(name, threading.Event()).set()

    def running(self) -> list[str]:
        """Return the names that have started, in order."""
        with self.lock:
            return list(self.order)


@pytest.fixture
def held() -> Iterator[Held]:
    """Return the app, and let everything still inside finish after the test."""
    app = Held()
    yield app
    with app.lock:
        for done in app.finish.values():
            done.set()


def ask(site: Admission, method: str, name: str) -> threading.Thread:
    """Send one request to the site from a thread of its own, as a server's thread would."""

    def run() -> None:
        """Make the request and drop the answer."""
        try:
            site({"REQUEST_METHOD": method, "PATH_INFO": f"/{name}"}, lambda *args: None)
        except RuntimeError:
            pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def start(site: Admission, held: Held, name: str) -> None:
    """Send a page request that runs at once (nothing else is running or waiting); see it run."""
    ask(site, "GET", name)
    until(lambda: held.running()[-1:] == [name], f"{name} running")


def until(condition, what: str) -> None:
    """Wait until the condition holds, or fail saying what never happened."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"never happened: {what}")
        time.sleep(0.005)


def waiting(site: Admission) -> int:
    """Return how many requests wait in line."""
    with site.lock:
        return len(site.line)


def test_no_more_than_running_requests_run_at_once(held):
    """With two turns, a third and fourth request wait until one finishes."""
    site = Admission(held, running=2, stalled=60)
    for name in ("a", "b", "c", "d"):
        ask(site, "GET", name)
    until(lambda: waiting(site) == 2, "two requests waiting")
    assert held.running() == ["a", "b"]
    held.let_finish("a")
    until(lambda: len(held.running()) == 3, "a third request running")
    assert held.running() == ["a", "b", "c"]
    assert waiting(site) == 1


def test_a_page_goes_before_a_post_that_came_first(held):
    """While one request runs, a POST and then a GET arrive: the GET runs first."""
    site = Admission(held, running=1, stalled=60)
    start(site, held, "first")
    ask(site, "POST", "post")
    until(lambda: waiting(site) == 1, "the post waiting")
    ask(site, "GET", "page")
    until(lambda: waiting(site) == 2, "the page waiting")
    held.let_finish("first")
    until(lambda: len(held.running()) == 2, "a second request running")
    held.let_finish("page")
    until(lambda: len(held.running()) == 3, "the third request running")
    assert held.running() == ["first", "page", "post"]


def test_a_post_that_has_waited_long_goes_before_a_page_just_come(held):
    """A POST due before a later page (it came more than the difference earlier) runs first."""
    site = Admission(held, running=1, page_due=0.25, change_due=0.3, stalled=60)
    start(site, held, "first")
    ask(site, "POST", "post")
    until(lambda: waiting(site) == 1, "the post waiting")
    time.sleep(0.1)
    ask(site, "GET", "page")
    until(lambda: waiting(site) == 2, "the page waiting")
    held.let_finish("first")
    until(lambda: len(held.running()) == 2, "a second request running")
    assert held.running() == ["first", "post"]


def test_a_request_stuck_elsewhere_stops_holding_its_turn(held):
    """A request that runs past `stalled` (waiting on another server) lets the next one run."""
    site = Admission(held, running=1, stalled=0.05)
    start(site, held, "stuck")
    ask(site, "GET", "next")
    until(lambda: held.running() == ["stuck", "next"], "the next request running")


def test_a_request_busy_on_the_cpu_keeps_its_turn_however_long(held):
    """A request working past `stalled` still counts: the next one waits until it is done."""
    site = Admission(held, running=1, stalled=0.05)
    start(site, held, "busy")
    ask(site, "GET", "next")
    until(lambda: waiting(site) == 1, "the next request waiting")
    time.sleep(0.3)
    assert held.running() == ["busy"]
    held.let_finish("busy")
    until(lambda: held.running() == ["busy", "next"], "the next request running")


def test_a_failing_request_gives_its_turn_back(held):
    """An app that raises still hands the turn on to whoever waits."""
    site = Admission(held, running=1, stalled=60)
    start(site, held, "first")
    ask(site, "GET", "broken")
    ask(site, "GET", "after")
    until(lambda: waiting(site) == 2, "two requests waiting")
    held.let_finish("first")
    until(lambda: held.running() == ["first", "broken", "after"], "the request after it running")

"""Turns for requests in one process: a few run at once, and pages go before posts.

`flask serve` answers every request in one process, and Python runs one thread at a time in
it. Eight requests running at once only take turns at the CPU, each finishing late, and a post
holding SQLite's write lock waits behind pages for its turn. So at most `running` requests run
at a time and the rest wait in line, not for the CPU but here, where the line can be ordered:

- each request is due some time after it arrives: a page someone is waiting to see (GET,
  HEAD) soon, a change (POST and the rest), which a person expects to take a moment, later;
  whichever is due first runs next, so pages go before changes, but a change that has waited
  long goes before a page that has only just come;
- a request that has run for `stalled` seconds while its thread used little of the CPU is
  waiting on something else (another server, the database, SQLite's write lock) and no longer
  counts as running, so a slow server elsewhere can't hold the site up. A request busy on the
  CPU keeps its turn however long it takes: letting more in would only slow it down.

It sits inside the page cache, so a page kept for visitors is answered without waiting.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from time import monotonic

READS = frozenset({"GET", "HEAD", "OPTIONS"})
# Seconds after it arrives: the waits people are promised, a page in 0.3 s and a post in 1 s.
# When the line is long every request ends up late by about the same amount, so due times set
# at the promises leave each kind the same margin.
PAGE_DUE = 0.3
CHANGE_DUE = 1.0
# A request whose thread used less than this share of the time since it started is waiting.
BUSY_SHARE = 0.25

StartResponse = Callable[..., object]


@dataclass(eq=False)
class Turn:
    """One request: when it started running, its thread's CPU clock then, and its wake-up call."""

    started: float = 0.0
    clock: int | None = None
    cpu_at_start: float = 0.0
    woken: threading.Event = field(default_factory=threading.Event)

    def run_here(self) -> None:
        """Note the CPU clock of the thread that runs the request, now that it runs."""
        if hasattr(time, "pthread_getcpuclockid"):
            clock = time.pthread_getcpuclockid(threading.get_ident())
            self.cpu_at_start = time.clock_gettime(clock)
            self.clock = clock

    def waiting_elsewhere(self, now: float, stalled: float) -> bool:
        """Tell whether the request has run `stalled` seconds with its thread mostly idle."""
        elapsed = now - self.started
        if elapsed < stalled or self.clock is None:
            return False
        used = time.clock_gettime(self.clock) - self.cpu_at_start
        return used < elapsed * BUSY_SHARE


class Admission:
    """WSGI middleware that lets `running` requests run at once, pages first."""

    def __init__(
        self,
        app: Callable,
        running: int = 2,
        page_due: float = PAGE_DUE,
        change_due: float = CHANGE_DUE,
        stalled: float = 0.25,
    ) -> None:
        """Wrap a WSGI app (times in seconds)."""
        self.app = app
        self.running = running
        self.page_due = page_due
        self.change_due = change_due
        self.stalled = stalled
        self.lock = threading.Lock()
        self.active: set[Turn] = set()
        self.line: list[tuple[float, int, Turn]] = []  # a heap: the first due first
        self.arrivals = itertools.count()

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        """Wait for this request's turn, run it, and hand the turn on."""
        turn = self.enter(environ.get("REQUEST_METHOD", "GET") in READS)
        turn.run_here()
        try:
            return self.app(environ, start_response)
        finally:
            self.leave(turn)

    def enter(self, read: bool) -> Turn:
        """Return once this request may run."""
        now = monotonic()
        turn = Turn()
        due = now + (self.page_due if read else self.change_due)
        with self.lock:
            heapq.heappush(self.line, (due, next(self.arrivals), turn))
            self.admit(now)
        # Woken when a turn is handed on; looking again now and then notices requests that wait.
        while not turn.woken.wait(self.stalled):
            with self.lock:
                self.admit(monotonic())
        return turn

    def leave(self, turn: Turn) -> None:
        """Give the turn back and let the next in line run."""
        with self.lock:
            self.active.discard(turn)
            self.admit(monotonic())

    def admit(self, now: float) -> None:
        """Let the next in line run while fewer than `running` are (call with the lock held)."""
        busy = sum(1 for turn in self.active if not turn.waiting_elsewhere(now, self.stalled))
        while busy < self.running and self.line:
            _, _, turn = heapq.heappop(self.line)
            turn.started = now
            self.active.add(turn)
            turn.woken.set()
            busy += 1

"""``koppel worker --processes N``: keeps N worker processes running.

A worker process that dies (killed by the kernel for memory, a crash in a library) is replaced,
as Dramatiq's own command does: its unacknowledged messages go back to the broker and the new
process takes them. One that dies again soon after starting (the database unreachable, a
broken install) is restarted after a growing wait, so a fault that persists costs a log line
now and then, not a process a second; the wait starts over once a process has stayed up.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Callable, Sequence

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backoff:
    first: float = 1.0  # seconds before restarting a process that died young
    longest: float = 60.0
    healthy_after: float = 30.0  # a process up this long died of something new: no wait

    def delay(self, early_deaths: int) -> float:
        """The wait before the next start, after ``early_deaths`` deaths in a row."""
        if early_deaths <= 0:
            return 0.0
        return min(self.longest, self.first * 2 ** (early_deaths - 1))


@dataclass
class _Slot:
    number: int
    process: subprocess.Popen | None = None
    started: float = 0.0
    early_deaths: int = 0
    start_at: float = 0.0


class Supervisor:
    def __init__(self, command: Sequence[str], processes: int, backoff: Backoff = Backoff(),
                 spawn: Callable[[Sequence[str]], subprocess.Popen] = subprocess.Popen,
                 poll: float = 0.2) -> None:
        self.command = list(command)
        self.backoff = backoff
        self.spawn = spawn
        self.poll = poll
        self.slots = [_Slot(n + 1) for n in range(processes)]
        self.stopping = threading.Event()

    def run(self) -> int:
        """Until SIGTERM or SIGINT, which is passed on to every worker process."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._stop)
        while not self.stopping.is_set():
            self.step(time.monotonic())
            self.stopping.wait(self.poll)
        return self._wait_for_children()

    def step(self, now: float) -> None:
        """Start what is due, notice what died."""
        for slot in self.slots:
            if slot.process is None:
                if now >= slot.start_at and not self.stopping.is_set():
                    slot.process = self.spawn(self.command)
                    slot.started = now
                    log.info("worker process %d started (pid %d)", slot.number,
                             slot.process.pid)
                continue
            code = slot.process.poll()
            if code is None:
                continue
            lived = now - slot.started
            slot.early_deaths = slot.early_deaths + 1 if lived < self.backoff.healthy_after else 0
            wait = self.backoff.delay(slot.early_deaths)
            log.warning("worker process %d (pid %d) %s after %.1f s; starting a new one in "
                        "%.0f s", slot.number, slot.process.pid, _how(code), lived, wait)
            slot.process = None
            slot.start_at = now + wait

    def _stop(self, sig, _frame) -> None:
        self.stopping.set()
        for slot in self.slots:
            if slot.process is not None and slot.process.poll() is None:
                slot.process.send_signal(sig)

    def _wait_for_children(self) -> int:
        codes = [slot.process.wait() for slot in self.slots if slot.process is not None]
        return 0 if all(code in (0, -signal.SIGTERM, -signal.SIGINT) for code in codes) else 1


def _how(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"

"""Sends broker messages from one long-lived thread.

Web servers answer each request on a thread of its own, and Dramatiq's RabbitMQ broker keeps
a connection per thread that it never closes when the thread ends: sending from request threads
would open a connection per webhook. Handing the message to this thread keeps one connection.
The webhook is already in the inbox when it is handed over, so a message lost here (a crash, a
broker outage) is sent again by the dispatcher (I2).
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Callable

log = logging.getLogger(__name__)

_STOP = object()


class Publisher:
    def __init__(self, name: str = "publisher") -> None:
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def publish(self, send: Callable[..., object], *args) -> None:
        self._queue.put((send, args))

    def drain(self, timeout: float = 10.0) -> None:
        """Wait until everything handed over so far was sent (or failed and was logged)."""
        done = threading.Event()
        self._queue.put((lambda: done.set(), ()))
        done.wait(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def _run(self) -> None:
        while (item := self._queue.get()) is not _STOP:
            send, args = item
            try:
                send(*args)
            except Exception:  # the inbox keeps the promise; the dispatcher resends
                log.exception("sending to the broker failed; the dispatcher will resend it")

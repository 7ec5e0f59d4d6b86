"""``koppel serve``'s web server: gunicorn, not Werkzeug's development server.

Process model. The gunicorn master only binds the port and watches its workers; it never builds
koppel. Each worker process builds its own Runtime after the fork (``load`` runs in the worker,
as ``preload_app`` is off): its database pools, its broker connection and its publisher thread
(workers/publisher.py) belong to that process alone, because neither sockets nor threads survive
a fork. In production a worker takes webhooks (inbox row, then one message to the broker), serves
the pages and runs a projector (projectors share work by compare-and-set); it never schedules:
``koppel scheduler`` is the installation's one scheduler. Embedded (no broker) the one worker
is the whole installation, with the document workers and the scheduler inside it.

Threads. ``gthread`` workers (BoundedThreadWorker adds a read timeout): a webhook spends most of
its time waiting for PostgreSQL and a request thread holds no lock meanwhile, so threads take
the next request; they also keep a client's connection alive between requests and hand a
connection that sends nothing back to the poller (gunicorn closes it after ``keepalive``), where
a ``sync`` worker would wait on it, and a sync worker's request timeout kills the whole process.
"""

from __future__ import annotations

import socket
import sys
from typing import Callable

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger
from gunicorn.workers.gthread import ThreadWorker

from web.config import Config
from web.logging_setup import koppel_formatter
from web.logs import redact, redact_loggers

# Seconds an idle kept-alive connection stays open (also what a connection that has sent
# nothing yet is given): shops connect, send and go.
KEEPALIVE = 5
# Seconds a connection may keep a request thread waiting for its next bytes. A shop sends a
# webhook in one go; a client that stalls mid-request (slowloris) is cut off after this, where
# gunicorn alone would wait for it forever.
READ_TIMEOUT = 10.0


class _BoundedSocket(socket.socket):
    """An accepted connection whose blocking reads and writes give up after READ_TIMEOUT.

    gthread makes a connection blocking (``setblocking(True)``: no timeout at all) before it
    reads a request; here "blocking" means "blocking, at most READ_TIMEOUT seconds a call"."""

    def setblocking(self, flag: bool) -> None:
        if flag:
            self.settimeout(READ_TIMEOUT)
        else:
            super().setblocking(False)


class BoundedThreadWorker(ThreadWorker):
    """gunicorn's gthread worker with a read timeout on every connection."""

    def enqueue_req(self, conn):
        if not isinstance(conn.sock, _BoundedSocket):  # a new connection, not a kept-alive one
            plain = conn.sock
            conn.sock = _BoundedSocket(plain.family, plain.type, plain.proto,
                                       fileno=plain.detach())
        super().enqueue_req(conn)


class RedactingLogger(Logger):
    """gunicorn's logger with webhook tokens hidden in every access-log field (the request line,
    the path, the referer, environ values) and in its error log."""

    def atoms(self, resp, req, environ, request_time):
        return {key: redact(value) if isinstance(value, str) else value
                for key, value in super().atoms(resp, req, environ, request_time).items()}

    def setup(self, cfg):
        super().setup(cfg)
        redact_loggers("gunicorn.error")
        koppel = koppel_formatter()  # JSON in production, like every other line
        if koppel is not None:
            for handler in (*self.error_log.handlers, *self.access_log.handlers):
                handler.setFormatter(koppel)

    def exception(self, msg, *args, **kwargs):
        if isinstance(sys.exc_info()[1], TimeoutError):  # a stalled client: one line, no trace
            self.info("closed a connection that stalled for %s s", READ_TIMEOUT)
            return
        super().exception(msg, *args, **kwargs)


class WebServer(BaseApplication):
    """``build()`` returns (runtime, WSGI app); it is called once in every worker process."""

    def __init__(self, config: Config, bind: str, build: Callable[[], tuple[object, object]]):
        self.koppel = config
        self.bind = bind
        self.build = build
        self.runtime = None
        super().__init__()

    def options(self) -> dict:
        config = self.koppel
        return {
            "bind": [self.bind],
            # Embedded, the broker is in-process: a second process would be a second,
            # unconnected installation on the same SQLite file.
            "workers": 1 if config.embedded else config.web_workers,
            "worker_class": f"{__name__}.BoundedThreadWorker",
            "threads": config.web_threads,
            "timeout": config.web_timeout,
            "graceful_timeout": config.web_timeout,
            "keepalive": KEEPALIVE,
            "preload_app": False,
            "proc_name": "koppel-web",
            # One fixed path per user ($HOME/.gunicorn) would be shared by every koppel on the
            # machine; operators restart koppel with signals (TERM, HUP) like other services.
            "control_socket_disable": True,
            "accesslog": "-",
            "errorlog": "-",
            "logger_class": RedactingLogger,
            # The scheme and host come from ProxyFix, trusting exactly KOPPEL_PROXY_HOPS
            # proxies (web/app.py); gunicorn's own reading of X-Forwarded-Proto is off so
            # there is one rule, not two.
            "secure_scheme_headers": {},
            "worker_exit": self._worker_exit,
        }

    def load_config(self) -> None:
        for key, value in self.options().items():
            self.cfg.set(key, value)

    def load(self):
        self.runtime, app = self.build()
        return app

    def _worker_exit(self, _server, _worker) -> None:
        # Messages handed to the publisher are sent before the process ends (the inbox would
        # resend them anyway, a minute later).
        if self.runtime is not None:
            self.runtime.stop()

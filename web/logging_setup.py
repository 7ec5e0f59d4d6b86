"""Log lines: JSON in production, readable text in the demo, never a secret or a webhook token.

koppel's modules log through the standard library as before; structlog only formats. Every line
carries what the code bound for the work at hand (structlog's contextvars): the Dramatiq message
and its attempt, the connection, the document's number and id, the web request. Tokens in
webhook paths (web/logs.py) and the installation's own secrets are hidden in every field, the
traceback included, because the formatter is the one place every line passes.
"""

from __future__ import annotations

import logging
import os
import sys
import uuid
from typing import Iterable, Mapping
from urllib.parse import urlparse

import dramatiq
import structlog
from structlog.contextvars import bind_contextvars, clear_contextvars, merge_contextvars

from web.config import LogChoice, log_choice
from web.logs import redact

HIDDEN_SECRET = "[secret]"


class Redact:
    """A structlog processor hiding webhook tokens and known secret values in string fields."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is hidden whole.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, _logger, _name, event_dict: dict) -> dict:
        return {key: self.hide(value) if isinstance(value, str) else value
                for key, value in event_dict.items()}

    def hide(self, text: str) -> str:
        text = redact(text)
        for secret in self.secrets:
            text = text.replace(secret, HIDDEN_SECRET)
        return text


def installation_secrets(environ: Mapping[str, str]) -> list[str]:
    """The secrets the environment gives koppel: its key, its OAuth client's secret, the SMTP
    password, the App Store secret, and the passwords in the database and broker addresses."""
    found = [environ.get(name, "") for name in
             ("KOPPEL_SECRET_KEY", "KOPPEL_BILLIT_CLIENT_SECRET", "KOPPEL_SMTP_PASSWORD",
              "KOPPEL_CCV_APP_SECRET")]
    for name in ("KOPPEL_DATABASE_URL", "KOPPEL_BROKER_URL"):
        try:
            found.append(urlparse(environ.get(name, "")).password or "")
        except ValueError:
            pass
    return found


def formatter(json_lines: bool, secrets: Iterable[str] = ()) -> logging.Formatter:
    chain = [
        merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,  # the traceback becomes a field, then redacted
        Redact(secrets),
    ]
    renderer = (structlog.processors.JSONRenderer(default=str) if json_lines else
                structlog.dev.ConsoleRenderer(colors=False,
                                              exception_formatter=structlog.dev.plain_traceback))
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=chain,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer])


class _KoppelHandler(logging.StreamHandler):
    """Marks the handler this module installed, so configuring again replaces it."""


def configure_logging(environ: Mapping[str, str] = os.environ, *, verbose: bool = False,
                      stream=None) -> LogChoice:
    """Install koppel's handler on the root logger; like ``logging.basicConfig``, leave logging
    alone when a program embedding koppel (pytest, say) configured it already."""
    choice = log_choice(environ, verbose=verbose)
    root = logging.getLogger()
    if any(not isinstance(h, _KoppelHandler) for h in root.handlers):
        return choice
    handler = _KoppelHandler(stream or sys.stderr)
    handler.setFormatter(formatter(choice.json, installation_secrets(environ)))
    for old in [h for h in root.handlers if isinstance(h, _KoppelHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(choice.level)
    return choice


def koppel_formatter() -> logging.Formatter | None:
    """The formatter configure_logging installed, for loggers with handlers of their own
    (gunicorn's access and error logs)."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, _KoppelHandler):
            return handler.formatter
    return None


class LogContext(dramatiq.Middleware):
    """Each message's lines carry its id, actor and attempt; nothing leaks into the next one
    the same worker thread takes."""

    def before_process_message(self, broker, message):
        clear_contextvars()
        bind_contextvars(message_id=message.message_id, actor=message.actor_name,
                         attempt=message.options.get("retries", 0) + 1)

    def after_process_message(self, broker, message, *, result=None, exception=None):
        clear_contextvars()

    after_skip_message = after_process_message


def bind_requests(app) -> None:
    """Each web request's lines carry a request id, its method and its path (token hidden)."""
    from flask import request

    @app.before_request
    def _bind():
        clear_contextvars()
        bind_contextvars(request_id=uuid.uuid4().hex[:12], method=request.method,
                         path=redact(request.path))
        known = request.view_args or {}
        bind_contextvars(**{key: known[key] for key in ("connection_id", "event") if key in known})

    @app.teardown_request
    def _unbind(_error=None):
        clear_contextvars()

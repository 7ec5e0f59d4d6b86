"""One HTTP exchange with a ledger, its failures told apart the way I1 needs them.

Shared by the ledger connectors: what matters is whether a lost answer may hide a committed
write (``outcome_unknown``), which decides if a retry must look the document up first.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from decimal import Decimal
from email.utils import parsedate_to_datetime

import httpx

from application.errors import TransientError

log = logging.getLogger(__name__)


class Secret:
    """A string that never shows itself in a repr, a log line or a traceback's locals."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__


def send(http: httpx.Client, system: str, method: str, path: str, *,
         write: bool | None = None, **kwargs) -> httpx.Response:
    """``write`` says whether a lost answer may hide a committed write (default: a POST)."""
    write = method == "POST" if write is None else write
    try:
        response = http.request(method, path, **kwargs)
    except TransientError:
        raise  # koppel's own rate limit (``rate_limit``): nothing was sent
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        # Nothing reached the server: the outcome is known (nothing happened).
        raise TransientError(f"{system} cannot be reached; koppel will try again.",
                             code="CONNECT", detail=type(exc).__name__) from None
    except httpx.TransportError as exc:
        # Sent, but no (complete) answer: a POST may have been committed (I1).
        raise TransientError(f"{system} did not answer in time; koppel will check and try "
                             "again.", code="NO_ANSWER", detail=type(exc).__name__,
                             outcome_unknown=write) from None
    except Exception as exc:  # noqa: BLE001 - see below
        # An in-process transport (httpx.WSGITransport) lets the server's own exception
        # through when it breaks a response mid-way; to the caller that is a lost answer.
        log.warning("%s %s %s broke off: %s", system, method, path, type(exc).__name__)
        raise TransientError(f"{system} did not answer; koppel will check and try again.",
                             code="NO_ANSWER", detail=type(exc).__name__,
                             outcome_unknown=write) from None
    log.debug("%s %s %s -> %s", system, method, path, response.status_code)
    return response


def parse_body(response: httpx.Response):
    """The JSON answer with amounts kept exact (R0.1); the text when it is no JSON (a proxy's
    error page, say), cut short; None when empty."""
    if not response.content.strip():
        return None
    try:
        return json.loads(response.content, parse_float=Decimal)
    except ValueError:
        return response.text[:2000]


def retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header, in either of its forms (seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())

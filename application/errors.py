"""What can go wrong when koppel talks to a shop or a ledger, in the terms the workers act on.

Connectors translate every HTTP failure into one of these, so the application decides what to
do (retry later, end in Errors, wait for the merchant) without knowing any wire format.
"""

from __future__ import annotations


class KoppelError(Exception):
    """Base of koppel's own errors; ``message`` (English) and ``message_nl`` (Dutch, the
    English when the connector has no translation) are written for a merchant."""

    def __init__(self, message: str, *, code: str = "", detail: object = None,
                 message_nl: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.message_nl = message_nl or message
        self.code = code
        self.detail = detail  # the remote body (secrets removed), for support


class TransientError(KoppelError):
    """Try again later: a timeout, a dropped connection, a 5xx, a 429.

    ``retry_after`` is the wait in seconds the remote asked for (429 ``Retry-After``), if any.
    ``outcome_unknown`` is true when a write may have been committed before the failure (a
    timeout or a 5xx on a POST): before retrying, the caller must look the write up (I1).
    """

    def __init__(self, message: str, *, code: str = "", detail: object = None,
                 retry_after: float | None = None, outcome_unknown: bool = False,
                 message_nl: str | None = None) -> None:
        super().__init__(message, code=code, detail=detail, message_nl=message_nl)
        self.retry_after = retry_after
        self.outcome_unknown = outcome_unknown


class SlowDown(TransientError):
    """The remote asks koppel to slow down (HTTP 429): not this call alone but every call of
    the connection must wait ``retry_after`` (if given). A worker holds the connection's
    other messages back for that long instead of letting each find out with a call of its
    own (``workers/fairness.py``)."""


class Throttled(SlowDown):
    """koppel's own rate limit for a shop or ledger is reached: nothing was sent, the message
    is retried after ``retry_after``."""


class RejectedError(KoppelError):
    """The remote refused the request for a business reason: retrying will not help.

    ``code`` is the remote's own error code (e.g. e-Boekhouden ``MUT_019``), ``message`` says
    in a merchant's words what is wrong and what to do.
    """


class DuplicateError(RejectedError):
    """The ledger already holds a document with this number (e.g. e-Boekhouden ``MUT_019``)."""


class CredentialsError(KoppelError):
    """The credentials were refused or have expired: the merchant must reconnect.

    Documents wait (they do not fail) until the connection works again.
    """


class NotFoundError(KoppelError):
    """The shop or ledger has no such resource."""


class SignatureError(KoppelError):
    """A response or webhook did not carry a valid signature: it is not trusted."""

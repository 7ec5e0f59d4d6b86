"""What koppel writes to logs never holds a webhook token (nor a password reset token).

A webhook address is anonymous by design: its token is the only thing that keeps strangers from
feeding koppel hints. An access log (gunicorn's, werkzeug's) or an error line ("Exception on
/webhooks/...") would otherwise keep every connection's token in plain text wherever logs go.
"""

from __future__ import annotations

import logging
import re

# A webhook's token, and a password reset link's (valid for minutes, but a log outlives them).
_TOKEN_IN_PATH = re.compile(r"(/webhooks/[^/\s?\"']+/|/password/reset/)[^/\s?\"']+")
HIDDEN = "[token]"


def redact(text: str) -> str:
    return _TOKEN_IN_PATH.sub(lambda match: match.group(1) + HIDDEN, text)


class RedactTokens(logging.Filter):
    """Rewrites a record's message with the tokens hidden (its arguments are merged in first,
    because a path usually arrives as an argument)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        hidden = redact(message)
        if hidden != message:
            record.msg, record.args = hidden, None
        return True


def redact_loggers(*names: str) -> None:
    """Install the filter on these loggers (once each); a filter on a logger applies to what is
    logged on it, so every logger a request path reaches is named."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())

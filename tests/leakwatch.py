"""Watches every log line of the test run for the test installation's secrets.

The lines are formatted by koppel's own formatter (web/logging_setup.py), so what is checked is
what an operator's log would hold; the formatter is given no secrets to hide, so a secret that
reaches a log line at all is found, not masked.
"""

from __future__ import annotations

import logging
import re

from tests.harness import BILLIT_CLIENT, LEDGER_TOKEN, SECRET_KEY, SHOP_KEYS
from web.demo import BILLIT_KEY
from web.logging_setup import formatter

TEST_SECRETS = (SHOP_KEYS[1], LEDGER_TOKEN, BILLIT_CLIENT[1], BILLIT_KEY, SECRET_KEY)
# A webhook path whose token part was not replaced by "[token]".
TOKEN_IN_PATH = re.compile(r"/webhooks/[0-9a-f-]{36}/(?!\[token\])[A-Za-z0-9_-]{16,}")


class LeakWatch(logging.Handler):
    def __init__(self, secrets=TEST_SECRETS, level=logging.INFO) -> None:
        super().__init__(level)
        self.secrets = secrets
        self.leaks: list[str] = []
        self.lines = 0
        self.setFormatter(formatter(json_lines=True))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # noqa: BLE001 - a record that cannot be formatted leaks nothing
            return
        self.lines += 1
        for secret in self.secrets:
            if secret in line:
                self.leaks.append(f"{record.name}: the secret {secret[:4]}... in "
                                  f"{line.replace(secret, '<HERE>')[:300]}")
        if TOKEN_IN_PATH.search(line):
            self.leaks.append(f"{record.name}: a webhook token in {line[:300]}")

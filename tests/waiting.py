"""Waiting for something another process or thread does, with a deadline."""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def until(predicate: Callable[[], T], timeout: float = 30.0, what: str = "",
          detail: Callable[[], str] | None = None) -> T:
    """The predicate's first truthy value; AssertionError (with ``detail()``) at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout}s: {what}"
                         + (f"\n{detail()}" if detail is not None else ""))

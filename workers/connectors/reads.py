"""Reading many ledger documents one by one (a list item has no lines), a few at a time.

A reconciliation reads every booking of a period in full; against a real API each read is
mostly waiting for the network, so a few run side by side. Few, because each still takes its
turn from the connection's rate limiter (``rate_limit``), and the ledger is the merchant's.
The answers come back in the order asked; the first failure ends the reading.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator, TypeVar

T = TypeVar("T")
READERS = 4


def read_each(read: Callable[[object], T], ids: list) -> Iterator[T]:
    if len(ids) < 2:
        yield from map(read, ids)
        return
    with ThreadPoolExecutor(min(READERS, len(ids)), thread_name_prefix="ledger-read") as pool:
        yield from pool.map(read, ids)

"""How long the Overview's pictures take to compute (projections/activity.py) on a big read model.

    .venv/bin/python bench/overview.py [--documents 100000] [--url sqlite:///var/bench.sqlite]

Fills a fresh documents table with documents spread over 120 days (8 in 10 booked, 1 failed,
1 waiting) and prints the mean time of ``activity()`` over 10 runs. The page asks for it on
every load and every live refresh of the Overview.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone

from projections import documents
from projections.activity import activity
from projections.store import ReadStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--url", default=f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite",
                        help="an empty database (its documents table is filled)")
    args = parser.parse_args()
    store = ReadStore(args.url)
    with store.transaction() as cur:
        for statement in [*documents.TABLES.values(), *documents.INDEXES]:
            cur.execute(statement)
    now, rng = datetime.now(timezone.utc), random.Random(1)
    with store.transaction() as cur:
        for n in range(args.documents):
            at = (now - timedelta(days=rng.uniform(0, 120))).isoformat()
            status = rng.choice(["posted"] * 8 + ["failed", "received"])
            cur.execute(
                "INSERT INTO documents (id, connection_id, kind, shop_id, number, status, "
                "received_at, updated_at, posted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [str(uuid.uuid4()), "c1", "order", n, str(n), status, at, at,
                 at if status == "posted" else None])
    activity(store)  # warm
    started = time.perf_counter()
    for _ in range(10):
        activity(store)
    print(f"{args.documents} documents: activity() {(time.perf_counter() - started) * 100:.1f} ms")
    store.close()


if __name__ == "__main__":
    main()

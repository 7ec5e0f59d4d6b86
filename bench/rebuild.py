"""How fast ``koppel projections rebuild`` replays a long event log on PostgreSQL.

``python -m bench.rebuild [--events 1000000] [--orders 20]`` makes a fresh PostgreSQL database,
lets koppel process ``--orders`` real paid orders against the sandbox fakes (so the log holds
the events the application really writes: received, checked, debtor, posting, posted,
payment ...), then copies those documents' events under new aggregate ids straight through
the event store's recorder until the log holds ``--events`` events. It times reading the whole
log raw (the floor any replay stands on) and the rebuild itself, prints events per second and
drops the database.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid

from bench import fakes as bench_fakes
from bench.throughput import (FakesControl, KoppelSide, paid_domestic, production_services, say,
                              timed_orders)
from web.bootstrap import bootstrap

PAGE = 10_000  # events a read of the raw log asks for at once


def make_orders(database_url: str, prefix: str, orders: int) -> KoppelSide:
    fakes = bench_fakes.in_process(seed=5)
    control = FakesControl(fakes)
    side = KoppelSide(fakes, database_url=database_url, broker_url="", prefix=prefix,
                      threads=4)
    try:
        side.register_webhooks()
        side.runtime.start_workers(4)
        side.start_background(scheduler=False)
        result = timed_orders("orders", control, side, paid_domestic(orders, seed=5),
                              timeout=300)
        say(f"{result.get('posted', '?')} of {orders} orders posted")
    finally:
        side.stop()
        control.close()
        fakes.stop()
    return side


def replicate(recorder, database_url: str, total: int) -> int:
    """Copy every document's events under new ids until the log holds ``total`` events.

    Written with PostgreSQL's COPY into the recorder's own table (the notification ids come
    from its sequence, as an insert's do): the recorder's insert_events builds one statement
    a batch and took minutes for 10,000 events here, which would measure the writer, not the
    rebuild."""
    import psycopg

    from projections.store import postgres_params

    stored = list(recorder.select_notifications(start=1, limit=1_000_000))
    documents: dict = {}
    for event in stored:
        if event.topic.startswith("koppel:Document."):
            documents.setdefault(event.originator_id, []).append(event)
    say(f"the application wrote {len(stored)} events, {sum(map(len, documents.values()))} of "
        f"them for {len(documents)} documents; copying those to {total} events")
    count = len(stored)
    with psycopg.connect(**postgres_params(database_url)) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY {recorder.events_table_name} (originator_id, originator_version, "
                      "topic, state) FROM STDIN") as copy:
            while count < total:
                for events in documents.values():
                    new_id = uuid.uuid4()
                    for e in events:
                        copy.write_row((new_id, e.originator_version, e.topic, e.state))
                    count += len(events)
                    if count >= total:
                        break
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=20)
    args = parser.parse_args()
    with production_services() as (database_url, prefix):
        side = make_orders(database_url, prefix, args.orders)
        runtime = bootstrap(side.config, environ={}, transport_for=lambda url: None)
        try:
            started = time.monotonic()
            count = replicate(runtime.app.recorder, database_url, args.events)
            say(f"wrote {count} events in {time.monotonic() - started:.1f}s")
            started, read = time.monotonic(), 0
            position = 1
            while page := runtime.app.recorder.select_notifications(start=position, limit=PAGE):
                read += len(page)
                position = page[-1].id + 1
            raw = time.monotonic() - started
            say(f"raw read: {read} events in {raw:.1f}s")
            started = time.monotonic()
            applied = runtime.projector.rebuild()
            seconds = time.monotonic() - started
            rows = runtime.store.scalar("SELECT count(*) FROM documents")
        finally:
            runtime.stop()
    print(f"rebuild of {applied} events on PostgreSQL: {seconds:.1f}s, "
          f"{applied / seconds:,.0f} events/s ({rows} document rows); raw read "
          f"{read / raw:,.0f} events/s; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()

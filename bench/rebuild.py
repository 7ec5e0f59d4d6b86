"""How fast ``koppel projections rebuild`` replays a long event log on PostgreSQL.

``python -m bench.rebuild [--events 1000000] [--orders 20]`` makes a fresh PostgreSQL database,
lets koppel process ``--orders`` real paid orders against the sandbox fakes (so the log holds
the events the application really writes: received, checked, debtor, posting, posted,
payment ...), then copies those documents' events under new aggregate ids straight through
the event store's recorder until the log holds ``--events`` events. It times reading the whole
log raw (the floor any replay stands on) and the rebuild itself, prints events per second and
drops the database.

``--database NAME`` keeps the log instead: the named database is made and filled on the first
run and only replayed on the next ones (making a million events takes minutes). The machine is
shared, so besides wall time the CPU seconds of this process and of the PostgreSQL backends
serving it are printed (``--processes`` sets how many processes the rebuild is split over).
"""

from __future__ import annotations

import argparse
import os
import resource
import threading
import time
import uuid
from contextlib import contextmanager

from bench import fakes as bench_fakes
from bench.throughput import (PG, FakesControl, KoppelSide, _pg_admin, paid_domestic,
                              production_services, say, timed_orders)
from web.config import Config
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


@contextmanager
def kept_database(name: str):
    """The named database, made if missing and never dropped; whether it was just made."""
    with _pg_admin() as admin:
        made = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                             [name]).fetchone() is None
        if made:
            admin.execute(f'CREATE DATABASE "{name}"')
    say(f"  {'made' if made else 'reusing'} PostgreSQL database {name} (kept)")
    yield f"postgresql://{PG['user']}@{PG['host']}:{PG['port']}/{name}", made


def backend_cpu(database: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend connected to ``database`` (from /proc:
    the server runs on this machine)."""
    ticks = os.sysconf("SC_CLK_TCK")
    with _pg_admin() as admin:
        pids = [row[0] for row in admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", [database])]
    seconds = {}
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        seconds[pid] = (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
    return seconds


class BackendSampler:
    """The PostgreSQL backends' CPU seconds, sampled twice a second: a rebuild's processes
    open connections of their own and close them before it ends."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.first = backend_cpu(database)
        self.last = dict(self.first)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.last.update(backend_cpu(self.database))

    def seconds(self) -> float:
        self._stop.set()
        self._thread.join()
        self.last.update(backend_cpu(self.database))
        return sum(cpu - self.first.get(pid, 0.0) for pid, cpu in self.last.items())


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=20)
    parser.add_argument("--processes", type=int, default=None,
                        help="processes the rebuild is split over (default: one a core)")
    parser.add_argument("--database", default=None,
                        help="keep the log in this PostgreSQL database and reuse it next time")
    args = parser.parse_args()
    if args.database:
        services = kept_database(args.database)
    else:
        services = production_services()
    with services as (database_url, extra):
        made = extra is True or isinstance(extra, str)  # a fresh database (kept or not)
        if made:
            side = make_orders(database_url, extra if isinstance(extra, str) else "kbkeep",
                               args.orders)
            config = side.config
        else:
            config = Config(database_url=database_url, broker_url="", secret_key="bench" * 8)
        runtime = bootstrap(config, environ={}, transport_for=lambda url: None)
        if args.processes:
            runtime.projector.rebuild_processes = args.processes
        try:
            if made:
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
            database = database_url.rsplit("/", 1)[1]
            sampler = BackendSampler(database)
            cpu_before = time.process_time() + children_cpu()
            started = time.monotonic()
            applied = runtime.projector.rebuild()
            seconds = time.monotonic() - started
            cpu = time.process_time() + children_cpu() - cpu_before
            server = sampler.seconds()
            rows = runtime.store.scalar("SELECT count(*) FROM documents")
        finally:
            runtime.stop()
    print(f"rebuild of {applied} events on PostgreSQL: {seconds:.1f}s, "
          f"{applied / seconds:,.0f} events/s ({rows} document rows) in "
          f"{runtime.projector.rebuild_processes} processes; CPU {cpu:.1f}s koppel + "
          f"{server:.1f}s PostgreSQL; raw read "
          f"{read / raw:,.0f} events/s; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()

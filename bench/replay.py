"""How long a replay into a second ledger takes (issue 13.3).

``python -m bench.replay [--documents 2000] [--database postgresql://...] [--threads 4]``
books N generated paid orders into the demo connection's e-Boekhouden administration (the
setup, timed apart, in ``--threads`` threads as workers would), then adds a copy into a second
administration behind the same address and replays them all, as ``koppel ledgers add-copy``
does: one document after the other, each with its claim saved before the call. The fakes run
on loopback ports (real HTTP, keep-alive). It prints the listing time, the replay time, the
rate, and checks the second administration holds each sale exactly once.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

from application.settings import load_settings_text
from domain.ledger_target import Purpose
from sandbox import ccvshop as sandbox_shop
from sandbox import eboekhouden as sandbox_ledger
from sandbox.generator import generate
from sandbox.serve import serve
from tests.harness import LEDGER_TOKEN, SHOP_KEYS, Harness
from web.demo import demo_settings_text

SECOND = "bench-second-administration"


def _settings(shop_url: str, token: str = LEDGER_TOKEN):
    text = demo_settings_text(shop_url).replace("enabled = true", "enabled = false")
    return load_settings_text(text.replace(f'api_token = "{LEDGER_TOKEN}"',
                                           f'api_token = "{token}"'))


def _sales(client) -> Counter:
    return Counter(m["invoiceNumber"] for m in client.get("/__sandbox/mutations").json()
                   if int(m["type"]) == 2)


def _record_bookings(h: Harness, orders: list[dict]) -> tuple[Counter, Counter]:
    """Documents as processing leaves them once the first ledger booked them: Received,
    Checked (the real rules), DebtorResolved, PostingStarted, Posted. No call is made.
    Returns the statuses, and the sales numbers the new ledger must then hold once each."""
    from datetime import datetime as moment_type

    from domain.booking import build_booking
    from domain.document import Document

    settings = h.runtime.connections.get(h.connection.id).settings
    counts: Counter = Counter()
    numbers: Counter = Counter()
    for number, order in enumerate(orders, start=1):
        bundle = {"order": {**order["order"], "id": number}, "orderrows": order["orderrows"]}
        booking = build_booking(bundle, settings)
        document = Document.receive(h.connection.id, "order", number,
                                    order["order"]["ordernumber_full"], bundle, "bench")
        document.record_check(booking.to_dict(), 1, booking.ok)
        document.resolve_debtor({"id": number, "code": f"B{number}", "action": "created"})
        document.start_posting("bench", {}, 120.0, moment_type.now(timezone.utc))
        document.record_posted({"id": number}, {"id": number}, found_by_lookup=False)
        h.runtime.app.save(document)
        counts[document.status] += 1
        numbers[booking.sales_number] += 1
    return counts, numbers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=2000)
    parser.add_argument("--database", default="", help="default: a SQLite file in a tmp dir")
    parser.add_argument("--threads", type=int, default=4, help="threads of the setup")
    parser.add_argument("--recorded-setup", action="store_true",
                        help="record the first ledger's bookings straight into the event "
                             "store (the events processing would record, without its HTTP "
                             "calls): a fast setup for 10,000 documents; the replay is the "
                             "same")
    args = parser.parse_args()

    shop = serve(sandbox_shop.create_app(public_key=SHOP_KEYS[0], secret=SHOP_KEYS[1],
                                         api_root=None))
    ledger = serve(sandbox_ledger.Administrations([LEDGER_TOKEN, SECOND]))
    folder = Path(tempfile.mkdtemp(prefix="koppel-replay-bench-"))
    database = args.database or f"sqlite:///{folder / 'koppel.sqlite'}"
    h = Harness(database, servers=(shop, ledger), settings=_settings(shop.url),
                http_timeout=30.0)
    second = h.administration(SECOND)
    try:
        orders = [d for d in generate(args.documents * 2, 11, failing_share=0.0,
                                      unpaid_share=0.0, scopes={"domestic", "icp", "oss"})
                  if d["kind"] == "order" and d["expect"]["outcome"] == "posted"]
        orders = orders[:args.documents]
        assert len(orders) == args.documents, "the generator gave too few orders"
        started = time.perf_counter()
        if args.recorded_setup:
            statuses, expected = _record_bookings(h, orders)
        else:
            shop_ids = [h.put_order(order)["id"] for order in orders]

            def book(shop_id: int) -> str:
                doc_id = h.runtime.processing.intake(h.connection.id, "order", shop_id,
                                                     "bench")
                return h.process(doc_id).status

            with ThreadPoolExecutor(args.threads) as pool:
                statuses = Counter(pool.map(book, shop_ids))
            expected = _sales(h.ledger)
        setup = time.perf_counter() - started
        print(f"setup: {args.documents} orders booked into the first ledger in "
              f"{setup:.1f} s ({dict(statuses)}"
              f"{', recorded straight into the event store' if args.recorded_setup else ''})",
              flush=True)

        replays = h.runtime.replays
        started = time.perf_counter()
        target = replays.add(h.connection.id, "Accountant", _settings(shop.url, SECOND),
                             datetime(2020, 1, 1, tzinfo=timezone.utc), Purpose.COPY,
                             by="bench")
        listed = time.perf_counter() - started
        started = time.perf_counter()
        done = replays.run(target.id)
        replayed = time.perf_counter() - started
        copy = _sales(second)
        assert done.state == "finished" and done.total == statuses["posted"]
        assert copy == expected and set(copy.values()) == {1}, "a sale is missing or twice"
        print(f"listing {done.total} documents from the event log: {listed:.1f} s")
        print(f"replay of {done.total} documents into the second administration: "
              f"{replayed:.1f} s = {done.total / replayed:.1f} documents/s "
              f"({1000 * replayed / done.total:.1f} ms each); each sale once in the new ledger")
        print(f"database: {database.split('://')[0]}")
    finally:
        second.close()
        h.close()
        shop.stop()
        ledger.stop()


if __name__ == "__main__":
    main()

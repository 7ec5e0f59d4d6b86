"""How long a reconciliation of a busy month takes (issue 13.1's figure).

``python -m bench.reconcile [--orders 2000] [--sqlite]`` makes a fresh PostgreSQL database
(or an SQLite file), serves the CCV Shop and e-Boekhouden fakes on real local ports, lets koppel
book ``--orders`` generated paid orders of every scope, then deletes one booking and edits
another in the ledger's own screens (the fake's control API) and books one by hand under
koppel's numbering. It times the reconciliation over the period, checks that it finds exactly
those three with their kinds, prints the figures and drops the database.

Measured 2026-11-30 on the shared 2-core machine (load average ~23), PostgreSQL, fakes on local
ports: 2,000 orders reconciled in 7.5 s (shop list 2.9 s, koppel's read models 0.1 s, the
ledger's 2,000 mutations listed and read 4.4 s, matching 0.1 s); all three found. Earlier runs
under similar load: 87.8 s reading the ledger one mutation at a time with the sandbox shop
rendering every order for each list page; 70.1 s with four reads at a time
(``connectors.reads``), 59.6 s of it that shop fake's paging, since fixed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from datetime import date

from bench.throughput import PG, _pg_admin, say
from sandbox import ccvshop as sandbox_shop
from sandbox import eboekhouden as sandbox_ledger
from sandbox.serve import serve


def run(database_url: str, orders: int) -> dict:
    from application.reconciliation import Reconciliations
    from domain.reconciliation import Kind
    from projections.reconciliation import BookedDocuments
    from tests.e2e.orders import post_orders
    from tests.e2e.test_reconcile import make_differences
    from tests.harness import LEDGER_TOKEN, SHOP_KEYS, Harness

    shop = serve(sandbox_shop.create_app(public_key=SHOP_KEYS[0], secret=SHOP_KEYS[1],
                                         api_root=None))
    ledger = serve(sandbox_ledger.create_app(api_token=LEDGER_TOKEN))
    harness = Harness(database_url, servers=(shop, ledger), http_timeout=30)
    try:
        started = time.monotonic()
        post_orders(harness, orders, seed=13)
        harness.runtime.projector.catch_up()
        say(f"{orders} orders booked in {time.monotonic() - started:.0f}s")
        done = make_differences(harness)
        service = Reconciliations(harness.runtime.connections,
                                  BookedDocuments(harness.runtime.store))
        report = service.run(harness.connection.id, date(2000, 1, 1), date(2100, 1, 1))
        found = {(d.kind, d.key) for d in report.result.differences}
        expected = {(Kind.MISSING_IN_LEDGER, done["deleted"]),
                    (Kind.DIFFERENT_IN_LEDGER, done["edited"]),
                    (Kind.NOT_FROM_KOPPEL, done["added"])}
        assert found == expected, (found, expected)
        return {"orders": orders, "seconds": round(report.seconds, 2),
                "matched": report.result.matched, "differences": len(found),
                "per_order_ms": round(1000 * report.seconds / orders, 2),
                "stages": report.stages}
    finally:
        harness.close()
        shop.stop()
        ledger.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--sqlite", action="store_true", help="an SQLite file, not PostgreSQL")
    args = parser.parse_args()
    if args.sqlite:
        with tempfile.TemporaryDirectory() as folder:
            result = run(f"sqlite:///{folder}/koppel.sqlite", args.orders)
    else:
        name = f"koppel_bench_{uuid.uuid4().hex[:12]}"
        with _pg_admin() as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            result = run(f"postgresql://{PG['user']}@{PG['host']}:{PG['port']}/{name}",
                         args.orders)
        finally:
            with _pg_admin() as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    say(f"reconciled {result['orders']} orders in {result['seconds']}s "
        f"({result['per_order_ms']} ms an order): {result['matched']} matched, "
        f"{result['differences']} differences found, exactly the three made")
    print(result)


if __name__ == "__main__":
    main()

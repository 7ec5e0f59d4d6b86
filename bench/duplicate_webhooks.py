"""How many shop API calls N copies of one webhook cost, over real HTTP on loopback ports.

    .venv/bin/python bench/duplicate_webhooks.py [--copies 2000] [--clients 4]
                                                 [--modes embedded,production]

A shop may deliver one webhook many times (its retries, a proxy, a bulk status change); koppel
coalesces them (``workers/intake_markers.py``). For each mode this puts one paid order into
the sandbox shop, POSTs ``--copies`` copies of its ``orders.created`` webhook to koppel's
endpoint (served by werkzeug on a port) from ``--clients`` threads, waits until the order is
posted, its inbox rows are taken in and no intake is queued or running, and counts the API
calls the shop answered from the sandbox shop's own request log.

embedded: SQLite and the in-process broker with 4 worker threads. production: a throwaway
PostgreSQL database and RabbitMQ queues (dropped afterwards) with 4 worker threads in this
process. Prints one JSON line per mode.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime, timezone
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.fakes import LEDGER_TOKEN, SHOP_KEYS  # noqa: E402
from bench.throughput import AMQP_URL, production_services, say  # noqa: E402
from sandbox import ccvshop as sandbox_shop  # noqa: E402
from sandbox import eboekhouden as sandbox_ledger  # noqa: E402
from sandbox.generator import generate  # noqa: E402
from sandbox.serve import serve  # noqa: E402
from web.app import create_app  # noqa: E402
from web.bootstrap import bootstrap  # noqa: E402
from web.config import Config  # noqa: E402
from web.demo import demo_settings, free_port  # noqa: E402


@contextmanager
def embedded_services():
    with tempfile.TemporaryDirectory() as tmp:
        yield f"sqlite:///{tmp}/koppel.sqlite", "koppel", ""


@contextmanager
def rabbitmq_services():
    with production_services() as (database_url, prefix):
        yield database_url, prefix, AMQP_URL


def one_order() -> dict:
    docs = generate(10, 7, failing_share=0.0, unpaid_share=0.0, scopes={"domestic"})
    return next(d for d in docs if d["kind"] == "order" and d["expect"]["outcome"] == "posted")


def run(mode: str, copies: int, clients: int) -> dict:
    services = embedded_services if mode == "embedded" else rabbitmq_services
    shop = serve(sandbox_shop.create_app(public_key=SHOP_KEYS[0], secret=SHOP_KEYS[1],
                                         api_root=None))
    ledger = serve(sandbox_ledger.create_app(api_token=LEDGER_TOKEN))
    with services() as (database_url, prefix, broker_url):
        port = free_port()
        config = Config(database_url=database_url, broker_url=broker_url,
                        secret_key="bench-secret-key", public_url=f"http://127.0.0.1:{port}",
                        eboekhouden_url=ledger.url, queue_prefix=prefix, claim_lease=30.0,
                        shop_rate_limit="")  # count calls, not waits
        runtime = bootstrap(config, environ={})
        web = serve(create_app(runtime), port=port, keep_alive=False)
        control = httpx.Client(base_url=shop.url, timeout=30)
        try:
            # The generator's order is dated in the past: book it (as bench/throughput.py does).
            connection, _ = runtime.connections.save(
                demo_settings(shop.url), by="bench",
                start_date=datetime(2020, 1, 1, tzinfo=timezone.utc))
            runtime.start_workers(4)
            order = one_order()
            shop_id = control.post("/__sandbox/orders", content=sandbox_shop.dumps(
                {"order": order["order"], "orderrows": order["orderrows"], "notify": False}),
                headers={"content-type": "application/json"}).json()["id"]
            address = runtime.webhook_address(connection.id, "orders.created")
            body = {"id": shop_id, "href": f"{shop.url}/api/rest/v1/orders/{shop_id}"}
            control.delete("/__sandbox/requests")
            say(f"{mode}: {copies} copies of the webhook of order {shop_id}")
            started = time.monotonic()
            with ThreadPoolExecutor(clients) as pool, httpx.Client(timeout=30) as http:
                answers = list(pool.map(lambda _: http.post(address, json=body).status_code,
                                        range(copies)))
            accepted = time.monotonic() - started
            runtime.publisher.drain(60)
            while not _settled(runtime, shop_id):
                time.sleep(0.2)
            calls = [r for r in control.get("/__sandbox/requests").json()
                     if f"/orders/{shop_id}/" in r["path"]]
            return {"mode": mode, "copies": copies, "accepted": answers.count(202),
                    "shop_calls": len(calls),
                    "fetches": sum(1 for r in calls if r["path"].endswith(f"/{shop_id}/")),
                    "webhooks_seconds": round(accepted, 1),
                    "posted_seconds": round(time.monotonic() - started, 1)}
        finally:
            control.close()
            web.stop()
            runtime.stop()
            shop.stop()
            ledger.stop()


def _settled(runtime, shop_id: int) -> bool:
    runtime.projector.catch_up()
    rows = runtime.store.query("SELECT status, payment_status FROM documents WHERE shop_id = ?",
                               [shop_id])
    return (bool(rows) and rows[0]["status"] == "posted" and rows[0]["payment_status"] == "posted"
            and runtime.inbox.count_pending() == 0
            and not runtime.store.query("SELECT 1 FROM intake_markers"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--modes", default="embedded,production")
    args = parser.parse_args()
    for mode in args.modes.split(","):
        print(json.dumps(run(mode.strip(), args.copies, args.clients)), flush=True)


if __name__ == "__main__":
    main()

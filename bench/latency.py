"""koppel against a ledger with realistic latency: does throughput grow with worker threads and
processes, and does one slow ledger hold back another connection?

    .venv/bin/python -m bench.latency [--orders 60] [--seconds 0.15] [--threads 1,2,4,8]
                                      [--production 1x4,2x4] [--isolation] [--json FILE]

A real ledger answers in 100-300 ms where the sandbox fakes answer in about 1 ms, so a worker
thread waits on the ledger most of the time. The e-Boekhouden fake's ``latency`` fault
(``sandbox/faults.py``) makes every API call wait ``--seconds`` before it is handled.

scaling
    The same ``--orders`` paid domestic orders in ``bench.throughput``'s embedded mode (SQLite,
    in-process broker) with each of ``--threads`` worker threads, then in its production mode
    (PostgreSQL + RabbitMQ, ``koppel worker``) for each ``PxT`` of ``--production``. With the
    ledger's wait dominating, orders/s should grow about linearly with threads x processes.
isolation
    Two connections of one koppel (embedded, 4 threads) book the same shop's orders: "Demo
    shop" into e-Boekhouden, "Billit shop" into Billit (the fakes have one e-Boekhouden
    address, so the second ledger is the Billit fake). First both ledgers answer at once, then
    only e-Boekhouden is slow (``--seconds`` a call): how much later does the Billit
    connection finish its orders when the other connection's ledger is slow? Each row also
    says how many of a connection's messages were sent again for later (``deferred``).

    Without a limit every thread sat waiting on the slow ledger while the Billit
    connection's messages waited in the queue behind them: at 30 orders (0.15 s) Billit's
    last order came after 8.0-8.2 s, against 1.7-2.4 s with both ledgers fast. Since
    ``workers/fairness.py`` one connection has at most all worker threads but one
    (``KOPPEL_THREADS_PER_CONNECTION``): Billit's last order came after 1.0-1.8 s, as soon
    as with both fast. The price is the slow connection's: it has 3 threads of 4, and keeps
    about 2.6 of them busy (a deferred message comes back only when Dramatiq next looks at
    its delay queue), so its 30 orders took 11.5-12.8 s instead of 8.5-8.7 s. Measured
    2026-11-30 on 2 shared cores, load average 2.7-5.4. An installation with one connection
    keeps no thread free (nobody to keep it for): the scaling row 1x4 makes 3.7 orders/s, as
    before the limit (3.6), where the first version of the limit made 2.5.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from application.settings import load_settings_text  # noqa: E402
from bench import fakes as bench_fakes  # noqa: E402
from bench import throughput as tp  # noqa: E402
from web.demo import demo_settings_text  # noqa: E402
from web.webhooks import EVENTS  # noqa: E402


class SlowLedger(tp.FakesControl):
    """The fakes' control API, with the ledger's latency fault armed again after every reset
    (each run of ``bench.throughput`` starts with one)."""

    def __init__(self, fakes, seconds: float) -> None:
        super().__init__(fakes)
        self.seconds = seconds

    def reset(self) -> None:
        super().reset()
        if self.seconds > 0:
            self.ledger.post("/__sandbox/faults", json={
                "mode": "latency", "seconds": self.seconds, "method": "*",
                "path": "/v1/.*"}).raise_for_status()


def _args(args, **changes) -> argparse.Namespace:
    return argparse.Namespace(**{**vars(args), **changes})


def scaling(fakes, documents: list[dict], args) -> list[dict]:
    control = SlowLedger(fakes, args.seconds)
    rows = []
    for threads in args.threads:
        result, _ = tp.run_embedded(control, documents, _args(args, threads=threads))
        rows.append(_row("embedded", 1, threads, result))
    for spec in args.production:
        processes, threads = (int(x) for x in spec.split("x"))
        result = tp.run_production(control, documents,
                                   _args(args, threads=threads, processes=processes))
        rows.append(_row("production", processes, threads, result))
    return rows


def _row(mode: str, processes: int, threads: int, result: dict) -> dict:
    return {"mode": mode, "processes": processes, "threads": threads,
            "posted": result["posted"], "orders": result["orders"],
            "seconds": result["seconds"], "orders_per_second": result["orders_per_second"],
            "seconds_all_done": result["seconds_all_done"],
            "cpu_ms_per_order": result.get("cpu_ms_per_order", {}).get("total"),
            "ledger_calls_per_order": result["calls_per_order"]["ledger"],
            "timed_out": result["timed_out"]}


def isolation(fakes, documents: list[dict], args) -> list[dict]:
    rows = []
    for slow in (0.0, args.seconds):
        control = SlowLedger(fakes, slow)
        control.reset()
        billit = tp.httpx.Client(base_url=fakes.billit_url, timeout=60)
        billit.post("/__sandbox/reset").raise_for_status()
        rows.append(_two_connections(control, documents, args, slow))
        billit.close()
    return rows


def _two_connections(control, documents: list[dict], args, slow: float) -> dict:
    label = f"isolation (e-Boekhouden {slow}s a call, Billit at once)"
    tp.say(f"{label}: 2 connections x {len(documents)} orders, 4 threads")
    directory = tempfile.mkdtemp(prefix="koppel-bench-")
    fakes = control.fakes
    try:
        side = tp.KoppelSide(fakes, database_url=f"sqlite:///{directory}/koppel.sqlite",
                             broker_url="", prefix="bench", threads=4,
                             billit_url=fakes.billit_url)
        try:
            runtime = side.runtime
            text = demo_settings_text(fakes.shop_url, "billit").replace(
                'name = "Demo shop"', 'name = "Billit shop"')
            second, _ = runtime.connections.save(
                load_settings_text(text), by="bench",
                start_date=datetime(2020, 1, 1, tzinfo=timezone.utc))
            names = {str(side.connection.id): "e-Boekhouden", str(second.id): "Billit"}
            labels = {"e-Boekhouden": side.connection.name, "Billit": second.name}
            side.register_webhooks()
            shop = runtime.connections.shop(second)
            for event in EVENTS:
                shop.register_webhook(event, runtime.webhook_address(second.id, event))
            runtime.start_workers(4)
            side.start_background(scheduler=False)
            deferred_before = {name: _deferred(label) for name, label in labels.items()}
            started_wall = datetime.now(timezone.utc)
            started = time.monotonic()
            control.put_orders(documents)
            n = len(documents)
            while True:
                rows = runtime.store.query(
                    "SELECT connection_id, status, posted_at FROM documents "
                    "WHERE kind = 'order'")
                done = Counter(r["connection_id"] for r in rows
                               if r["status"] in ("posted", "failed"))
                if all(done[c] >= n for c in names) or time.monotonic() - started > args.timeout:
                    break
                time.sleep(0.25)
            deferred = {name: _deferred(label) - deferred_before[name]
                        for name, label in labels.items()}
        finally:
            side.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    out = {"ledger_latency_eboekhouden_s": slow, "orders": n}
    for conn_id, name in names.items():
        mine = [r for r in rows if r["connection_id"] == conn_id]
        moments = [datetime.fromisoformat(r["posted_at"]) for r in mine if r["posted_at"]]
        last = (max(moments) - started_wall).total_seconds() if moments else None
        posted = sum(1 for r in mine if r["status"] == "posted")
        out[name] = {"posted": posted, "failed": sum(1 for r in mine if r["status"] == "failed"),
                     "seconds_to_last_posted": round(last, 2) if last else None,
                     "orders_per_second": round(posted / last, 2) if last else None,
                     "deferred": int(deferred[name])}
    tp.say(f"{label}: {json.dumps({k: v for k, v in out.items() if isinstance(v, dict)})}")
    return out


def _deferred(connection: str) -> float:
    """Messages of the connection sent again for later so far, for either reason (this
    process's count)."""
    from prometheus_client import REGISTRY

    return sum(REGISTRY.get_sample_value("koppel_messages_deferred_total",
                                         {"connection": connection, "reason": reason}) or 0.0
               for reason in ("busy", "slowed"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=0.15,
                        help="the ledger's wait per call (default 0.15)")
    parser.add_argument("--threads", default="1,2,4,8",
                        help="embedded runs, one per thread count (empty: none)")
    parser.add_argument("--production", default="1x4,2x4",
                        help="production runs, PxT each (empty: none)")
    parser.add_argument("--isolation", action="store_true",
                        help="also the two-connection run (one slow ledger)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    args.threads = [int(t) for t in args.threads.split(",") if t.strip()]
    args.production = [p.strip() for p in args.production.split(",") if p.strip()]
    args.rss = False
    documents = tp.paid_domestic(args.orders, args.seed)
    fakes = bench_fakes.subprocess_fakes(cwd=str(ROOT))
    report = {"started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "cpus": os.cpu_count(), "ledger_latency_s": args.seconds,
              "orders": args.orders}
    try:
        report["scaling"] = scaling(fakes, documents, args)
        if args.isolation:
            report["isolation"] = isolation(fakes, documents, args)
    finally:
        fakes.stop()
    rows = [["mode", "processes x threads", "posted", "s to last Posted", "orders/s",
             "ledger calls/order", "CPU ms/order"]]
    for r in report["scaling"]:
        rows.append([r["mode"], f"{r['processes']}x{r['threads']}",
                     f"{r['posted']}/{r['orders']}", r["seconds"], r["orders_per_second"],
                     r["ledger_calls_per_order"], r["cpu_ms_per_order"]])
    print(f"ledger latency {args.seconds}s a call, {args.orders} orders")
    print(tp._table(rows))
    for r in report.get("isolation", []):
        print(f"isolation, e-Boekhouden {r['ledger_latency_eboekhouden_s']}s a call: "
              + "; ".join(f"{name}: {r[name]['posted']} posted, last after "
                          f"{r[name]['seconds_to_last_posted']}s "
                          f"({r[name]['orders_per_second']}/s, deferred "
                          f"{r[name]['deferred']})"
                          for name in ("e-Boekhouden", "Billit")))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""koppel's throughput against the sandbox fakes, over real HTTP on loopback ports.

    .venv/bin/python bench/throughput.py [--orders 200] [--modes embedded,production,ceiling,webhook]
                                         [--json FILE] [--threads 4] [--processes 2] ...

A benchmark, not a test: it prints progress on stderr, then a table and (``--json``) a JSON
report. Nothing is left behind: the SQLite file lives in a temporary directory, the
PostgreSQL database and the RabbitMQ queues it makes carry a random name and are dropped.
Every address is 127.0.0.1.

The fakes (``bench/fakes.py``) run in a process of their own, with a counter of the API calls
they answer in front of them, so every mode meets the same fakes and none shares a GIL with
them. The orders are N paid domestic orders from ``sandbox.generator`` (``scopes={"domestic"}``,
no failing and no unpaid ones); the shop fake sends each one's ``orders.created`` webhook to
koppel's webhook endpoint, served on a port by werkzeug (threaded) in this process.

Modes
-----
embedded
    SQLite and the in-process broker with ``--threads`` worker threads, wired as ``koppel
    demo`` / embedded ``koppel serve`` wire them (the projector and the scheduler, with its
    default intervals, run too). Timed from the first order put into the shop to the last
    ``Posted`` (the event's own timestamp, read from the read model), and to the last event
    of any order ("all done": the payments of R8 booked or refused). The HTTP calls koppel
    makes are also recorded on the client side (a transport wrapper handed to ``bootstrap``)
    to learn the calls per order and their order.
production
    A throwaway PostgreSQL database and RabbitMQ with a unique queue prefix;
    ``python -m web.cli worker --processes P`` (``KOPPEL_WORKER_THREADS`` = ``--threads``) as
    an operator runs it; the web endpoint, the projector and the dispatcher in this process
    (``koppel serve`` without workers). Timed as above, from the moment the workers consume.
ceiling
    The sandbox's own ceiling: the calls koppel made for each order in the embedded run
    (learned from that run; it is run first when not asked for) replayed with bare httpx
    against the same fakes (reset), on the same concurrency as the workers: 1 process x
    ``--threads`` (for embedded) and P processes x ``--threads`` (for production); the best
    of ``--ceiling-runs`` replays counts. CCV
    requests are signed (the fake insists) but their answers are not verified; a process
    opens its own e-Boekhouden session and looks up the ledger codes once, as a koppel worker
    process does. Each mode is reported as a ratio to the matching ceiling.

While the orders of embedded and production run, the read models' lag behind the event log
is sampled every 0.1 s (``procstat.LagSampler``) and reported as p50 / p99 / max seconds.
webhook
    POSTs of valid webhook bodies to the endpoint from ``--webhook-clients`` threads in a
    separate process, ``--webhooks`` of them after a short warm-up, with no workers running
    (the endpoint writes the inbox row and enqueues): once on SQLite + the in-process broker,
    once on PostgreSQL + RabbitMQ. Note werkzeug's server speaks HTTP/1.0: one connection per
    request, as a shop's deliveries would be. A request gets 15 s; none starts after 120 s,
    so a stalling endpoint ends the run with what was answered (req/s counts 202s only).
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench import fakes as bench_fakes  # noqa: E402
from bench import load  # noqa: E402
from bench import procstat  # noqa: E402
from sandbox import ccvshop as sandbox_shop  # noqa: E402
from sandbox.generator import generate  # noqa: E402
from sandbox.serve import serve  # noqa: E402
from web.app import create_app  # noqa: E402
from web.bootstrap import bootstrap  # noqa: E402
from web.config import Config  # noqa: E402
from web.demo import demo_settings, free_port  # noqa: E402
from web.webhooks import EVENTS  # noqa: E402

MODES = ("embedded", "production", "ceiling", "webhook")
PG = {"host": "127.0.0.1", "port": 5432, "user": os.environ.get("KOPPEL_BENCH_PGUSER",
                                                               "postgres")}
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
REDIS_URL = "redis://127.0.0.1:6379/0"
MAX_ORDERS = 20000
MAX_WEBHOOKS = 50000
_ORDER_PATH = re.compile(r"/api/rest/v1/orders/(\d+)/")
_SETUP_PATHS = ("/v1/session", "/v1/ledger", "/v1/invoicetemplate")
_STARTED = time.monotonic()


def say(message: str) -> None:
    print(f"[{time.monotonic() - _STARTED:7.1f}s] {message}", file=sys.stderr, flush=True)


# -- the fakes' control API -------------------------------------------------------------------

class FakesControl:
    def __init__(self, fakes: bench_fakes.Fakes) -> None:
        self.fakes = fakes
        self.shop = httpx.Client(base_url=fakes.shop_url, timeout=60)
        self.ledger = httpx.Client(base_url=fakes.ledger_url, timeout=60)

    def reset(self) -> None:
        self.shop.post("/__sandbox/reset").raise_for_status()
        self.ledger.post("/__sandbox/reset").raise_for_status()
        self.clear_counts()

    def clear_counts(self) -> None:
        self.shop.delete("/__bench/counts").raise_for_status()
        self.ledger.delete("/__bench/counts").raise_for_status()
        self.ledger.delete("/__sandbox/requests").raise_for_status()

    def counts(self) -> dict[str, dict[str, int]]:
        return {"ccv": self.shop.get("/__bench/counts").json(),
                "ledger": self.ledger.get("/__bench/counts").json()}

    def ledger_log(self) -> list[dict]:
        return self.ledger.get("/__sandbox/requests").json()

    def mutations(self) -> list[dict]:
        return self.ledger.get("/__sandbox/mutations").json()

    def deliveries(self) -> Counter:
        return Counter(str(d["status"]) for d in self.shop.get("/__sandbox/deliveries").json())

    def put_orders(self, documents: list[dict], notify: bool = True) -> dict[int, str]:
        """Shop id -> order number, in the order they were put."""
        out = {}
        for document in documents:
            body = {"order": document["order"], "orderrows": document["orderrows"],
                    "notify": notify}
            response = self.shop.post("/__sandbox/orders", content=sandbox_shop.dumps(body),
                                      headers={"content-type": "application/json"})
            response.raise_for_status()
            answer = response.json()
            out[int(answer["id"])] = str(answer["ordernumber_full"])
        return out

    def close(self) -> None:
        self.shop.close()
        self.ledger.close()


# -- koppel, wired as the composition root wires it -------------------------------------------

class _CapturingTransport(httpx.BaseTransport):
    """Real HTTP (an ``httpx.HTTPTransport``) that notes each request: thread, method, URL,
    body. Bench only; handed to ``bootstrap`` through its ``transport_for`` hook."""

    def __init__(self, capture: "Capture") -> None:
        self.capture = capture
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.capture.on:
            url = request.url
            record = {"thread": threading.current_thread().name, "method": request.method,
                      "origin": f"http://{url.host}:{url.port}", "path": url.path,
                      "query": url.query.decode("ascii"),
                      "uri": url.raw_path.decode("ascii"),
                      "body": request.content if request.method != "GET" else None}
            with self.capture.lock:
                self.capture.records.append(record)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


class Capture:
    def __init__(self) -> None:
        self.records: list[dict] = []
        self.lock = threading.Lock()
        self.on = False

    def transport_for(self, url: str) -> httpx.BaseTransport:
        return _CapturingTransport(self)


class KoppelSide:
    """A Runtime from ``web.bootstrap`` plus its Flask app served on a loopback port."""

    def __init__(self, fakes: bench_fakes.Fakes, *, database_url: str, broker_url: str,
                 prefix: str, threads: int, transport_for=None, billit_url: str = "") -> None:
        port = free_port()
        self.config = Config(database_url=database_url, broker_url=broker_url,
                             secret_key=secrets.token_urlsafe(32),
                             public_url=f"http://127.0.0.1:{port}",
                             eboekhouden_url=fakes.ledger_url, queue_prefix=prefix,
                             claim_lease=30.0, worker_threads=threads, http_timeout=15.0,
                             shop_rate_limit="")  # the sandbox shop has no limit
        if billit_url:  # a Billit fake too (bench.latency)
            self.config = self.config.with_(billit_url=billit_url, billit_login_url=billit_url)
        self.runtime = bootstrap(self.config, environ={},
                                 transport_for=transport_for or (lambda url: None))
        self.web = None
        try:
            # The generator's orders are dated in the past: book them all.
            self.connection, _ = self.runtime.connections.save(
                demo_settings(fakes.shop_url), by="bench",
                start_date=datetime(2020, 1, 1, tzinfo=timezone.utc))
            self.web = serve(create_app(self.runtime), port=port, keep_alive=False)
        except BaseException:
            self.runtime.stop()
            raise

    def start_background(self, *, scheduler: bool) -> None:
        """As ``koppel serve`` does: the projector, and in embedded mode (one process is the
        whole installation) the scheduler with its default intervals. The first round of the
        scheduler's jobs runs at once; it is given a moment so its calls are not counted."""
        runtime = self.runtime
        parameters = inspect.signature(runtime.start_background).parameters
        if "schedule" in parameters:
            from workers.scheduler import Intervals

            runtime.start_background(schedule=Intervals() if scheduler else None)
        elif "dispatcher_every" in parameters:  # before the scheduler existed
            runtime.start_background(dispatcher_every=30.0 if scheduler else None)
        else:
            runtime.start_background()
        time.sleep(1.0)

    def register_webhooks(self) -> None:
        shop = self.runtime.connections.shop(self.connection)
        for event in EVENTS:
            shop.register_webhook(event,
                                  self.runtime.webhook_address(self.connection.id, event))

    def webhook_url(self, event: str = "orders.created") -> str:
        return self.runtime.webhook_address(self.connection.id, event)

    def order_rows(self) -> list[dict]:
        return self.runtime.store.query(
            "SELECT id, number, status, posted_at, updated_at, failure_code, payment_status, "
            "payment_posted_at, payment_code, payment_message_en FROM documents WHERE kind = 'order'")

    def payments_due(self, rows: list[dict]) -> set[str]:
        return payments_due(self.runtime, self.connection.id, rows)

    def stop(self) -> str | None:
        """Stop serving and the runtime; a failure to stop is reported, not raised, so the
        database and queues are still removed."""
        if self.web is not None:
            self.web.stop()
        try:
            self.runtime.stop()
        except Exception as error:
            say(f"  koppel's Runtime.stop() failed: {type(error).__name__}: {error}")
            return f"{type(error).__name__}: {error}"
        return None


def payments_due(runtime, connection_id, rows: list[dict]) -> set[str]:
    """The posted orders koppel owes a payment for, by its own rule (R8.1)."""
    from domain.booking import Booking
    from domain.payments import payment_due

    settings = runtime.connections.get(connection_id).settings
    due = set()
    for row in rows:
        if row["status"] != "posted":
            continue
        document = runtime.app.document(uuid.UUID(row["id"]))
        if payment_due(document.kind, Booking.from_dict(document.booking), settings):
            due.add(row["number"])
    return due


# -- PostgreSQL and RabbitMQ, made for one run and removed after ------------------------------

def _pg_admin():
    import psycopg

    return psycopg.connect(host=PG["host"], port=PG["port"], user=PG["user"], dbname="postgres",
                           autocommit=True, connect_timeout=5)


@contextmanager
def production_services(broker: str = "rabbitmq"):
    """(database URL, queue prefix): a fresh database and queue names (RabbitMQ queues or a
    Redis key namespace, ``broker``); both removed after."""
    name = f"koppel_bench_{uuid.uuid4().hex[:12]}"
    prefix = f"kb{uuid.uuid4().hex[:10]}"
    with _pg_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    say(f"  made PostgreSQL database {name}, queue prefix {prefix}")
    try:
        yield f"postgresql://{PG['user']}@{PG['host']}:{PG['port']}/{name}", prefix
    finally:
        (_delete_redis_keys if broker == "redis" else _delete_queues)(prefix)
        with _pg_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        say(f"  dropped database {name}, deleted queues {prefix}.*")


def _delete_queues(prefix: str) -> None:
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    try:
        for queue in ("intake", "process"):
            for suffix in ("", ".DQ", ".XQ"):
                channel = connection.channel()
                try:
                    channel.queue_delete(f"{prefix}.{queue}{suffix}")
                    channel.close()
                except Exception as error:  # a queue never declared: nothing to remove
                    say(f"  (queue {prefix}.{queue}{suffix}: {type(error).__name__})")
    finally:
        connection.close()


def _delete_redis_keys(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(f"{prefix}:*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


class Workers:
    """``python -m web.cli worker --processes P`` in a process group of its own."""

    def __init__(self, side: KoppelSide, processes: int, threads: int) -> None:
        config = side.config
        env = {**os.environ,
               "KOPPEL_DATABASE_URL": config.database_url,
               "KOPPEL_BROKER_URL": config.broker_url,
               "KOPPEL_QUEUE_PREFIX": config.queue_prefix,
               "KOPPEL_SECRET_KEY": config.secret_key,
               "KOPPEL_EBOEKHOUDEN_URL": config.eboekhouden_url,
               "KOPPEL_CLAIM_LEASE": str(config.claim_lease),
               "KOPPEL_HTTP_TIMEOUT": str(config.http_timeout),
               # as the web side: the sandbox shop has no limit (the default, 120 calls a
               # minute, would pace the run at 60 orders a minute)
               "KOPPEL_SHOP_RATE_LIMIT": config.shop_rate_limit,
               "KOPPEL_LEDGER_RATE_LIMIT": config.ledger_rate_limit,
               "KOPPEL_WORKER_THREADS": str(threads)}
        self.expected = processes
        self.consuming = 0
        self._ready = threading.Condition()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "web.cli", "worker", "--processes", str(processes)],
            env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            if "consuming" in line:
                with self._ready:
                    self.consuming += 1
                    self._ready.notify_all()

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        with self._ready:
            while self.consuming < self.expected:
                left = deadline - time.monotonic()
                if left <= 0 or self.process.poll() is not None:
                    raise RuntimeError(f"only {self.consuming} of {self.expected} worker "
                                       f"processes started consuming")
                self._ready.wait(min(left, 1.0))

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


# -- one timed run of N orders ----------------------------------------------------------------

def paid_domestic(count: int, seed: int) -> list[dict]:
    documents = generate(count, seed, failing_share=0.0, unpaid_share=0.0, scopes={"domestic"})
    assert all(d["kind"] == "order" and d["expect"]["outcome"] == "posted" for d in documents)
    return documents


def timed_orders(label: str, control: FakesControl, side: KoppelSide, documents: list[dict],
                 timeout: float, cpu: dict | None = None, rss=None) -> dict:
    """Put the orders (each fires its webhook), wait until every order is settled and every
    payment koppel owes (R8, ``domain.payments.payment_due``) is booked; the figures.

    Two clocks, both from the first put to an event's own timestamp (read model): the last
    ``Posted`` (the sale booked) and the last ``PaymentRecorded``-or-failed (all work done).

    ``cpu``: {name: pids()} whose CPU seconds from the first put until all is done are
    reported per order; ``rss``: pids() whose memory is sampled every 5 s (and reported with
    its slope per 1,000 orders)."""
    n = len(documents)
    clocks = {name: procstat.CpuClock(pids) for name, pids in (cpu or {}).items()}
    sampler = None
    if rss is not None:
        sampler = procstat.RssSampler(rss, lambda: side.runtime.store.scalar(
            "SELECT COUNT(*) FROM documents WHERE status = 'posted'"))
    for clock in clocks.values():
        clock.start()
    if sampler is not None:
        sampler.start()
    lag = procstat.LagSampler(side.runtime.app.recorder.max_notification_id,
                              side.runtime.projector.position)
    lag.start()
    started_wall = datetime.now(timezone.utc)
    started = time.monotonic()
    shop_ids = control.put_orders(documents)
    put_seconds = time.monotonic() - started
    say(f"{label}: {n} orders put into the shop in {put_seconds:.1f}s; waiting for Posted")
    last_report, timed_out, payments_due = started, False, None
    while True:
        rows = side.order_rows()
        status = Counter(r["status"] for r in rows)
        settled = status["posted"] + status["failed"]
        now = time.monotonic()
        if settled >= n and payments_due is None:
            payments_due = side.payments_due(rows)
        if payments_due is not None:
            paying = {r["number"]: r["payment_status"] for r in rows
                      if r["number"] in payments_due}
            if all(v in ("posted", "failed") for v in paying.values()):
                break
        if now - started > timeout:
            timed_out = True
            break
        if now - last_report >= 5:
            payments = sum(1 for r in rows if r["payment_status"] == "posted")
            say(f"{label}: {status['posted']}/{n} posted, {status['failed']} failed, "
                f"{payments} payments booked ({now - started:.0f}s)")
            last_report = now
        time.sleep(0.25)
    waited = time.monotonic() - started
    cpu_seconds = {name: clock.stop() for name, clock in clocks.items()}
    if sampler is not None:
        sampler.stop()
    lag.stop()
    posted = [r for r in rows if r["status"] == "posted"]

    def seconds_to(column: str) -> float | None:
        moments = [datetime.fromisoformat(r[column]) for r in rows if r[column]]
        return round((max(moments) - started_wall).total_seconds(), 3) if moments else None

    seconds = seconds_to("posted_at")
    all_done = seconds_to("updated_at")  # settled: each row's last event is its last step
    mutations = control.mutations()
    sales = Counter(m["invoiceNumber"] for m in mutations if str(m.get("type")) == "2")
    paid = Counter(m["invoiceNumber"] for m in mutations if str(m.get("type")) == "3")
    payments = sum(1 for r in rows if r["payment_status"] == "posted")
    result = {
        "orders": n, "posted": len(posted), "failed": status["failed"],
        "other": {k: v for k, v in status.items() if k not in ("posted", "failed")},
        "timed_out": timed_out,
        "seconds": seconds,
        "orders_per_second": round(len(posted) / seconds, 2) if seconds else None,
        "payments_due": len(payments_due or ()), "payments_booked": payments,
        "payment_failures": {r["number"]: r["payment_message_en"] for r in rows
                             if r["payment_status"] == "failed"},
        "seconds_all_done": all_done,
        "orders_per_second_all_done": round(len(posted) / all_done, 2) if all_done else None,
        "put_seconds": round(put_seconds, 3),
        "waited_seconds": round(waited, 3),
        "webhook_deliveries": dict(control.deliveries()),
        "ledger_sales_mutations": sum(sales.values()),
        "ledger_payment_mutations": sum(paid.values()),
        "booked_more_than_once": sorted(k for k, v in (sales + paid).items()
                                        if v > 1 and (sales[k] > 1 or paid[k] > 1)),
        "failures": sorted({r["failure_code"] for r in rows if r["status"] == "failed"}),
    }
    if cpu_seconds:
        result["cpu_ms_per_order"] = {name: round(seconds * 1000 / n, 1)
                                      for name, seconds in cpu_seconds.items()}
        result["cpu_ms_per_order"]["total"] = round(sum(cpu_seconds.values()) * 1000 / n, 1)
    if sampler is not None:
        result["rss"] = sampler.report()
    result["projector_lag"] = lag.report()
    numbers = set(shop_ids.values())
    if set(sales) != numbers:
        result["ledger_mismatch"] = {"missing": sorted(numbers - set(sales))[:20],
                                     "unexpected": sorted(set(sales) - numbers)[:20]}
    counts = control.counts()
    result["calls"] = counts
    result["calls_per_order"] = _per_order(counts, n)
    result["ledger_log_requests"] = len(control.ledger_log())
    say(f"{label}: {len(posted)}/{n} posted in {seconds}s -> {result['orders_per_second']} "
        f"orders/s; with {payments} payments all done in {all_done}s -> "
        f"{result['orders_per_second_all_done']} orders/s" + (" (TIMED OUT)" if timed_out else ""))
    result["_shop_ids"] = shop_ids
    return result


def _per_order(counts: dict[str, dict[str, int]], n: int) -> dict:
    ccv = sum(counts["ccv"].values())
    ledger = sum(counts["ledger"].values())
    return {"ccv": round(ccv / n, 3), "ledger": round(ledger / n, 3),
            "total": round((ccv + ledger) / n, 3),
            "mix": {f"{system}: {key}": round(v / n, 3)
                    for system in ("ccv", "ledger")
                    for key, v in sorted(counts[system].items())}}


# -- the modes ---------------------------------------------------------------------------------

def run_embedded(control: FakesControl, documents: list[dict], args) -> tuple[dict, dict]:
    say("embedded: SQLite + in-process broker, "
        f"{args.threads} worker threads (as `koppel demo`)")
    control.reset()
    directory = tempfile.mkdtemp(prefix="koppel-bench-")
    capture = Capture()
    try:
        side = KoppelSide(control.fakes, database_url=f"sqlite:///{directory}/koppel.sqlite",
                          broker_url="", prefix="bench", threads=args.threads,
                          transport_for=capture.transport_for)
        try:
            side.register_webhooks()
            side.runtime.start_workers(args.threads)
            side.start_background(scheduler=True)
            control.clear_counts()
            capture.on = True
            result = timed_orders("embedded", control, side, documents, args.timeout,
                                  cpu={"koppel (bench process)": lambda: [os.getpid()]})
            capture.on = False
        finally:
            side.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    result["setup"] = f"SQLite + in-process broker, 1 process x {args.threads} threads"
    plan = replay_plan(capture.records, result.pop("_shop_ids"), control.fakes)
    result["client_side_calls"] = len(capture.records)
    return result, plan


def run_production(control: FakesControl, documents: list[dict], args) -> dict:
    say(f"production: PostgreSQL + RabbitMQ, `koppel worker --processes {args.processes}` "
        f"x {args.threads} threads")
    control.reset()
    with production_services() as (database_url, prefix):
        side = KoppelSide(control.fakes, database_url=database_url, broker_url=AMQP_URL,
                          prefix=prefix, threads=args.threads)
        workers = None
        try:
            side.register_webhooks()
            side.start_background(scheduler=False)  # `koppel serve` without workers
            workers = Workers(side, args.processes, args.threads)
            workers.wait_ready()
            say(f"production: {args.processes} worker processes consuming")
            control.clear_counts()
            group = workers.process.pid
            result = timed_orders(
                "production", control, side, documents, args.timeout,
                cpu={"workers": lambda: procstat.worker_processes(group),
                     "web+projector (bench process)": lambda: [os.getpid()]},
                rss=(lambda: procstat.worker_processes(group)) if args.rss else None)
        finally:
            if workers is not None:
                workers.stop()
            side.stop()
    result.pop("_shop_ids")
    result["setup"] = (f"PostgreSQL + RabbitMQ, {args.processes} processes x {args.threads} "
                       f"threads")
    return result


def replay_plan(records: list[dict], shop_ids: dict[int, str], fakes) -> dict:
    """Per order number, the calls koppel made for it, from the client-side records:
    CCV calls by the order id in their path; e-Boekhouden calls by thread, each run of calls
    in a thread ending with a call that names the order (the sale's ``POST /v1/mutation``,
    the payment's open-item lookup and ``POST``): a process actor does one document's debtor,
    sale and payment in one go. Session and ledger-code lookups are per
    process (``setup``)."""
    orders: dict[str, dict] = defaultdict(lambda: {"ccv": [], "ledger": []})
    setup, stray = [], []
    pending: dict[str, list] = defaultdict(list)
    for record in records:
        if record["origin"] == fakes.shop_url:
            match = _ORDER_PATH.match(record["path"])
            number = shop_ids.get(int(match.group(1))) if match else None
            if number is None:
                stray.append(record)
                continue
            template = record["uri"].replace(f"/orders/{match.group(1)}/", "/orders/{id}/", 1)
            orders[number]["ccv"].append((record["method"], template))
            continue
        call = (record["method"], record["path"], record["query"], record["body"])
        if record["path"].startswith(_SETUP_PATHS):
            setup.append(call)
            continue
        pending[record["thread"]].append(call)
        number = _invoice_number(record)
        if number is not None:
            orders[number]["ledger"].extend(pending.pop(record["thread"]))
    stray += [c for calls in pending.values() for c in calls]
    return {"orders": dict(orders), "setup": setup, "stray": len(stray)}


def _invoice_number(record: dict) -> str | None:
    """The order a call names: a mutation's body, an open-item lookup's query."""
    if record["method"] == "POST" and record["path"] == "/v1/mutation":
        return str(json.loads(record["body"])["invoiceNumber"])
    if record["path"] == "/v1/mutation/invoice/outstanding":
        from urllib.parse import parse_qs

        return parse_qs(record["query"]).get("invoiceNumber", [None])[0]
    return None


def run_ceiling(control: FakesControl, documents: list[dict], plan: dict, processes: int,
                args) -> dict:
    label = f"ceiling {processes}x{args.threads}"
    say(f"{label}: bare httpx replay of koppel's calls, {processes} process(es) x "
        f"{args.threads} threads")
    control.reset()
    shop_ids = control.put_orders(documents, notify=False)
    id_of = {number: shop_id for shop_id, number in shop_ids.items()}
    spare = control.ledger.post("/__sandbox/relations",
                                json={"name": "Bench spare relation", "type": "P"})
    spare.raise_for_status()
    orders = []
    for number, calls in plan["orders"].items():
        orders.append({"ccv": [(m, uri.replace("{id}", str(id_of[number])))
                               for m, uri in calls["ccv"]],
                       "ledger": calls["ledger"]})
    control.clear_counts()
    jobs = [{"orders": orders[i::processes], "setup": plan["setup"],
             "threads": args.threads, "shop_url": control.fakes.shop_url,
             "ledger_url": control.fakes.ledger_url, "shop_keys": bench_fakes.SHOP_KEYS,
             "spare_relation": spare.json()[0]["id"]} for i in range(processes)]
    seconds, reports = load.run_children(load.ceiling_child, jobs, args.timeout)
    errors = [r["error"] for r in reports if r["error"]]
    statuses = sum((Counter(r["statuses"]) for r in reports), Counter())
    refused = sum((Counter(r["refused"]) for r in reports), Counter())
    counts = control.counts()
    n = len(orders)
    result = {"orders": n, "seconds": round(seconds, 3),
              "orders_per_second": round(n / seconds, 2), "statuses": dict(statuses),
              "refused": dict(refused), "errors": errors, "calls": counts, "calls_per_order": _per_order(counts, n),
              "ledger_mutations": len(control.mutations()),
              "setup": f"bare httpx, {processes} process(es) x {args.threads} threads"}
    say(f"{label}: {n} orders' calls in {seconds:.2f}s -> {result['orders_per_second']} "
        f"orders/s" + (f"; ERRORS {errors}" if errors else ""))
    return result


def run_webhooks(control: FakesControl, args, variant: str) -> dict:
    label = f"webhook {variant}"
    control.reset()
    with _webhook_backend(variant) as (database_url, broker_url, prefix, setup):
        say(f"{label}: {args.webhooks} POSTs from {args.webhook_clients} client threads, "
            f"{setup}, no workers")
        side = KoppelSide(control.fakes, database_url=database_url, broker_url=broker_url,
                          prefix=prefix, threads=args.threads)
        try:
            side.start_background(scheduler=variant == "embedded")  # as `koppel serve`
            url = side.webhook_url()
            root = control.fakes.shop_url

            def post(shop_id: int):
                body = json.dumps({"id": shop_id, "href": f"{root}/api/rest/v1/orders/{shop_id}"})
                return url, body.encode()

            warmup = 50
            with httpx.Client(timeout=30) as client:
                for shop_id in range(1, warmup + 1):
                    url_, body = post(shop_id)
                    client.post(url_, content=body,
                                headers={"content-type": "application/json"}).raise_for_status()
            posts = [post(warmup + i) for i in range(1, args.webhooks + 1)]
            deadline = min(args.timeout, 120.0)
            jobs = [{"posts": posts, "threads": args.webhook_clients, "deadline": deadline,
                     "request_timeout": 15}]
            seconds, reports = load.run_children(load.webhook_child, jobs, deadline + 60)
            statuses = sum((Counter(r["statuses"]) for r in reports), Counter())
            inbox_rows = int(side.runtime.store.scalar("SELECT COUNT(*) FROM webhook_inbox"))
            broker_connections = len(getattr(side.runtime.broker, "connections", ()) or ())
        finally:
            stop_error = side.stop()
    answered = statuses.get("202", 0)
    result = {"requests": args.webhooks, "client_threads": args.webhook_clients,
              "seconds": round(seconds, 3),
              "requests_per_second": round(answered / seconds, 1),
              "statuses": dict(statuses), "inbox_rows": inbox_rows - warmup,
              "latency_ms": reports[0]["latency_ms"],
              "broker_connections_in_web_process": broker_connections,
              "errors": [r["error"] for r in reports if r["error"]],
              "setup": f"{setup}; web endpoint only, no workers"}
    if stop_error:
        result["stop_error"] = stop_error
    say(f"{label}: {answered} of {args.webhooks} webhooks answered 202 in {seconds:.2f}s -> "
        f"{result['requests_per_second']} req/s; statuses {dict(statuses)}; latency "
        f"{result['latency_ms']}; broker connections held by the web process: "
        f"{broker_connections}")
    return result


@contextmanager
def _webhook_backend(variant: str):
    if variant == "embedded":
        directory = tempfile.mkdtemp(prefix="koppel-bench-")
        try:
            yield (f"sqlite:///{directory}/koppel.sqlite", "", "benchwh",
                   "SQLite + in-process broker")
        finally:
            shutil.rmtree(directory, ignore_errors=True)
    else:
        with production_services() as (database_url, prefix):
            yield database_url, AMQP_URL, prefix, "PostgreSQL + RabbitMQ"


# -- reporting ----------------------------------------------------------------------------------

def _table(rows: list[list], left: int = 2) -> str:
    """Plain text columns; the first ``left`` columns left-aligned, the others right."""
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        lines.append("  ".join(str(c).ljust(w) if i < left else str(c).rjust(w)
                               for i, (c, w) in enumerate(zip(row, widths))))
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render(report: dict) -> str:
    out = []
    rows = [["mode", "setup", "orders", "s to last Posted", "orders/s", "s all done",
             "orders/s", "calls/order", "ratio Posted", "ratio all done", "CPU ms/order"]]
    for mode in ("embedded", "production"):
        r = report.get(mode)
        if not r:
            continue
        ratio = report.get("ratios", {}).get(mode, {})
        rows.append([mode, r["setup"], f"{r['posted']}/{r['orders']}", r["seconds"],
                     r["orders_per_second"], r["seconds_all_done"],
                     r["orders_per_second_all_done"], r["calls_per_order"]["total"],
                     ratio.get("posted", "-"), ratio.get("all_done", "-"),
                     r.get("cpu_ms_per_order", {}).get("total", "-")])
    for key, r in report.get("ceiling", {}).items():
        rows.append([f"ceiling {key}", r["setup"], r["orders"], "", "", r["seconds"],
                     r["orders_per_second"], r["calls_per_order"]["total"], "1", "1", ""])
    if len(rows) > 1:
        out.append(_table(rows))
    mixes = {m: report[m]["calls_per_order"] for m in ("embedded", "production") if m in report}
    mixes.update({f"ceiling {k}": v["calls_per_order"]
                  for k, v in report.get("ceiling", {}).items()})
    if mixes:
        keys = sorted({k for mix in mixes.values() for k in mix["mix"]})
        rows = [["HTTP calls per order", *mixes]]
        for key in keys:
            rows.append([key, *[mix["mix"].get(key, 0) for mix in mixes.values()]])
        rows.append(["total", *[mix["total"] for mix in mixes.values()]])
        out.append(_table(rows, left=1))
    cpu = {m: report[m]["cpu_ms_per_order"] for m in ("embedded", "production")
           if report.get(m, {}).get("cpu_ms_per_order")}
    if cpu:
        out.append("CPU ms per order (first put to all done): " + "; ".join(
            f"{m}: " + ", ".join(f"{k} {v}" for k, v in c.items()) for m, c in cpu.items()))
    lags = {m: report[m]["projector_lag"] for m in ("embedded", "production")
            if report.get(m, {}).get("projector_lag", {}).get("samples")}
    if lags:
        out.append("read models behind the log (sampled every 0.1 s while orders ran): " +
                   "; ".join(f"{m}: p50 {r['p50_s']} s, p99 {r['p99_s']} s, max {r['max_s']} s "
                             f"({r['samples']} samples)" for m, r in lags.items()))
    rss = report.get("production", {}).get("rss")
    if rss:
        out.append("worker RSS: " + "; ".join(
            f"pid {pid}: {r['first_mb']} -> {r['last_mb']} MB (max {r['max_mb']}), "
            f"{r['mb_per_1000_orders']} MB per 1,000 orders after the first tenth"
            for pid, r in rss["processes"].items()))
    hooks = report.get("webhook", {})
    if hooks:
        rows = [["webhook endpoint", "setup", "requests", "seconds", "req/s"]]
        for variant, r in hooks.items():
            rows.append([variant, r["setup"], r["requests"], r["seconds"],
                         r["requests_per_second"]])
        out.append(_table(rows))
    return "\n\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="koppel throughput against the sandbox fakes (see the module docstring)")
    parser.add_argument("--orders", type=int, default=200, help="orders per run (default 200)")
    parser.add_argument("--modes", default=",".join(MODES),
                        help=f"comma-separated, of {', '.join(MODES)} (default: all)")
    parser.add_argument("--json", type=Path, help="write the report as JSON to this file")
    parser.add_argument("--threads", type=int, default=4,
                        help="worker threads per process (koppel's default: 4)")
    parser.add_argument("--processes", type=int, default=2,
                        help="worker processes in production mode (default 2)")
    parser.add_argument("--webhooks", type=int, default=2000,
                        help="webhook POSTs in webhook mode (default 2000)")
    parser.add_argument("--webhook-clients", type=int, default=4,
                        help="client threads posting webhooks (default 4)")
    parser.add_argument("--ceiling-runs", type=int, default=3,
                        help="replays per ceiling; the best counts (default 3)")
    parser.add_argument("--seed", type=int, default=11, help="order generator seed")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="give up on one run after this many seconds (default 300)")
    parser.add_argument("--rss", action="store_true",
                        help="production: sample each worker process's RSS every 5 s and "
                             "report its growth per 1,000 orders")
    parser.add_argument("--fakes-in-process", action="store_true",
                        help="serve the fakes in this process (as `koppel demo` does) "
                             "instead of a process of their own")
    args = parser.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = set(modes) - set(MODES)
    if unknown or not modes:
        parser.error(f"--modes: unknown {sorted(unknown)}; choose from {', '.join(MODES)}")
    if not 1 <= args.orders <= MAX_ORDERS:
        parser.error(f"--orders must be 1..{MAX_ORDERS}")
    if not 1 <= args.webhooks <= MAX_WEBHOOKS:
        parser.error(f"--webhooks must be 1..{MAX_WEBHOOKS}")
    if not (1 <= args.threads <= 32 and 1 <= args.processes <= 8
            and 1 <= args.webhook_clients <= 32 and 1 <= args.ceiling_runs <= 10):
        parser.error("--threads 1..32, --processes 1..8, --webhook-clients 1..32, "
                     "--ceiling-runs 1..10")

    report: dict = {"started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                "platform": platform.platform()},
                    "options": {k: (str(v) if isinstance(v, Path) else v)
                                for k, v in vars(args).items()},
                    "fakes": "in the bench process" if args.fakes_in_process
                    else "a process of their own (python -m bench.fakes)"}
    documents = paid_domestic(args.orders, args.seed)
    say(f"{len(documents)} paid domestic orders generated (seed {args.seed}); modes: "
        f"{', '.join(modes)}")
    fakes = (bench_fakes.in_process() if args.fakes_in_process
             else bench_fakes.subprocess_fakes(cwd=str(ROOT)))
    assert fakes.shop_url.startswith("http://127.0.0.1:")
    assert fakes.ledger_url.startswith("http://127.0.0.1:")
    say(f"sandbox fakes: CCV Shop {fakes.shop_url}, e-Boekhouden {fakes.ledger_url}")
    control = FakesControl(fakes)
    plan = None
    try:
        if "embedded" in modes or "ceiling" in modes:
            if "embedded" not in modes:
                say("ceiling needs koppel's calls per order: running embedded first")
            report["embedded"], plan = run_embedded(control, documents, args)
            report["embedded"]["calls_recorded_unattributed"] = plan["stray"]
        if "production" in modes:
            report["production"] = run_production(control, documents, args)
        if "ceiling" in modes:
            report["ceiling"] = {}
            for processes in sorted({1, args.processes} if "production" in modes else {1}):
                # A ceiling is the best the fakes did: best of --ceiling-runs replays.
                runs = [run_ceiling(control, documents, plan, processes, args)
                        for _ in range(args.ceiling_runs)]
                best = max(runs, key=lambda r: r["orders_per_second"])
                best["runs_orders_per_second"] = [r["orders_per_second"] for r in runs]
                report["ceiling"][f"{processes}x{args.threads}"] = best
            ratios = {}
            for mode, key in (("embedded", f"1x{args.threads}"),
                              ("production", f"{args.processes}x{args.threads}")):
                ceiling, measured = report["ceiling"].get(key), report.get(mode)
                if not (ceiling and measured and measured.get("orders_per_second")):
                    continue
                ratios[mode] = {
                    "ceiling": key,
                    "posted": round(measured["orders_per_second"]
                                    / ceiling["orders_per_second"], 3),
                    "all_done": round((measured["orders_per_second_all_done"] or 0)
                                      / ceiling["orders_per_second"], 3)}
            report["ratios"] = ratios
        if "webhook" in modes:
            report["webhook"] = {variant: run_webhooks(control, args, variant)
                                 for variant in ("embedded", "production")}
    finally:
        control.close()
        fakes.stop()
    report["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    print(render(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
        say(f"report written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

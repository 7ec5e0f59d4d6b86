"""The PostgreSQL connections a koppel process really holds, counted by the server
(pg_stat_activity, by application_name), against the README's formula: at most
2 x the process's database threads, plus the scheduler's lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from urllib.parse import urlparse

import psycopg
import pytest

from tests.conftest import PG
from tests.e2e.processes import start_worker as _start_worker
from tests.e2e.processes import stop as _stop
from tests.e2e.test_brokers import _harness
from tests.waiting import until

pytestmark = pytest.mark.slow


class ConnectionCounter:
    """Samples the server's own list of sessions of one database, per application name."""

    def __init__(self, database_url: str) -> None:
        self.dbname = urlparse(database_url).path.lstrip("/")
        self.most: Counter = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def now(self) -> Counter:
        with psycopg.connect(host=PG["host"], port=PG["port"], user=PG["user"],
                             dbname="postgres", autocommit=True) as admin:
            rows = admin.execute(
                "SELECT application_name, count(*) FROM pg_stat_activity WHERE datname = %s "
                "GROUP BY application_name", [self.dbname]).fetchall()
        return Counter(dict(rows))

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, count in self.now().items():
                self.most[name] = max(self.most[name], count)
            time.sleep(0.05)

    def __enter__(self) -> "ConnectionCounter":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def test_a_worker_process_holds_at_most_twice_its_threads(
        postgres_url, rabbitmq_url, queue_prefix, fakes_on_ports, paid_domestic_orders):
    h = _harness(postgres_url, rabbitmq_url, queue_prefix, fakes_on_ports)
    counter = ConnectionCounter(postgres_url)
    worker = _start_worker(h)  # KOPPEL_WORKER_THREADS=2
    try:
        until(lambda: counter.now()["koppel worker"])
        time.sleep(1)  # a pool that opens more at start has done so by now
        idle = counter.now()["koppel worker"]
        assert idle <= 2 * 2, idle
        # The ledger is slow, so both threads are busy at once for a while.
        h.arm(mode="latency", method="POST", path="/v1/mutation", seconds=0.3, count=100)
        with counter:
            for order in paid_domestic_orders(12, seed=41):
                assert h.send_webhook(h.put_order(order)["id"]).status_code == 202
            h.wait_until(lambda: h.settled(12, ("posted",)), timeout=120)
        assert 2 <= counter.most["koppel worker"] <= 2 * 2, counter.most
    finally:
        _stop(worker)
        h.close()


def test_the_scheduler_holds_at_most_four_connections_and_its_lock(postgres_url, tmp_path):
    counter = ConnectionCounter(postgres_url)
    env = {**os.environ, "KOPPEL_DATABASE_URL": postgres_url, "KOPPEL_SECRET_KEY": "k",
           "KOPPEL_BROKER_URL": "", "KOPPEL_SWEEP_INTERVAL": "0.2"}
    scheduler = subprocess.Popen([sys.executable, "-m", "web.cli", "scheduler"], env=env,
                                 cwd=tmp_path, start_new_session=True)
    try:
        until(lambda: counter.now()["koppel scheduler lock"] == 1)
        with counter:
            time.sleep(3)  # the jobs and the projector run meanwhile
        assert counter.most["koppel scheduler lock"] == 1
        assert 1 <= counter.most["koppel scheduler"] <= 2 * 2, counter.most
    finally:
        os.killpg(scheduler.pid, signal.SIGTERM)
        scheduler.wait(20)

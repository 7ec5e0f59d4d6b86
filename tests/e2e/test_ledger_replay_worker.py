"""A replay run by a worker process on RabbitMQ, and the worker killed mid-replay (issue
13.3): the broker hands the slice to the next worker, which goes on from the recorded
position; each document once in each ledger."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import datetime, timezone

import pytest

from application.settings import load_settings_text
from domain.ledger_target import Purpose
from sandbox import ccvshop as sandbox_shop
from sandbox import eboekhouden as sandbox_ledger
from sandbox.serve import serve
from tests.e2e.processes import koppel_env
from tests.e2e.processes import stop as _stop
from tests.harness import LEDGER_TOKEN, SHOP_KEYS, Harness
from tests.waiting import until
from web.demo import demo_settings_text

pytestmark = pytest.mark.slow

SECOND = "second-administration-token"


def _sales(client) -> Counter:
    return Counter(m["invoiceNumber"] for m in client.get("/__sandbox/mutations").json()
                   if int(m["type"]) == 2)


def _worker(h: Harness) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "web.cli", "worker", "--processes", "1"],
                            env=koppel_env(h), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_a_worker_killed_mid_replay_books_nothing_twice(postgres_url, rabbitmq_url,
                                                       queue_prefix, paid_domestic_orders):
    servers = [serve(sandbox_shop.create_app(public_key=SHOP_KEYS[0], secret=SHOP_KEYS[1],
                                             api_root=None)),
               serve(sandbox_ledger.Administrations([LEDGER_TOKEN, SECOND]))]
    h = Harness(postgres_url, broker_url=rabbitmq_url, prefix=queue_prefix, claim_lease=3.0,
                servers=servers)
    second = h.administration(SECOND)
    workers = []
    try:
        for order in paid_domestic_orders(30, seed=31):
            doc_id = h.runtime.processing.intake(h.connection.id, "order",
                                                 h.put_order(order)["id"], "test")
            assert h.process(doc_id).status == "posted"
        second.post("/__sandbox/faults", json={"mode": "latency", "method": "POST",
                                               "path": "/v1/mutation", "seconds": 0.8}
                    ).raise_for_status()
        settings = load_settings_text(demo_settings_text(h.shop_url).replace(
            'api_token = "demo-ledger-token"', f'api_token = "{SECOND}"'))
        replays = h.runtime.replays
        target = replays.add(h.connection.id, "Accountant", settings,
                             datetime(2020, 1, 1, tzinfo=timezone.utc), Purpose.COPY,
                             by="test")
        h.runtime.replay_runner.run.send(str(target.id))  # as the page does

        workers.append(_worker(h))
        until(lambda: len(_sales(second)) >= 6, 90, "the worker replays")
        os.killpg(workers[0].pid, signal.SIGKILL)  # mid-chunk, claims held
        workers[0].wait()
        killed_at = len(_sales(second))
        assert killed_at < 30

        workers.append(_worker(h))  # the broker gives it the unfinished slice
        until(lambda: replays.get(target.id).state == "finished", 180, "the replay finishes")
        assert _sales(second) == _sales(h.ledger) and set(_sales(second).values()) == {1}
        assert replays.progress(target.id).posted == 30
    finally:
        for worker in workers:
            _stop(worker)
        second.close()
        h.close()
        for server in servers:
            server.stop()

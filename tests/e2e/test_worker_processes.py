"""``koppel worker --processes N`` keeps N worker processes running (a real process tree on
RabbitMQ; children are found in /proc and really killed)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.e2e.processes import koppel_env
from tests.e2e.processes import stop as _stop
from tests.e2e.test_brokers import _harness
from tests.waiting import until

pytestmark = pytest.mark.slow


def _children(pid: int) -> set[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return set()
    return {int(p) for p in text.split()}


def _start(h, log: Path, database_url: str | None = None) -> subprocess.Popen:
    env = koppel_env(h, KOPPEL_DATABASE_URL=database_url or h.config.database_url)
    return subprocess.Popen([sys.executable, "-m", "web.cli", "worker", "--processes", "2"],
                            env=env, start_new_session=True, stdout=log.open("w"),
                            stderr=subprocess.STDOUT)


def test_a_killed_worker_process_is_replaced_and_orders_still_post(
        postgres_url, rabbitmq_url, queue_prefix, fakes_on_ports, paid_domestic_orders,
        tmp_path):
    h = _harness(postgres_url, rabbitmq_url, queue_prefix, fakes_on_ports)
    log = tmp_path / "worker.log"
    parent = _start(h, log)
    try:
        first = until(lambda: len(_children(parent.pid)) == 2 and _children(parent.pid),
                       30, "two worker processes")
        until(lambda: log.read_text().count("consuming") == 2, 60, "both consume")
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        replaced = until(lambda: (lambda now: len(now) == 2 and victim not in now and now)(
            _children(parent.pid)), 30, "a new worker process in the killed one's place")
        assert len(replaced & first) == 1
        assert re.search(rf"\(pid {victim}\) was killed by SIGKILL", log.read_text())

        numbers = set()
        for order in paid_domestic_orders(6, seed=21):
            created = h.put_order(order)
            numbers.add(created["ordernumber_full"])
            assert h.send_webhook(created["id"]).status_code == 202
        h.wait_until(lambda: h.settled(6, ("posted",)), timeout=120)
        assert Counter(m["invoiceNumber"] for m in h.mutations()) == Counter(numbers)
        assert parent.poll() is None
    finally:
        _stop(parent)
        h.close()


def test_a_worker_process_that_keeps_dying_is_restarted_with_growing_waits(
        postgres_url, rabbitmq_url, queue_prefix, fakes_on_ports, tmp_path):
    """Every worker process dies at start (its database URL names no database it can use);
    the supervisor keeps going and says how long it waits before each new start."""
    h = _harness(postgres_url, rabbitmq_url, queue_prefix, fakes_on_ports)
    log = tmp_path / "worker.log"
    parent = _start(h, log, database_url="postgresql://postgres@127.0.0.1:5432/")
    try:
        def waits(slot: int) -> list[int]:
            return [int(w) for w in re.findall(
                rf"worker process {slot} \(pid \d+\) exited with code 1 after [\d.]+ s; "
                rf"starting a new one in (\d+) s", log.read_text())]

        until(lambda: len(waits(1)) >= 4 and len(waits(2)) >= 4, 60,
               "four early deaths of each worker process")
        assert waits(1)[:4] == [1, 2, 4, 8] and waits(2)[:4] == [1, 2, 4, 8]
        assert "names no database" in log.read_text()  # the workers' own reason, kept
        assert parent.poll() is None  # the supervisor itself keeps going
    finally:
        _stop(parent)
        h.close()

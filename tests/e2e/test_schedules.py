"""The schedules: the sweep catches missed webhooks (I2); every job is safe to run twice."""

from __future__ import annotations

from collections import Counter

import pytest
from click.testing import CliRunner

from sandbox.generator import generate
from web.cli import main
from workers.scheduler import SchedulerLock, recheck_open, recheck_payments


@pytest.mark.slow
def test_the_sweep_finds_every_order_whose_webhook_was_dropped(harness, paid_domestic_orders):
    orders = paid_domestic_orders(200, seed=21)
    harness.register_webhooks()
    harness.shop.put("/__sandbox/webhooks/drop", json={"rate": 0.3}).raise_for_status()
    harness.runtime.start_workers(4)
    numbers = {harness.put_order(order, notify=True)["ordernumber_full"] for order in orders}
    harness.shop.post("/__sandbox/deliveries/wait", json={"timeout": 60}).raise_for_status()
    dropped = sum(d["status"] == "dropped" for d in
                  harness.shop.get("/__sandbox/deliveries").json())
    assert 30 < dropped < 90  # about 30% of 200 never arrived

    harness.wait_until(lambda: len(harness.rows()) == 200 - dropped, timeout=120)
    result = harness.runtime.sweeper.run_once()
    assert (result.listed, result.missed) == (200, dropped)
    harness.wait_until(lambda: harness.settled(200, ("posted",)), timeout=180)
    assert {r["number"] for r in harness.rows()} == numbers
    assert Counter(m["invoiceNumber"] for m in harness.mutations()) == Counter(numbers)
    missed = harness.runtime.store.scalar("SELECT COUNT(*) FROM documents WHERE via = 'sweep'")
    assert missed == dropped  # the missed webhooks are counted

    again = harness.runtime.sweeper.run_once()  # twice: nothing new, nothing sent
    assert again.missed == 0


def test_a_sweep_also_fetches_a_waiting_order_whose_ispaid_webhook_was_lost(harness):
    item = generate(20, 4, failing_share=0, unpaid_share=1.0, scopes={"domestic"})[0]
    harness.runtime.start_workers(2)
    shop_id = harness.put_order(item)["id"]
    harness.rows()  # the sweep reads the connections from the read model: bring it up to date
    assert harness.runtime.sweeper.run_once().missed == 1
    harness.wait_until(lambda: harness.settled(1, ("waiting",)))
    harness.shop.patch(f"/__sandbox/orders/{shop_id}",
                       json={"paid": True, "notify": False}).raise_for_status()
    assert harness.runtime.sweeper.run_once().refetched == 1
    harness.wait_until(lambda: harness.settled(1, ("posted",)))
    assert len(harness.mutations()) == 1


def test_payment_and_open_rechecks_are_idempotent(harness, paid_domestic_orders):
    harness.change_settings(**{"[payments]\nenabled = true": "[payments]\nenabled = false"})
    harness.runtime.start_workers(2)
    for order in paid_domestic_orders(3, seed=8):
        harness.send_webhook(harness.put_order(order)["id"])
    harness.wait_until(lambda: harness.settled(3, ("posted",)))
    harness.change_settings()
    assert recheck_payments(harness.runtime.store, harness.runtime.actors) == 3
    assert recheck_payments(harness.runtime.store, harness.runtime.actors) == 3  # twice at once
    harness.wait_until(lambda: all(r["payment_status"] == "posted" for r in harness.rows()))
    assert len(harness.mutations(3)) == 3
    assert recheck_payments(harness.runtime.store, harness.runtime.actors) == 0
    assert recheck_open(harness.runtime.store, harness.runtime.actors) == 0


def test_an_installation_has_exactly_one_scheduler(database_url):
    first, second = SchedulerLock(database_url), SchedulerLock(database_url)
    assert first.acquire()
    assert not second.acquire()
    first.release()
    assert second.acquire()
    second.release()


def test_a_second_scheduler_is_refused_with_a_clear_message(sqlite_url):
    lock = SchedulerLock(sqlite_url)
    assert lock.acquire()
    try:
        result = CliRunner().invoke(main, ["scheduler"],
            env={"KOPPEL_DATABASE_URL": sqlite_url, "KOPPEL_SECRET_KEY": "k"})
        assert result.exit_code == 1
        assert "another koppel scheduler is running" in result.output
    finally:
        lock.release()

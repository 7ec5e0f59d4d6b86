"""The short chaos run of ``bench/chaos.py`` on each broker (issue 7): real koppel processes,
worker SIGKILLs (embedded: the whole process, twice), ledger and shop faults, 30% of webhooks
dropped, the broker and the database cut; then no duplicate and nothing lost, counted from the
sandbox ledger's own records, converged without operator action."""

from __future__ import annotations

import pytest

from bench.chaos import SHORT, run

pytestmark = pytest.mark.slow

ORDERS = 60


def _check(report: dict) -> None:
    # The faults really happened, else "nothing went wrong" proves nothing.
    fired = {kind: figures["fired"] for kind, figures in report["faults"].items()}
    assert sum(fired.values()) >= 10, fired
    assert report["webhook_deliveries"].get("dropped", 0) > 0
    assert report["failures"] == [], "\n".join(report["failures"]) + f"\nlogs: {report['logs']}"
    seen = report["seen"]
    assert seen["sales"] == seen["meant"]["posted"] == seen["read_model"]["posted"]
    assert seen["payments"] == seen["payments_due"] > 0


@pytest.mark.parametrize("broker", ["rabbitmq", "redis"])
def test_a_short_chaos_run_books_every_order_once(broker, postgres_url, queue_prefix, request):
    broker_url = request.getfixturevalue(f"{broker}_url")
    report = run(ORDERS, broker, seed=3, plan=SHORT,
                 made=(postgres_url, broker_url, queue_prefix))
    _check(report)
    assert report["worker_kills"] >= 2
    assert set(report["cuts"]) == {"broker", "database"}


def test_a_short_chaos_run_survives_killing_the_embedded_process_twice(sqlite_url):
    report = run(ORDERS, "embedded", seed=3, plan=SHORT, made=(sqlite_url, "", "chaos"))
    assert report["embedded_kills"] == 2
    _check(report)

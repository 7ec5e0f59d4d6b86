"""Importing a period of the shop's history before the start date (issue 10): the dry run says
what the import then does, the import books each document once, however often it is asked,
paused or killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from click.testing import CliRunner

from application.history_import import period_of
from domain.history_import import HistoryImport
from sandbox.generator import generate
from tests.harness import Harness
from web.cli import main

MARCH_ON = period_of(datetime(2026, 3, 1), datetime(2026, 12, 31))


def _start_today(h: Harness) -> None:
    h.runtime.connections.set_start_date(h.connection.id, datetime.now(timezone.utc), by="test")


def _history(h: Harness, count: int, seed: int, **shares) -> list[dict]:
    """Orders of the generator's (past) dates in the shop, before the start date."""
    orders = [d for d in generate(count, seed, scopes={"domestic", "icp", "oss"}, **shares)
              if d["kind"] == "order"]
    for order in orders:
        h.put_order(order)
    return orders


def _posted(h: Harness) -> list[dict]:
    return [r for r in h.rows() if r["status"] == "posted"]


def test_the_dry_run_books_nothing_and_says_exactly_what_the_import_then_books(harness):
    _start_today(harness)
    _history(harness, 40, seed=41, failing_share=0.2, unpaid_share=0.15)
    imports = harness.runtime.imports

    dry = imports.dry_run(harness.connection.id, MARCH_ON)
    assert harness.rows() == [] and harness.mutations() == []  # nothing recorded or sent
    assert dry.listed == 40 and dry.booked_already == 0
    assert dry.to_book > 20 and dry.waiting > 0 and sum(dry.failing.values()) > 0
    assert dry.to_book + dry.waiting + sum(dry.failing.values()) == 40

    imported = imports.start(harness.connection.id, MARCH_ON, by="merchant@example.test")
    assert imports.run(imported.id).state == "finished"
    posted = _posted(harness)
    assert len(posted) == dry.to_book
    assert sorted(r["number"] for r in posted) == sorted(dry.numbers)
    assert sum(Decimal(r["total_incl"]) for r in posted) == dry.total
    assert sorted(m["invoiceNumber"] for m in harness.mutations()) == sorted(dry.numbers)
    rows = harness.rows()
    assert Counter(r["failure_code"] for r in rows if r["status"] == "failed") == dry.failing
    assert sum(r["status"] == "waiting" for r in rows) == dry.waiting
    assert {r["via"] for r in rows} == {"import"}

    # asked again: nothing booked twice, and the dry run now says so
    again = imports.start(harness.connection.id, MARCH_ON, by="merchant@example.test")
    assert again.id == imported.id and again.runs == 2
    imports.run(again.id)
    assert len(harness.mutations()) == dry.to_book
    second = imports.dry_run(harness.connection.id, MARCH_ON)
    assert (second.to_book, second.booked_already) == (0, dry.to_book)


def test_an_order_set_aside_by_its_webhook_is_booked_when_its_period_is_imported(harness):
    _start_today(harness)
    orders = _history(harness, 12, seed=42, failing_share=0, unpaid_share=0)
    order = orders[0]
    processing = harness.runtime.processing
    listed = harness.runtime.imports.listing(harness.connection.id, MARCH_ON)[1]
    doc_id = processing.intake(harness.connection.id, "order", listed[0], "webhook")
    assert processing.process(doc_id).status == "before_start"

    one_day = order["order"]["create_date"][:10]
    day = datetime.fromisoformat(one_day)
    imports = harness.runtime.imports
    imported = imports.start(harness.connection.id, period_of(day, day), by="test")
    assert imported.total >= 1 and listed[0] in imported.shop_ids
    imports.run(imported.id)
    assert harness.runtime.app.document(doc_id).status == "posted"
    that_day = [o["order"]["ordernumber_full"] for o in orders
                if o["order"]["create_date"].startswith(one_day)]
    assert len(that_day) < len(orders)  # the period ends with its last day
    assert sorted(m["invoiceNumber"] for m in harness.mutations()) == sorted(that_day)
    events = [type(e).__name__ for e in harness.runtime.app.history(doc_id)]
    assert events[:3] == ["Received", "BeforeStartDate", "Checked"]


def test_a_paused_import_stops_and_goes_on_where_it_stopped(harness):
    _start_today(harness)
    _history(harness, 30, seed=43, failing_share=0, unpaid_share=0)
    imports = harness.runtime.imports
    imported = imports.start(harness.connection.id, MARCH_ON, by="test")
    seen = []

    def pause_from_elsewhere(progress: HistoryImport) -> None:
        seen.append(progress.position)
        if progress.position == 10:
            imports.pause(imported.id, by="the page")  # as another process would

    paused = imports.run(imported.id, pause_from_elsewhere)
    assert (paused.state, paused.position, seen) == ("paused", 10, [10])
    assert len(harness.mutations()) == 10
    assert imports.run(imported.id).position == 10  # paused: runs nothing
    resumed = imports.start(harness.connection.id, MARCH_ON, by="test")  # asked again
    assert resumed.state == "running"
    done = imports.run(imported.id)
    assert (done.state, done.position) == ("finished", 30)
    assert Counter(m["invoiceNumber"] for m in harness.mutations()).most_common(1)[0][1] == 1
    assert len(harness.mutations()) == 30


def test_the_cli_dry_run_and_import(sqlite_url, fakes_on_ports):
    h = Harness(sqlite_url, servers=fakes_on_ports)
    try:
        _start_today(h)
        _history(h, 8, seed=44, failing_share=0, unpaid_share=0)
        env = {"KOPPEL_DATABASE_URL": sqlite_url, "KOPPEL_SECRET_KEY": h.config.secret_key,
               "KOPPEL_BROKER_URL": ""}
        args = ["import", "--connection", "Demo shop", "--from", "2026-03-01",
                "--to", "2026-12-31"]
        dry = CliRunner().invoke(main, [*args, "--dry-run"], env=env)
        assert dry.exit_code == 0, dry.output
        assert "8 documents in the period; nothing was sent" in dry.output
        assert "would be booked:   8, total" in dry.output
        assert h.mutations() == []
        done = CliRunner().invoke(main, args, env={**env, "KOPPEL_EBOEKHOUDEN_URL": h.ledger_url})
        assert done.exit_code == 0 and "imported 8 documents" in done.output, done.output
        assert len(h.mutations()) == 8
        bad = CliRunner().invoke(main, ["import", "--connection", "Demo shop", "--from",
                                        "maart", "--to", "2026-12-31"], env=env)
        assert bad.exit_code != 0 and "maart" in bad.output
    finally:
        h.close()


@pytest.mark.slow
def test_an_importer_killed_midway_loses_nothing_and_books_nothing_twice(sqlite_url,
                                                                        fakes_on_ports):
    h = Harness(sqlite_url, servers=fakes_on_ports)
    try:
        _start_today(h)
        _history(h, 40, seed=45, failing_share=0, unpaid_share=0)
        expected = h.runtime.imports.dry_run(h.connection.id, MARCH_ON)
        h.arm(mode="latency", method="POST", path="/v1/mutation", seconds=0.15)
        env = {**os.environ, "KOPPEL_DATABASE_URL": sqlite_url,
               "KOPPEL_SECRET_KEY": h.config.secret_key, "KOPPEL_BROKER_URL": "",
               "KOPPEL_EBOEKHOUDEN_URL": h.ledger_url, "KOPPEL_CLAIM_LEASE": "3",
               "KOPPEL_SETTLE_WINDOW": "1"}
        command = [sys.executable, "-m", "web.cli", "import", "--connection", "Demo shop",
                   "--from", "2026-03-01", "--to", "2026-12-31"]
        importer = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(h.mutations()) < 15:
            time.sleep(0.05)
        importer.send_signal(signal.SIGKILL)
        importer.wait()
        booked_when_killed = len(h.mutations())
        assert 15 <= booked_when_killed < 40

        again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "imported 40 documents" in again.stdout
        # A document whose claim the killed importer held waits for its lease; then the
        # re-queue job (the scheduler's, in production) hands it to a worker, which looks it
        # up in the ledger before sending anything.
        h.runtime.start_workers(2)
        h.start_requeue(every=1.0, stale_after=1.0)
        h.wait_until(lambda: h.settled(40, ("posted",)), timeout=60)
        numbers = Counter(m["invoiceNumber"] for m in h.mutations())
        assert sorted(numbers) == sorted(expected.numbers)
        assert set(numbers.values()) == {1}
    finally:
        h.clear_faults()
        h.close()


def test_an_import_whose_connection_was_removed_stops_and_takes_nothing_in(harness):
    from application import removal

    _start_today(harness)
    _history(harness, 12, seed=43, failing_share=0.0, unpaid_share=0.0)
    imported = harness.runtime.imports.start(harness.connection.id, MARCH_ON, by="test")
    assert imported.remaining  # documents to take in
    removal.remove(harness.runtime.connections, lambda conn_id: [], harness.connection.id,
                   by="m", erase=False)
    harness.runtime.import_runner.run.fn(str(imported.id))  # a worker's slice: no error raised
    assert harness.rows() == [] and harness.mutations() == []

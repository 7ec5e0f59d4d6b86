"""The start date: a new connection books nothing the shop created before it (issue 10).

The shop here has a history (orders dated in the generator's past) and new orders (dated now,
as the shop dates an order it takes today); the connection starts between them.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from click.testing import CliRunner

from web.cli import main


def _dated_now(order: dict) -> dict:
    """The same order, taken by the shop today (the shop stamps create_date itself)."""
    fresh = {**order, "order": {k: v for k, v in order["order"].items() if k != "create_date"}}
    return fresh


def _start_today(harness) -> datetime:
    start = (datetime.now(timezone.utc) - timedelta(minutes=5)).replace(microsecond=0)
    assert harness.runtime.connections.set_start_date(harness.connection.id, start, by="test")
    return start


def test_the_first_sweep_books_only_what_the_shop_created_from_the_start_date_on(
        harness, paid_domestic_orders):
    orders = paid_domestic_orders(13, seed=31)
    old, new, last_night = orders[:8], orders[8:12], orders[12]
    for order in old:
        harness.put_order(order)  # months old, never notified: the shop's history
    start = _start_today(harness)
    hours_before = (start - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    harness.put_order({**last_night, "order": {**last_night["order"],
                                               "create_date": hours_before}})
    new_numbers = {harness.put_order(_dated_now(order))["ordernumber_full"] for order in new}
    harness.runtime.start_workers(2)
    harness.rows()  # the sweep reads the connections from the read model

    result = harness.runtime.sweeper.run_once()
    # Listed from a day before the start date (the shop filters by date): last night's order
    # is listed and left alone; the months-old ones are not even asked for.
    assert (result.listed, result.missed, result.before_start) == (5, 4, 1)
    harness.wait_until(lambda: harness.settled(4, ("posted",)))
    assert {m["invoiceNumber"] for m in harness.mutations()} == new_numbers
    assert {r["number"] for r in harness.rows()} == new_numbers  # history left alone
    assert harness.runtime.sweeper.run_once().missed == 0


def test_a_webhook_for_an_older_order_is_recorded_and_shown_but_not_booked(
        harness, paid_domestic_orders):
    old = paid_domestic_orders(1, seed=32)[0]
    start = _start_today(harness)
    harness.runtime.start_workers(2)
    shop_id = harness.put_order(old)["id"]
    assert harness.send_webhook(shop_id, "orders.updated.status").status_code == 202

    harness.wait_until(lambda: harness.settled(1, ("before_start",)))
    row = harness.rows()[0]
    assert row["number"] == old["order"]["ordernumber_full"]
    assert harness.mutations() == []
    history = harness.runtime.app.history(harness.runtime.app.document_of(
        harness.connection.id, "order", shop_id).id)
    assert [type(e).__name__ for e in history] == ["Received", "BeforeStartDate"]
    assert history[-1].start_date == start.isoformat()
    assert history[-1].created == old["order"]["create_date"].replace("Z", "+00:00")
    from projections import queries
    assert queries.counts(harness.runtime.store)["before_start"] == 1

    # The same webhook again records nothing new; the nightly re-check leaves it alone.
    harness.send_webhook(shop_id, "orders.updated.status")
    from workers.scheduler import recheck_open
    assert recheck_open(harness.runtime.store, harness.runtime.actors) == 0
    assert harness.mutations() == []


def test_an_earlier_start_date_books_what_was_set_aside(harness, paid_domestic_orders):
    old = paid_domestic_orders(1, seed=33)[0]
    _start_today(harness)
    shop_id = harness.put_order(old)["id"]
    processing = harness.runtime.processing
    doc_id = processing.intake(harness.connection.id, "order", shop_id, "webhook")
    assert processing.process(doc_id).status == "before_start"
    assert processing.process(doc_id).status == "before_start"  # nothing twice
    assert len(harness.runtime.app.history(doc_id)) == 2

    harness.runtime.connections.set_start_date(
        harness.connection.id, datetime(2026, 1, 1, tzinfo=timezone.utc), by="merchant")
    assert processing.process(doc_id).status == "posted"
    assert len(harness.mutations()) == 1


def test_a_new_connection_starts_now_and_the_cli_moves_it(tmp_path, sqlite_url):
    settings = open("web/demo_settings.toml").read().replace("{api_root}", "https://x.test")
    (tmp_path / "shop.toml").write_text(settings)
    env = {"KOPPEL_DATABASE_URL": sqlite_url, "KOPPEL_SECRET_KEY": "k", "KOPPEL_BROKER_URL": ""}
    runner = CliRunner()
    before = datetime.now(timezone.utc)
    made = runner.invoke(main, ["connections", "import", str(tmp_path / "shop.toml"),
                                     "--owner", _owner(env)], env=env)
    assert made.exit_code == 0, made.output
    assert "books what the shop creates from" in made.output
    shown = runner.invoke(main, ["connections", "start-date", "Demo shop"], env=env)
    started = datetime.fromisoformat(shown.output.split("from ")[1].split()[0])
    assert before - timedelta(seconds=1) <= started <= datetime.now(timezone.utc)

    moved = runner.invoke(main, ["connections", "start-date", "Demo shop", "2026-09-01"],
                          env=env, input="")
    assert moved.exit_code == 0, moved.output
    assert "2026-09-01T00:00:00+00:00" in moved.output
    again = runner.invoke(main, ["connections", "start-date", "Demo shop", "2026-09-01"], env=env)
    assert "unchanged" in again.output
    bad = runner.invoke(main, ["connections", "start-date", "Demo shop", "gisteren"], env=env)
    assert bad.exit_code != 0 and "gisteren" in bad.output


def _owner(env: dict) -> str:
    """A merchant to own the new connection (a new connection belongs to one)."""
    email = "owner@example.test"
    CliRunner().invoke(main, ["users", "add", email, "--role", "merchant", "--generate"],
                       env=env)
    return email

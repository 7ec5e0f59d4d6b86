"""The Overview's pictures: booked and failed per day in the merchant's days, what waits, read
from the read model only (the same after a rebuild, I4), drawn as SVG without script or style."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from projections.activity import activity
from sandbox.generator import generate
from tests.harness import BOOKS_FROM
from tests.harness import test_settings as settings_for
from web import charts


def _run(h, outcome: str, count: int, seed: int, connection_id=None) -> None:
    items = [i for i in generate(count * 8, seed, unpaid_share=0.0,
                                 failing_share=0.6 if outcome == "failed" else 0.0,
                                 scopes={"domestic"})
             if i["kind"] == "order" and i["expect"]["outcome"] == outcome][:count]
    assert len(items) == count
    for item in items:
        doc_id = h.runtime.processing.intake(connection_id or h.connection.id, "order",
                                             h.put_order(item)["id"], "test")
        h.process(doc_id)


def test_today_counts_what_was_booked_and_failed_and_a_rebuild_draws_the_same(harness):
    _run(harness, "posted", 3, 11)
    _run(harness, "failed", 2, 12)
    harness.rows()
    found = activity(harness.runtime.store)
    assert len(found.days) == 30
    assert (found.days[-1].booked, found.days[-1].failed) == (3, 2)
    assert sum(d.booked + d.failed for d in found.days[:-1]) == 0
    harness.runtime.projector.rebuild()
    assert activity(harness.runtime.store) == found
    assert activity(harness.runtime.store, scope=[]).days[-1].booked == 0
    assert activity(harness.runtime.store,
                    scope=[str(harness.connection.id)]).days[-1].booked == 3


def test_a_booking_late_in_the_evening_counts_on_the_merchants_day(harness):
    """23:30 UTC in summer is 01:30 the next day in Amsterdam."""
    _run(harness, "posted", 1, 11)
    harness.rows()
    with harness.runtime.store.transaction() as cur:
        cur.execute("UPDATE documents SET posted_at = ?", ["2026-07-14T23:30:00+00:00"])
    found = activity(harness.runtime.store,
                     now=datetime(2026, 7, 20, 12, tzinfo=timezone.utc))
    by_day = {d.day.isoformat(): d.booked for d in found.days if d.booked}
    assert by_day == {"2026-07-15": 1}
    assert found.days[-1].day.isoformat() == "2026-07-20"
    assert found.days[0].day == found.days[-1].day - timedelta(days=29)


def test_the_pictures_are_svg_without_script_or_inline_style(harness):
    _run(harness, "posted", 2, 11)
    harness.rows()
    html = harness.merchant.get("/?lang=nl").get_data(as_text=True)
    svg = html[html.index("<svg"):html.rindex("</svg>")]
    assert "<script" not in svg and "style=" not in svg
    assert len(re.findall(r'<rect class="bar-booked"', svg)) == 1
    assert "2 geboekt en 0 mislukt in 30 dagen" in html


def test_a_merchants_pictures_count_only_their_own_connections(harness):
    other, _ = harness.runtime.connections.save(
        settings_for(harness.shop_url, **{'name = "Demo shop"': 'name = "Other shop"',
                                          'number_prefix = ""': 'number_prefix = "B"'}),
        by="test", start_date=BOOKS_FROM)  # another merchant's shop on the same koppel (and
    # ledger: its own numbers), booking the generator's dated orders like the harness's first
    _run(harness, "posted", 2, 11)
    _run(harness, "posted", 3, 13, connection_id=other.id)
    harness.rows()
    assert activity(harness.runtime.store).days[-1].booked == 5  # both are in the read model
    html = harness.merchant.get("/?lang=nl").get_data(as_text=True)
    assert "2 geboekt en 0 mislukt in 30 dagen" in html


def test_the_bars_are_as_high_as_their_counts():
    class D:
        def __init__(self, booked, failed):
            self.booked, self.failed = booked, failed
            self.day = datetime(2026, 1, 1).date()
    chart = charts.stacked_days([D(4, 0), D(1, 1), D(0, 0)], lambda d: "")
    heights = [(b.css, b.height) for b in chart.bars]
    full = chart.base - (chart.ticks[-1][0])  # the plot's height: the top tick is 5
    assert [css for css, _ in heights] == ["bar-booked", "bar-booked", "bar-failed"]
    assert [round(h / full * 5, 2) for _, h in heights] == [4.0, 1.0, 1.0]

"""The list pages' query arguments: anything a browser can send gets a page or a clear 400."""

from __future__ import annotations

import pytest

from projections import queries


@pytest.mark.parametrize("path", ["/report", "/api/report", "/errors", "/api/open"])
@pytest.mark.parametrize("after", ["%00", "x%00y|z", "not-a-cursor",
                                   "2026-01-01T00:00:00|not-a-uuid", "%ff%fe"])
def test_a_cursor_koppel_did_not_make_is_refused_with_a_reason(harness, path, after):
    response = harness.merchant.get(f"{path}?after={after}")
    assert response.status_code == 400
    assert b"after" in response.data and b"next" in response.data


@pytest.mark.parametrize("query", ["from=%00", "to=2026-13-01", "from=99999-01-01"])
def test_a_date_that_is_no_date_is_refused_with_a_reason(harness, query):
    response = harness.merchant.get(f"/api/report?{query}")
    assert response.status_code == 400
    assert b"must be a date" in response.data


def test_the_next_cursor_a_page_gives_is_accepted(harness, paid_domestic_orders):
    for order in paid_domestic_orders(3, seed=31):
        shop_id = harness.put_order(order)["id"]
        harness.runtime.processing.process(harness.runtime.processing.intake(
            harness.connection.id, "order", shop_id, "test"))
    harness.rows()
    first = queries.documents_page(harness.runtime.store, "report", limit=2)
    seen = [row["id"] for row in first.rows]
    cursor = first.next_cursor
    assert cursor
    while cursor:
        page = harness.merchant.get("/api/report", query_string={"after": cursor})
        assert page.status_code == 200
        seen += [row["id"] for row in page.get_json()["items"]]
        cursor = page.get_json()["next"]
    assert len(seen) == len(set(seen)) == 3

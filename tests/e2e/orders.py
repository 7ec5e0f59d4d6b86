"""Posted orders of every scope, for the tests of what is read back (export, search)."""

from __future__ import annotations

from sandbox.generator import ORDER_SCENARIOS, generate

FORMULA_NAME = "=cmd|' /C calc'!A0"


def post_orders(harness, count: int, seed: int = 41, number_from: int | None = None) -> list[dict]:
    """Orders of every scope the demo settings post, each run to the end; the first
    customer's company is a formula. ``number_from`` renumbers them (every seed numbers from
    the same start, so two batches in one shop would share numbers)."""
    items = [i for i in generate(count * 3, seed, failing_share=0, unpaid_share=0,
                                 scopes=set(ORDER_SCENARIOS))
             if i["expect"]["outcome"] == "posted"][:count]
    items[0]["order"]["customer"]["billingaddress"]["company"] = FORMULA_NAME
    for offset, item in enumerate(items if number_from is not None else ()):
        item["order"]["ordernumber"] = number_from + offset
        item["order"]["ordernumber_full"] = str(number_from + offset)
    for item in items:
        shop_id = harness.put_order(item)["id"]
        doc_id = harness.runtime.processing.intake(harness.connection.id, "order", shop_id,
                                                   "test")
        harness.process(doc_id)
    rows = harness.rows()
    assert [r["status"] for r in rows] == ["posted"] * count, [r["failure_code"] for r in rows]
    return items

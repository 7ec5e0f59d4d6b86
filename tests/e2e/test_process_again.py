"""Process on a selection of documents in Errors: each is fetched from the shop again, who and
why are recorded, and the ledger is called by the workers, never in the request."""

from __future__ import annotations

import random

from sandbox.generator import VALID_VAT, generate
from web.reprocess import ask_to_process


def _in_errors(h, count: int) -> list[tuple[int, object]]:
    items = [i for i in generate(400, 29, failing_share=1.0, unpaid_share=0)
             if i["expect"]["check"] == "ICP_VAT_NUMBER_INVALID" and i["kind"] == "order"]
    found = []
    for item in items[:count]:
        shop_id = h.put_order(item)["id"]
        doc_id = h.runtime.processing.intake(h.connection.id, "order", shop_id, "test")
        h.runtime.processing.process(doc_id)
        assert h.runtime.app.document(doc_id).status == "failed"
        found.append((shop_id, doc_id))
    return found


def _fix_vat_number(h, shop_id: int, doc_id) -> None:
    """The merchant follows the error message and corrects the VAT number in the shop."""
    customer = dict(h.runtime.app.document(doc_id).source["order"]["customer"])
    customer["btw"] = VALID_VAT[customer["billingaddress"]["country_code"]](random.Random(5))
    h.shop.patch(f"/__sandbox/orders/{shop_id}",
                 json={"customer": customer, "notify": False}).raise_for_status()


def test_a_selection_is_fetched_again_recorded_and_left_to_the_workers(harness):
    h = harness
    (fixed_shop, fixed), (_, unfixed), (gone_shop, gone) = _in_errors(h, 3)
    _fix_vat_number(h, fixed_shop, fixed)
    h.shop.delete(f"/__sandbox/orders/{gone_shop}").raise_for_status()
    number = {d: h.runtime.app.document(d).number for d in (fixed, unfixed, gone)}

    asked = ask_to_process(h.runtime, [(d, number[d]) for d in (fixed, unfixed, gone)],
                           "merchant@example.test", "VAT number corrected in the shop")

    assert asked.queued == [number[fixed], number[unfixed]] and asked.posted == []
    assert [n for n, _ in asked.refused] == [number[gone]]
    # Asked, recorded, fetched again: nothing has gone to the ledger yet.
    assert h.mutations() == [] and h.runtime.app.document(fixed).status == "received"
    requested = [e for e in h.runtime.app.history(fixed)
                 if type(e).__name__ == "ReprocessRequested"]
    assert [(e.by, e.reason) for e in requested] == [
        ("merchant@example.test", "VAT number corrected in the shop")]
    assert "ReprocessRequested" not in [type(e).__name__ for e in h.runtime.app.history(gone)]

    h.runtime.start_workers(2)
    h.wait_until(lambda: h.runtime.app.document(fixed).status == "posted"
                 and h.runtime.app.document(unfixed).status == "failed")
    assert [m["invoiceNumber"] for m in h.mutations()] == [number[fixed]]
    assert h.runtime.app.document(gone).status == "failed"

    again = ask_to_process(h.runtime, [(fixed, number[fixed])], "merchant@example.test", "again")
    assert again.posted == [number[fixed]] and again.queued == []

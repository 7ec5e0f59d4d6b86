"""Issue 13.2: correction bookings for every kind of ledger document, each part exactly once,
through the sandbox. A posted R7.2 invoice of e-Boekhouden's invoicing module is reversed by a
credit invoice (its items with negative quantities), a posted R7.3 Billit invoice by a credit
note naming it (``AboutInvoiceNumber``); each new booking is the draft's own. The ledger
commits a part and then answers 500 (or koppel's call times out while it commits): the part
is found by its lookup, never sent twice, and running the correction runner again books
nothing more. (R7.1 mutations: tests/e2e/test_dry_run.py.)"""

from __future__ import annotations

import time
from datetime import date
from decimal import Decimal

import pytest

from application.corrections import CannotCorrect
from application.dryrun import source_as_booked
from application.errors import TransientError
from application.processing import ClaimHeld
from domain.booking import build_booking
from domain.correction import REBOOKING, REVERSAL, Correction, part_external_id
from sandbox import billit as sandbox_billit
from sandbox import ccvshop as sandbox_shop
from sandbox import eboekhouden as sandbox_ledger
from sandbox.serve import serve
from tests.harness import LEDGER_TOKEN, SHOP_KEYS, Harness
from tests.harness import test_settings as settings_with
from web.demo import BILLIT_KEY, BILLIT_PARTY

PERIOD = (date(2020, 1, 1), date(2030, 12, 31))
MOVED = {"revenue_account = \"8000\"": "revenue_account = \"8005\""}
INVOICE = {'document = "mutation"': 'document = "invoice"'}  # the demo: the ledger numbers
SHOP_NUMBERS_BOOKED = {**INVOICE, 'invoice_number = "ledger"': 'invoice_number = "shop"',
                       "book_invoice = false": "book_invoice = true"}
KINDS = {"billit": ("billit", {}),
         "invoice-ledger-numbers": ("eboekhouden", INVOICE),
         "invoice-shop-numbers-booked": ("eboekhouden", SHOP_NUMBERS_BOOKED)}
TIMEOUT = 1.0  # koppel's HTTP timeout where the fakes run on ports
SETTLE = 3.0  # longer than the fake holds its answer after committing (HELD)
HELD = 2.5


@pytest.fixture
def servers():
    running = [serve(sandbox_shop.create_app(public_key=SHOP_KEYS[0], secret=SHOP_KEYS[1],
                                             api_root=None)),
               serve(sandbox_ledger.create_app(api_token=LEDGER_TOKEN)),
               serve(sandbox_billit.create_app(api_key=BILLIT_KEY, party_id=int(BILLIT_PARTY)))]
    yield running
    for server in running:
        server.stop()


def _harness(sqlite_url, kind: str, servers=None) -> Harness:
    ledger, settings = KINDS[kind]
    if servers is None:
        h = Harness(sqlite_url, ledger=ledger)
    else:
        h = Harness(sqlite_url, servers=servers, ledger=ledger, http_timeout=TIMEOUT,
                    settle_window=SETTLE)
    if settings:
        h.change_settings(**settings)
    if ledger == "eboekhouden":  # the draft's new account: the accountant adds it first
        h.ledger.post("/__sandbox/ledgers", json={"code": "8005", "category": "VW",
                                                  "description": "Omzet webshop"}
                      ).raise_for_status()
    return h


def _draft(h: Harness, kind: str):
    ledger, settings = KINDS[kind]
    return settings_with(h.shop_url, ledger, **settings, **MOVED)


def _posted_one(h: Harness, orders) -> object:
    """The first order with a 21% line (R4.8: on 8000, which the draft moves), posted."""
    for order in orders:
        shop_id = h.put_order(order)["id"]
        doc_id = h.runtime.processing.intake(h.connection.id, "order", shop_id, "test")
        h.process(doc_id)
        document = h.runtime.app.document(doc_id)
        assert document.status == "posted", document.failure
        if any(line["account"] == "8000" for line in document.booking["lines"]):
            h.runtime.projector.catch_up()
            return document
    raise AssertionError("no order with a 21% line: choose other orders")


def _apply(h: Harness, kind: str):
    applied = h.runtime.apply_draft.apply(h.connection.id, _draft(h, kind), *PERIOD, by="m",
                                          reason="new revenue account", book_corrections=True)
    [correction] = applied.corrections
    return applied.settings_version, correction


def _run(h: Harness, correction, attempts: int = 8) -> Correction:
    """The correction runner as a worker's retries drive it."""
    for _ in range(attempts):
        try:
            return h.runtime.corrections.run(correction)
        except ClaimHeld as held:
            time.sleep(held.retry_after + 0.05)
        except TransientError:
            time.sleep(0.05)
    raise AssertionError("the correction did not finish")


def _arm(h: Harness, kind: str, mode: str, correction, part: str, number: str) -> None:
    """The fault on the POST of one part only (matched in its body)."""
    if kind == "billit":
        fault = {"path": "/v1/orders", "body": part_external_id(correction, part)}
        control = h.billit
    else:
        fault = {"path": "/v1/invoice", "body": number}
        control = h.ledger
    fault |= {"method": "POST", "count": 1}
    fault |= ({"mode": "after_commit"} if mode == "after_commit"
              else {"mode": "latency_after_commit", "seconds": HELD})
    control.post("/__sandbox/faults", json=fault).raise_for_status()


def _documents(h: Harness, kind: str) -> list[dict]:
    control = h.billit if kind == "billit" else h.ledger
    return control.get("/__sandbox/orders" if kind == "billit" else "/__sandbox/invoices").json()


def _titled(h: Harness, kind: str, number: str) -> list[dict]:
    """The ledger's documents that carry this number (R7.3 OrderTitle, R7.2 reference)."""
    key = "OrderTitle" if kind == "billit" else "reference"
    return [d for d in _documents(h, kind) if d.get(key) == number]


def _total(kind: str, document: dict) -> Decimal:
    return Decimal(str(document["TotalIncl" if kind == "billit" else "totalAmount"]))


def _check_booked_once(h: Harness, kind: str, document, version: int, correction) -> None:
    number = document.number
    [original] = _titled(h, kind, number)
    [reversal] = _titled(h, kind, f"{number}-R{version}")
    [rebooking] = _titled(h, kind, f"{number}-C{version}")
    assert len(_documents(h, kind)) == 3
    if kind == "billit":
        assert (reversal["OrderType"], rebooking["OrderType"]) == ("CreditNote", "Invoice")
        # R7.3: the credit note names the invoice by the number Billit gave it; its amounts
        # are positive; both parts are open items (the payment stays with the original).
        assert reversal["AboutInvoiceNumber"] == original["OrderNumber"]
        assert _total(kind, reversal) == _total(kind, original) > 0
        assert reversal["PaymentReference"] == f"{number}-R{version}"
        assert (reversal["Paid"], rebooking["Paid"]) == (False, False)
        for part, made in ((REVERSAL, reversal), (REBOOKING, rebooking)):
            assert made["ExternalProviderID"] == part_external_id(correction, part)
            assert made["Received"]["idempotency_key"] == made["ExternalProviderID"]
    else:
        # R7.2: a credit invoice, line for line the original times -1 (negative quantities).
        assert _total(kind, reversal) == -_total(kind, original) < 0
        assert sorted(Decimal(str(i["quantity"])) * Decimal(str(i["pricePerUnit"]))
                      for i in reversal["items"]) == sorted(
            -Decimal(str(i["quantity"])) * Decimal(str(i["pricePerUnit"]))
            for i in original["items"])
        assert {i["ledgerCode"] for i in rebooking["items"]} >= {"8005"}
        assert "8005" not in {i["ledgerCode"] for i in original["items"]}
        if KINDS[kind][1] is SHOP_NUMBERS_BOOKED:
            assert reversal["invoiceNumber"] == f"{number}-R{version}"
            # Booked invoices: one type-2 mutation each, under the invoice's number.
            numbers = [m["invoiceNumber"] for m in h.mutations()]
            for suffix in ("", f"-R{version}", f"-C{version}"):
                assert numbers.count(f"{number}{suffix}") == 1
    assert _total(kind, rebooking) == _total(kind, original)


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("part", [REVERSAL, REBOOKING])
def test_a_500_after_commit_books_each_part_once(sqlite_url, paid_domestic_orders, kind,
                                                 part):
    h = _harness(sqlite_url, kind)
    try:
        document = _posted_one(h, paid_domestic_orders(6))
        version, correction = _apply(h, kind)
        suffix = "R" if part == REVERSAL else "C"
        _arm(h, kind, "after_commit", correction, part, f"{document.number}-{suffix}{version}")
        with pytest.raises(TransientError) as lost:
            for _ in range(2):  # the reversal first; the new booking's fault on its turn
                h.runtime.corrections.run(correction)
        assert lost.value.outcome_unknown
        assert _run(h, correction).done
        for _ in range(2):  # the runner again, twice: nothing more reaches the ledger
            h.runtime.correction_runner._book(str(correction))
        _check_booked_once(h, kind, document, version, correction)
        history = h.runtime.app.history(correction)
        assert [type(e).__name__ for e in history].count("Interrupted") == 1
        found = [e.part for e in history if isinstance(e, Correction.Posted)
                 and e.found_by_lookup]
        assert found == [part]
        assert (history[0].by, history[0].reason) == ("m", "new revenue account")
    finally:
        h.close()


@pytest.mark.parametrize("kind", ["billit", "invoice-ledger-numbers"])
def test_a_timeout_while_the_ledger_commits_books_the_part_once(sqlite_url, servers,
                                                                paid_domestic_orders, kind):
    """koppel's call times out (1 s) while the ledger has committed and holds its answer
    (2.5 s): the outcome is unknown, the retry waits out the settle window and finds it."""
    h = _harness(sqlite_url, kind, servers)
    try:
        document = _posted_one(h, paid_domestic_orders(6))
        version, correction = _apply(h, kind)
        _arm(h, kind, "timeout", correction, REVERSAL, f"{document.number}-R{version}")
        with pytest.raises(TransientError) as lost:
            h.runtime.corrections.run(correction)
        assert lost.value.outcome_unknown
        with pytest.raises(ClaimHeld):  # inside the settle window nothing is sent
            h.runtime.corrections.run(correction)
        assert _run(h, correction).done
        h.runtime.correction_runner._book(str(correction))
        _check_booked_once(h, kind, document, version, correction)
        [found] = [e for e in h.runtime.app.history(correction)
                   if isinstance(e, Correction.Posted) and e.found_by_lookup]
        assert found.part == REVERSAL
    finally:
        h.close()


def test_a_draft_of_another_document_kind_is_listed_not_corrected(sqlite_url,
                                                                   paid_domestic_orders):
    """A mutation (R7.1) is not corrected by an invoice (R7.2): that changes the kind of
    document, so the posted one stays on the correction list, and nothing is booked."""
    h = _harness(sqlite_url, "invoice-ledger-numbers")
    try:
        h.change_settings()  # back to the demo's mutations
        document = _posted_one(h, paid_domestic_orders(6))
        before = len(h.mutations())
        applied = h.runtime.apply_draft.apply(
            h.connection.id, _draft(h, "invoice-ledger-numbers"), *PERIOD, by="m",
            reason="invoices from now on", book_corrections=True)
        assert applied.corrections == [] and document.number in applied.listed
        [(number, why_nl, why_en)] = applied.not_corrected
        assert number == document.number
        assert "invoice" in why_en and "factuur" in why_nl and "by hand" in why_en
        assert len(h.mutations()) == before and _documents(h, "invoice") == []
    finally:
        h.close()


def test_a_draft_into_another_ledger_system_is_a_switch_not_a_correction(
        sqlite_url, paid_domestic_orders):
    h = _harness(sqlite_url, "invoice-ledger-numbers")
    try:
        document = _posted_one(h, paid_domestic_orders(6))
        billit = _draft(h, "billit")
        proposed = build_booking(source_as_booked(h.runtime.app, document), billit)
        with pytest.raises(CannotCorrect) as refused:
            h.runtime.corrections.request(document.id, proposed, billit, 9, "m", "to Billit")
        assert "switch" in refused.value.message and "overstap" in refused.value.message_nl
        assert document.number in refused.value.message
    finally:
        h.close()


def test_a_billit_invoice_deleted_in_billit_is_listed_not_credited(sqlite_url,
                                                                    paid_domestic_orders):
    """R7.3: a credit note must name an invoice Billit knows (TheAboutInvoiceNumber...);
    with the original deleted in Billit there is nothing to credit: listed, with why."""
    h = _harness(sqlite_url, "billit")
    try:
        document = _posted_one(h, paid_domestic_orders(6))
        [booked] = _titled(h, "billit", document.number)
        deleted = h.billit.delete(f"/v1/orders/{booked['OrderID']}",
                                  headers={"ApiKey": BILLIT_KEY})
        assert deleted.status_code == 200, deleted.text
        applied = h.runtime.apply_draft.apply(h.connection.id, _draft(h, "billit"), *PERIOD,
                                              by="m", reason="new revenue account",
                                              book_corrections=True)
        assert applied.corrections == [] and document.number in applied.listed
        [(number, why_nl, why_en)] = applied.not_corrected
        assert number == document.number and "Billit" in why_en and "Billit" in why_nl
        assert _documents(h, "billit") == []
    finally:
        h.close()

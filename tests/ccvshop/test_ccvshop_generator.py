"""The demo generator: totals consistent to the cent, valid (or deliberately invalid) VAT
numbers, expectations that follow from the document, determinism, coverage.

The totals are re-derived here from the wire fields alone, following mapping.md (R0.3, R4),
without using the generator's own arithmetic.
"""

from __future__ import annotations

import json
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal

import pytest
from stdnum.eu import vat as eu_vat

from sandbox.ccvshop import dumps
from sandbox.generator import generate

C = Decimal("0.01")
EU = {"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE",
      "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK"}
MAPPED = {Decimal(21), Decimal(9), Decimal(0)}


def r(x: Decimal) -> Decimal:
    return Decimal(x).quantize(C, rounding=ROUND_HALF_UP)


def D(x) -> Decimal:
    return Decimal(x if x is not None else 0)


@pytest.fixture(scope="module")
def docs():
    return generate(300, 2024)


def source(item):
    doc = item["invoice"] if item["kind"] == "invoice" else item["order"]
    rows = item["invoicerows"] if item["kind"] == "invoice" else item["orderrows"]
    return doc, rows


def scope_of(doc) -> str:
    billing = doc["customer"]["billingaddress"]
    country = doc["customer"]["deliveryaddress"]["country_code"] or billing["country_code"]
    if doc["is_intra_community_order"]:
        return "icp"
    if D(doc["total_tax"]) == 0 and country != "NL":
        return "international"
    if country in EU and country != "NL" and country in ("DE", "FR"):
        return "oss"
    return "domestic"


def rebuilt_lines(item):
    """(rate, amount in the document's terms) per booking line, as R4 reads them."""
    doc, rows = source(item)
    invoice = item["kind"] == "invoice"
    zero = scope_of(doc) in ("icp", "international")
    unit = "price_with_attributes" if invoice else "selling_price"
    products = [(Decimal(0) if zero else D(row["tax"]), r(D(row[unit]) * D(row["count"])))
                for row in rows]
    top = max((rate for rate, _ in products), default=Decimal(0))
    lines = list(products)
    ship_rate = Decimal(0) if zero else D(doc["shipping_tax_percentage"])
    if D(doc["total_shipping"]):
        lines.append((ship_rate, D(doc["total_shipping"])))
    costs = D(doc["paymethod_costs"]) + D(doc["extra_payment_option_price"])
    if costs:
        country = scope_of(doc)
        standard = {"oss": D(doc["shipping_tax_percentage"])}.get(country, Decimal(21))
        lines.append((Decimal(0) if zero else (ship_rate if invoice else standard), costs))
    if D(doc["extra_costs"]):
        lines.append((top, D(doc["extra_costs"])))
    if D(doc["credit_point_discount"]):
        lines.append((top, -D(doc["credit_point_discount"])))
    discount_field = ("price_without_discount_with_attributes" if invoice
                      else "price_without_discount")
    row_discounts = sum((D(row[discount_field]) - D(row[unit])) * D(row["count"]) for row in rows)
    whole = D(doc["total_discounts"])
    residual = whole - row_discounts
    if "coupon_only" in item["features"]:
        # R4.5's coupon-only reading: the shop's total held the coupon only. Only then does
        # the booking balance: the residual reading is off by more than the tolerance.
        assert whole == D(doc["discountcoupon"]["discount"]) and row_discounts >= C * 5
        residual_reading = _discount(lines, products, residual if residual > 0 else 0)
        assert abs(sum(a for _, a in residual_reading) - D(doc["total_price"])) > C * 2
        return _discount(lines, products, whole)
    return _discount(lines, products, residual)


def _discount(lines, products, amount):
    """R4.5: ``amount`` as negative lines per product rate, in proportion, the remainder to the
    largest (on a tie the higher rate)."""
    if abs(amount) <= Decimal("0.005"):
        return lines
    basis = Counter()
    for rate, line_amount in products:
        basis[rate] += line_amount
    total = sum(basis.values())
    shares = {rate: r(amount * line_amount / total) for rate, line_amount in basis.items()}
    biggest = max(basis, key=lambda k: (basis[k], k))
    shares[biggest] += amount - sum(shares.values())
    return lines + [(rate, -share) for rate, share in shares.items()]


def test_totals_are_consistent_to_the_cent_for_every_document(docs):
    for item in docs:
        doc, rows = source(item)
        invoice = item["kind"] == "invoice"
        incl = doc["taxes_included"]
        unit = "price_with_attributes" if invoice else "selling_price"
        for row in rows:
            assert D(row["selling_price"]) == D(row["price"]) - D(row["discount"])
            assert D(row["total_price"]) == D(row[unit]) * D(row["count"])
        if not invoice:
            assert D(doc["total_orderrow_price"]) == sum(D(row["total_price"]) for row in rows)
        lines = rebuilt_lines(item)
        assert D(doc["total_price"]) == sum(amount for _, amount in lines), doc["id"]
        if incl:
            vat = sum(a - r(a / (1 + rate / 100)) for rate, a in lines)
            total_incl = D(doc["total_price"])
            lines_incl = sum(a for _, a in lines)
        else:
            vat = sum(r(a * rate / 100) for rate, a in lines)
            total_incl = D(doc["total_price"]) + D(doc["total_tax"])
            lines_incl = sum(a + r(a * rate / 100) for rate, a in lines)
        assert D(doc["total_tax"]) == vat, doc["id"]
        assert total_incl == lines_incl  # R4.6: no rounding line needed
        if invoice:
            assert D(doc["total_price_inc_tax"]) - D(doc["total_price_exc_tax"]) == D(
                doc["total_tax"])


def test_amounts_are_exact_on_the_wire(docs):
    text = dumps(docs)
    again = json.loads(text, parse_float=Decimal)
    assert again == docs  # what a parse_float=Decimal reader gets is exactly the document
    assert not any(isinstance(v, float) for v in _walk(docs))


def _walk(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)
    else:
        yield value


def test_vat_numbers_are_valid_for_icp_and_invalid_where_expected(docs):
    icp = [i for i in docs if i["order"]["is_intra_community_order"] and i["kind"] == "order"]
    assert icp
    for item in icp:
        btw = item["order"]["customer"]["btw"]
        if item["expect"]["check"] == "ICP_VAT_NUMBER_INVALID":
            assert not btw or not eu_vat.is_valid(btw), btw
        else:
            assert eu_vat.is_valid(btw), btw
    countries = {i["order"]["customer"]["btw"][:2] for i in icp
                 if i["expect"]["outcome"] == "posted"}
    assert {"BE", "DE", "FR"} <= countries
    nl = [i["order"]["customer"]["btw"] for i in docs if i["kind"] == "order"
          and i["order"]["customer"]["btw"].startswith("NL")]
    assert nl and all(eu_vat.is_valid(v) for v in nl)


def test_expectations_follow_from_the_documents(docs):
    for item in docs:
        doc, rows = source(item)
        order = item["order"]
        expect = item["expect"]
        billing = doc["customer"]["billingaddress"]
        country = doc["customer"]["deliveryaddress"]["country_code"] or billing["country_code"]
        assert expect["country"] == country
        assert expect["scope"] == scope_of(doc)
        rates = {Decimal(0) if expect["scope"] in ("icp", "international") else D(row["tax"])
                 for row in rows}
        failures = set()
        if doc["currency"] != "EUR":
            failures.add("CURRENCY_NOT_ENABLED")
        if not (billing["company"] or billing["first_name"] or billing["last_name"]):
            failures.add("CUSTOMER_NAME_MISSING")
        if expect["scope"] == "icp" and not eu_vat.is_valid(doc["customer"]["btw"] or "x"):
            failures.add("ICP_VAT_NUMBER_INVALID")
        if country not in EU and D(doc["total_tax"]) != 0:
            failures.add("INTERNATIONAL_WITH_VAT")
        if expect["scope"] == "domestic" and not rates <= MAPPED:
            failures.add("VAT_CODE_MISSING")
        assert failures == ({expect["check"]} if expect["check"] else set()), (doc["id"], failures)
        if expect["outcome"] == "failed":
            assert expect["check"]
        elif expect["outcome"] == "open":
            assert order["paid"] is False and item["kind"] == "order"
        else:
            assert order["paid"] is True and expect["check"] is None


def test_every_scope_failure_and_line_kind_is_present(docs):
    outcomes = Counter(i["expect"]["outcome"] for i in docs)
    assert outcomes["posted"] > 200 and outcomes["failed"] >= 15 and outcomes["open"] >= 5
    assert {i["expect"]["check"] for i in docs} - {None} == {
        "ICP_VAT_NUMBER_INVALID", "VAT_CODE_MISSING", "INTERNATIONAL_WITH_VAT",
        "CURRENCY_NOT_ENABLED", "CUSTOMER_NAME_MISSING"}
    posted = [i for i in docs if i["expect"]["outcome"] == "posted"]
    assert {i["expect"]["scope"] for i in posted} == {"domestic", "icp", "international", "oss"}
    assert {i["expect"]["country"] for i in posted if i["expect"]["scope"] == "oss"} == {"DE",
                                                                                          "FR"}
    assert any(i["expect"]["country"] == "BE" and i["expect"]["scope"] == "domestic"
               for i in posted)
    features = Counter(f for i in docs for f in i["features"])
    for wanted in ("product", "shipping", "payment_costs", "surcharge", "negative_surcharge",
                   "coupon", "coupon_only", "row_discount", "rate_21", "rate_9", "rate_0",
                   "rate_19", "rate_20",
                   "taxes_included", "taxes_excluded", "company", "consumer", "unicode_name",
                   "delivery_address", "credit"):
        assert features[wanted] >= 2, wanted
    kinds = Counter((i["kind"], i["invoice"]["type"] if i["kind"] == "invoice" else "")
                    for i in docs)
    assert kinds[("invoice", "debit")] >= 5 and kinds[("invoice", "credit")] >= 5
    credit = [i for i in docs if "credit" in i["features"]]
    assert all(D(i["invoice"]["total_price"]) < 0 for i in credit)
    names = dumps([i["order"]["customer"] for i in docs])
    for letter in "éüø李":
        assert letter in names


def test_deterministic_for_a_seed_and_different_across_seeds():
    assert generate(60, 9) == generate(60, 9)
    assert generate(60, 9) != generate(60, 10)


def test_scopes_restrict_to_domestic_nl_orders():
    docs = generate(120, 4, failing_share=0.2, unpaid_share=0.1, scopes={"domestic"})
    assert {i["kind"] for i in docs} == {"order"}
    assert {i["expect"]["country"] for i in docs} == {"NL"}
    assert {i["expect"]["scope"] for i in docs} == {"domestic"}
    assert {i["expect"]["check"] for i in docs} - {None} <= {
        "VAT_CODE_MISSING", "CURRENCY_NOT_ENABLED", "CUSTOMER_NAME_MISSING"}
    assert {i["expect"]["outcome"] for i in docs} == {"posted", "failed", "open"}


def test_shares_are_configurable():
    clean = generate(100, 1, failing_share=0, unpaid_share=0)
    assert {i["expect"]["outcome"] for i in clean} == {"posted"}
    broken = generate(100, 1, failing_share=1, unpaid_share=0)
    assert {i["expect"]["outcome"] for i in broken} == {"failed"}
    with pytest.raises(ValueError):
        generate(5, 1, failing_share=0.8, unpaid_share=0.5)
    with pytest.raises(ValueError):
        generate(5, 1, scopes={"mars"})


def test_generated_documents_round_trip_through_the_fake(control, client):
    from sandbox.ccvshop import seed_items
    items = generate(12, 77)
    seeded = seed_items(control, items)
    for item, where in zip(items, seeded):
        if item["kind"] == "order":
            got = client.fetch_order(where["id"])
            sent, got_doc, rows = item["order"], got["order"], got["orderrows"]
            assert len(rows) == len(item["orderrows"])
        else:
            got = client.fetch_invoice(where["id"])
            sent, got_doc = item["invoice"], got["invoice"]
            assert got["order"]["id"] == where["order_id"]
            assert [r["count"] for r in got["invoicerows"]] == [
                r["count"] for r in item["invoicerows"]]
        for key in ("total_price", "total_tax", "customer", "currency", "create_date"):
            assert got_doc[key] == sent[key], key




def test_the_rules_agree_with_every_expectation(docs):
    """The domain's own reading of mapping.md (via preview) finds exactly the expected failed
    check, the expected scope, and never needs a rounding line on a passing document."""
    from application.preview import preview
    from web.demo import demo_settings

    # The settings the expectations are made for are the demo's own, not a copy of them.
    settings = demo_settings("https://demo.ccvshop.nl")
    for item in docs:
        bundle = ({"order": item["order"], "orderrows": item["orderrows"]}
                  if item["kind"] == "order" else
                  {"invoice": item["invoice"], "invoicerows": item["invoicerows"],
                   "order": item["order"]})
        result, status = preview(bundle, settings)
        failed = [c["code"] for c in result["checks"] if not c["ok"]]
        assert failed == ([item["expect"]["check"]] if item["expect"]["check"] else []), (
            item["expect"], failed)
        assert result["document"]["scope"] == item["expect"]["scope"]
        assert status == (1 if failed else 0)
        if not failed:
            assert "rounding" not in {line["kind"] for line in result["lines"]}
        coupon_only = [note for note in result.get("notes", []) if note.startswith("R4.5")]
        assert bool(coupon_only) == ("coupon_only" in item["features"]), item["features"]

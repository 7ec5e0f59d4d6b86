"""Properties over generated documents (hypothesis).

Expected totals are computed here from the generated cents, independently of the rules'
code: incl. documents must balance exactly with no rounding line at all (except where both
readings of R4.5 balance); every document that passes the checks books lines that sum exactly
to its total, and no rounding line exceeds the tolerance (R4.6).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from domain.amounts import share_out
from domain.booking import Booking, build_booking
from domain.classify import payment_method
from domain.money import format_number
from domain.vat import EU_MEMBERS, STANDARD_VAT_RATES

from .conftest import customer, invoice, make_settings, order, row

SETTINGS = make_settings(extra='\n[[vat]]\nrate = "19"\nvat_code = "X19"\nrevenue_account = "8019"\n'
                               '\n[[vat]]\nrate = "7"\nvat_code = "X7"\nrevenue_account = "8007"\n')
RATES = {"NL": [21, 9, 0], "DE": [19, 7, 0]}
TOLERANCE = Decimal("0.02")
PROPERTY = hsettings(max_examples=150, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])


def cents(n: int) -> Decimal:
    return Decimal(n) / 100


def vat_of(amount_cents: int, rate) -> Decimal:
    """VAT on an excl. amount, rounded half up, written out here on purpose."""
    return (Decimal(amount_cents) * Decimal(rate) / 10_000).quantize(
        Decimal("0.01"), rounding="ROUND_HALF_UP")


def rounding_within_tolerance(booking) -> None:
    """R4.6: a rounding line never exceeds the tolerance (0.02 in these settings)."""
    for line in booking.lines:
        if line.kind == "rounding":
            assert Decimal(0) < abs(line.amount_incl) <= TOLERANCE, line


def lines_balance_when_ok(booking) -> None:
    """Every document that passes the checks books lines that sum exactly to its total."""
    if booking.ok:
        assert sum((line.amount_incl for line in booking.lines), Decimal(0)) == booking.total_incl
    rounding_within_tolerance(booking)


@st.composite
def documents(draw):
    """A valid order in NL (domestic) or DE (OSS), incl. or excl., with every line kind.

    ``reading`` says what the shop's ``total_discounts`` holds (R4.5): the row discounts and
    the coupon, the coupon only, or less than the row discounts (a negative residual, no
    coupon). ``tie`` repeats the first row's amount at another rate (R4.5's tie)."""
    country = draw(st.sampled_from(["NL", "DE"]))
    incl = draw(st.booleans())
    reading = draw(st.sampled_from(["included", "coupon_only", "negative_residual"]))
    specs = []
    for _ in range(draw(st.integers(1, 5))):
        specs.append((draw(st.integers(1, 50_000)), draw(st.integers(1, 7)),
                      draw(st.integers(0, 500)), draw(st.sampled_from(RATES[country]))))
    if draw(st.booleans()):  # a tie of the largest amounts: the first row again, other rate
        price, count, discount, rate = max(specs, key=lambda s: s[0] * s[1])
        specs.append((price, count, discount,
                      draw(st.sampled_from([r for r in RATES[country] if r != rate]))))
    rows, gross, row_vat, weighted = [], 0, Decimal(0), Decimal(0)
    for index, (price, count, discount, rate) in enumerate(specs):
        rows.append(row(f"Artikel {index}", cents(price), count, rate,
                        undiscounted=cents(price + discount)))
        gross += price * count
        row_vat += vat_of(price * count, rate)
        weighted += Decimal(price * count * rate)
    highest = max(r["tax"] for r in rows)
    row_discounts = sum(int((r["price_without_discount"] - r["selling_price"]) * 100) * r["count"]
                        for r in rows)
    coupon = 0 if reading == "negative_residual" else draw(st.integers(0, gross // 2))
    total_discounts = {"included": row_discounts + coupon, "coupon_only": coupon,
                       "negative_residual": draw(st.integers(0, max(0, row_discounts - 1)))
                       }[reading]
    shipping = draw(st.integers(0, 2_000))
    shipping_rate = draw(st.sampled_from(RATES[country][:2]))
    payment = draw(st.integers(0, 300))
    extra = draw(st.integers(-300, 300))
    credit = draw(st.integers(0, 200))
    total = gross + shipping + payment + extra - credit - coupon
    fields = dict(
        total_discounts=cents(total_discounts), total_shipping=cents(shipping),
        shipping_tax_percentage=shipping_rate,
        paymethod_costs=cents(payment), extra_costs=cents(extra),
        credit_point_discount=cents(credit))
    if incl:
        tax = cents(draw(st.integers(1, max(1, total // 5))))
    else:
        # the shop's own VAT: per part, the coupon at the rows' average rate, and a few
        # cents of its own rounding on top (so both R4.6 outcomes occur)
        tax = (row_vat + vat_of(shipping, shipping_rate) + vat_of(payment, RATES[country][0])
               + vat_of(extra - credit, highest)
               - vat_of(coupon, weighted / gross) + cents(draw(st.integers(-3, 3))))
        tax = max(tax, Decimal("0.01"))  # 0 VAT abroad would be R3.2 international
    bundle = order(rows, total_price=cents(total), total_tax=tax, incl=incl, **fields)
    bundle["order"]["customer"] = customer(country)
    expected_incl = cents(total) if incl else None
    # Both readings of R4.5 balance when the smaller of coupon and row discounts is within
    # the tolerance: then the residual reading stands (with a rounding line).
    ambiguous = min(coupon, row_discounts) <= 2
    return bundle, expected_incl, reading, ambiguous


@PROPERTY
@given(documents())
def test_lines_sum_to_the_total_and_every_line_is_mapped(case):
    bundle, expected_incl, reading, ambiguous = case
    booking = build_booking(bundle, SETTINGS)
    total = sum((line.amount_incl for line in booking.lines), Decimal(0))
    coupon_only = [e for e in booking.explanations if e.rule == "R4.5"]
    if expected_incl is not None:
        # incl. leads everywhere (R0.3) and the discount split is exact (R4.5): no rounding
        # line, unless both readings of R4.5 balance and the residual's stands
        assert booking.ok, [c.message_en for c in booking.failed_checks]
        assert total == expected_incl == booking.total_incl
        if reading == "coupon_only" and ambiguous:
            assert not coupon_only
        else:
            assert "rounding" not in [line.kind for line in booking.lines]
            assert bool(coupon_only) == (reading == "coupon_only" and
                                         bundle["order"]["total_discounts"] > 0)
    lines_balance_when_ok(booking)
    if not booking.ok:
        assert [c.code for c in booking.failed_checks] == ["TOTAL_MISMATCH"]
        assert abs(booking.total_incl - total) > TOLERANCE
    if reading == "negative_residual":
        # The negative residual is never booked (nothing added to the bill). A discount line
        # comes only from R4.5's coupon-only reading: in an excl. document the shop's own VAT
        # rounding can leave the residual reading out of balance while booking the whole
        # (small) total_discounts balances it; then the booking says so.
        discounts = [line for line in booking.lines if line.kind == "discount"]
        assert not discounts or (coupon_only and expected_incl is None), discounts
        if discounts:
            assert -sum(line.amount_excl for line in discounts) == \
                bundle["order"]["total_discounts"]
    for line in booking.lines:
        assert line.vat_code and line.account, line
        assert line.amount_excl + line.vat_amount == line.amount_incl
        assert line.rules
    assert booking.scope == ("domestic" if bundle["order"]["customer"]["billingaddress"]
                             ["country_code"] == "NL" else "oss")
    assert Booking.from_dict(booking.to_dict()) == booking


def _de_rate(day: date) -> int:
    """DE's standard rate, written out here: 16% from 2020-07-01 to 2020-12-31, else 19%."""
    return 16 if date(2020, 7, 1) <= day <= date(2020, 12, 31) else 19


@st.composite
def documents_without_products(draw):
    """An order or invoice with no product lines (R4.3, R4.4, R4.5): shipping, payment costs,
    surcharges and an order discount; a credit invoice mirrors every amount. Incl. VAT, so
    it balances exactly. Dated around DE's 2020 change."""
    kind = draw(st.sampled_from(["order", "invoice"]))
    sign = -1 if kind == "invoice" and draw(st.booleans()) else 1
    country = draw(st.sampled_from(["NL", "DE"]))
    day = draw(st.sampled_from([date(2020, 6, 30), date(2020, 7, 1), date(2020, 12, 31),
                                date(2021, 1, 1), date(2026, 3, 14)]))
    shipping = draw(st.integers(1_100, 3_000))
    payment, extra = draw(st.integers(0, 300)), draw(st.integers(-300, 300))
    credit, discount = draw(st.integers(0, 200)), draw(st.integers(0, 500))
    shipping_rate = draw(st.sampled_from(RATES[country][:2]))
    total = shipping + payment + extra - credit - discount          # > 0 by the ranges
    fields = dict(total_shipping=cents(sign * shipping), paymethod_costs=cents(sign * payment),
                  extra_costs=cents(sign * extra), credit_point_discount=cents(sign * credit),
                  total_discounts=cents(sign * discount), shipping_tax_percentage=shipping_rate,
                  create_date=f"{day.isoformat()}T10:00:00Z")
    tax = cents(sign * draw(st.integers(1, max(1, total // 5))))
    build = invoice if kind == "invoice" else order
    bundle = build([], total_price=cents(sign * total), total_tax=tax, **fields)
    bundle[kind]["customer"] = customer(country)
    # R4.3 by hand: invoices the shipping rate; orders the standard rate of the country charged
    rate = shipping_rate if kind == "invoice" else (21 if country == "NL" else _de_rate(day))
    return bundle, cents(sign * total), rate


@PROPERTY
@given(documents_without_products())
def test_documents_without_product_lines_take_the_rate_of_r4_3(case):
    bundle, expected_total, rate = case
    booking = build_booking(bundle, SETTINGS)
    assert booking.ok, [c.message_en for c in booking.failed_checks]
    assert booking.total_incl == expected_total
    assert "rounding" not in [line.kind for line in booking.lines]
    lines_balance_when_ok(booking)
    if booking.scope == "oss":   # R4.7 books at 0%: the rate is in the VAT line's description
        for line in booking.lines:
            if line.kind == "oss_vat" and "Shipping" not in line.description:
                assert line.description.startswith(f"VAT DE {rate}%: "), line
    else:
        rates = {line.vat_rate for line in booking.lines
                 if line.kind in ("payment_costs", "surcharge", "discount")}
        assert rates <= {Decimal(rate)}, rates
    discounts = [line for line in booking.lines if line.kind == "discount"]
    assert len(discounts) <= (2 if booking.scope == "oss" else 1)  # one line (+ its VAT line)


# Every change of the standard-rate table (R4.3): (country, first day of the new rate,
# old rate, new rate), read from the table so that a change added later is covered too.
CHANGES = [(country, start, rates[i - 1][1], rate)
           for country, rates in sorted(STANDARD_VAT_RATES.items())
           for i, (start, rate) in enumerate(rates) if i > 0]
OSS_EVERYWHERE = make_settings(extra="".join(
    f'\n[oss.{c}]\nvat_code = "VAT_OSS"\nvat_account = "1665"\nrevenue_account = "83{i:02d}"\n'
    for i, c in enumerate(sorted(EU_MEMBERS - {"NL", "DE"}))))


@pytest.mark.parametrize("side", ["day before", "first day"])
@pytest.mark.parametrize("country, start, old, new", CHANGES,
                         ids=[f"{c}-{s.isoformat()}" for c, s, *_ in CHANGES])
@hsettings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(price=st.integers(100, 100_000), payment=st.integers(1, 500),
       extra=st.integers(-300, 300), discount=st.integers(0, 50))
def test_booking_dates_on_both_sides_of_every_rate_change(country, start, old, new, side,
                                                          price, payment, extra, discount):
    """An OSS order to ``country``: the shop charged the rate in force that day on the row,
    and R4.3 gives the payment costs that same rate; incl. VAT, so it balances exactly."""
    day = start - timedelta(days=1) if side == "day before" else start
    rate = old if side == "day before" else new
    total = price + payment + extra - discount
    bundle = order([row("Artikel", cents(price), 1, rate)], total_price=cents(total),
                   total_tax="1.00", paymethod_costs=cents(payment), extra_costs=cents(extra),
                   total_discounts=cents(discount), create_date=f"{day.isoformat()}T10:00:00Z")
    bundle["order"]["customer"] = customer(country)
    booking = build_booking(bundle, OSS_EVERYWHERE)
    assert booking.date == day and booking.scope == "oss"
    assert booking.ok, [c.message_en for c in booking.failed_checks]
    lines_balance_when_ok(booking)
    assert "rounding" not in [line.kind for line in booking.lines]
    costs = cents(payment)   # R0.3: incl. leads, the VAT is what is left of it
    vat = costs - (costs / (1 + rate / 100)).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
    vat_lines = {line.description: line.amount_incl for line in booking.lines
                 if line.kind == "oss_vat"}
    shown = format_number(rate)
    if vat:
        assert vat_lines[f"VAT {country} {shown}%: Payment costs"] == vat
    assert all(description.startswith(f"VAT {country} {shown}%: ")
               for description in vat_lines)


@PROPERTY
@given(st.integers(-100_000, 100_000),
       st.dictionaries(st.sampled_from([Decimal(r) for r in ("0", "6", "9", "19", "21", "25.5")]),
                       st.integers(-100_000, 100_000), min_size=1, max_size=6))
def test_discount_split_sums_exactly(total, weights):
    amount = cents(total)
    shares = share_out(amount, {rate: cents(w) for rate, w in weights.items()})
    assert set(shares) == set(weights)
    assert sum(shares.values(), Decimal(0)) == amount
    assert all(share == share.quantize(Decimal("0.01")) for share in shares.values())


@PROPERTY
@given(st.integers(1, 1_000_000), st.dictionaries(st.sampled_from([Decimal(21), Decimal(9),
                                                                   Decimal(0)]),
                                                  st.integers(1, 1_000_000), min_size=1))
def test_discount_split_is_proportional_to_within_the_remainder(total, weights):
    amount, base = cents(total), sum(weights.values())
    shares = share_out(amount, {rate: cents(w) for rate, w in weights.items()})
    for rate, share in shares.items():
        exact = amount * weights[rate] / base
        assert abs(share - exact) <= Decimal("0.005") * (len(weights) + 1)


@PROPERTY
@given(st.integers(-100_000, 100_000),
       st.dictionaries(st.sampled_from([Decimal(r) for r in ("0", "6", "9", "19", "21", "25.5")]),
                       st.integers(1, 1_000), min_size=2, max_size=6),
       st.integers(1, 5))
def test_discount_split_remainder_goes_to_the_largest_then_the_higher_rate(total, weights, ties):
    """R4.5: every share but one is its own rounded proportion; the one that takes the
    rounding difference is the largest amount (with the total's sign), on a tie the higher
    rate. ``ties`` rates are given the largest weight to force ties often."""
    rates = sorted(weights)
    for rate in rates[:ties]:
        weights[rate] = max(weights.values())
    sign = -1 if total < 0 else 1
    weights = {rate: cents(sign * w) for rate, w in weights.items()}
    amount, base = cents(total), sum(weights.values())
    shares = share_out(amount, weights)
    largest = max(abs(w) for w in weights.values())
    taker = max(rate for rate, w in weights.items() if abs(w) == largest)
    for rate, share in shares.items():
        if rate != taker:
            assert share == (amount * weights[rate] / base).quantize(
                Decimal("0.01"), rounding="ROUND_HALF_UP")
    assert sum(shares.values(), Decimal(0)) == amount


decimal_text = st.decimals(min_value=-1000, max_value=1000, places=2, allow_nan=False,
                           allow_infinity=False)


@PROPERTY
@given(country=st.one_of(st.sampled_from(["NL", "DE", "BE", "FR", "US", "GB", "nl", ""]),
                         st.text(max_size=3)),
       delivery=st.one_of(st.none(), st.sampled_from(["DE", "CH", "AT"])),
       is_icp=st.booleans(), total_tax=decimal_text, rate=decimal_text,
       paymethod=st.text(max_size=30), label=st.text(max_size=30), incl=st.booleans(),
       currency=st.sampled_from(["EUR", "USD", "eur"]),
       btw=st.text(max_size=16))
def test_classification_and_booking_never_raise(country, delivery, is_icp, total_tax, rate,
                                                paymethod, label, incl, currency, btw):
    bundle = order([row("X", "10.00", 1, abs(rate))], total_price="10.00", total_tax=total_tax,
                   incl=incl, is_intra_community_order=is_icp, paymethod=paymethod,
                   paymethod_label=label, currency=currency)
    bundle["order"]["customer"] = customer(country, btw=btw, delivery_country=delivery)
    booking = build_booking(bundle, SETTINGS)
    assert booking.scope in {"domestic", "icp", "international", "oss"}
    assert booking.payment_method in {"ideal", "paypal", "default", "banktransfer", "afterpay",
                                      "mistercash", "creditcard"}
    assert len(booking.checks) == 6
    assert payment_method(paymethod, label, []) != ""

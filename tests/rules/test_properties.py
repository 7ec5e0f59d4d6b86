"""Properties over generated documents (hypothesis).

Expected totals are computed here from the generated cents, independently of the rules'
code: incl. documents must balance exactly with no rounding line at all.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from domain.amounts import share_out
from domain.booking import Booking, build_booking
from domain.classify import payment_method

from .conftest import customer, make_settings, order, row

SETTINGS = make_settings(extra='\n[[vat]]\nrate = "19"\nvat_code = "X19"\nrevenue_account = "8019"\n'
                               '\n[[vat]]\nrate = "7"\nvat_code = "X7"\nrevenue_account = "8007"\n')
RATES = {"NL": [21, 9, 0], "DE": [19, 7, 0]}
PROPERTY = hsettings(max_examples=150, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])


def cents(n: int) -> Decimal:
    return Decimal(n) / 100


def vat_of(amount_cents: int, rate) -> Decimal:
    """VAT on an excl. amount, rounded half up, written out here on purpose."""
    return (Decimal(amount_cents) * Decimal(rate) / 10_000).quantize(
        Decimal("0.01"), rounding="ROUND_HALF_UP")


@st.composite
def documents(draw):
    """A valid order in NL (domestic) or DE (OSS), incl. or excl., with every line kind."""
    country = draw(st.sampled_from(["NL", "DE"]))
    incl = draw(st.booleans())
    rows, gross, row_vat, weighted = [], 0, Decimal(0), Decimal(0)
    for index in range(draw(st.integers(1, 5))):
        price = draw(st.integers(1, 50_000))
        count = draw(st.integers(1, 7))
        discount = draw(st.integers(0, 500))
        rate = draw(st.sampled_from(RATES[country]))
        rows.append(row(f"Artikel {index}", cents(price), count, rate,
                        undiscounted=cents(price + discount)))
        gross += price * count
        row_vat += vat_of(price * count, rate)
        weighted += Decimal(price * count * rate)
    highest = max(r["tax"] for r in rows)
    row_discounts = sum(int((r["price_without_discount"] - r["selling_price"]) * 100) * r["count"]
                        for r in rows)
    coupon = draw(st.integers(0, gross // 2))
    shipping = draw(st.integers(0, 2_000))
    shipping_rate = draw(st.sampled_from(RATES[country][:2]))
    payment = draw(st.integers(0, 300))
    extra = draw(st.integers(-300, 300))
    credit = draw(st.integers(0, 200))
    total = gross + shipping + payment + extra - credit - coupon
    fields = dict(
        total_discounts=cents(row_discounts + coupon), total_shipping=cents(shipping),
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
    return bundle, expected_incl


@PROPERTY
@given(documents())
def test_lines_sum_to_the_total_and_every_line_is_mapped(case):
    bundle, expected_incl = case
    booking = build_booking(bundle, SETTINGS)
    total = sum((line.amount_incl for line in booking.lines), Decimal(0))
    if expected_incl is not None:
        # incl. leads everywhere (R0.3) and the discount split is exact (R4.5): no rounding
        assert booking.ok, [c.message_en for c in booking.failed_checks]
        assert total == expected_incl == booking.total_incl
        assert "rounding" not in [line.kind for line in booking.lines]
    if booking.ok:
        assert total == booking.total_incl
    else:
        assert [c.code for c in booking.failed_checks] == ["TOTAL_MISMATCH"]
        assert abs(booking.total_incl - total) > Decimal("0.02")
    for line in booking.lines:
        assert line.vat_code and line.account, line
        assert line.amount_excl + line.vat_amount == line.amount_incl
        assert line.rules
    assert booking.scope == ("domestic" if bundle["order"]["customer"]["billingaddress"]
                             ["country_code"] == "NL" else "oss")
    assert Booking.from_dict(booking.to_dict()) == booking


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

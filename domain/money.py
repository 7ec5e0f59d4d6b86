"""Money is ``Decimal``, never ``float`` (R0.1).

Shop JSON may arrive as ``Decimal`` (parsed with ``parse_float=Decimal``), ``int`` or, from a
careless caller, ``float``: going through ``str`` keeps the digits the shop wrote instead of the
binary approximation a float carries.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

ZERO = Decimal("0")
CENT = Decimal("0.01")


class NotANumber(ValueError):
    """A value that should be a number is not one."""


def to_decimal(value: object, default: Decimal | None = ZERO) -> Decimal:
    """Convert a shop value to ``Decimal``; ``None``/``""`` give ``default`` (null counts as 0)."""
    if value is None or value == "":
        if default is None:
            raise NotANumber("missing")
        return default
    if isinstance(value, bool):  # bool is an int subclass: True is no amount
        raise NotANumber(repr(value))
    if isinstance(value, Decimal):
        result = value
    else:
        try:
            result = Decimal(str(value))
        except (InvalidOperation, ValueError) as exc:
            raise NotANumber(repr(value)) from exc
    if not result.is_finite():
        raise NotANumber(repr(value))
    return result


def cents(value: Decimal) -> Decimal:
    """Round to cents, half away from zero (R0.1). A zero is always 0.00, never -0.00 (which
    ``-1.00 x 0%`` gives and would print as "-0.00")."""
    result = value.quantize(CENT, rounding=ROUND_HALF_UP)
    return result.copy_abs() if result.is_zero() else result


def format_amount(value: Decimal) -> str:
    """``Decimal`` -> string with exactly two decimals (preview.md)."""
    return str(cents(value))


def format_number(value: Decimal) -> str:
    """A rate or quantity without trailing zeros: ``21.0`` -> ``"21"``, ``5.50`` -> ``"5.5"``."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def strip_zeros(value: Decimal) -> Decimal:
    """``21.00`` -> ``21``, ``5.50`` -> ``5.5``: the same number, written as people write it."""
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()

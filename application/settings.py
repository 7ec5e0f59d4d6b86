"""Load and validate a connection's settings (settings.md) into ``domain.settings.Settings``.

The TOML file, the dashboard and the event store all go through ``settings_from_dict``: one
validation, with every problem named by its key path (``vat[1].rate: not a number``) and
nothing half-applied (all problems are collected, then either a whole ``Settings`` or a
``SettingsError``). Secrets stay as given (``"env:NAME"`` or literal); ``resolve_secret`` reads
them when a connector needs them.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import tomli_w
from marshmallow import (RAISE, Schema, ValidationError, fields, post_load, validate,
                         validates_schema)

from domain.money import format_number
from domain.settings import (BillitSettings, LedgerSettings, OssEntry, PaymentMethodSettings,
                             PaymentsSettings, RoundingSettings, Settings, ShopSettings, VatEntry,
                             ZeroRateEntry)
from domain.vat import EU_MEMBERS, normalise_rate

__all__ = ["SECRET_FIELDS", "SettingsError", "load_settings", "load_settings_text",
           "resolve_secret", "settings_from_dict", "settings_to_dict", "settings_to_toml"]

SECRET_FIELDS = ["shop.public_key", "shop.secret", "ledger.api_token", "ledger.api_key"]
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class SettingsError(ValueError):
    """The settings cannot be used; ``problems`` lists each as ``"key.path: what is wrong"``."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))

    def __str__(self) -> str:
        return "; ".join(self.problems)


# --- fields with merchant-readable messages -------------------------------------------------

_REQUIRED = {"required": "missing (required)", "null": "must not be empty"}


def _text(required: bool = False, **kwargs) -> fields.String:
    messages = {**_REQUIRED, "invalid": "not a string (put it in quotes)"}
    return fields.String(required=required, error_messages=messages, **kwargs)


def _number(required: bool = False, **kwargs) -> fields.Decimal:
    messages = {**_REQUIRED, "invalid": "not a number", "special": "not a number"}
    return fields.Decimal(required=required, error_messages=messages, **kwargs)


class _Flag(fields.Boolean):
    """Only ``true``/``false``: ``"yes"`` or ``1`` in a settings file is more likely a slip."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


def _flag() -> _Flag:
    return _Flag(error_messages={**_REQUIRED, "invalid": "not true or false"})


def _integer(**kwargs) -> fields.Integer:
    return fields.Integer(strict=True, error_messages={**_REQUIRED, "invalid": "not a whole number"},
                          **kwargs)


def _choice(*choices: str, default: str | None = None) -> fields.String:
    options = ", ".join(f'"{choice}"' for choice in choices)
    return _text(required=default is None,
                 validate=validate.OneOf(choices, error=f"must be one of {options}"))


def _validate_secret(value: str) -> None:
    if value.startswith("env:") and not _ENV_NAME.match(value[4:]):
        raise ValidationError('"env:" must be followed by an environment variable name')


def _validate_country(value: str) -> None:
    if value not in EU_MEMBERS:
        raise ValidationError("not an EU member state code (two capitals, e.g. NL)")


def _validate_timezone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError("not a known time zone (e.g. Europe/Amsterdam)") from None


class _Table(Schema):
    """A TOML table: unknown keys are errors (a typo must not pass silently)."""

    error_messages = {"unknown": "unknown key", "type": "not a table"}

    class Meta:
        unknown = RAISE


def _nested(schema: type[Schema], required: bool = False) -> fields.Nested:
    return fields.Nested(schema, required=required,
                         error_messages={**_REQUIRED, "type": "not a table"})


class ShopSchema(_Table):
    platform = _choice("ccvshop", default="ccvshop")
    api_root = _text(required=True, validate=validate.URL(require_tld=False,
                                                          error="not a URL (https://...)"))
    public_key = _text(validate=_validate_secret)
    secret = _text(validate=_validate_secret)
    home_country = _text(required=True, validate=_validate_country)
    timezone = _text(validate=_validate_timezone)
    process = _choice("paid_orders", "invoices", default="paid_orders")
    number_prefix = _text()

    @post_load
    def make(self, data, **kwargs):
        return ShopSettings(**data)


class LedgerSchema(_Table):
    system = _choice("eboekhouden", "billit")
    document = _choice("mutation", "invoice", default="mutation")
    api_token = _text(validate=_validate_secret)
    api_key = _text(validate=_validate_secret)
    debtors_account = _text()
    payment_term_days = _integer(validate=validate.Range(0, 365, error="must be 0 to 365 days"))
    invoice_template = _text()
    invoice_number = _choice("ledger", "shop", default="ledger")
    book_invoice = _flag()
    post_to_products = _flag()

    @post_load
    def make(self, data, **kwargs):
        return LedgerSettings(**data)


class RoundingSchema(_Table):
    tolerance = _number(validate=validate.Range(0, 1, error="must be between 0 and 1"))
    account = _text()

    @post_load
    def make(self, data, **kwargs):
        return RoundingSettings(**data)


class VatSchema(_Table):
    rate = _number(required=True, validate=validate.Range(0, 100, error="must be 0 to 100"))
    vat_code = _text()
    revenue_account = _text()
    shipping_account = _text()
    payment_costs_account = _text()

    @post_load
    def make(self, data, **kwargs):
        return VatEntry(**{**data, "rate": normalise_rate(data["rate"])})  # R0.2


class ZeroRateSchema(_Table):
    vat_code = _text()
    revenue_account = _text()

    @post_load
    def make(self, data, **kwargs):
        return ZeroRateEntry(**data)


class OssSchema(_Table):
    vat_code = _text(validate=validate.Equal(
        "VAT_OSS", error='must be "VAT_OSS" (the marker that asks for the split of R4.7)'))
    vat_account = _text()
    revenue_account = _text()
    oss_revenue_vat_code = _text()

    @post_load
    def make(self, data, **kwargs):
        return OssEntry(**data)


class PaymentMethodSchema(_Table):
    account = _text()
    fixed_debtor = _text()

    @post_load
    def make(self, data, **kwargs):
        return PaymentMethodSettings(**data)


class PaymentsSchema(_Table):
    enabled = _flag()
    without_open_item = _flag()

    @post_load
    def make(self, data, **kwargs):
        return PaymentsSettings(**data)


class BillitSchema(_Table):
    party_id = _text()
    payment_status = _choice("always", "never", "shop", default="shop")
    currency_enabled = _flag()

    @post_load
    def make(self, data, **kwargs):
        return BillitSettings(**data)


def _table_of(schema: type[Schema]) -> fields.Dict:
    return fields.Dict(keys=_text(), values=_nested(schema),
                       error_messages={"invalid": "not a table"})


class SettingsSchema(_Table):
    name = _text(required=True, validate=validate.Length(min=1, error="must not be empty"))
    shop = _nested(ShopSchema, required=True)
    ledger = _nested(LedgerSchema, required=True)
    rounding = _nested(RoundingSchema)
    vat = fields.List(_nested(VatSchema), error_messages={"invalid": "not a list of tables"})
    icp = _nested(ZeroRateSchema)
    international = _nested(ZeroRateSchema)
    oss = _table_of(OssSchema)
    payment_methods = _table_of(PaymentMethodSchema)
    payments = _nested(PaymentsSchema)
    billit = _nested(BillitSchema)

    @validates_schema(skip_on_field_errors=True)
    def consistent(self, data, **kwargs):
        """What one key cannot say alone: codes and accounts e-Boekhouden needs, OSS
        countries, duplicate rates."""
        problems: dict[str, list[str]] = {}

        def need(path: str, value: str, why: str) -> None:
            if not value:
                problems.setdefault(path, []).append(f"missing (required {why})")

        ledger: LedgerSettings = data["ledger"]
        shop: ShopSettings = data["shop"]
        eboekhouden = ledger.system == "eboekhouden"
        seen: dict[Decimal, int] = {}
        for index, entry in enumerate(data.get("vat", [])):
            if entry.rate in seen:
                problems.setdefault(f"vat[{index}].rate", []).append(
                    f"rate {format_number(entry.rate)} is already vat[{seen[entry.rate]}]")
            seen.setdefault(entry.rate, index)
            if eboekhouden:
                need(f"vat[{index}].vat_code", entry.vat_code, "for e-Boekhouden, R4.8")
                need(f"vat[{index}].revenue_account", entry.revenue_account,
                     "for e-Boekhouden, R4.8")
        for table in ("icp", "international"):
            entry = data.get(table)
            if entry is not None and eboekhouden:
                need(f"{table}.vat_code", entry.vat_code, "for e-Boekhouden, R4.8")
                need(f"{table}.revenue_account", entry.revenue_account, "for e-Boekhouden, R4.8")
        for country, entry in data.get("oss", {}).items():
            if country not in EU_MEMBERS:
                problems.setdefault(f"oss.{country}", []).append(
                    "not an EU member state code (two capitals, e.g. DE)")
            elif country == shop.home_country:
                problems.setdefault(f"oss.{country}", []).append(
                    "is the home country: OSS is for other EU countries (R3.3)")
            if eboekhouden:
                need(f"oss.{country}.vat_account", entry.vat_account, "for OSS, R4.7")
                need(f"oss.{country}.revenue_account", entry.revenue_account, "for OSS, R4.7")
        if eboekhouden:
            rounding = data.get("rounding", RoundingSettings())
            need("rounding.account", rounding.account, "for e-Boekhouden, R4.6")
            payments = data.get("payments", PaymentsSettings())
            default = data.get("payment_methods", {}).get("default")
            if payments.enabled and (default is None or not default.account):
                need("payment_methods.default.account", "",
                     "when payments are enabled, R8.2")
        if problems:
            raise ValidationError(problems)

    @post_load
    def make(self, data, **kwargs):
        data["vat"] = tuple(data.get("vat", ()))
        return Settings(**data)


# --- error paths ---------------------------------------------------------------------------

def _unwrap_tables(messages: dict) -> dict:
    """``fields.Dict`` files a key's errors under ``"key"`` and its value's under ``"value"``;
    a merchant only needs ``oss.DE.vat_account``."""
    messages = dict(messages)
    for table in ("oss", "payment_methods"):
        if not isinstance(messages.get(table), dict):
            continue
        unwrapped = {}
        for key, inner in messages[table].items():
            if isinstance(inner, dict) and set(inner) <= {"key", "value"}:
                merged: dict = {}
                if "key" in inner:
                    merged["_schema"] = inner["key"]
                if isinstance(inner.get("value"), dict):
                    merged.update(inner["value"])
                elif "value" in inner:
                    merged.setdefault("_schema", []).extend(inner["value"])
                inner = merged
            unwrapped[key] = inner
        messages[table] = unwrapped
    return messages


def _flatten(messages: object, path: str = "") -> list[str]:
    """marshmallow's nested message dict -> ``["vat[1].rate: not a number", ...]``."""
    if isinstance(messages, str):
        return [f"{path}: {messages}" if path else messages]
    if isinstance(messages, list):
        return [line for message in messages for line in _flatten(message, path)]
    lines = []
    for key, inner in messages.items():
        if isinstance(key, int):
            inner_path = f"{path}[{key}]"
        elif key == "_schema":
            inner_path = path
        else:
            inner_path = f"{path}.{key}" if path else str(key)
        lines.extend(_flatten(inner, inner_path))
    return lines


def settings_from_dict(data: Mapping) -> Settings:
    """Validate a settings mapping (TOML-shaped); all problems at once or a whole Settings."""
    if not isinstance(data, Mapping):
        raise SettingsError(["the settings must be a table"])
    try:
        return SettingsSchema().load(dict(data))
    except ValidationError as exc:
        raise SettingsError(sorted(set(_flatten(_unwrap_tables(exc.messages))))) from None


def load_settings_text(text: str) -> Settings:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError([f"not valid TOML: {exc}"]) from None
    return settings_from_dict(data)


def load_settings(path: str | Path) -> Settings:
    """Read a settings file; a missing or unreadable file is a ``SettingsError`` too."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SettingsError(["file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError([f"cannot read the file ({exc})"]) from None
    return load_settings_text(text)


# --- export --------------------------------------------------------------------------------

def _plain(record: object) -> dict:
    out = {}
    for key, value in vars(record).items():
        out[key] = str(value) if isinstance(value, Decimal) else value
    return out


def settings_to_dict(settings: Settings) -> dict:
    """JSON- and TOML-serialisable; ``settings_from_dict`` of it gives equal settings.
    Secrets are kept exactly as given (``env:NAME`` or the literal the merchant entered);
    the caller decides whether to encrypt or strip them."""
    data: dict = {
        "name": settings.name,
        "shop": _plain(settings.shop),
        "ledger": _plain(settings.ledger),
        "rounding": _plain(settings.rounding),
        "vat": [_plain(entry) for entry in settings.vat],
    }
    for table in ("icp", "international"):
        entry = getattr(settings, table)
        if entry is not None:
            data[table] = _plain(entry)
    data["oss"] = {country: _plain(entry) for country, entry in settings.oss.items()}
    data["payment_methods"] = {key: _plain(entry)
                               for key, entry in settings.payment_methods.items()}
    data["payments"] = _plain(settings.payments)
    if settings.billit is not None:
        data["billit"] = _plain(settings.billit)
    return data


def settings_to_toml(settings: Settings) -> str:
    """The export (``koppel connections export``): the same keys as the import."""
    return tomli_w.dumps(settings_to_dict(settings))


# --- secrets -------------------------------------------------------------------------------

def resolve_secret(value: str, environ: Mapping[str, str]) -> str:
    """``"env:NAME"`` -> the variable's value (an unset or empty variable is an error naming
    it); anything else is the literal secret."""
    if not value.startswith("env:"):
        return value
    name = value[4:]
    resolved = environ.get(name)
    if not resolved:
        raise SettingsError([f"environment variable {name} is not set (needed for {value!r})"])
    return resolved

"""A connection's settings (settings.md) as frozen values the rules read.

Loading and validating the TOML lives in ``application.settings``; here is only the shape and
the lookups the rules need, so the domain never parses a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True)
class ShopSettings:
    api_root: str
    home_country: str = "NL"
    platform: str = "ccvshop"
    public_key: str = ""
    secret: str = ""
    timezone: str = "Europe/Amsterdam"
    process: str = "paid_orders"          # "paid_orders" | "invoices"
    number_prefix: str = ""


@dataclass(frozen=True)
class LedgerSettings:
    system: str = "eboekhouden"           # "eboekhouden" | "billit"
    document: str = "mutation"            # e-Boekhouden: "mutation" | "invoice"
    api_token: str = ""
    api_key: str = ""                     # Billit
    debtors_account: str = "1300"
    payment_term_days: int = 14
    invoice_template: str = "Invoice template"
    invoice_number: str = "ledger"        # "ledger" | "shop"
    book_invoice: bool = False
    post_to_products: bool = False


@dataclass(frozen=True)
class RoundingSettings:
    tolerance: Decimal = Decimal("0.02")
    account: str = ""


@dataclass(frozen=True)
class VatEntry:
    """One domestic rate (R4.8)."""
    rate: Decimal
    vat_code: str = ""
    revenue_account: str = ""
    shipping_account: str = ""            # empty: revenue_account (R4.2)
    payment_costs_account: str = ""       # empty: revenue_account (R4.3)


@dataclass(frozen=True)
class ZeroRateEntry:
    """``[icp]`` and ``[international]``: 0% sales (R4.8)."""
    vat_code: str = ""
    revenue_account: str = ""


@dataclass(frozen=True)
class OssEntry:
    """``[oss.<COUNTRY>]``: local VAT owed in another EU country (R3.3, R4.7)."""
    vat_code: str = "VAT_OSS"
    vat_account: str = ""
    revenue_account: str = ""
    oss_revenue_vat_code: str = "GEEN"


@dataclass(frozen=True)
class PaymentMethodSettings:
    account: str = ""
    fixed_debtor: str = ""


@dataclass(frozen=True)
class PaymentsSettings:
    enabled: bool = True
    without_open_item: bool = False


@dataclass(frozen=True)
class BillitSettings:
    party_id: str = ""
    payment_status: str = "shop"          # "always" | "never" | "shop"
    currency_enabled: bool = False


@dataclass(frozen=True)
class Settings:
    name: str
    shop: ShopSettings
    ledger: LedgerSettings = field(default_factory=LedgerSettings)
    rounding: RoundingSettings = field(default_factory=RoundingSettings)
    vat: tuple[VatEntry, ...] = ()
    icp: ZeroRateEntry | None = None
    international: ZeroRateEntry | None = None
    oss: dict[str, OssEntry] = field(default_factory=dict)
    payment_methods: dict[str, PaymentMethodSettings] = field(default_factory=dict)
    payments: PaymentsSettings = field(default_factory=PaymentsSettings)
    billit: BillitSettings | None = None

    def vat_entry(self, rate: Decimal) -> VatEntry | None:
        """The domestic entry for a rate (R4.8); compared as numbers, so "21" == 21.0."""
        for entry in self.vat:
            if entry.rate == rate:
                return entry
        return None

    @property
    def is_billit(self) -> bool:
        return self.ledger.system == "billit"

    def other_currencies_enabled(self) -> bool:
        """R2.2: only Billit can book other currencies, and only when enabled."""
        return self.is_billit and self.billit is not None and self.billit.currency_enabled

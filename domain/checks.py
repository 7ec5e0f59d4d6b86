"""R5: the checks a document must pass before anything is posted.

Each check yields a ``Check`` whether it passes or not, so a merchant (and the preview) sees
everything that was verified. Messages are written for a merchant, in Dutch and English, and
name the rule. Checks never call the ledger; the optional online VIES check of R5.2 is not
done here (it is off by default and needs the network).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from decimal import Decimal

from stdnum.eu import vat as eu_vat

from .classify import ICP
from .customer import Customer
from .money import format_amount, format_number

TOTAL_MISMATCH = "TOTAL_MISMATCH"
ICP_VAT_NUMBER_INVALID = "ICP_VAT_NUMBER_INVALID"
VAT_CODE_MISSING = "VAT_CODE_MISSING"
INTERNATIONAL_WITH_VAT = "INTERNATIONAL_WITH_VAT"
CURRENCY_NOT_ENABLED = "CURRENCY_NOT_ENABLED"
CUSTOMER_NAME_MISSING = "CUSTOMER_NAME_MISSING"

RULES = {
    TOTAL_MISMATCH: "R5.1", ICP_VAT_NUMBER_INVALID: "R5.2", VAT_CODE_MISSING: "R5.3",
    INTERNATIONAL_WITH_VAT: "R5.4", CURRENCY_NOT_ENABLED: "R5.5", CUSTOMER_NAME_MISSING: "R5.6",
}


@dataclass(frozen=True)
class Check:
    code: str
    rule: str
    ok: bool
    message_nl: str
    message_en: str

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Check":
        return cls(**data)


def _check(code: str, ok: bool, nl: str, en: str) -> Check:
    rule = RULES[code]
    return Check(code, rule, ok, f"{nl} ({rule})", f"{en} ({rule})")


def total_check(difference: Decimal, tolerance: Decimal) -> Check:
    """R5.1 / R4.6: a difference above the tolerance is never absorbed silently."""
    if abs(difference) <= tolerance:
        return _check(TOTAL_MISMATCH, True,
                      "De regels tellen op tot het totaal van het document.",
                      "The lines add up to the document total.")
    amount = format_amount(difference)
    return _check(
        TOTAL_MISMATCH, False,
        f"De regels wijken {amount} af van het totaal van het document; dat is meer dan de "
        f"afrondingstolerantie van {format_amount(tolerance)}. Controleer de bestelling in de "
        "winkel.",
        f"The lines differ {amount} from the document total, more than the rounding tolerance "
        f"of {format_amount(tolerance)}. Check the order in the shop.")


def icp_vat_number_check(scope: str, vat_number: str) -> Check:
    """R5.2: an ICP sale needs a valid EU VAT number (format and check digit)."""
    if scope != ICP:
        return _check(ICP_VAT_NUMBER_INVALID, True,
                      "Geen ICP-levering: geen btw-nummer nodig.",
                      "Not an intra-community sale: no VAT number needed.")
    if not vat_number:
        return _check(ICP_VAT_NUMBER_INVALID, False,
                      "ICP-levering zonder btw-nummer van de klant; 0% btw is dan niet "
                      "toegestaan. Vul het btw-nummer in bij de klant in de winkel.",
                      "Intra-community sale without the customer's VAT number; 0% VAT is not "
                      "allowed then. Add the VAT number to the customer in the shop.")
    try:
        valid = eu_vat.is_valid(vat_number)
    except Exception:  # stdnum raises on odd input in some versions: that is "invalid"
        valid = False
    if valid:
        return _check(ICP_VAT_NUMBER_INVALID, True,
                      f"Btw-nummer {vat_number} is geldig.",
                      f"VAT number {vat_number} is valid.")
    return _check(ICP_VAT_NUMBER_INVALID, False,
                  f"Btw-nummer {vat_number} is geen geldig EU-btw-nummer (opmaak of "
                  "controlecijfer). Corrigeer het btw-nummer van de klant in de winkel.",
                  f"VAT number {vat_number} is not a valid EU VAT number (format or check "
                  "digit). Correct the customer's VAT number in the shop.")


# How a Dutch bookkeeper names the scopes of R3.
_SCOPE_NL = {"domestic": "binnenland", "icp": "EU-zakelijk (ICP)",
             "international": "buiten de EU", "oss": "OSS"}


def vat_code_check(scope: str, missing_rates: Iterable[Decimal]) -> Check:
    """R5.3: every line's rate needs a VAT code and account (R4.8)."""
    rates = sorted(set(missing_rates))
    if not rates:
        return _check(VAT_CODE_MISSING, True,
                      "Elke regel heeft een btw-code en grootboekrekening.",
                      "Every line has a VAT code and ledger account.")
    shown = ", ".join(f"{format_number(rate)}%" for rate in rates)
    where = {"icp": "[icp]", "international": "[international]"}.get(scope, "[[vat]]")
    scope_nl = _SCOPE_NL.get(scope, scope)
    return _check(
        VAT_CODE_MISSING, False,
        f"Geen btw-code en grootboekrekening ingesteld voor {shown} ({scope_nl}). Voeg die toe "
        f"in de instellingen ({where}).",
        f"No VAT code and ledger account configured for {shown} ({scope}). Add it to the "
        f"settings ({where}).")


def international_with_vat_check(outside_eu_with_vat: bool, country: str) -> Check:
    """R5.4 / R3.5: a sale outside the EU must carry 0% VAT."""
    if not outside_eu_with_vat:
        return _check(INTERNATIONAL_WITH_VAT, True,
                      "Geen levering buiten de EU met btw.",
                      "No delivery outside the EU with VAT.")
    return _check(
        INTERNATIONAL_WITH_VAT, False,
        f"Levering buiten de EU ({country}) met btw: zo'n verkoop kan niet verwerkt worden. "
        "Buiten de EU hoort 0% btw; pas de bestelling aan in de winkel.",
        f"Delivery outside the EU ({country}) with VAT: such a sale cannot be processed. "
        "Sales outside the EU carry 0% VAT; correct the order in the shop.")


def currency_check(currency: str, other_currencies_enabled: bool) -> Check:
    """R5.5 / R2.2: EUR only, unless the connection enables other currencies (Billit)."""
    if currency == "EUR" or other_currencies_enabled:
        return _check(CURRENCY_NOT_ENABLED, True,
                      f"Valuta {currency} is toegestaan.", f"Currency {currency} is allowed.")
    return _check(
        CURRENCY_NOT_ENABLED, False,
        f"Valuta {currency} is niet ingeschakeld voor deze koppeling; alleen EUR wordt geboekt.",
        f"Currency {currency} is not enabled for this connection; only EUR is booked.")


def customer_name_check(customer: Customer) -> Check:
    """R5.6: a debtor needs a name."""
    if customer.name:
        return _check(CUSTOMER_NAME_MISSING, True,
                      "De klant heeft een naam.", "The customer has a name.")
    return _check(
        CUSTOMER_NAME_MISSING, False,
        "De klant heeft geen bedrijfsnaam, voornaam of achternaam; een debiteur heeft een "
        "naam nodig. Vul de naam in bij de bestelling in de winkel.",
        "The customer has no company, first or last name; a debtor needs a name. Add the "
        "name to the order in the shop.")

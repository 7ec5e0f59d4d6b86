"""settings.md: loading, rejecting with key paths, round trips, secrets."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from application.settings import (SECRET_FIELDS, SettingsError, load_settings,
                                  load_settings_text, resolve_secret, settings_from_dict,
                                  settings_to_dict, settings_to_toml)

from .conftest import EXAMPLES, SETTINGS_TOML, make_settings

SETTINGS_MD_EXAMPLE = EXAMPLES.parent / "settings.md"


def _problems(text: str) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        load_settings_text(text)
    assert str(caught.value) == "; ".join(caught.value.problems)
    return caught.value.problems


@pytest.mark.usefixtures("spec_examples")
def test_the_example_settings_load():
    settings = load_settings(EXAMPLES / "settings.toml")
    assert settings.name == "Koffiehuis Example"
    assert settings.shop.home_country == "NL" and settings.ledger.system == "eboekhouden"
    assert [entry.rate for entry in settings.vat] == [Decimal("21"), Decimal("9"), Decimal("0")]
    assert settings.vat_entry(Decimal("21.0")).shipping_account == "8010"
    assert settings.oss["DE"].oss_revenue_vat_code == "GEEN"       # the default
    assert settings.rounding.tolerance == Decimal("0.02")
    assert settings.shop.public_key == "env:CCV_PUBLIC"            # kept, not resolved


@pytest.mark.usefixtures("spec_examples")
def test_the_settings_md_example_loads():
    text = SETTINGS_MD_EXAMPLE.read_text()
    toml = text.split("```toml", 1)[1].split("```", 1)[0]
    settings = load_settings_text(toml)
    assert settings.billit.payment_status == "shop"
    assert settings.vat_entry(Decimal("21")).payment_costs_account == "8020"


@pytest.mark.parametrize("old, new, expected", [
    ('system = "eboekhouden"', 'sytem = "eboekhouden"', "ledger.sytem: unknown key"),
    ('[icp]', '[icpp]', "icpp: unknown key"),
    ('[oss.DE]\nvat_code = "VAT_OSS"', '[oss.DE]\nvat_code = "VAT_OSS"\nvat_acount = "1"',
     "oss.DE.vat_acount: unknown key"),
    ('name = "Testwinkel"\n', '', "name: missing (required)"),
    ('api_root = "https://test.ccvshop.nl"\n', '', "shop.api_root: missing (required)"),
    ('rate = "9"', 'rate = "nine"', "vat[1].rate: not a number"),
    ('rate = "9"', 'rate = "900"', "vat[1].rate: must be 0 to 100"),
    ('payment_term_days = 14', 'payment_term_days = "14"',
     "ledger.payment_term_days: not a whole number"),
    ('enabled = true', 'enabled = "yes"', "payments.enabled: not true or false"),
    ('account = "8090"', 'account = 8090', "rounding.account: not a string (put it in quotes)"),
    ('process = "paid_orders"', 'process = "paid"',
     'shop.process: must be one of "paid_orders", "invoices"'),
    ('home_country = "NL"', 'home_country = "Nederland"',
     "shop.home_country: not an EU member state code (two capitals, e.g. NL)"),
    ('timezone = "Europe/Amsterdam"', 'timezone = "Europe/Utrecht"',
     "shop.timezone: not a known time zone (e.g. Europe/Amsterdam)"),
    ('[oss.DE]', '[oss.NL]', "oss.NL: is the home country: OSS is for other EU countries (R3.3)"),
    ('[oss.DE]', '[oss.CH]', "oss.CH: not an EU member state code (two capitals, e.g. DE)"),
    ('vat_account = "1665"\n', '', "oss.DE.vat_account: missing (required for OSS, R4.7)"),
    ('revenue_account = "8001"\n', '',
     "vat[1].revenue_account: missing (required for e-Boekhouden, R4.8)"),
    ('secret = "env:CCV_SECRET"', 'secret = "env:"',
     'shop.secret: "env:" must be followed by an environment variable name'),
    ('[payment_methods.default]\naccount = "1100"\n', '',
     "payment_methods.default.account: missing (required when payments are enabled, R8.2)"),
])
def test_bad_settings_name_the_key_path(old, new, expected):
    assert old in SETTINGS_TOML
    assert expected in _problems(SETTINGS_TOML.replace(old, new))


def test_duplicate_rate_and_several_problems_at_once():
    text = SETTINGS_TOML.replace('rate = "9"', 'rate = "21.0"').replace(
        'debtors_account = "1300"', 'debtors_account = 1300')
    problems = _problems(text)
    assert "ledger.debtors_account: not a string (put it in quotes)" in problems
    # the cross-key check waits until every key is right on its own
    text = SETTINGS_TOML.replace('rate = "9"', 'rate = "21.0"')
    assert _problems(text) == ["vat[1].rate: rate 21 is already vat[0]"]


def test_malformed_toml():
    problems = _problems('name = "x"\n[shop\n')
    assert len(problems) == 1 and problems[0].startswith("not valid TOML")


def test_missing_file(tmp_path):
    with pytest.raises(SettingsError, match="file not found"):
        load_settings(tmp_path / "nope.toml")


def test_billit_needs_no_codes_or_accounts():
    text = """
name = "Billit shop"
[shop]
api_root = "http://127.0.0.1:8001"
home_country = "BE"
[ledger]
system = "billit"
api_key = "env:BILLIT_KEY"
[[vat]]
rate = 21
[[vat]]
rate = 0.06
[billit]
party_id = "123456"
payment_status = "always"
"""
    settings = load_settings_text(text)
    assert [entry.rate for entry in settings.vat] == [Decimal("21"), Decimal("6")]  # R0.2
    assert settings.ledger.api_key == "env:BILLIT_KEY"


def test_round_trips():
    settings = make_settings()
    data = settings_to_dict(settings)
    assert json.loads(json.dumps(data)) == data                      # JSON-serialisable
    assert settings_from_dict(json.loads(json.dumps(data))) == settings
    exported = settings_to_toml(settings)
    assert load_settings_text(exported) == settings
    assert 'public_key = "env:CCV_PUBLIC"' in exported                # secrets as given


def test_round_trip_with_billit_and_literal_secrets():
    settings = make_settings(
        replace={'api_token = "env:EBOEKHOUDEN_TOKEN"': 'api_token = "literal-token"'},
        extra='\n[billit]\nparty_id = "9"\ncurrency_enabled = true\n')
    assert settings_from_dict(settings_to_dict(settings)) == settings
    assert load_settings_text(settings_to_toml(settings)).ledger.api_token == "literal-token"


def test_secrets():
    assert SECRET_FIELDS == ["shop.public_key", "shop.secret", "ledger.api_token",
                             "ledger.api_key"]
    assert resolve_secret("env:CCV_SECRET", {"CCV_SECRET": "s3cr3t"}) == "s3cr3t"
    assert resolve_secret("plain", {}) == "plain"
    with pytest.raises(SettingsError, match="environment variable CCV_SECRET is not set"):
        resolve_secret("env:CCV_SECRET", {})

"""The worked examples of spec/examples pass unchanged (their README says what must agree)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from click.testing import CliRunner

from application.preview import preview
from application.settings import load_settings
from web.preview_command import preview_command

from .conftest import EXAMPLES

NAMES = ["01-domestic-taxes-included", "02-oss-germany", "03-icp-invalid-vat-number"]

pytestmark = pytest.mark.usefixtures("spec_examples")


def _load(name: str):
    bundle = json.loads((EXAMPLES / f"{name}.json").read_text(), parse_float=Decimal)
    expected = json.loads((EXAMPLES / f"{name}.expected.json").read_text())
    return bundle, expected


def _totals_by_account(lines: list[dict]) -> dict[str, list[str]]:
    totals: dict[str, list[Decimal]] = {}
    for line in lines:
        key = f"{line['account']}/{line['vat_code']}"
        excl, incl = totals.get(key, [Decimal(0), Decimal(0)])
        totals[key] = [excl + Decimal(line["amount_excl"]), incl + Decimal(line["amount_incl"])]
    return {key: [f"{excl:.2f}", f"{incl:.2f}"] for key, (excl, incl) in totals.items()}


@pytest.mark.parametrize("name", NAMES)
def test_example_agrees_with_its_expected_file(name):
    bundle, expected = _load(name)
    settings = load_settings(EXAMPLES / "settings.toml")
    result, status = preview(bundle, settings, None)

    for key in ("kind", "scope", "country", "payment_method", "total_incl"):
        assert result["document"][key] == expected["document"][key], key
    failed = [check["code"] for check in result["checks"] if not check["ok"]]
    assert failed == expected["failed"]
    assert status == (1 if expected["failed"] else 0)
    assert _totals_by_account(result["lines"]) == expected["totals_by_account"]
    # the example's own line list is one way to get there: ours is exactly that one
    assert [{key: line[key] for key in ("kind", "account", "vat_code", "amount_excl",
                                        "amount_incl")} for line in result["lines"]] \
        == expected["lines"]


@pytest.mark.parametrize("name", NAMES)
def test_example_through_the_command(name):
    _, expected = _load(name)
    result = CliRunner().invoke(preview_command, [
        "--settings", str(EXAMPLES / "settings.toml"), str(EXAMPLES / f"{name}.json")])
    assert result.exit_code == (1 if expected["failed"] else 0), result.output
    printed = json.loads(result.stdout)
    assert printed["document"]["total_incl"] == expected["document"]["total_incl"]
    assert {check["code"] for check in printed["checks"]} == {
        "TOTAL_MISMATCH", "ICP_VAT_NUMBER_INVALID", "VAT_CODE_MISSING",
        "INTERNATIONAL_WITH_VAT", "CURRENCY_NOT_ENABLED", "CUSTOMER_NAME_MISSING"}

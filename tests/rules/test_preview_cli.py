"""``koppel preview``: the JSON of preview.md and the exit statuses 0, 1 and 2."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from application.preview import preview
from web.preview_command import preview_command

from .conftest import SETTINGS_TOML, customer, make_settings, order, row


@pytest.fixture
def files(tmp_path):
    settings = tmp_path / "settings.toml"
    settings.write_text(SETTINGS_TOML)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(order([row("Mok", "12.10")], total_price="12.10",
                                     total_tax="2.10"), default=str))
    bad = order([row("Mok", "12.10")], total_price="12.10", total_tax="2.10")
    bad["order"]["customer"] = customer(company="", first="", last="")
    failing = tmp_path / "failing.json"
    failing.write_text(json.dumps(bad, default=str))
    return tmp_path, settings, good, failing


def _run(*args):
    return CliRunner().invoke(preview_command, [str(arg) for arg in args])


def test_exit_0_prints_the_preview(files):
    _, settings, good, _ = files
    result = _run("--settings", settings, good)
    assert result.exit_code == 0 and result.stderr == ""
    printed = json.loads(result.stdout)
    assert set(printed) == {"document", "checks", "lines", "debtor", "requests"}
    assert printed["document"]["total_incl"] == "12.10"
    line = printed["lines"][0]
    assert (line["quantity"], line["vat_rate"], line["amount_excl"], line["vat_amount"]) == (
        "1", "21", "10.00", "2.10")
    assert printed["debtor"]["action"] == "create" and printed["debtor"]["code"] == "BakkerijDe"
    assert [r["path"] for r in printed["requests"]] == ["/v1/relation", "/v1/mutation"]
    mutation = printed["requests"][1]["body"]
    assert mutation["rows"][0] == {"ledgerId": "8000", "vatCode": "HOOG_VERK_21",
                                   "amount": "12.10", "description": "Mok"}
    assert mutation["relationId"] == "<id of relation BakkerijDe>"


def test_exit_1_still_prints(files):
    _, settings, _, failing = files
    result = _run("--settings", settings, failing)
    assert result.exit_code == 1
    failed = [c for c in json.loads(result.stdout)["checks"] if not c["ok"]]
    assert [(c["code"], c["rule"]) for c in failed] == [("CUSTOMER_NAME_MISSING", "R5.6")]
    assert failed[0]["message"] and failed[0]["message_nl"]


def test_relations_file_is_used(files):
    tmp_path, settings, good, _ = files
    relations = tmp_path / "relations.json"
    relations.write_text(json.dumps([{"code": "BakkerijDe", "email": "x@y.nl"}]))
    printed = json.loads(_run("--settings", settings, good, "--relations", relations).stdout)
    assert printed["debtor"]["code"] == "BakkerijDe1"
    relations.write_text(json.dumps([{"code": "BDV", "email": "SANNE@bakkerijdevries.nl"}]))
    printed = json.loads(_run("--settings", settings, good, "--relations", relations).stdout)
    assert printed["debtor"] == {"action": "match", "rule": "R6.2", "code": "BDV",
                                 "email": "sanne@bakkerijdevries.nl"}
    assert [r["path"] for r in printed["requests"]] == ["/v1/mutation"]


def _one_line_error(result, *needles):
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0]


def test_exit_2_missing_file(files):
    tmp_path, settings, _, _ = files
    _one_line_error(_run("--settings", settings, tmp_path / "nope.json"),
                    "nope.json", "file not found")
    _one_line_error(_run("--settings", tmp_path / "nope.toml", tmp_path / "good.json"),
                    "nope.toml", "file not found")


def test_exit_2_malformed_json(files):
    tmp_path, settings, _, _ = files
    broken = tmp_path / "broken.json"
    broken.write_text('{"order": {"id": 1,,}}')
    _one_line_error(_run("--settings", settings, broken), "broken.json", "not valid JSON")


def test_exit_2_document_without_order_or_invoice(files):
    tmp_path, settings, _, _ = files
    other = tmp_path / "other.json"
    other.write_text('{"orders": []}')
    _one_line_error(_run("--settings", settings, other), "other.json",
                    "neither 'order' nor 'invoice'")


def test_exit_2_settings_typo(files):
    tmp_path, _, good, _ = files
    typo = tmp_path / "typo.toml"
    typo.write_text(SETTINGS_TOML.replace("debtors_account", "debtor_account"))
    _one_line_error(_run("--settings", typo, good), "typo.toml",
                    "ledger.debtor_account: unknown key")


def test_exit_2_bad_relations(files):
    tmp_path, settings, good, _ = files
    relations = tmp_path / "relations.json"
    relations.write_text('{"code": "x"}')
    _one_line_error(_run("--settings", settings, good, "--relations", relations),
                    "relations.json", "expected a JSON list")


def test_preview_function_for_invoice_mode_with_fixed_debtor():
    settings = make_settings(replace={'document = "mutation"': 'document = "invoice"'})
    bundle = order([row("Mok", "12.10")], total_price="12.10", total_tax="2.10",
                   paymethod="PayPal")
    result, status = preview(bundle, settings, None)
    assert status == 0
    assert result["debtor"] == {"action": "fixed", "rule": "R6.1", "code": "PAYPAL"}
    assert [r["path"] for r in result["requests"]] == ["/v1/invoice"]
    assert result["requests"][0]["body"]["relationId"] == "<id of relation PAYPAL>"


def test_preview_function_for_billit():
    settings = make_settings(replace={'system = "eboekhouden"': 'system = "billit"'},
                             extra='\n[billit]\nparty_id = "1"\n')
    bundle = order([row("Mok", "12.10")], total_price="12.10", total_tax="2.10")
    result, status = preview(bundle, settings, None)
    assert status == 0 and result["debtor"]["action"] == "billit"
    request = result["requests"][0]
    assert request["path"] == "/v1/orders"
    assert request["body"]["OrderLines"][0]["UnitPriceIncl"] == "12.10"
    json.dumps(result)  # serialisable as printed

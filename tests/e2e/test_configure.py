"""The Configuration page's service (application/configure.py): a form validated exactly as the
settings file is, saved as a new settings version, its choices from the sandbox ledger, and a
document booked with the new values afterwards."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from application import configure
from application.settings import SettingsError, load_settings_text, settings_from_dict
from sandbox.generator import generate
from tests.harness import Harness
from web.demo import demo_settings_text


@pytest.fixture
def h(sqlite_url):
    harness = Harness(sqlite_url)
    yield harness
    harness.close()


def _stored(h: Harness) -> dict:
    return h.runtime.app.find_connection(h.connection.id).settings


def _form(h: Harness, **changes: str) -> dict:
    form = configure.form_fields(_stored(h))
    form.update(changes)
    return form


def _file_problems(h: Harness, old: str, new: str) -> list[str]:
    text = demo_settings_text(h.shop_url).replace(old, new)
    assert text != demo_settings_text(h.shop_url)
    with pytest.raises(SettingsError) as raised:
        load_settings_text(text)
    return raised.value.problems


def test_the_unchanged_form_records_no_version_and_keeps_every_setting(h):
    result, changed = configure.save_form(h.runtime.connections, h.connection.id, _form(h),
                                          by="merchant@example.test")
    assert result.problems == {} and changed is False
    # every setting the same, secrets included (kept sealed as they were)
    assert result.settings == settings_from_dict(_stored(h))
    assert [v.number for v in configure.versions(h.runtime.app, h.connection.id)] == [1]


@pytest.mark.parametrize("field, typed, old, new", [
    ("vat[1].rate", "negen", 'rate = "9"', 'rate = "negen"'),
    ("ledger.payment_term_days", "veertien", "payment_term_days = 14",
     'payment_term_days = "veertien"'),
    ("shop.home_country", "XX", 'home_country = "NL"', 'home_country = "XX"'),
    ("vat[0].vat_code", "", 'vat_code = "HOOG_VERK_21"', 'vat_code = ""'),
    ("oss.DE.vat_code", "GEEN", 'vat_code = "VAT_OSS"\nvat_account = "1665"',
     'vat_code = "GEEN"\nvat_account = "1665"'),
])
def test_invalid_input_gets_the_file_imports_message_under_the_fields_name(h, field, typed,
                                                                           old, new):
    result, changed = configure.save_form(h.runtime.connections, h.connection.id,
                                          _form(h, **{field: typed}), by="m")
    from_file = [p.partition(": ")[2] for p in _file_problems(h, old, new)
                 if p.startswith(field + ": ")]
    assert from_file, "the file import names the same key"
    assert result.problems[field] == from_file
    assert result.settings is None and changed is False
    assert [v.number for v in configure.versions(h.runtime.app, h.connection.id)] == [1]


def test_a_saved_change_is_a_new_version_with_who_and_what(h):
    form = _form(h, **{"vat[0].revenue_account": "8001", "icp.vat_code": "BI_EU_VERK_D"})
    result, changed = configure.save_form(h.runtime.connections, h.connection.id, form,
                                          by="merchant@example.test")
    assert result.problems == {} and changed is True
    newest, first = configure.versions(h.runtime.app, h.connection.id)
    assert (newest.number, newest.by, first.number) == (2, "merchant@example.test", 1)
    assert [(c.path, c.before, c.after) for c in newest.changes] == [
        ("icp.vat_code", "BI_EU_VERK", "BI_EU_VERK_D"),
        ("vat[0].revenue_account", "8000", "8001")]
    assert h.runtime.connections.get(h.connection.id).version == 2


def test_a_replaced_secret_is_sealed_and_the_versions_only_say_it_changed(h):
    form = _form(h, **{"ledger.api_token": "a-brand-new-token-42"})
    configure.save_form(h.runtime.connections, h.connection.id, form, by="m")
    stored = _stored(h)
    assert stored["ledger"]["api_token"].startswith("enc:")
    assert "a-brand-new-token-42" not in repr(h.runtime.app.history(h.connection.id))
    change, = configure.versions(h.runtime.app, h.connection.id)[0].changes
    assert (change.path, change.secret, change.before, change.after) == (
        "ledger.api_token", True, True, True)
    assert configure.form_fields(stored)["ledger.api_token"] == ""
    assert configure.secrets_set(stored) == {"shop.public_key": True, "shop.secret": True,
                                             "ledger.api_token": True, "ledger.api_key": False}


def test_entries_are_added_and_removed(h):
    form = _form(h, **{"vat[1].remove": "on", "oss.new.name": "BE", "oss.new.vat_code": "VAT_OSS",
                       "oss.new.vat_account": "1640", "oss.new.revenue_account": "8300",
                       "payment_methods.paypal.remove": "on",
                       "vat[7].rate": "", "vat[7].vat_code": ""})  # an empty new row
    result, changed = configure.save_form(h.runtime.connections, h.connection.id, form, by="m")
    assert result.problems == {} and changed
    stored = _stored(h)
    assert [entry["rate"] for entry in stored["vat"]] == ["21", "0"]
    assert sorted(stored["oss"]) == ["BE", "DE", "FR"]
    assert sorted(stored["payment_methods"]) == ["default", "ideal"]


def test_the_name_is_the_connections_identity_and_no_form_changes_it(h):
    result, _ = configure.save_form(h.runtime.connections, h.connection.id,
                                    _form(h, name="Someone else's shop"), by="m")
    assert result.data["name"] == "Demo shop"
    assert h.runtime.app.connection_named("Someone else's shop") is None


def test_the_choices_come_from_the_merchants_ledger(h):
    connection = h.runtime.connections.get(h.connection.id)
    ledger = h.runtime.connections.ledger(connection)
    choices = configure.ledger_choices(connection.settings, ledger)
    codes = {a["code"]: a["description"] for a in choices.accounts}
    assert codes["8000"] == "Omzet hoog" and codes["1665"] == "Btw Duitsland (OSS)"
    assert choices.problem is None
    assert choices.templates == ("Factuur standaard", "Invoice template")  # active ones only
    assert {"HOOG_VERK_21", "LAAG_VERK_9", "BI_EU_VERK", "BU_EU_VERK", "GEEN"} <= set(
        choices.vat_codes)


def test_an_unreachable_ledger_is_said_and_the_vat_codes_are_still_offered(h):
    h.arm(mode="error", status=503, path="/v1/ledger", count=10)
    connection = h.runtime.connections.get(h.connection.id)
    ledger = h.runtime.connections.ledger(connection)
    choices = configure.ledger_choices(connection.settings, ledger)
    assert choices.problem and choices.accounts == ()
    assert "HOOG_VERK_21" in choices.vat_codes


def test_a_document_is_booked_with_the_new_codes(h):
    """Change the ICP VAT code and the 21% revenue account on the page; the next ICP and
    domestic orders reach the sandbox ledger with them."""
    form = _form(h, **{"vat[0].revenue_account": "8001", "icp.vat_code": "BI_EU_VERK_D"})
    assert configure.save_form(h.runtime.connections, h.connection.id, form, by="m")[1]
    items = generate(80, 5, failing_share=0, unpaid_share=0, scopes={"icp", "domestic"})
    icp = next(i for i in items if i["kind"] == "order" and i["expect"]["outcome"] == "posted"
               and i["expect"].get("scope") == "icp")
    domestic = next(i for i in items if i["kind"] == "order" and
                    i["expect"]["outcome"] == "posted" and i["expect"].get("scope") == "domestic"
                    and any(int(r["tax"]) == 21 for r in i["orderrows"]))
    for item in (icp, domestic):
        doc_id = h.runtime.processing.intake(h.connection.id, "order", h.put_order(item)["id"],
                                             "test")
        h.process(doc_id)
        assert h.runtime.app.document(doc_id).status == "posted"
    rows = [(row["ledgerCode"], row["vatCode"]) for m in h.mutations() for row in m["rows"]]
    assert ("8100", "BI_EU_VERK_D") in rows
    assert ("8001", "HOOG_VERK_21") in rows
    assert not any(code == "BI_EU_VERK" or (ledger, code) == ("8000", "HOOG_VERK_21")
                   for ledger, code in rows)


def test_a_problem_goes_beside_the_row_typed_in_when_a_row_before_it_is_removed(h):
    form = _form(h, **{"vat[0].remove": "on", "vat[2].vat_code": ""})
    result, changed = configure.save_form(h.runtime.connections, h.connection.id, form, by="m")
    # In the settings it is vat[1] (the first row is gone); on the page it is the third row.
    assert result.problems == {"vat[2].vat_code": ["missing (required for e-Boekhouden, R4.8)"]}
    assert not changed


class _Form(HTMLParser):
    """What a browser sends for the page's settings form, untouched."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("name") and a.get("type") != "radio":
            if a.get("type") == "checkbox":
                if "checked" in a:
                    self.fields[a["name"]] = "on"
            else:
                self.fields[a["name"]] = a.get("value") or ""
        elif tag == "select":
            self._select = a["name"]
        elif tag == "option" and self._select and "selected" in a:
            self.fields[self._select] = a.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None


@pytest.mark.parametrize("ledger", ["eboekhouden", "billit"])
def test_saving_the_page_untouched_changes_nothing(sqlite_url, ledger):
    """Every setting the page shows, and those it keeps unseen (Billit ignores VAT codes and
    accounts, but not its OSS countries), comes back as it was: no new version."""
    h = Harness(sqlite_url, ledger=ledger)
    try:
        page = h.merchant.get(f"/connections/{h.connection.id}/settings").get_data(as_text=True)
        parser = _Form()
        parser.feed(page[page.index('<form method="post" class="settings"'):])
        assert "shop.api_root" in parser.fields
        assert "csrf_token" in parser.fields  # sent back as a browser does
        response = h.merchant.post(f"/connections/{h.connection.id}/settings",
                                   data=parser.fields)
        assert response.status_code == 303, response.get_data(as_text=True)[:2000]
        assert [v.number for v in configure.versions(h.runtime.app, h.connection.id)] == [1]
    finally:
        h.close()

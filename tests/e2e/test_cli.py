"""The support commands: audit, projections rebuild, connections import/export."""

from __future__ import annotations

import io
import json
import re
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from tests.harness import SHOP_KEYS, LEDGER_TOKEN, Harness
from web.cli import main
from web.replay_progress import replay_progress


@pytest.fixture
def posted(sqlite_url, paid_domestic_orders):
    """One posted order in a SQLite store the CLI can open through its environment."""
    h = Harness(sqlite_url)
    shop_id = h.put_order(paid_domestic_orders(1)[0])["id"]
    doc_id = h.runtime.processing.intake(h.connection.id, "order", shop_id, "test")
    h.runtime.processing.process(doc_id)
    number = h.runtime.app.document(doc_id).number
    yield h, number, h.cli_env()
    h.close()


def test_audit_prints_the_whole_history_without_secrets(posted):
    h, number, env = posted
    result = CliRunner().invoke(main, ["audit", number], env=env)
    assert result.exit_code == 0, result.output
    for event in ("Received", "Checked", "DebtorResolved", "PostingStarted", "Posted"):
        assert f" {event}\n" in result.output
    assert "/v1/mutation" in result.output and "HOOG_VERK_21" in result.output

    as_json = json.loads(CliRunner().invoke(main, ["audit", number, "--json"], env=env).output)
    assert as_json["status"] == "posted"
    checked = next(e for e in as_json["events"] if e["event"] == "Checked")
    assert checked["fields"]["booking"]["lines"] and checked["fields"]["settings_version"] == 1
    for secret in (*SHOP_KEYS, LEDGER_TOKEN):
        assert secret not in result.output


def test_no_secret_is_stored_in_plain_text(posted):
    h, _, _ = posted
    database = Path(h.config.database_url[len("sqlite:///"):])
    stored = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
    for secret in (*SHOP_KEYS, LEDGER_TOKEN):
        assert secret.encode() not in stored


def test_audit_of_an_unknown_number_says_so(posted):
    _, _, env = posted
    result = CliRunner().invoke(main, ["audit", "no-such-order"], env=env)
    assert result.exit_code == 1 and "no document with number no-such-order" in result.output


def test_projections_rebuild_gives_the_same_rows(posted):
    h, _, env = posted
    before = h.rows()
    result = CliRunner().invoke(main, ["projections", "rebuild"], env=env)
    assert result.exit_code == 0 and "rebuilt from" in result.output
    assert re.search(r"rebuilt from \d+ events in [\d.]+s \([\d,]+ events/s\)", result.output)
    assert h.rows() == before


def test_the_rebuild_progress_bar_shows_events_done_of_all_and_the_rate():
    screen = io.StringIO()
    with replay_progress(console=Console(file=screen, force_terminal=True, width=160)) as progress:
        progress(0, 1000)
        time.sleep(0.2)
        progress(500, 1000)
        time.sleep(0.3)  # the bar redraws ten times a second
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())
    assert re.search(r"500/1000 events [\d,]+ events/s", shown), shown[-400:]


def test_connections_import_export_round_trip(tmp_path, sqlite_url):
    settings = Path("web/demo_settings.toml").read_text().replace("{api_root}", "https://x.test")
    (tmp_path / "shop.toml").write_text(settings)
    env = {"KOPPEL_DATABASE_URL": sqlite_url, "KOPPEL_SECRET_KEY": "k", "KOPPEL_BROKER_URL": ""}
    runner = CliRunner()
    ownerless = runner.invoke(main, ["connections", "import", str(tmp_path / "shop.toml")],
                              env=env)
    assert ownerless.exit_code == 1 and "--owner EMAIL" in ownerless.output
    assert runner.invoke(main, ["users", "add", "shop@example.com", "--role", "merchant",
                                "--generate"], env=env).exit_code == 0
    first = runner.invoke(main, ["connections", "import", str(tmp_path / "shop.toml"),
                                 "--owner", "shop@example.com"], env=env)
    assert first.exit_code == 0 and "saved (settings version 1)" in first.output
    assert "/webhooks/" in first.output
    again = runner.invoke(main, ["connections", "import", str(tmp_path / "shop.toml")], env=env)
    assert "unchanged (settings version 1)" in again.output

    exported = runner.invoke(main, ["connections", "export", "Demo shop"], env=env)
    assert exported.exit_code == 0
    assert "demo-shop-secret" not in exported.output and "enc:" in exported.output
    (tmp_path / "back.toml").write_text(exported.output)
    reimported = runner.invoke(main, ["connections", "import", str(tmp_path / "back.toml")],
                               env=env)
    assert "unchanged (settings version 1)" in reimported.output

    (tmp_path / "typo.toml").write_text(settings.replace("home_country", "home_contry"))
    typo = runner.invoke(main, ["connections", "import", str(tmp_path / "typo.toml")], env=env)
    assert typo.exit_code == 1 and "home_contry" in typo.output


def test_reprocess_after_fixing_the_settings_posts_and_says_who_and_why(sqlite_url,
                                                                     fakes_on_ports):
    """A missing VAT mapping lands in Errors; support adds it and runs ``koppel reprocess``:
    the history shows the person, the reason, and the settings version each check used (I3)."""
    from sandbox.generator import generate

    h = Harness(sqlite_url, servers=fakes_on_ports)
    try:
        item = next(i for i in generate(200, 23, failing_share=1.0, unpaid_share=0)
                    if i["expect"]["check"] == "VAT_CODE_MISSING")
        shop_id = h.put_order(item)["id"]
        doc_id = h.runtime.processing.intake(h.connection.id, "order", shop_id, "test")
        h.runtime.processing.process(doc_id)
        document = h.runtime.app.document(doc_id)
        assert document.failure["code"] == "VAT_CODE_MISSING"
        rate = next(line["vat_rate"] for line in document.booking["lines"]
                    if not line["vat_code"])
        h.change_settings(**{"[icp]": f'[[vat]]\nrate = "{rate}"\nvat_code = "LAAG_VERK_9"\n'
                                      f'revenue_account = "8001"\n\n[icp]'})
        env = {"KOPPEL_DATABASE_URL": sqlite_url, "KOPPEL_SECRET_KEY": h.config.secret_key,
               "KOPPEL_BROKER_URL": "", "KOPPEL_EBOEKHOUDEN_URL": h.ledger_url}
        runner = CliRunner()
        done = runner.invoke(main, ["reprocess", document.number, "--by", "anna@support",
                                    "--reason", f"rate {rate} mapped"], env=env)
        assert done.exit_code == 0, done.output
        assert f"{document.number}: posted" in done.output

        document = h.runtime.app.document(doc_id)
        assert document.status == "posted" and len(h.mutations()) == 1
        checks = [e for e in h.runtime.app.history(doc_id) if type(e).__name__ == "Checked"]
        assert [c.settings_version for c in checks] == [1, 2]
        audit = runner.invoke(main, ["audit", document.number], env=env)
        assert "ReprocessRequested" in audit.output and "anna@support" in audit.output

        again = runner.invoke(main, ["reprocess", document.number, "--by", "x",
                                     "--reason", "y"], env=env)
        assert again.exit_code == 1 and "never posted twice" in again.output
    finally:
        h.close()


def _an_order_with_an_invalid_vat_number_in_errors(h: Harness):
    from sandbox.generator import generate

    item = next(i for i in generate(300, 29, failing_share=1.0, unpaid_share=0)
                if i["expect"]["check"] == "ICP_VAT_NUMBER_INVALID" and i["kind"] == "order")
    shop_id = h.put_order(item)["id"]
    doc_id = h.runtime.processing.intake(h.connection.id, "order", shop_id, "test")
    h.runtime.processing.process(doc_id)
    document = h.runtime.app.document(doc_id)
    assert document.status == "failed"
    assert document.failure["code"] == "ICP_VAT_NUMBER_INVALID"
    return shop_id, doc_id


def test_reprocess_fetches_the_fixed_document_from_the_shop_first(sqlite_url, fakes_on_ports):
    """Issue 7, hole 6: the merchant follows the error message and corrects the customer's VAT
    number in the shop; ``koppel reprocess`` then checks what the shop says now, not the copy
    koppel kept, and the history says who asked, why, and what changed."""
    import random

    from sandbox.generator import VALID_VAT

    h = Harness(sqlite_url, servers=fakes_on_ports)
    try:
        shop_id, doc_id = _an_order_with_an_invalid_vat_number_in_errors(h)
        document = h.runtime.app.document(doc_id)

        customer = dict(document.source["order"]["customer"])
        country = customer["billingaddress"]["country_code"]
        customer["btw"] = VALID_VAT[country](random.Random(3))  # the merchant's correction
        h.shop.patch(f"/__sandbox/orders/{shop_id}",
                     json={"customer": customer, "notify": False}).raise_for_status()

        env = {"KOPPEL_DATABASE_URL": sqlite_url, "KOPPEL_SECRET_KEY": h.config.secret_key,
               "KOPPEL_BROKER_URL": "", "KOPPEL_EBOEKHOUDEN_URL": h.ledger_url}
        runner = CliRunner()
        done = runner.invoke(main, ["reprocess", document.number, "--by", "anna@support",
                                    "--reason", "VAT number corrected in the shop"], env=env)
        assert done.exit_code == 0, done.output
        assert f"{document.number}: posted" in done.output
        document = h.runtime.app.document(doc_id)
        assert document.status == "posted" and len(h.mutations()) == 1
        assert document.source["order"]["customer"]["btw"] == customer["btw"]
        names = [type(e).__name__ for e in h.runtime.app.history(doc_id)]
        assert names[names.index("ReprocessRequested"):][:3] == [
            "ReprocessRequested", "Refreshed", "Checked"]
        refreshed = next(e for e in h.runtime.app.history(doc_id)
                         if type(e).__name__ == "Refreshed")
        assert refreshed.via == "reprocess"
        audit = runner.invoke(main, ["audit", document.number], env=env)
        assert "anna@support" in audit.output and "VAT number corrected" in audit.output
    finally:
        h.close()


def test_reprocess_of_a_document_the_shop_no_longer_has_changes_nothing(sqlite_url):
    from application.errors import NotFoundError

    h = Harness(sqlite_url)
    try:
        shop_id, doc_id = _an_order_with_an_invalid_vat_number_in_errors(h)
        before = len(h.runtime.app.history(doc_id))
        h.shop.post("/__sandbox/faults", json={"mode": "error", "method": "GET", "status": 404,
                                               "path": f"/api/rest/v1/orders/{shop_id}.*"})
        with pytest.raises(NotFoundError) as gone:
            h.runtime.processing.request_reprocess(doc_id, by="anna@support", reason="retry")
        assert "no longer has order" in gone.value.message
        assert len(h.runtime.app.history(doc_id)) == before  # nothing recorded, nothing run
        assert h.runtime.app.document(doc_id).status == "failed"
    finally:
        h.close()


def test_rotate_token_prints_the_new_addresses_and_the_old_one_is_refused(posted):
    h, _, env = posted
    old = h.webhook_path()
    body = {"id": 1, "href": f"{h.shop_url}/api/rest/v1/orders/1"}
    result = CliRunner().invoke(main, ["connections", "rotate-token", "Demo shop", "--by", "anna"],
                                env=env)
    assert result.exit_code == 0, result.output
    new = h.webhook_path()
    assert new != old
    assert f"webhook orders.created: http://127.0.0.1:8000{new}" in result.output  # env: no URL
    assert old.split("/")[3] not in result.output
    assert h.client.post(old, json=body).status_code == 404
    assert h.client.post(new, json=body).status_code == 202

    unknown = CliRunner().invoke(main, ["connections", "rotate-token", "No shop"], env=env)
    assert unknown.exit_code == 1 and "no connection named 'No shop'" in unknown.output

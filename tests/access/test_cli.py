"""``koppel users`` and the support commands when two shops share an order number."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from tests.access.conftest import OTHER_SHOP, _orders
from tests import harness
from tests.harness import MERCHANT, Harness, sign_in
from web.cli import main


@pytest.fixture
def two_shops(sqlite_url, fakes_on_ports):
    """Order 'N' in both connections (one shop's numbers, two merchants), both in Errors; the
    fakes on ports, so the CLI's own process reaches the shop too."""
    h = Harness(sqlite_url, servers=fakes_on_ports)
    other, _ = h.runtime.connections.save(harness.test_settings(h.shop_url, **OTHER_SHOP),
                                          by="test", start_date=harness.BOOKS_FROM)
    order = _orders("failed", 3)[0]
    shop_id = h.put_order(order)["id"]
    for conn in (h.connection.id, other.id):
        doc_id = h.runtime.processing.intake(conn, "order", shop_id, "test")
        h.runtime.processing.process(doc_id)
    number = h.runtime.app.document(doc_id).number
    yield h, number, h.cli_env()
    h.close()


def test_reprocess_of_an_ambiguous_number_names_the_candidates(two_shops):
    h, number, env = two_shops
    runner = CliRunner()
    refused = runner.invoke(main, ["reprocess", number, "--by", "anna", "--reason", "x"],
                            env=env)
    assert refused.exit_code == 1
    assert "'Demo shop', 'Other shop'" in refused.output and "--connection" in refused.output
    assert all(r["status"] == "failed" for r in h.rows())  # nothing ran
    done = runner.invoke(main, ["reprocess", number, "--connection", "Other shop", "--by",
                                "anna", "--reason", "x"], env=env)
    assert done.exit_code == 0, done.output
    requested = {r["connection_id"]: r["reprocessed_by"] for r in h.rows()}
    assert requested == {str(h.connection.id): None,
                         str(h.runtime.app.connection_named("Other shop").id): "anna"}
    audit = runner.invoke(main, ["audit", number], env=env)
    assert audit.exit_code == 1 and "Other shop" in audit.output
    one = runner.invoke(main, ["audit", number, "--connection", "Demo shop"], env=env)
    assert one.exit_code == 0 and one.output.count("ReprocessRequested") == 0


def test_users_add_grant_revoke_list(two_shops):
    h, _, env = two_shops
    runner = CliRunner()

    def errors_seen() -> int:
        h.runtime.projector.catch_up()
        return client.get("/api/counts").get_json()["errors"]

    added = runner.invoke(main, ["users", "add", "Acc@Example.test", "--role", "accountant",
                                 "--connection", "Demo shop"], env=env)
    assert added.exit_code == 0, added.output
    password = added.output.split("password (shown once): ")[1].strip()
    client = h.web.test_client()
    assert sign_in(client, "acc@example.test", password).status_code == 302
    assert errors_seen() == 1  # Demo shop's only

    granted = runner.invoke(main, ["users", "grant", "acc@example.test", "--connection",
                                   "Other shop"], env=env)
    assert granted.exit_code == 0 and errors_seen() == 2
    listed = runner.invoke(main, ["users", "list"], env=env).output
    assert "acc@example.test\taccountant\tDemo shop, Other shop" in listed
    assert f"{MERCHANT[0]}\tmerchant\tDemo shop" in listed
    runner.invoke(main, ["users", "revoke", "acc@example.test", "--connection", "Demo shop"],
                  env=env)
    assert errors_seen() == 1
    who = runner.invoke(main, ["users", "who-could-see", "Demo shop"], env=env).output
    assert "acc@example.test\taccountant" in who and MERCHANT[0] in who

    twice = runner.invoke(main, ["users", "add", "acc@example.test", "--role", "merchant"],
                          env=env)
    assert twice.exit_code == 1 and "has an account already" in twice.output
    support = runner.invoke(main, ["users", "grant", "x@example.test", "--connection",
                                   "Demo shop"], env=env)
    assert support.exit_code == 1 and "no account for x@example.test" in support.output
    stored = b"".join(n.state for n in h.runtime.app.recorder.select_notifications(1, 1000))
    assert password.encode() not in stored and b"$argon2id$" in stored


def test_users_password_sets_a_new_one_and_ends_the_old_sessions(two_shops):
    h, _, env = two_shops
    result = CliRunner().invoke(main, ["users", "password", MERCHANT[0], "--generate"], env=env)
    assert result.exit_code == 0, result.output
    new = result.output.split("password (shown once): ")[1].strip()
    assert h.merchant.get("/api/counts").status_code == 401
    assert sign_in(h.web.test_client(), *MERCHANT).status_code == 401
    assert sign_in(h.web.test_client(), MERCHANT[0], new).status_code == 302

"""``koppel dryrun`` (issue 13.2): the summary, the correction list, applying, and a
correction run killed after the ledger committed, as an operator runs them."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
from decimal import Decimal

from click.testing import CliRunner
from openpyxl import load_workbook

from application.settings import settings_to_toml
from tests.e2e.processes import koppel_env
from tests.harness import Harness
from tests.harness import test_settings as settings_with
from web.cli import main

MOVED = {"revenue_account = \"8000\"": "revenue_account = \"8005\""}


def _setup(h, orders) -> list[str]:
    """Posted orders with a 21% line (R4.8: on 8000), and the account the draft moves to."""
    h.ledger.post("/__sandbox/ledgers", json={"code": "8005", "description": "Omzet webshop",
                                              "category": "VW"}).raise_for_status()
    numbers = []
    for order in orders:
        shop_id = h.put_order(order)["id"]
        doc_id = h.runtime.processing.intake(h.connection.id, "order", shop_id, "test")
        h.process(doc_id)
        document = h.runtime.app.document(doc_id)
        if any(line["account"] == "8000" for line in document.booking["lines"]):
            numbers.append(document.number)
    assert numbers
    h.runtime.projector.catch_up()
    return numbers


def _draft_file(h, tmp_path):
    path = tmp_path / "draft.toml"
    path.write_text(settings_to_toml(settings_with(h.shop_url, **MOVED)))
    return path


def test_the_summary_and_the_correction_list(sqlite_url, paid_domestic_orders, tmp_path):
    h = Harness(sqlite_url)
    try:
        numbers = _setup(h, paid_domestic_orders(3))
        draft = _draft_file(h, tmp_path)
        h.ledger.delete("/__sandbox/requests")
        args = ["dryrun", "--connection", "Demo shop", "--settings", str(draft),
                "--from", "2020-01-01", "--to", "2030-12-31"]
        result = CliRunner().invoke(main, [*args, "--list", str(tmp_path / "list.csv")],
                                    env=h.cli_env())
        assert result.exit_code == 0, result.output
        assert f"would be booked differently ({len(numbers)} posted, 0 not posted yet)" \
            in result.output
        assert "Nothing was sent." in result.output
        assert all(number in result.output for number in numbers)
        assert h.ledger.get("/__sandbox/requests").json() == []

        text = (tmp_path / "list.csv").read_bytes().decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text), delimiter=";"))
        changed = [r for r in rows if len(r) > 10 and r[1] in numbers]
        assert {(r[6], r[7]) for r in changed} == {("8000", "8005")}
        account = {r[0]: Decimal(r[1]) for r in rows if len(r) == 2 and r[0] in ("8000", "8005")}
        assert account["8005"] == -account["8000"] == sum(Decimal(r[11]) for r in changed)

        dutch = CliRunner().invoke(main, [*args, "--lang", "nl", "--list",
                                          str(tmp_path / "lijst.xlsx")], env=h.cli_env())
        assert dutch.exit_code == 0, dutch.output
        assert "Er is niets verstuurd." in dutch.output
        book = load_workbook(tmp_path / "lijst.xlsx")
        assert "Gewijzigde regels" in book.sheetnames
        assert h.ledger.get("/__sandbox/requests").json() == []
    finally:
        h.close()


def test_apply_needs_a_reason(sqlite_url, paid_domestic_orders, tmp_path):
    h = Harness(sqlite_url)
    try:
        _setup(h, paid_domestic_orders(1))
        result = CliRunner().invoke(main, [
            "dryrun", "--connection", "Demo shop", "--settings", str(_draft_file(h, tmp_path)),
            "--from", "2020-01-01", "--to", "2030-12-31", "--apply"], env=h.cli_env())
        assert result.exit_code == 2 and "--reason" in result.output
        assert h.runtime.app.find_connection(h.connection.id).settings_version == 1
    finally:
        h.close()


def test_a_correction_run_killed_after_the_ledger_committed_books_once(
        postgres_url, paid_domestic_orders, fakes_on_ports, tmp_path):
    """A real process, killed while the ledger holds its reversal but has not answered
    (``latency_after_commit``); the same command again books each part exactly once."""
    h = Harness(postgres_url, servers=fakes_on_ports, claim_lease=1.0, settle_window=1.0)
    try:
        numbers = _setup(h, paid_domestic_orders(3))
        number = numbers[0]
        draft = _draft_file(h, tmp_path)
        h.arm(mode="latency_after_commit", method="POST", path="/v1/mutation", seconds=30,
              count=1, body=f"{number}-R2")
        command = [sys.executable, "-m", "web.cli", "dryrun", "--connection", "Demo shop",
                   "--settings", str(draft), "--from", "2020-01-01", "--to", "2030-12-31",
                   "--apply", "--book-corrections", "--by", "support@example.test",
                   "--reason", "ticket 12: 21% revenue on 8005"]
        env = koppel_env(h)
        first = subprocess.Popen(command, env=env, start_new_session=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        h.wait_until(lambda: f"{number}-R2" in [m["invoiceNumber"] for m in h.mutations()],
                     timeout=60)
        os.killpg(first.pid, signal.SIGKILL)  # the ledger committed; koppel never heard
        first.wait()
        h.clear_faults()
        again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert again.returncode == 0, again.stdout + again.stderr
        invoice_numbers = [m["invoiceNumber"] for m in h.mutations()]
        for known in numbers:
            assert invoice_numbers.count(known) == 1
            assert invoice_numbers.count(f"{known}-R2") == 1
            assert invoice_numbers.count(f"{known}-C2") == 1
    finally:
        h.close()

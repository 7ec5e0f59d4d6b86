"""Faults during a replay into a second e-Boekhouden administration, on real ports: the
replaying command killed mid-way, and a ledger that commits after koppel gave up
(``late_commit``). Counted in the fakes' own records: each document once in each ledger."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from uuid import UUID

import pytest

from application.settings import load_settings_text
from domain.ledger_target import Purpose
from sandbox import ccvshop as sandbox_shop
from sandbox import eboekhouden as sandbox_ledger
from sandbox.serve import serve
from tests.harness import LEDGER_TOKEN, SECOND_ADMINISTRATION as SECOND, SHOP_KEYS, Harness
from web.demo import demo_settings_text

SINCE = datetime(2020, 1, 1, tzinfo=timezone.utc)
# A fault on a sale's POST alone (a payment takes the same path), or on a payment's alone.
SALE, PAYMENT = '^\\{"type":"2"', "betaling "


@pytest.fixture
def servers():
    running = [serve(sandbox_shop.create_app(public_key=SHOP_KEYS[0], secret=SHOP_KEYS[1],
                                             api_root=None)),
               serve(sandbox_ledger.Administrations([LEDGER_TOKEN, SECOND]))]
    yield running
    for server in running:
        server.stop()


def _settings_text(h: Harness) -> str:
    return demo_settings_text(h.shop_url).replace('api_token = "demo-ledger-token"',
                                                  f'api_token = "{SECOND}"')


def _sales(client) -> Counter:
    return Counter(m["invoiceNumber"] for m in client.get("/__sandbox/mutations").json()
                   if int(m["type"]) == 2)


def _book(h: Harness, orders: list[dict]) -> None:
    for order in orders:
        doc_id = h.runtime.processing.intake(h.connection.id, "order",
                                             h.put_order(order)["id"], "test")
        assert h.process(doc_id).status == "posted"


@pytest.mark.slow
def test_a_replay_killed_midway_books_nothing_twice(sqlite_url, servers, tmp_path,
                                                    paid_domestic_orders):
    h = Harness(sqlite_url, servers=servers)
    second = h.administration(SECOND)
    try:
        _book(h, paid_domestic_orders(40))
        settings = tmp_path / "second.toml"
        settings.write_text(_settings_text(h))
        second.post("/__sandbox/faults", json={"mode": "latency", "method": "POST",
                                               "path": "/v1/mutation", "seconds": 0.15}
                    ).raise_for_status()
        env = {**os.environ, "KOPPEL_DATABASE_URL": sqlite_url,
               "KOPPEL_SECRET_KEY": h.config.secret_key, "KOPPEL_BROKER_URL": "",
               "KOPPEL_EBOEKHOUDEN_URL": h.ledger_url, "KOPPEL_CLAIM_LEASE": "3",
               "KOPPEL_SETTLE_WINDOW": "1"}
        command = [sys.executable, "-m", "web.cli", "ledgers", "add-copy", "--connection",
                   "Demo shop", "--ledger", "Accountant", "--settings", str(settings),
                   "--from", "2020-01-01"]
        replaying = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(_sales(second)) < 15:
            time.sleep(0.05)
        replaying.send_signal(signal.SIGKILL)
        replaying.wait()
        booked_when_killed = len(_sales(second))
        assert 15 <= booked_when_killed < 40

        again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "replayed 40 documents since 2020-01-01 into Accountant: 40 booked there, " \
               "0 failed" in again.stdout
        assert _sales(second) == _sales(h.ledger) and set(_sales(second).values()) == {1}
        status = subprocess.run([sys.executable, "-m", "web.cli", "ledgers", "status",
                                 "--connection", "Demo shop"], env=env, capture_output=True,
                                text=True, timeout=60)
        assert "Accountant (copy, since 2020-01-01T00:00:00+00:00): finished, 40 of 40 " \
               "replayed, 40 booked, 0 failed" in status.stdout, status.stdout + status.stderr
    finally:
        second.close()
        h.close()


@pytest.mark.parametrize("commit_after", [2.0, 3.0])
def test_a_write_the_new_ledger_commits_late_is_booked_once(sqlite_url, servers, commit_after,
                                                            paid_domestic_orders):
    h = Harness(sqlite_url, servers=servers, http_timeout=1.0, settle_window=4.0)
    second = h.administration(SECOND)
    try:
        _book(h, paid_domestic_orders(3))
        second.post("/__sandbox/faults", json={
            "mode": "late_commit", "method": "POST", "path": "/v1/mutation", "count": 1,
            "skip": 1, "answer_after": 2.5, "commit_after": commit_after,
            "body": SALE}).raise_for_status()
        replays = h.runtime.replays
        target = replays.add(h.connection.id, "Accountant",
                             load_settings_text(_settings_text(h)), SINCE, Purpose.COPY,
                             by="test")
        assert replays.run(target.id).state == "finished"
        time.sleep(1.0)  # every late write has landed
        assert _sales(second) == _sales(h.ledger) and set(_sales(second).values()) == {1}
        # the replay sends a chunk's documents at once: whichever the fault met
        histories = [h.runtime.app.history(replays.find_posting(target.id, UUID(i)).id)
                     for i in target.document_ids]
        [history] = [events for events in histories
                     if any(type(e).__name__ == "PostingInterrupted" for e in events)]
        stop = next(e for e in history if type(e).__name__ == "PostingInterrupted")
        retry = [e for e in history if type(e).__name__ == "PostingStarted"][1]
        assert stop.outcome_unknown and retry.timestamp >= stop.settle_until
        names = [type(e).__name__ for e in history]
        assert names[names.index("Posted") - 1:names.index("Posted") + 1] == ["LookedUp",
                                                                               "Posted"]
    finally:
        second.close()
        h.close()


def _payments(client) -> Counter:
    return Counter(m["invoiceNumber"] for m in client.get("/__sandbox/mutations").json()
                   if int(m["type"]) == 3)


@pytest.mark.parametrize("commit_after", [2.0, 3.0])
def test_a_payment_the_new_ledger_commits_late_is_booked_once(sqlite_url, servers, commit_after,
                                                              paid_domestic_orders):
    """R8 into a further ledger: the payment's call times out while its write is on its way
    (or in already); the next attempt waits out the settle window and finds it."""
    h = Harness(sqlite_url, servers=servers, http_timeout=1.0, settle_window=4.0)
    second = h.administration(SECOND)
    try:
        _book(h, paid_domestic_orders(3))
        second.post("/__sandbox/faults", json={
            "mode": "late_commit", "method": "POST", "path": "/v1/mutation", "count": 1,
            "answer_after": 2.5, "commit_after": commit_after, "body": PAYMENT}
        ).raise_for_status()
        replays = h.runtime.replays
        target = replays.add(h.connection.id, "Accountant",
                             load_settings_text(_settings_text(h)), SINCE, Purpose.COPY,
                             by="test")
        assert replays.run(target.id).state == "finished"
        time.sleep(1.0)  # every late write has landed
        assert _payments(second) == _sales(second) == _sales(h.ledger)
        assert set(_payments(second).values()) == {1}
        histories = [h.runtime.app.history(replays.find_posting(target.id, UUID(i)).id)
                     for i in target.document_ids]
        [history] = [events for events in histories
                     if any(type(e).__name__ == "PaymentInterrupted" for e in events)]
        stop = next(e for e in history if type(e).__name__ == "PaymentInterrupted")
        retry = [e for e in history if type(e).__name__ == "PaymentStarted"][1]
        assert stop.outcome_unknown and retry.timestamp >= stop.settle_until
        assert [type(e).__name__ for e in history][-2:] == ["PaymentLookedUp", "PaymentPosted"]
        assert history[-1].found_by_lookup
    finally:
        second.close()
        h.close()


def test_the_cli_switches_ledgers(sqlite_url, servers, tmp_path, paid_domestic_orders):
    from click.testing import CliRunner

    from web.cli import main

    h = Harness(sqlite_url, servers=servers)
    second = h.administration(SECOND)
    try:
        orders = paid_domestic_orders(5)
        _book(h, orders[:4])
        settings = tmp_path / "second.toml"
        settings.write_text(_settings_text(h))
        env = {"KOPPEL_DATABASE_URL": sqlite_url, "KOPPEL_SECRET_KEY": h.config.secret_key,
               "KOPPEL_BROKER_URL": "", "KOPPEL_EBOEKHOUDEN_URL": h.ledger_url}
        args = ["ledgers", "switch", "--connection", "Demo shop", "--ledger", "Second",
                "--settings", str(settings), "--from", "2020-01-01"]
        done = CliRunner().invoke(main, args, env=env)
        assert done.exit_code == 0, done.output
        assert "replayed 4 documents since 2020-01-01 into Second: 4 booked there" in done.output
        assert "'Demo shop' books into Second from now on" in done.output
        _book(h, orders[4:])  # the connection books into the second administration now
        assert len(_sales(h.ledger)) == 4 and len(_sales(second)) == 5
        assert set(_sales(second).values()) == {1}
        wrong = CliRunner().invoke(main, [*args[:-1], "maart"], env=env)
        assert wrong.exit_code != 0 and "maart" in wrong.output
        copy = CliRunner().invoke(main, ["ledgers", "add-copy", *args[2:]], env=env)
        assert copy.exit_code != 0 and "'Second' is a switch of 'Demo shop'" in copy.output
    finally:
        second.close()
        h.close()

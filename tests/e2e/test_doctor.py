"""``koppel doctor`` and the one line every command prints when the database is unreachable."""

from __future__ import annotations

import socket

import click
import psycopg
import pytest
from click.testing import CliRunner

from tests.e2e.processes import koppel_env
from tests.harness import LEDGER_TOKEN, SHOP_KEYS, Harness
from web.cli import _Koppel, main
from web.doctor import examine


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens once the probe is closed


@pytest.fixture
def nowhere():
    return f"postgresql://koppel:pw-not-shown@127.0.0.1:{closed_port()}/koppel"


@pytest.mark.parametrize("command", [["projections", "rebuild"], ["audit", "1001"],
                                     ["connections", "export", "Demo shop"],
                                     ["reprocess", "1001", "--by", "me", "--reason", "why"]])
def test_a_command_without_its_database_says_so_in_one_line(nowhere, command):
    result = CliRunner().invoke(main, command, env={"KOPPEL_DATABASE_URL": nowhere,
                                                    "KOPPEL_SECRET_KEY": "k"})
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: cannot reach the database postgresql://koppel:***@")
    assert "Connection refused" in lines[0] and "KOPPEL_DATABASE_URL" in lines[0]
    assert "pw-not-shown" not in result.output


def test_a_database_lost_during_a_command_is_one_line_too():
    group = _Koppel()

    @group.command()
    def lost():
        raise psycopg.OperationalError("server closed the connection unexpectedly\nmore")

    result = CliRunner().invoke(group, ["lost"], env={"KOPPEL_DATABASE_URL": "postgresql://h/d"})
    assert result.exit_code == 1
    assert result.output == ("Error: cannot reach the database postgresql://h/d: server closed "
                             "the connection unexpectedly. Start it, or set KOPPEL_DATABASE_URL "
                             "to the right address (`koppel doctor` checks the rest)\n")


def test_doctor_names_every_problem_with_its_fix(nowhere):
    env = {"KOPPEL_DATABASE_URL": nowhere,
           "KOPPEL_BROKER_URL": f"redis://127.0.0.1:{closed_port()}/0"}
    result = CliRunner().invoke(main, ["doctor"], env=env)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "FAIL  database", "FAIL  broker", "FAIL  secret key", "FAIL  connections"]
    assert "start the database or correct KOPPEL_DATABASE_URL" in lines[0]
    assert "correct KOPPEL_BROKER_URL" in lines[1]
    assert "set KOPPEL_SECRET_KEY" in lines[2]
    assert "pw-not-shown" not in result.output


@pytest.fixture
def installation(postgres_url, fakes_on_ports):
    """A production installation whose shop and ledger answer on real ports."""
    h = Harness(postgres_url, servers=fakes_on_ports)
    yield h
    h.close()


def lines(environ) -> list[str]:
    return [finding.line() for finding in examine(environ)]


def test_doctor_passes_a_working_installation(installation, rabbitmq_url, tmp_path):
    env = koppel_env(installation, KOPPEL_BROKER_URL=rabbitmq_url)
    found = lines(env)
    assert all(line.startswith("ok    ") for line in found), found
    assert "ok    connection 'Demo shop' shop: credentials accepted" in found
    assert "ok    connection 'Demo shop' ledger (eboekhouden): credentials accepted" in found
    assert any(line.startswith("ok    broker: amqp://guest:***@") for line in found)
    result = CliRunner().invoke(main, ["doctor"], env=env)
    assert result.exit_code == 0, result.output


def test_doctor_makes_a_real_call_with_each_credential(installation):
    installation.change_settings(**{LEDGER_TOKEN: "a-revoked-token"})
    found = lines(koppel_env(installation))
    ledger = next(line for line in found if "ledger (eboekhouden)" in line)
    assert ledger.startswith("FAIL  connection 'Demo shop' ledger (eboekhouden): credentials "
                             "refused"), ledger
    assert "koppel connections import FILE" in ledger
    assert "ok    connection 'Demo shop' shop: credentials accepted" in found

    installation.change_settings(**{LEDGER_TOKEN: LEDGER_TOKEN, SHOP_KEYS[1]: "wrong-secret"})
    shop = next(line for line in lines(koppel_env(installation)) if " shop" in line)
    assert shop.startswith("FAIL  connection 'Demo shop' shop: credentials refused"), shop


def test_doctor_tells_a_wrong_secret_key(installation):
    found = lines(koppel_env(installation, KOPPEL_SECRET_KEY="another-installation's-key"))
    shop = next(line for line in found if " shop" in line)
    assert shop.startswith("FAIL  connection 'Demo shop' shop: the stored credentials cannot "
                           "be opened"), shop


def test_doctor_tells_a_database_koppel_never_started_on(postgres_url):
    found = lines({"KOPPEL_DATABASE_URL": postgres_url, "KOPPEL_SECRET_KEY": "k"})
    assert found[0].startswith("ok    database: ")
    assert found[1].startswith("FAIL  database tables: missing koppel_events, "
                               "projection_tracking, documents, connections; start koppel once")
    assert found[-1].startswith("FAIL  connections: not checked")

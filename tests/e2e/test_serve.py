"""``koppel serve`` as the production web process: gunicorn, on PostgreSQL and RabbitMQ, with
the webhook token kept out of its access log; and the processes that refuse to start without
the installation's secret key."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import httpx
import pytest

from tests.e2e.processes import Served, koppel_env, start_worker, stop
from tests.harness import Harness
from web.logs import HIDDEN
from web.webhooks import EVENTS

pytestmark = pytest.mark.slow


def test_webhooks_reach_the_ledger_through_koppel_serve_on_gunicorn(
        postgres_url, rabbitmq_url, queue_prefix, fakes_on_ports, paid_domestic_orders, tmp_path):
    h = Harness(postgres_url, broker_url=rabbitmq_url, prefix=queue_prefix, claim_lease=5.0,
                servers=fakes_on_ports)
    served = Served(koppel_env(h, KOPPEL_WEB_WORKERS="2", KOPPEL_WEB_THREADS="4"), tmp_path)
    worker = start_worker(h)
    token = h.webhook_path().split("/")[3]
    try:
        assert "Using worker: web.server.BoundedThreadWorker" in served.output()
        h.wait_until(lambda: served.output().count("Booting worker with pid") == 2,
                     timeout=30)  # KOPPEL_WEB_WORKERS
        shop = h.runtime.connections.shop(h.connection)
        for event in EVENTS:  # the shop delivers to the served process, as in production
            shop.register_webhook(event, served.url + h.webhook_path(event))
        created = [h.put_order(order, notify=True) for order in paid_domestic_orders(4)]
        h.wait_until(lambda: h.settled(4, ("posted",)), timeout=90)
        booked = Counter(m["invoiceNumber"] for m in h.mutations())
        assert booked == Counter(order["ordernumber_full"] for order in created)

        # A delivery of a webhook the endpoint refuses is logged too, token hidden as well.
        forged = h.webhook_path().replace("orders.created", "orders.exploded")
        assert httpx.post(served.url + forged, json={"id": 1}).status_code == 400
    finally:
        stop(worker)
        served.stop()
        h.close()
    log = served.output()
    accepted = [line for line in log.splitlines()
                if f"POST /webhooks/{h.connection.id}/{HIDDEN}/orders.created" in line]
    assert len(accepted) >= 4 and all('" 202 ' in line for line in accepted)
    assert f"/{HIDDEN}/orders.exploded" in log
    assert token not in log


@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["worker"], ["scheduler"]])
def test_production_processes_refuse_to_start_without_the_secret_key(command, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path),
           "KOPPEL_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/koppel_not_made",
           "KOPPEL_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672/"}
    done = subprocess.run([sys.executable, "-m", "web.cli", *command], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert lines == ["Error: KOPPEL_SECRET_KEY is not set: koppel on PostgreSQL or with a "
                     "broker needs the installation's secret key (see README, Configuration)"]
    assert not (tmp_path / "var").exists()  # no key was made up in the current directory


def test_postgresql_without_a_broker_needs_the_key_too(tmp_path):
    from web.config import ConfigError, from_environment

    with pytest.raises(ConfigError, match="KOPPEL_SECRET_KEY is not set"):
        from_environment({"KOPPEL_DATABASE_URL": "postgresql://u@h/db"}, var_dir=tmp_path)
    embedded = from_environment({}, var_dir=tmp_path)  # SQLite, no broker: made once, kept
    assert embedded.secret_key and (tmp_path / "secret_key").read_text() == embedded.secret_key
    assert from_environment({}, var_dir=tmp_path).secret_key == embedded.secret_key


def test_a_client_that_stalls_mid_request_is_cut_off(sqlite_url, tmp_path):
    """A request line sent in part and never finished held a thread forever; now the server
    closes such a connection after READ_TIMEOUT, and answers webhooks afterwards."""
    import socket
    import time

    from web.server import READ_TIMEOUT

    h = Harness(sqlite_url)
    token_path = h.webhook_path()
    h.close()
    env = {**koppel_env(h), "KOPPEL_BROKER_URL": "", "KOPPEL_WEB_THREADS": "4"}
    served = Served(env, tmp_path)
    try:
        port = int(served.url.rsplit(":", 1)[1])
        stalled = [socket.create_connection(("127.0.0.1", port)) for _ in range(8)]
        for connection in stalled:
            connection.sendall(b"POST /webhooks/")  # and nothing more
        started = time.monotonic()
        for connection in stalled:
            connection.settimeout(READ_TIMEOUT + 15)
            assert connection.recv(1) == b""  # closed by the server
            connection.close()
        assert time.monotonic() - started < READ_TIMEOUT + 15
        body = {"id": 7, "href": "http://shop/api/rest/v1/orders/7"}
        assert httpx.post(served.url + token_path, json=body, timeout=30).status_code == 202
    finally:
        served.stop()
    assert "closed a connection that stalled" in served.output()
    assert "Socket error processing request" not in served.output()  # no trace per client

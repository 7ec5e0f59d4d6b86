"""/metrics: the counts move by what happened, the read models are read as they are, and only
whoever may read it gets an answer."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime, timezone

import pytest
from prometheus_client.parser import text_string_to_metric_families

from application.errors import TransientError
from tests.harness import Harness
from web.metrics import allowed, counted
from web.webhooks import EVENTS


def scrape(h, **kwargs) -> dict:
    response = h.client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.status_code
    values = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def value(values: dict, name: str, **labels) -> float:
    return values.get((name, tuple(sorted(labels.items()))), 0.0)


def total(values: dict, name: str, **labels) -> float:
    """The sum over every series of ``name`` whose labels include ``labels``."""
    return sum(v for (n, series), v in values.items()
               if n == name and set(labels.items()) <= set(series))


@pytest.fixture
def sqlite_harness(sqlite_url):
    h = Harness(sqlite_url)
    yield h
    h.close()


def test_a_small_run_moves_every_count_by_what_happened(sqlite_harness, paid_domestic_orders):
    h = sqlite_harness
    before = scrape(h)
    h.register_webhooks()
    # The first sale reaches the ledger but its answer is lost: one 500, one retry, and the
    # retry's lookup finds the earlier attempt instead of posting again.
    h.arm(mode="after_commit", method="POST", path="/v1/mutation", count=1)
    h.runtime.start_workers(2)
    orders = paid_domestic_orders(3)
    for order in orders:
        h.put_order(order, notify=True)
    h.wait_until(lambda: h.settled(3, ("posted",)) and
                 all(r["payment_status"] == "posted" for r in h.rows()), timeout=60)
    after = scrape(h)

    def moved(name, **labels):
        return total(after, name, **labels) - total(before, name, **labels)

    assert value(after, "koppel_documents", connection="Demo shop", status="posted") == 3
    assert value(after, "koppel_payments", connection="Demo shop", status="posted") == 3
    assert value(after, "koppel_found_by_lookup", connection="Demo shop", subject="sale") == 1
    assert value(after, "koppel_found_by_lookup", connection="Demo shop", subject="payment") == 0
    accepted = h.runtime.store.scalar("SELECT COUNT(*) FROM webhook_inbox")
    assert accepted >= 3 and moved("koppel_webhooks_total", status="202") == accepted
    assert moved("koppel_http_errors_total", system="eboekhouden", code="500") == 1
    assert moved("koppel_http_errors_total") == 1
    assert moved("koppel_messages_retried_total", actor="koppel.process") == 1
    assert moved("koppel_message_failures_total", actor="koppel.process") == 1
    # koppel's only POSTs to the shop are the webhook registrations.
    assert moved("koppel_http_request_seconds_count", system="ccvshop",
                 method="POST") == len(EVENTS)
    # Six mutations (three sales, three payments), each sent once; the lost answer's retry
    # looked the sale up (a GET) instead of sending it again.
    assert len(h.mutations(2)) == 3 and len(h.mutations(3)) == 3
    assert moved("koppel_http_request_seconds_count", system="eboekhouden", method="POST") >= 6
    assert moved("koppel_http_request_seconds_count", system="eboekhouden", method="GET") > 0
    assert value(after, "koppel_inbox_pending") == 0
    assert value(after, "koppel_queue_messages", queue="koppel.process", state="ready") == 0
    h.runtime.projector.catch_up()
    assert value(scrape(h), "koppel_projector_lag_events") == 0
    # Nothing of the customers: no names, e-mail addresses or amounts.
    text = h.client.get("/metrics").get_data(as_text=True)
    for order in orders:
        for field in ("email", "lastname", "companyname"):
            found = str(order["order"].get("customer", {}).get("billingaddress", {}).get(field)
                        or "")
            assert not found or found not in text


def test_the_projector_lag_is_what_the_read_models_miss(sqlite_harness, paid_domestic_orders):
    h = sqlite_harness
    h.runtime.projector.catch_up()
    shop_id = h.put_order(paid_domestic_orders(1)[0])["id"]
    h.runtime.processing.intake(h.connection.id, "order", shop_id, "test")  # one event more
    assert value(scrape(h), "koppel_projector_lag_events") == 1


def test_a_claim_taken_from_a_gone_worker_is_counted(sqlite_harness, paid_domestic_orders):
    h = sqlite_harness
    before = scrape(h)
    doc_id = h.runtime.processing.intake(
        h.connection.id, "order", h.put_order(paid_domestic_orders(1)[0])["id"], "test")
    h.arm(mode="error", method="POST", path="/v1/mutation", count=1, status=503)
    with pytest.raises(TransientError):
        h.runtime.processing.process(doc_id)  # interrupted: the claim is given back
    time.sleep(h.config.settle_window + 0.1)
    document = h.runtime.app.document(doc_id)
    document.start_posting("gone:1:worker", {}, 0.2, datetime.now(timezone.utc))
    h.runtime.app.save(document)  # a claim whose worker died before it called the ledger
    assert value(scrape(h), "koppel_claims_taken_over_total", subject="sale") == \
        value(before, "koppel_claims_taken_over_total", subject="sale")
    time.sleep(0.3)
    assert h.process(doc_id).status == "posted"
    assert value(scrape(h), "koppel_claims_taken_over_total", subject="sale") == \
        value(before, "koppel_claims_taken_over_total", subject="sale") + 1


def test_only_this_machine_or_the_token_holder_reads_metrics(sqlite_harness):
    h = sqlite_harness
    assert h.client.get("/metrics").status_code == 200  # the test client comes from 127.0.0.1
    assert h.client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 404
    assert h.client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 404
    h.runtime.config = h.config.with_(metrics_token="scrape-me")
    assert h.client.get("/metrics").status_code == 404
    assert h.client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
    assert h.client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"},
                        headers={"Authorization": "Bearer scrape-me"}).status_code == 200


def test_the_access_rule():
    assert allowed({}, "127.0.0.1", "") and allowed({}, "::1", "")
    assert not allowed({}, "192.168.1.5", "") and not allowed({}, None, "")
    assert not allowed({"Forwarded": "for=1.2.3.4"}, "127.0.0.1", "")
    assert allowed({"Authorization": "Bearer t0k"}, "8.8.8.8", "t0k")
    assert not allowed({"Authorization": "Bearer t0k "}, "127.0.0.1", "t0k")


CHILD = """
import sys
from web.metrics import claim_taken_over
for _ in range(int(sys.argv[1])):
    claim_taken_over("sale")
"""


def test_counts_of_every_process_add_up_in_multiprocess_mode(tmp_path):
    """gunicorn's web workers, `koppel worker` and `koppel scheduler` each count on their own;
    with PROMETHEUS_MULTIPROC_DIR one scrape shows them together."""
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    for times in (2, 3):
        subprocess.run([sys.executable, "-c", CHILD, str(times)], env=env, check=True)
    families = {f.name: f for f in text_string_to_metric_families(counted(str(tmp_path)).decode())}
    samples = [s for s in families["koppel_claims_taken_over"].samples
               if s.name == "koppel_claims_taken_over_total"]
    assert [(s.labels, s.value) for s in samples] == [({"subject": "sale"}, 5.0)]


@pytest.mark.parametrize("service", ["rabbitmq_url", "redis_url"])
def test_queue_depth_is_read_from_the_broker(request, service, queue_prefix):
    import dramatiq

    from web.metrics import queue_depth
    from workers.broker import make_broker

    broker = make_broker(request.getfixturevalue(service), namespace=queue_prefix)
    try:
        waiting = dramatiq.actor(lambda: None, broker=broker, actor_name=f"{queue_prefix}.p",
                                 queue_name=f"{queue_prefix}.process")
        waiting.send()
        waiting.send()
        waiting.send_with_options(delay=60_000)
        expected = ({"ready": 2, "delayed": 1} if service == "rabbitmq_url"
                    else {"all": 3})  # Redis counts them together
        assert queue_depth(broker, f"{queue_prefix}.process") == expected
    finally:
        broker.close()


@pytest.mark.slow
def test_one_scrape_counts_every_process_of_a_production_installation(
        postgres_url, rabbitmq_url, queue_prefix, fakes_on_ports, paid_domestic_orders, tmp_path):
    """koppel serve (two gunicorn workers) and koppel worker write to one
    PROMETHEUS_MULTIPROC_DIR; a scrape of the web process shows the worker's ledger calls."""
    import httpx

    from tests.e2e.processes import Served, koppel_env, stop

    (tmp_path / "metrics").mkdir()
    h = Harness(postgres_url, broker_url=rabbitmq_url, prefix=queue_prefix, claim_lease=5.0,
                servers=fakes_on_ports)
    env = koppel_env(h, KOPPEL_WEB_WORKERS="2",
                     PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"))
    served = Served(env, tmp_path)
    worker = subprocess.Popen([sys.executable, "-m", "web.cli", "worker"], env=env,
                              start_new_session=True)
    try:
        shop = h.runtime.connections.shop(h.connection)
        for event in EVENTS:
            shop.register_webhook(event, served.url + h.webhook_path(event))
        for order in paid_domestic_orders(3):
            h.put_order(order, notify=True)
        h.wait_until(lambda: h.settled(3, ("posted",)) and
                     all(r["payment_status"] == "posted" for r in h.rows()), timeout=90)
        h.wait_until(lambda: served_value(served, "koppel_projector_lag_events") == 0, timeout=30)
        values = _scrape_url(served.url)
        accepted = h.runtime.store.scalar("SELECT COUNT(*) FROM webhook_inbox")
        assert total(values, "koppel_webhooks_total", status="202") == accepted >= 3
        assert value(values, "koppel_documents", connection="Demo shop", status="posted") == 3
        # The ledger was only ever called by the worker process: its counts are in the scrape.
        assert total(values, "koppel_http_request_seconds_count", system="eboekhouden",
                     method="POST") >= 6
        assert len(list((tmp_path / "metrics").glob("*.db"))) >= 2  # several processes wrote
        assert httpx.get(f"{served.url}/metrics",
                         headers={"X-Forwarded-For": "198.51.100.7"}).status_code == 404
    finally:
        stop(worker)
        served.stop()
        h.close()


def _scrape_url(url: str) -> dict:
    import httpx

    values = {}
    text = httpx.get(f"{url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def served_value(served, name: str, **labels) -> float:
    return value(_scrape_url(served.url), name, **labels)

"""Log lines: what they carry, what they never carry, and their two shapes."""

from __future__ import annotations

import io
import json
import logging

import pytest

from tests.harness import Harness
from tests.leakwatch import TEST_SECRETS, LeakWatch
from web.access import public
from web.app import create_app
from web.config import ConfigError, log_choice
from web.logging_setup import configure_logging, formatter, installation_secrets


@pytest.fixture
def every_line():
    """Every line koppel logs at DEBUG, as koppel's JSON formatter writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(json_lines=True))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line]
    root.removeHandler(handler)
    root.setLevel(level)


def test_a_webhook_to_posted_logs_context_and_no_secret_or_token(sqlite_url, every_line,
                                                                   paid_domestic_orders):
    h = Harness(sqlite_url)
    try:
        h.register_webhooks()
        token = h.webhook_path().split("/")[3]
        h.runtime.start_workers(2)
        order = h.put_order(paid_domestic_orders(1)[0], notify=True)  # the shop calls koppel
        h.wait_until(lambda: [r["status"] for r in h.rows()] == ["posted"], timeout=30)
        number = h.rows()[0]["number"]
    finally:
        h.close()
    lines = every_line()
    text = "\n".join(json.dumps(line) for line in lines)
    for secret in (*TEST_SECRETS, token):
        assert secret not in text
    # The shop's call to koppel's webhook address was logged, with its token hidden.
    webhook = [line for line in lines if "/webhooks/" in line["event"]
               and str(h.connection.id) in line["event"]]
    assert webhook and all("/[token]/orders." in line["event"] for line in webhook)
    # The ledger call that booked the order says which document, connection and attempt.
    booked = [line for line in lines if "POST" in line["event"] and "/v1/mutation" in line["event"]]
    assert booked, "the ledger call was not logged"
    assert {(line["document"], line["connection"], line["attempt"], line["actor"])
            for line in booked} == {(number, "Demo shop", 1, "koppel.process")}
    assert all(line["document_id"] for line in booked)
    # The intake's fetch from the shop carries the shop's id and what brought it.
    intake = [line for line in lines if line.get("actor") == "koppel.intake"
              and line["logger"] == "httpx"]
    assert intake and all(line["shop_id"] == order["id"] and
                          line["via"] == "webhook:orders.created" for line in intake)


def test_a_webhook_request_line_carries_its_path_without_the_token(sqlite_url, every_line):
    h = Harness(sqlite_url)
    try:
        logging.getLogger("test.request").addFilter(lambda record: True)
        app = create_app(h.runtime)  # its own app: h.web answered the sign-in already

        @app.get("/test-log")  # a route that logs, standing in for any view that does
        @public
        def _logs():
            logging.getLogger("test.request").warning("looked at it")
            return "ok"

        path = h.webhook_path()
        app.test_client().post(path, data=b"{not json", content_type="application/json")
        app.test_client().get("/test-log")
    finally:
        h.close()
    logged = [line for line in every_line() if line["event"] == "looked at it"]
    assert len(logged) == 1 and logged[0]["path"] == "/test-log" and logged[0]["method"] == "GET"
    assert logged[0]["request_id"]


def test_the_formatter_hides_a_token_and_the_installations_secrets_in_every_field():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(json_lines=True, secrets=["s3cret-key-value"]))
    logger = logging.getLogger("test.hiding")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise RuntimeError("failed at /webhooks/abc/TOKEN123/orders.created with "
                               "s3cret-key-value")
        except RuntimeError:
            logger.exception("POST %s", "/webhooks/abc/TOKEN123/orders.created")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    line = json.loads(stream.getvalue())
    assert "TOKEN123" not in stream.getvalue() and "s3cret-key-value" not in stream.getvalue()
    assert line["event"] == "POST /webhooks/abc/[token]/orders.created"
    assert "/webhooks/abc/[token]/orders.created with [secret]" in line["exception"]


def test_the_installations_secrets_are_read_from_its_environment():
    environ = {"KOPPEL_SECRET_KEY": "the-key", "KOPPEL_BILLIT_CLIENT_SECRET": "the-client",
               "KOPPEL_SMTP_PASSWORD": "the-mail-password", "KOPPEL_CCV_APP_SECRET": "the-app",
               "KOPPEL_DATABASE_URL": "postgresql://koppel:the-db-password@h/koppel",
               "KOPPEL_BROKER_URL": "amqp://koppel:the-broker-password@h/koppel"}
    assert set(installation_secrets(environ)) == {
        "the-key", "the-client", "the-mail-password", "the-app", "the-db-password", "the-broker-password"}


def test_json_in_production_text_in_the_demo():
    assert log_choice({}).json is False  # embedded SQLite: the demo
    assert log_choice({"KOPPEL_DATABASE_URL": "postgresql://h/d"}).json is True
    assert log_choice({"KOPPEL_BROKER_URL": "amqp://h"}).json is True
    assert log_choice({"KOPPEL_LOG_FORMAT": "json"}).json is True
    assert log_choice({"KOPPEL_LOG_LEVEL": "debug"}).level == logging.DEBUG
    assert log_choice({}, verbose=True).level == logging.INFO
    with pytest.raises(ConfigError, match="KOPPEL_LOG_FORMAT must be json or text"):
        log_choice({"KOPPEL_LOG_FORMAT": "xml"})
    with pytest.raises(ConfigError, match="KOPPEL_LOG_LEVEL"):
        log_choice({"KOPPEL_LOG_LEVEL": "loud"})


def test_a_program_that_configured_logging_keeps_its_configuration():
    root = logging.getLogger()
    before = list(root.handlers), root.level
    configure_logging({"KOPPEL_LOG_LEVEL": "ERROR"})  # pytest's handlers are on the root
    assert (list(root.handlers), root.level) == before


def test_the_suites_watch_finds_a_secret_or_a_token_in_a_line():
    watch = LeakWatch()
    logger = logging.getLogger("test.watch")
    logger.addHandler(watch)
    logger.propagate = False  # the session's own watch must not see this deliberate leak
    try:
        logger.warning("token refused: %s", TEST_SECRETS[1])
        logger.warning("POST /webhooks/%s/%s/orders.created", "0" * 8 + "-0000-0000-0000-" +
                       "0" * 12, "a" * 20)
        logger.warning("nothing to see")
    finally:
        logger.removeHandler(watch)
        logger.propagate = True
    assert watch.lines == 3
    assert len(watch.leaks) == 1 and "the secret demo..." in watch.leaks[0]

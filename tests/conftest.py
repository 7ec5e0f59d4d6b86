"""Fixtures for the real services: PostgreSQL, RabbitMQ and Redis.

Each test gets a database, queue prefix or key namespace of its own and it is dropped
afterwards, so runs never see each other's data. Without a service the test is skipped with
the reason, unless KOPPEL_REQUIRE_SERVICES=1 (CI), where a missing service fails the run.
"""

from __future__ import annotations

import os
import socket
import uuid

import pytest

PG = {"host": "127.0.0.1", "port": 5432, "user": os.environ.get("KOPPEL_TEST_PGUSER", "postgres")}
RABBITMQ_URL = os.environ.get("KOPPEL_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
REDIS_URL = os.environ.get("KOPPEL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _missing(service: str, reason: str):
    message = f"{service} is not reachable ({reason})"
    if os.environ.get("KOPPEL_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message}; KOPPEL_REQUIRE_SERVICES=1 makes this a failure", pytrace=False)
    pytest.skip(f"{message}: start it to run this test")


def _port_open(host: str, port: int) -> str | None:
    try:
        with socket.create_connection((host, port), timeout=2):
            return None
    except OSError as error:
        return str(error)


def _admin_connection():
    import psycopg

    return psycopg.connect(host=PG["host"], port=PG["port"], user=PG["user"], dbname="postgres",
                           autocommit=True, connect_timeout=5)


@pytest.fixture
def postgres_url():
    try:
        admin = _admin_connection()
    except Exception as error:  # psycopg.OperationalError and socket errors alike
        _missing("PostgreSQL", str(error).strip().splitlines()[0])
    name = f"koppel_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://{PG['user']}@{PG['host']}:{PG['port']}/{name}"
    finally:
        with _admin_connection() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'koppel.sqlite'}"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path):
    """Both event stores: the embedded default and production."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'koppel.sqlite'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def queue_prefix():
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def rabbitmq_url(queue_prefix):
    problem = _port_open("127.0.0.1", 5672)
    if problem:
        _missing("RabbitMQ", problem)
    yield RABBITMQ_URL
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    channel = connection.channel()
    for queue in ("intake", "process"):
        for suffix in ("", ".DQ", ".XQ"):
            channel.queue_delete(f"{queue_prefix}.{queue}{suffix}")
    connection.close()


@pytest.fixture
def redis_url(queue_prefix):
    problem = _port_open("127.0.0.1", 6379)
    if problem:
        _missing("Redis", problem)
    yield REDIS_URL
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(f"{queue_prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


# -- no secret in any log line of the run ---------------------------------------------------
# Every line logged anywhere in the suite (INFO and up) is formatted as koppel formats it and
# searched for the test installation's secrets and for unhidden webhook tokens; one found
# fails the run even when every test passed (tests/leakwatch.py).

_leak_watch = None


def pytest_configure(config):
    global _leak_watch
    import logging

    from tests.leakwatch import LeakWatch

    _leak_watch = LeakWatch(level=logging.INFO)
    root = logging.getLogger()
    root.addHandler(_leak_watch)
    if root.level > logging.INFO:
        root.setLevel(logging.INFO)


def pytest_sessionfinish(session):
    if _leak_watch is not None and _leak_watch.leaks:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter):
    if _leak_watch is None:
        return
    if _leak_watch.leaks:
        terminalreporter.section("secrets in log lines", red=True)
        for leak in _leak_watch.leaks[:20]:
            terminalreporter.line(leak)
    else:
        terminalreporter.line(f"log lines checked for secrets and webhook tokens: "
                              f"{_leak_watch.lines}, none found")

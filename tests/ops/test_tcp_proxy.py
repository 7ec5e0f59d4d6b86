"""The TCP proxy the outage tests and the chaos suite cut, on the real PostgreSQL."""

import time

import psycopg
import pytest

from bench.tcp_proxy import TcpProxy
from tests.conftest import PG


@pytest.fixture
def proxy():
    with TcpProxy((PG["host"], PG["port"])) as p:
        yield p


def _connect(proxy: TcpProxy):
    return psycopg.connect(host=proxy.host, port=proxy.port, user=PG["user"], dbname="postgres",
                           autocommit=True, connect_timeout=2)


def test_forwards_until_cut_then_refuses_until_restored(postgres_url, proxy):
    with _connect(proxy) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        proxy.cut()
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")
    with pytest.raises(psycopg.OperationalError):
        _connect(proxy)
    proxy.restore()
    with _connect(proxy) as conn:
        assert conn.execute("SELECT 2").fetchone() == (2,)
    assert proxy.connections_made == 2


def test_a_cut_ends_the_server_side_session_too(postgres_url, proxy):
    """What the scheduler's lock depends on: the server sees its session end."""
    with _connect(proxy) as conn:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        proxy.cut()
    with psycopg.connect(host=PG["host"], port=PG["port"], user=PG["user"], dbname="postgres",
                         autocommit=True) as admin:
        deadline = time.monotonic() + 10
        while admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s",
                            [pid]).fetchone()[0]:
            assert time.monotonic() < deadline, "the server kept the cut session"
            time.sleep(0.1)


def test_stall_holds_traffic_until_restored(postgres_url, proxy):
    import threading

    with _connect(proxy) as conn:
        answers = []
        proxy.stall()
        asking = threading.Thread(target=lambda: answers.append(
            conn.execute("SELECT 3").fetchone()))
        asking.start()
        asking.join(0.5)
        assert answers == [] and asking.is_alive()
        proxy.restore()
        asking.join(5)
        assert answers == [(3,)]

"""A worker process's keep-alive pools: one per host, shared by its connectors and threads,
left open when one connector is let go, closed when the process stops."""

from __future__ import annotations

import threading

import httpx
import pytest

from bench.tcp_proxy import TcpProxy
from sandbox.serve import serve
from workers.connectors.factory import SharedPools


def _hello(environ, start_response):
    start_response("200 OK", [("content-type", "text/plain"), ("content-length", "2")])
    return [b"ok"]


def test_one_pool_per_host_shared_by_clients_and_threads():
    pools = SharedPools()
    with serve(_hello) as server, TcpProxy(("127.0.0.1", server.port)) as proxy:
        url = f"http://127.0.0.1:{proxy.port}"
        first = httpx.Client(base_url=url, transport=pools.for_url(url))
        assert first.get("/").text == "ok"
        first.close()  # a connector of an older settings version, let go
        second = httpx.Client(base_url=url, transport=pools.for_url(url + "/api/"))
        answers = []

        def calls():
            for _ in range(20):
                answers.append(second.get("/").status_code)

        threads = [threading.Thread(target=calls) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert answers == [200] * 80
        assert len(pools) == 1
        assert 1 <= proxy.connections_made <= 4  # at most one per thread, none per call
        made = proxy.connections_made
        second.get("/")
        assert proxy.connections_made == made

        pools.close()
        with pytest.raises(RuntimeError):
            pools.for_url(url)


def test_hosts_get_pools_of_their_own():
    pools = SharedPools()
    pools.for_url("http://127.0.0.1:8001/api")
    pools.for_url("http://127.0.0.1:8001/other")
    pools.for_url("https://shop.example/api/rest/v1")
    pools.for_url("HTTPS://SHOP.example/x")
    assert len(pools) == 2
    pools.close()

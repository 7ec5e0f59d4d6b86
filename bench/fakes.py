"""The sandbox fakes for the benchmark, on loopback ports, with a call counter in front.

``python -m bench.fakes [--seed N]`` serves the CCV Shop fake and the e-Boekhouden fake (the
same apps ``koppel demo`` uses), prints one JSON line ``{"shop": URL, "ledger": URL}`` and
serves until its standard input closes. Run apart from the bench process, the fakes have a
process (and a GIL) of their own, so every mode measured meets the same fakes.

Each fake sits behind :class:`Counting`, a WSGI middleware that counts the API calls it
answers by method, path shape and query parameter names (``GET /v1/relation?email,limit``).
``GET /__bench/counts`` returns them, ``DELETE /__bench/counts`` clears them. The fakes
themselves are untouched: the counter only looks at the WSGI environ.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
from collections import Counter
from urllib.parse import parse_qsl

from sandbox import billit as sandbox_billit
from sandbox import ccvshop as sandbox_shop
from sandbox import eboekhouden as sandbox_ledger
from sandbox.serve import RunningServer, serve

SHOP_KEYS = ("demo-public-key", "demo-shop-secret")  # as web/demo.py and tests/harness.py
LEDGER_TOKEN = "demo-ledger-token"
BILLIT_KEY, BILLIT_PARTY = "demo-billit-key", 123456  # as web/demo.py
_NUMBER = re.compile(r"/\d+(?=/|$)")


def call_key(method: str, path: str, query: str) -> str:
    """``GET /api/rest/v1/orders/{id}/orderrows/?size,start``: a call's kind, not its ids."""
    names = sorted({name for name, _ in parse_qsl(query, keep_blank_values=True)})
    shape = _NUMBER.sub("/{id}", path)
    return f"{method} {shape}" + (f"?{','.join(names)}" if names else "")


class Counting:
    """Counts every request outside ``/__sandbox/`` and ``/__bench/`` by :func:`call_key`."""

    def __init__(self, app) -> None:
        self.app = app
        self.counts: Counter = Counter()
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/__bench/counts":
            method = environ.get("REQUEST_METHOD")
            with self.lock:
                body = json.dumps(dict(self.counts)).encode()
                if method == "DELETE":
                    self.counts.clear()
            start_response("200 OK", [("content-type", "application/json"),
                                      ("content-length", str(len(body)))])
            return [body]
        if not path.startswith("/__sandbox/"):
            key = call_key(environ.get("REQUEST_METHOD", "?"), path,
                           environ.get("QUERY_STRING", ""))
            with self.lock:
                self.counts[key] += 1
        return self.app(environ, start_response)


class Fakes:
    """Both fakes served in this process (``in_process``) or in ``python -m bench.fakes``."""

    def __init__(self, shop_url: str, ledger_url: str, stop, billit_url: str = "") -> None:
        self.shop_url, self.ledger_url, self._stop = shop_url, ledger_url, stop
        self.billit_url = billit_url  # a Billit fake too (bench.latency's second ledger)

    def stop(self) -> None:
        self._stop()


def serve_fakes(seed: int = 1) -> tuple[RunningServer, RunningServer, RunningServer]:
    # api_root=None: the shop's hrefs name the root each request came in on (its own port).
    shop = serve(Counting(sandbox_shop.create_app(public_key=SHOP_KEYS[0], secret=SHOP_KEYS[1],
                                                  api_root=None, seed=seed)))
    ledger = serve(Counting(sandbox_ledger.create_app(api_token=LEDGER_TOKEN, seed=seed)))
    billit = serve(Counting(sandbox_billit.create_app(api_key=BILLIT_KEY, party_id=BILLIT_PARTY,
                                                      seed=seed)))
    return shop, ledger, billit


def in_process(seed: int = 1) -> Fakes:
    servers = serve_fakes(seed)

    def stop() -> None:
        for server in servers:
            server.stop()

    return Fakes(servers[0].url, servers[1].url, stop, servers[2].url)


def subprocess_fakes(seed: int = 1, cwd: str | None = None, stderr=None) -> Fakes:
    """``stderr``: where the fakes' own complaints go (a file), by default the caller's."""
    import subprocess

    process = subprocess.Popen([sys.executable, "-m", "bench.fakes", "--seed", str(seed)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                               cwd=cwd, text=True)
    line = process.stdout.readline()
    if not line:
        process.kill()
        raise RuntimeError("the sandbox fakes process ended before it told its addresses")
    urls = json.loads(line)

    def stop() -> None:
        try:
            process.stdin.close()
            process.wait(timeout=10)
        except Exception:
            process.kill()
            process.wait()

    return Fakes(urls["shop"], urls["ledger"], stop, urls.get("billit", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    shop, ledger, billit = serve_fakes(args.seed)
    print(json.dumps({"shop": shop.url, "ledger": ledger.url, "billit": billit.url}), flush=True)
    try:
        sys.stdin.read()  # until the bench closes our standard input (or ends)
    except KeyboardInterrupt:
        pass
    shop.stop()
    ledger.stop()
    billit.stop()


if __name__ == "__main__":
    main()

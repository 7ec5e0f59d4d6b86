"""Load that runs in child processes of the benchmark, so it never shares a GIL with koppel
or with the fakes: the bare-httpx replay of koppel's calls (the ceiling) and webhook POSTs.

Every child gets its share of the work, says it is ready, waits for the common start signal
and reports when it finished; :func:`run_children` turns that into one elapsed time.
"""

from __future__ import annotations

import multiprocessing
import queue
import re
import threading
import time
from collections import Counter
from datetime import datetime, timezone

import httpx

from sandbox.ccvshop import sign

_RELATION_ID = re.compile(rb'("relationId"\s*:\s*)(-?\d+|null|"[^"]*")')


def _pool(items: list, threads: int, work) -> None:
    """Run ``work(item)`` for every item on ``threads`` threads; the first error is raised."""
    todo: queue.Queue = queue.Queue()
    for item in items:
        todo.put(item)
    errors: list[BaseException] = []

    def loop() -> None:
        while not errors:
            try:
                item = todo.get_nowait()
            except queue.Empty:
                return
            try:
                work(item)
            except BaseException as error:  # reported to the parent with the results
                errors.append(error)

    pool = [threading.Thread(target=loop, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if errors:
        raise errors[0]


# -- the ceiling: koppel's calls replayed with plain httpx --------------------------------

def ceiling_child(job: dict, ready, start, results) -> None:
    """Replay ``job["orders"]`` (each ``{"ccv": [(method, uri)], "ledger": [(method, path,
    query, body)]}``) after ``job["setup"]`` (the session and the ledger-code lookups a koppel
    worker process makes once), on ``job["threads"]`` threads.

    CCV calls are signed afresh (the fake checks the signature and the clock) and not verified;
    e-Boekhouden calls carry this process's session. A mutation names the relation this order
    found or created in this replay (the ids of the original run mean nothing to a reset
    ledger), else the spare relation made before the clock started."""
    public, secret = job["shop_keys"]
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
    shop = httpx.Client(timeout=30, limits=limits, headers={"accept": "application/json"})
    ledger = httpx.Client(base_url=job["ledger_url"], timeout=30, limits=limits,
                          headers={"Accept": "application/json"})
    calls: Counter = Counter()
    statuses: Counter = Counter()
    refused: Counter = Counter()
    lock = threading.Lock()
    session = {"token": ""}

    def shop_call(method: str, uri: str) -> None:
        request = shop.build_request(method, job["shop_url"] + uri)
        raw = request.url.raw_path.decode("ascii")
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        request.headers["x-public"] = public
        request.headers["x-date"] = stamp
        request.headers["x-hash"] = sign(secret, public, method, raw, b"", stamp)
        response = shop.send(request)
        with lock:
            calls["ccv"] += 1
            statuses[f"ccv {response.status_code}"] += 1

    def ledger_call(method: str, path: str, query: str, body: bytes | None,
                    authorised: bool = True) -> httpx.Response:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if authorised:
            headers["Authorization"] = session["token"]
        url = f"{path}?{query}" if query else path
        response = ledger.request(method, url, content=body, headers=headers)
        with lock:
            calls["ledger"] += 1
            statuses[f"ledger {response.status_code}"] += 1
            if response.status_code >= 400:
                refused[f"{method} {path} {response.status_code} {response.text[:120]}"] += 1
        return response

    def one_order(order: dict) -> None:
        for method, uri in order["ccv"]:
            shop_call(method, uri)
        relation = None
        for method, path, query, body in order["ledger"]:
            if method == "POST" and path == "/v1/mutation" and body is not None:
                rid = str(relation if relation is not None else job["spare_relation"])
                # the header's and every row's (a payment names the debtor on its row too)
                body = _RELATION_ID.sub(lambda m: m.group(1) + rid.encode(), body)
            response = ledger_call(method, path, query, body)
            if path == "/v1/relation" and response.status_code < 300:
                answer = response.json()
                if method == "POST":
                    relation = answer.get("id", relation)
                elif isinstance(answer, dict) and answer.get("items"):
                    relation = answer["items"][0].get("id", relation)

    ready.put(multiprocessing.current_process().pid)
    start.wait()
    error = None
    try:
        for method, path, query, body in job["setup"]:
            response = ledger_call(method, path, query, body, authorised=path != "/v1/session")
            if path == "/v1/session":
                session["token"] = str(response.json()["token"])
        _pool(job["orders"], job["threads"], one_order)
    except BaseException as exc:
        error = f"{type(exc).__name__}: {exc}"
    results.put({"end": time.time(), "calls": dict(calls), "statuses": dict(statuses),
                 "refused": dict(refused), "error": error})
    shop.close()
    ledger.close()


# -- webhooks -------------------------------------------------------------------------------

def webhook_child(job: dict, ready, start, results) -> None:
    """POST ``job["posts"]`` (``(url, body bytes)``) on ``job["threads"]`` threads, each with
    a client of its own, as a few shops or proxies delivering at once would. A request that
    fails counts as ``error <kind>``; no new request starts after ``job["deadline"]`` seconds,
    so a stalling endpoint bounds the run instead of hanging it."""
    statuses: Counter = Counter()
    latencies: list[float] = []
    lock = threading.Lock()
    local = threading.local()
    clients: list[httpx.Client] = []
    began = {"t": 0.0}

    def post(item) -> None:
        if time.monotonic() - began["t"] > job["deadline"]:
            with lock:
                statuses["not sent (deadline)"] += 1
            return
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(timeout=job.get("request_timeout", 15))
            with lock:
                clients.append(client)
        url, body = item
        t0 = time.monotonic()
        try:
            response = client.post(url, content=body,
                                   headers={"content-type": "application/json"})
            status = str(response.status_code)
        except httpx.HTTPError as exc:
            status = f"error {type(exc).__name__}"
        with lock:
            statuses[status] += 1
            latencies.append(time.monotonic() - t0)

    ready.put(multiprocessing.current_process().pid)
    start.wait()
    began["t"] = time.monotonic()
    error = None
    try:
        _pool(job["posts"], job["threads"], post)
    except BaseException as exc:
        error = f"{type(exc).__name__}: {exc}"
    latencies.sort()

    def pct(q: float) -> float | None:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 1) \
            if latencies else None

    results.put({"end": time.time(), "statuses": dict(statuses), "error": error,
                 "latency_ms": {"p50": pct(0.5), "p95": pct(0.95), "p99": pct(0.99),
                                "max": pct(1.0)}})
    for client in clients:
        client.close()


# -- the parent's side --------------------------------------------------------------------

def run_children(target, jobs: list[dict], timeout: float) -> tuple[float, list[dict]]:
    """Start one child per job, start them together; (seconds until the last one finished,
    their reports). Children that outlive ``timeout`` are terminated (an error)."""
    context = multiprocessing.get_context("spawn")
    ready, results = context.Queue(), context.Queue()
    start = context.Event()
    children = [context.Process(target=target, args=(job, ready, start, results), daemon=True)
                for job in jobs]
    for child in children:
        child.start()
    try:
        for _ in children:
            ready.get(timeout=60)
        began = time.time()
        start.set()
        reports = [results.get(timeout=timeout) for _ in children]
    finally:
        for child in children:
            child.join(timeout=10)
            if child.is_alive():
                child.terminate()
                child.join()
    return max(r["end"] for r in reports) - began, reports

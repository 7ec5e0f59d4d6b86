"""What one call to a sandbox fake costs as the fake fills up.

``python -m bench.fakes_cost [--sizes 200,2000,20000] [--calls 300]`` seeds the e-Boekhouden
fake with N relations, sales and payments and the Billit fake with N orders (straight into
their stores, which is what the API would have built, only faster), serves each on a loopback
port, and times the lookups koppel makes per order over one keep-alive connection:
relation by e-mail and by code, mutation by invoice number, the open item of an invoice, a
mutation by id, a new sale; Billit's order by ``ExternalProviderID``. It prints the median
milliseconds per call for each N, and how many TCP connections the client opened (1 when the
fakes keep connections alive).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from decimal import Decimal

import httpx

from sandbox import billit as sandbox_billit
from sandbox import eboekhouden as sandbox_ledger
from sandbox.serve import serve

LEDGER_TOKEN = "bench-ledger-token"
BILLIT_KEY, BILLIT_PARTY = "bench-billit-key", 4242


def seed_ledger(admin, n: int) -> None:
    ledger = lambda code: admin.ledger_by_code(code).id  # noqa: E731
    with admin.lock:
        for i in range(n):
            relation = admin.create_relation({"name": f"Klant {i}", "code": f"K{i:06d}",
                                              "emailAddress": f"klant{i}@example.nl"})
            number = f"B{i:06d}"
            admin.create_mutation({
                "type": 2, "date": "2025-03-14", "ledgerId": ledger("1300"),
                "relationId": relation["id"], "invoiceNumber": number, "termOfPayment": 14,
                "description": f"{number} - iDEAL", "inExVat": "EX",
                "rows": [{"ledgerId": ledger("8000"), "vatCode": "HOOG_VERK_21",
                          "amount": Decimal("40.00"), "description": "T-shirt 2x"}]})
            if i % 2:  # half of them paid, so the open items are a real mix
                admin.create_mutation({
                    "type": 3, "date": "2025-03-15", "ledgerId": ledger("1100"),
                    "relationId": relation["id"], "invoiceNumber": number, "inExVat": "EX",
                    "description": f"iDEAL - {number}",
                    "rows": [{"ledgerId": ledger("1300"), "vatCode": "GEEN",
                              "amount": Decimal("48.40"), "invoiceNumber": number,
                              "relationId": relation["id"], "description": "Betaling"}]})


def seed_billit(company, n: int) -> None:
    with company.lock:
        for i in range(n):
            sandbox_billit.create_order(company, {
                "OrderType": "Invoice", "OrderDirection": "Income",
                "OrderDate": "2025-03-14", "ExpiryDate": "2025-03-28",
                "ExternalProviderID": f"ccv-{i}", "OrderNumber": f"B{i:06d}",
                "Customer": {"Name": f"Klant {i}", "Email": f"klant{i}@example.nl",
                             "PartyType": "Customer"},
                "OrderLines": [{"Quantity": 1, "UnitPriceExcl": 40, "VATPercentage": 21,
                                "Description": "T-shirt"}]})


class Timer:
    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {}
        self.peers: set = set()

    def call(self, kind: str, client: httpx.Client, method: str, url: str, **kwargs):
        start = time.perf_counter()
        answer = client.request(method, url, **kwargs)
        self.samples.setdefault(kind, []).append(time.perf_counter() - start)
        answer.raise_for_status()
        stream = answer.extensions.get("network_stream")
        try:
            self.peers.add(stream.get_extra_info("client_addr"))
        except OSError:  # the server closed it already: a connection for this call alone
            self.peers.add(("closed", len(self.peers)))
        return answer.json() if answer.content else None


def measure_ledger(n: int, calls: int, rng: random.Random) -> Timer:
    app = sandbox_ledger.create_app(api_token=LEDGER_TOKEN, seed=3)
    admin = app.extensions["eboekhouden"]
    seed_ledger(admin, n)
    timer = Timer()
    with serve(app) as server, httpx.Client(base_url=server.url) as client:
        token = client.post("/v1/session", json={"source": "bench",
                                                 "accessToken": LEDGER_TOKEN}).json()["token"]
        client.headers["Authorization"] = token
        bank, debtors = admin.ledger_by_code("1100").id, admin.ledger_by_code("1300").id
        revenue = admin.ledger_by_code("8000").id
        for c in range(calls):
            i = rng.randrange(n)
            number = f"B{i:06d}"
            found = timer.call("relation by e-mail", client, "GET", "/v1/relation",
                               params={"email": f"KLANT{i}@example.nl", "limit": 10})
            timer.call("relation by code", client, "GET", "/v1/relation",
                       params={"code": f"K{i:06d}", "limit": 10})
            sales = timer.call("mutation by number", client, "GET", "/v1/mutation",
                               params={"invoiceNumber": number, "type": 2, "limit": 10})
            timer.call("open item", client, "GET", "/v1/mutation/invoice/outstanding",
                       params={"credDeb": "D", "invoiceNumber": number, "limit": 10})
            timer.call("mutation by id", client, "GET", f"/v1/mutation/{sales['items'][0]['id']}")
            timer.call("new sale", client, "POST", "/v1/mutation", json={
                "type": "2", "date": "2025-03-16", "ledgerId": debtors,
                "relationId": found["items"][0]["id"], "invoiceNumber": f"N{n}-{c}",
                "inExVat": "EX", "description": "bench", "termOfPayment": 14,
                "rows": [{"ledgerId": revenue, "vatCode": "HOOG_VERK_21", "amount": "10.00",
                          "description": "x"}]})
        assert bank  # the bank ledger exists in the seeded chart
    return timer


def measure_billit(n: int, calls: int, rng: random.Random) -> Timer:
    app = sandbox_billit.create_app(api_key=BILLIT_KEY, party_id=BILLIT_PARTY, seed=3)
    seed_billit(app.extensions["billit"], n)
    timer = Timer()
    headers = {"ApiKey": BILLIT_KEY, "PartyID": str(BILLIT_PARTY)}
    with serve(app) as server, httpx.Client(base_url=server.url, headers=headers) as client:
        for _ in range(calls):
            i = rng.randrange(n)
            timer.call("order by ExternalProviderID", client, "GET", "/v1/orders",
                       params={"$filter": f"ExternalProviderID eq 'ccv-{i}'"})
    return timer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="200,2000,20000")
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rng = random.Random(1)
    results: dict[int, dict[str, float]] = {}
    connections: dict[int, int] = {}
    for n in sizes:
        ledger, billit = measure_ledger(n, args.calls, rng), measure_billit(n, args.calls, rng)
        results[n] = {kind: statistics.median(s) * 1000
                      for timer in (ledger, billit) for kind, s in timer.samples.items()}
        connections[n] = len(ledger.peers) + len(billit.peers)
    kinds = list(results[sizes[0]])
    print(f"median ms per call ({args.calls} calls each); load average "
          f"{' '.join(f'{x:.2f}' for x in __import__('os').getloadavg())}")
    print(f"{'call':32}" + "".join(f"{f'N={n}':>12}" for n in sizes))
    for kind in kinds:
        print(f"{kind:32}" + "".join(f"{results[n][kind]:12.2f}" for n in sizes))
    print(f"{'TCP connections opened':32}" + "".join(f"{connections[n]:12d}" for n in sizes))


if __name__ == "__main__":
    main()

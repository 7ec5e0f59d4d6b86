"""``koppel demo``: a sandbox shop and ledger, the dashboard and the workers in one process.

Generated orders are put into the sandbox shop, which sends its webhooks to the dashboard's
webhook address like a real CCV Shop would; from there on it is the real path: inbox, intake
over the signed API, the rules, the debtor, the claim, the ledger. With ``--exit`` every order
is compared with what the generator meant to happen to it, and any difference is a failure.
"""

from __future__ import annotations

import itertools
import socket
import time
from collections import Counter
from datetime import timedelta
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from application.settings import load_settings_text
from sandbox import ccvshop as sandbox_shop
from sandbox import billit as sandbox_billit
from sandbox import eboekhouden as sandbox_eboekhouden
from sandbox.generator import generate
from sandbox.serve import serve
from web.app import create_app
from web.bootstrap import Runtime, bootstrap
from web.config import from_environment, leave_demo_marker
from workers.scheduler import Intervals

SHOP_KEYS = ("demo-public-key", "demo-shop-secret")
LEDGER_TOKEN = "demo-ledger-token"
DEMO_MERCHANT = "demo@example.com"
SETTLED = {"posted", "failed", "waiting"}
# In paid_orders mode the shop's orders are what is booked; invoices come with that mode.
ORDER_SCOPES = {"domestic", "be", "icp", "international", "oss"}


@dataclass
class Expectation:
    number: str
    outcome: str  # posted | failed | open
    check: str | None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


BILLIT_KEY = "demo-billit-key"
# The App Store's part (sandbox/appstore.py): koppel's App Secret Key, a second shop's keys.
APP_SECRET = "demo-app-secret"
STORE_KEYS = ("store-public-key", "store-shop-secret")
BILLIT_PARTY = "123456"


def demo_settings_text(api_root: str, ledger: str = "eboekhouden") -> str:
    """The demo connection's settings file, for the e-Boekhouden or the Billit sandbox."""
    text = resources.files("web").joinpath("demo_settings.toml").read_text()
    text = text.replace("{api_root}", api_root)
    if ledger == "billit":
        text = text.replace('system = "eboekhouden"', 'system = "billit"')
        text = text.replace('api_token = "demo-ledger-token"', f'api_key = "{BILLIT_KEY}"')
        text += f'\n[billit]\nparty_id = "{BILLIT_PARTY}"\npayment_status = "shop"\n'
    return text


def demo_settings(api_root: str, ledger: str = "eboekhouden"):
    return load_settings_text(demo_settings_text(api_root, ledger))


def _fresh_database(var: Path) -> str:
    var.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        (var / f"demo.sqlite{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{var / 'demo.sqlite'}"


# The demo shop's new orders are numbered from 1001 up, across every batch of generated
# orders (a reused number collides with the ledger's booking of it: NUMBER_TAKEN, R2.1). Each
# run starts a fresh shop, ledger and database, so 1001 is again this run's first order.
FIRST_NUMBER = 1001
# The shop's past, put in before koppel connects: numbered below the new orders.
HISTORY_ORDERS = 20
HISTORY_FIRST_NUMBER = 901
STORE_FIRST_NUMBER = 801  # the App Store shop's past: numbers of its own in the one ledger


def renumber(order: dict, number: int) -> dict:
    order = {**order, "ordernumber": number, "ordernumber_full": str(number)}
    if order.get("invoicenumber") is not None:
        order["invoicenumber"] = number
    return order


class Demo:
    def __init__(self, port: int, seed: int, ledger: str = "eboekhouden") -> None:
        shop_port = free_port()
        self.shop_url = f"http://127.0.0.1:{shop_port}"
        self.shop = serve(sandbox_shop.create_app(public_key=SHOP_KEYS[0], secret=SHOP_KEYS[1],
                                                  api_root=self.shop_url, seed=seed),
                          port=shop_port)
        self.ledger_name = "Billit" if ledger == "billit" else "e-Boekhouden"
        self.ledger = serve(
            sandbox_billit.create_app(api_key=BILLIT_KEY, party_id=int(BILLIT_PARTY), seed=seed)
            if ledger == "billit" else
            sandbox_eboekhouden.create_app(api_token=LEDGER_TOKEN, seed=seed))
        var = Path("var")
        config = from_environment().with_(
            database_url=_fresh_database(var), broker_url="", queue_prefix="demo",
            ccv_app_secret=APP_SECRET,
            public_url=f"http://127.0.0.1:{port}", eboekhouden_url=self.ledger.url,
            billit_url=self.ledger.url, claim_lease=30.0,
            # The sandbox's ledger holds no request longer than it takes to answer (unless a
            # fault is armed to), so a write it got cannot land later than this.
            settle_window=30.0,
            # The sandbox shop has no rate limit unless asked: the demo runs at full speed.
            shop_rate_limit="")
        self.numbers = itertools.count(FIRST_NUMBER)
        self.control = httpx.Client(base_url=self.shop_url, timeout=30)
        # The shop's past: orders made before koppel was connected, not booked unless the
        # merchant imports their period (`koppel import --from 2026-03-01 --to 2026-04-01`).
        self.history = self.put_orders(
            generate(HISTORY_ORDERS, seed + 10_000, scopes=ORDER_SCOPES),
            numbers=iter(range(HISTORY_FIRST_NUMBER, HISTORY_FIRST_NUMBER + HISTORY_ORDERS)))
        self.runtime: Runtime = bootstrap(config, environ={})
        leave_demo_marker(config, var)
        self.connection, _ = self.runtime.connections.save(
            demo_settings(self.shop_url, ledger), by="demo")
        # The demo's one merchant, owning its connection; a new password every run.
        self.password = self.runtime.accounts.new_password()
        self.runtime.accounts.add(DEMO_MERCHANT, "merchant", self.password, by="demo",
                                  connections=[self.connection.id])
        self.web = serve(create_app(self.runtime), port=port, keep_alive=False)
        self.runtime.start_workers()
        # The demo's schedules run faster than a shop's, so a dropped webhook shows up soon.
        self.runtime.start_background(schedule=Intervals(
            sweep=timedelta(seconds=30), payments=timedelta(minutes=5),
            open_recheck=timedelta(minutes=30), requeue=timedelta(seconds=10)))
        self.runtime.onboarding.register_webhooks(self.connection.id)
        self.runtime.onboarding.check_ledger(self.connection.id)

    def put_orders(self, documents: list[dict], numbers=None) -> list[Expectation]:
        """Into the sandbox shop, each with the next order number, as the shop takes an order
        today (it stamps the creation time and sends its webhook). With ``numbers``: the
        shop's past, on the generator's dates, numbered from ``numbers``, no webhook."""
        dated_now = numbers is None
        expected = []
        for document in documents:
            order = renumber(document["order"], next(numbers or self.numbers))
            if dated_now:
                del order["create_date"]
            body = {"order": order, "orderrows": document["orderrows"], "notify": dated_now}
            response = self.control.post("/__sandbox/orders", content=sandbox_shop.dumps(body),
                                         headers={"content-type": "application/json"})
            response.raise_for_status()
            expect = document["expect"]
            expected.append(Expectation(str(response.json()["ordernumber_full"]),
                                        expect["outcome"], expect.get("check")))
        return expected

    def states(self) -> dict[str, dict]:
        self.runtime.projector.catch_up()
        rows = self.runtime.store.query(
            "SELECT number, status, failure_code FROM documents WHERE kind = 'order'")
        return {row["number"]: row for row in rows}

    def open_app_store(self, port: int) -> str:
        """A second sandbox shop, with a past of its own, whose App Store installs koppel
        (the demo's first shop is connected by its settings file). Returns the store's page."""
        store_port = free_port()
        url = f"http://127.0.0.1:{store_port}"
        self.store_shop = serve(sandbox_shop.create_app(
            public_key=STORE_KEYS[0], secret=STORE_KEYS[1], api_root=url, seed=7),
            port=store_port)
        koppel = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=url, timeout=30) as control:
            control.post("/__sandbox/appstore/app", json={
                "handshake_url": f"{koppel}/ccv/handshake",
                "install_url": f"{koppel}/ccv/install",
                "uninstall_url": f"{koppel}/ccv/uninstall",
                "app_secret": APP_SECRET}).raise_for_status()
            for number, order in enumerate(generate(HISTORY_ORDERS, 99, scopes=ORDER_SCOPES),
                                           start=STORE_FIRST_NUMBER):
                body = {"order": renumber(order["order"], number),
                        "orderrows": order["orderrows"], "notify": False}
                control.post("/__sandbox/orders", content=sandbox_shop.dumps(body),
                             headers={"content-type": "application/json"}).raise_for_status()
        return f"{url}/appstore"

    def stop(self) -> None:
        self.control.close()
        self.web.stop()
        self.runtime.stop()
        self.shop.stop()
        if getattr(self, "store_shop", None):
            self.store_shop.stop()
        self.ledger.stop()


def mismatch(expectation: Expectation, state: dict | None) -> str | None:
    if state is None:
        return f"order {expectation.number}: never arrived (expected {expectation.outcome})"
    wanted = {"posted": "posted", "failed": "failed", "open": "waiting"}[expectation.outcome]
    if state["status"] != wanted:
        return (f"order {expectation.number}: {state['status']} "
                f"({state['failure_code'] or '-'}), expected {expectation.outcome}")
    if expectation.check and state["failure_code"] != expectation.check:
        return (f"order {expectation.number}: failed with {state['failure_code']}, "
                f"expected {expectation.check}")
    return None


def run_demo(*, orders: int | None, exit_when_done: bool, port: int, seed: int,
             timeout: float, ledger: str = "eboekhouden") -> int:
    console = Console(stderr=exit_when_done)
    demo = Demo(free_port() if exit_when_done else port, seed, ledger)
    try:
        documents = generate(orders or 50, seed, scopes=ORDER_SCOPES)
        started = time.monotonic()
        if exit_when_done:
            return _run_headless(demo, documents, started, timeout, console)
        console.print(f"koppel demo: dashboard on http://127.0.0.1:{port}  (Ctrl-C stops)")
        console.print(f"  sign in as {DEMO_MERCHANT} with password {demo.password}",
                      highlight=False)
        if ledger == "eboekhouden":
            console.print(f"  install koppel in a second sandbox shop from its App Store: "
                          f"{demo.open_app_store(port)}  (its ledger token: {LEDGER_TOKEN})",
                          highlight=False)
        console.print(f"  sandbox CCV Shop {demo.shop_url}, sandbox {demo.ledger_name} "
                      f"{demo.ledger.url}")
        _trickle(demo, documents, seed, endless=orders is None)
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        demo.stop()


def _trickle(demo: Demo, documents: list[dict], seed: int, endless: bool) -> None:
    batch = 0
    while True:
        for document in documents:
            demo.put_orders([document])
            time.sleep(0.3)
        if not endless:
            while True:
                time.sleep(3600)
        batch += 1
        documents = generate(50, seed + batch, scopes=ORDER_SCOPES)


def _run_headless(demo: Demo, documents: list[dict], started: float, timeout: float,
                  console: Console) -> int:
    expected = demo.put_orders(documents)
    with Progress(TextColumn("settling orders"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=True) as progress:
        task = progress.add_task("orders", total=len(expected))
        while True:
            states = demo.states()
            settled = sum(1 for e in expected
                          if states.get(e.number, {}).get("status") in SETTLED)
            progress.update(task, completed=settled)
            if settled == len(expected) or time.monotonic() - started > timeout:
                break
            time.sleep(0.25)
    seconds = time.monotonic() - started
    states = demo.states()
    counts = Counter(states[e.number]["status"] for e in expected if e.number in states)
    problems = [p for e in expected if (p := mismatch(e, states.get(e.number)))]
    print(f"posted {counts['posted']} / failed {counts['failed']} / open "
          f"{sum(counts[s] for s in counts if s not in ('posted', 'failed'))} / "
          f"{seconds:.1f} seconds for {len(expected)} orders")
    for problem in problems:
        print(f"UNEXPECTED {problem}")
    return 1 if problems else 0

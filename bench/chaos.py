"""The chaos suite: koppel's invariants I1 (exactly once) and I2 (nothing lost) under a hostile
operator's faults, on real processes, counted from the sandbox ledger's own records.

    .venv/bin/python bench/chaos.py --orders 600 --broker rabbitmq|redis|embedded
                                    [--seed S] [--short] [--json FILE] [--timeout SECONDS]

rabbitmq, redis
    A throwaway PostgreSQL database and a queue prefix (RabbitMQ) or key namespace (Redis);
    ``koppel serve``, ``koppel worker --processes 2`` and ``koppel scheduler`` as an operator
    runs them, each a process of its own; the sandbox fakes in a process of their own
    (``bench/fakes.py``). koppel reaches the broker and the database through TCP proxies this
    script runs, so a cut breaks koppel's connections and never touches the machine's services.
embedded
    ``koppel serve`` with an empty ``KOPPEL_BROKER_URL`` on a SQLite file: the whole
    installation in one process (what ``koppel demo`` runs, without the demo's own in-process
    sandbox and fresh database, which a kill would take with it). It is killed with SIGKILL
    twice and started again on the same database.

While the orders come in (``sandbox.generator``, every kind the demo books, about a tenth meant
to fail a check and a twentieth unpaid), for the chaos phase:

- a random worker process gets SIGKILL every few seconds (rabbitmq, redis);
- ledger faults are armed through the sandbox's control API, a burst at a time: 500 after the
  write committed, late writes (sales, payments and relations the ledger commits long after
  koppel's HTTP timeout and the attempt's claim ran out, hole 1 of issue 7), 429 bursts,
  dropped connections; the shop answers 502 to bursts of reads;
- 30% of the shop's webhook deliveries are dropped;
- the broker is cut for 20 s and the database for 10 s (every connection broken, new ones
  refused).

Then the faults are cleared and the script waits, with koppel's default schedule and no
operator action, until every order is where the generator meant it to end (Report, Errors or
Open, the payment of every paid order booked) or ``--timeout`` passes. The counts come from the
sandbox ledger's records: sales and payments per order, relations per e-mail address; from
koppel's read model: orders in none of Report/Errors/Open and outcomes that differ from the
generator's. Any duplicate, loss, difference or a run that did not converge exits 1.

``--short`` is the CI variant (fewer kills, shorter cuts, a shorter chaos phase) and shortens
the claim lease and the scheduler's intervals through koppel's settings so it converges in
about a minute; the summary lists every setting it changed. Logs of the koppel processes stay
in a temporary directory whose path is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench import fakes as bench_fakes  # noqa: E402
from bench.tcp_proxy import TcpProxy  # noqa: E402
from bench.throughput import (AMQP_URL, REDIS_URL, FakesControl,  # noqa: E402
                              payments_due, production_services, say)
from sandbox.generator import generate  # noqa: E402
from web.bootstrap import bootstrap  # noqa: E402
from web.config import Config  # noqa: E402
from web.demo import ORDER_SCOPES, Expectation, demo_settings, free_port, mismatch  # noqa: E402
from web.webhooks import EVENTS  # noqa: E402

BROKERS = ("rabbitmq", "redis", "embedded")


@dataclass(frozen=True)
class Plan:
    """How hostile a run is. Times are seconds from the start of the chaos phase."""

    chaos_seconds: float
    kill_every: float  # a worker process (embedded: nothing) gets SIGKILL this often
    fault_every: float  # a burst of ledger or shop faults is armed this often
    broker_cut: tuple[float, float]  # (at, for how long)
    database_cut: tuple[float, float]
    embedded_kills: tuple[float, ...]  # when the whole embedded process gets SIGKILL
    webhook_drop: float = 0.3
    # The ledger commits a late write this long after it arrived: long after koppel gave up
    # (its HTTP timeout is 15 s by default) and after the claim of the attempt ran out
    # (120 s by default), so a next attempt that does not wait for it books it twice.
    late_write_seconds: float = 150.0
    convergence_timeout: float = 1500.0
    # koppel settings changed from their defaults (environment variables), listed in the report
    settings: dict = field(default_factory=dict)


FULL = Plan(chaos_seconds=180, kill_every=3, fault_every=1.0, broker_cut=(25, 20),
            database_cut=(90, 10), embedded_kills=(45, 120))
# CI: a shorter run that still meets every kind of fault once or more. The claim lease, the
# settle window and the scheduler's intervals are shortened so that a killed worker's claim and
# a dropped webhook are picked up within the test's time, not in the minutes a shop can wait;
# a late write still lands after the claim ran out (where koppel without a settle window sent
# it again) and before the settle window ends.
SHORT = Plan(chaos_seconds=30, kill_every=8, fault_every=1.5, broker_cut=(6, 5),
             database_cut=(17, 4), embedded_kills=(8, 19), late_write_seconds=20.0,
             # After the chaos phase, the longest honest path of one order: its late write
             # settles (settle window 25 s), its intake held by a killed worker comes back
             # (Redis: the 60 s heartbeat timeout; a running marker: 0.75 x 15 + 15 s), the
             # dispatcher looks (once a minute), and the 60 orders' three shop calls each
             # wait for the shop's 120-a-minute limit (90 s): 25 + 60 + 60 + 90.
             convergence_timeout=235.0,
             settings={"KOPPEL_CLAIM_LEASE": "15", "KOPPEL_SETTLE_WINDOW": "25",
                       "KOPPEL_HTTP_TIMEOUT": "5",
                       "KOPPEL_SWEEP_INTERVAL": "15", "KOPPEL_REQUEUE_AGE": "10"})


# -- koppel's processes -----------------------------------------------------------------------

class KoppelProcess:
    """``python -m web.cli ARGS`` (the ``koppel`` command) in a process group of its own, its
    output in ``logs/NAME.log``."""

    def __init__(self, name: str, args: list[str], env: dict, logs: Path) -> None:
        self.name, self.args, self.env = name, args, env
        self.log_path = logs / f"{name}.log"
        self.starts = 0
        self.popen: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen([sys.executable, "-m", "web.cli", "-v", *self.args],
                                          env=self.env, cwd=ROOT, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True)
        self.starts += 1

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def children(self) -> list[int]:
        """Live child processes (``koppel worker --processes N`` runs one per process)."""
        pid = self.popen.pid
        try:
            text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        except OSError:
            return []
        live = []
        for child in text.split():
            try:
                state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state != "Z":
                live.append(int(child))
        return live

    def kill(self) -> None:
        """SIGKILL to the whole process group: no cleanup, no acknowledgement."""
        if self.alive():
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()

    def stop(self) -> None:
        if not self.alive():
            return
        os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()


def wait_for_http(url: str, process: KoppelProcess, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.alive():
            raise RuntimeError(f"{process.name} ended at start; see {process.log_path}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise RuntimeError(f"{process.name} did not answer on {url} within {timeout:.0f}s")


# -- one installation under test ----------------------------------------------------------------

class Installation:
    """koppel's processes for one broker, the proxies in front of its services, and a
    ``Runtime`` of the script's own (straight to the database, never through a proxy) that
    made the connection and reads the event store and read model."""

    def __init__(self, broker: str, database_url: str, broker_url: str, prefix: str,
                 fakes: bench_fakes.Fakes, plan: Plan, logs: Path) -> None:
        self.broker, self.plan, self.logs = broker, plan, logs
        self.port = free_port()
        self.public_url = f"http://127.0.0.1:{self.port}"
        self.proxies: dict[str, TcpProxy] = {}
        koppel_database, koppel_broker = database_url, ""
        if broker != "embedded":
            koppel_database = self._proxied("database", database_url)
            koppel_broker = self._proxied("broker", broker_url)
        secret_key = secrets.token_urlsafe(32)
        self.env = {**os.environ, **plan.settings,
                    "KOPPEL_DATABASE_URL": koppel_database, "KOPPEL_BROKER_URL": koppel_broker,
                    "KOPPEL_QUEUE_PREFIX": prefix, "KOPPEL_SECRET_KEY": secret_key,
                    "KOPPEL_PUBLIC_URL": self.public_url,
                    "KOPPEL_EBOEKHOUDEN_URL": fakes.ledger_url}
        self.reader = bootstrap(Config(database_url=database_url, secret_key=secret_key,
                                       public_url=self.public_url,
                                       eboekhouden_url=fakes.ledger_url, queue_prefix=prefix),
                                environ={})
        # The generator's orders are dated in the past: the connection books them all (a
        # new connection's start date would otherwise set them aside, as it should).
        self.connection, _ = self.reader.connections.save(
            demo_settings(fakes.shop_url), by="chaos",
            start_date=datetime(2020, 1, 1, tzinfo=timezone.utc))
        shop = self.reader.connections.shop(self.connection)
        for event in EVENTS:
            shop.register_webhook(event, self.reader.webhook_address(self.connection.id, event))
        self.processes: dict[str, KoppelProcess] = {}
        try:
            self.serve = self._start("serve", ["serve", "--port", str(self.port)])
            if broker != "embedded":
                self._start("worker", ["worker", "--processes", "2"])
                self._start("scheduler", ["scheduler"])
            wait_for_http(self.public_url + "/", self.serve)
        except BaseException:
            self.stop()
            raise

    def _proxied(self, name: str, url: str) -> str:
        """The same URL with a proxy of this run's own in place of the service's address."""
        parts = urlsplit(url)
        proxy = self.proxies[name] = TcpProxy((parts.hostname, parts.port))
        netloc = parts.netloc.replace(f"{parts.hostname}:{parts.port}",
                                      f"127.0.0.1:{proxy.port}")
        return urlunsplit(parts._replace(netloc=netloc))

    def _start(self, name: str, args: list[str]) -> KoppelProcess:
        self.processes[name] = KoppelProcess(name, args, self.env, self.logs)
        return self.processes[name]

    def kill_a_worker(self, rng: random.Random) -> int | None:
        children = self.processes["worker"].children()
        if not children:
            return None
        victim = rng.choice(children)
        os.kill(victim, signal.SIGKILL)
        return victim

    def kill_and_restart(self) -> None:
        """The embedded installation: SIGKILL the whole process, start it on the same data."""
        self.serve.kill()
        self.serve.start()
        wait_for_http(self.public_url + "/", self.serve)

    def rows(self) -> dict[str, dict]:
        rows = self.reader.store.query(
            "SELECT id, number, status, failure_code, payment_status FROM documents "
            "WHERE kind = 'order'")
        return {row["number"]: row for row in rows}

    def stop(self) -> None:
        for process in self.processes.values():
            process.stop()
        for proxy in self.proxies.values():
            proxy.close()
        try:
            self.reader.stop()
        except Exception as error:  # the run's figures matter more than a clean stop
            say(f"  the reader's Runtime.stop() failed: {type(error).__name__}: {error}")


@contextmanager
def services(broker: str):
    """(database URL, broker URL, queue prefix) made for one run, removed after it."""
    if broker == "embedded":
        directory = tempfile.mkdtemp(prefix="koppel-chaos-")
        try:
            yield f"sqlite:///{directory}/koppel.sqlite", "", "chaos"
        finally:
            shutil.rmtree(directory, ignore_errors=True)
    else:
        with production_services(broker) as (database_url, prefix):
            yield database_url, AMQP_URL if broker == "rabbitmq" else REDIS_URL, prefix


# -- faults -------------------------------------------------------------------------------------

# A sale and a payment share POST /v1/mutation; the fault tells them apart by the body.
SALE, PAYMENT = r'"type":\s*"?2\b', r'"type":\s*"?3\b'


def fault_kinds(plan: Plan) -> dict[str, tuple[str, object]]:
    """Kind -> (the fake it is armed on, rng -> the fault's spec for the control API)."""
    late = plan.late_write_seconds
    return {
        "ledger 500 after commit": ("ledger", lambda r: {
            "mode": "after_commit", "method": "POST", "path": "/v1/(mutation|relation)",
            "count": r.randint(1, 3)}),
        # The ledger commits the write, and answers, long after koppel gave up.
        "ledger late sale": ("ledger", lambda r: {
            "mode": "late_commit", "method": "POST", "path": "/v1/mutation", "body": SALE,
            "commit_after": late, "answer_after": late, "count": r.randint(1, 2)}),
        "ledger late payment": ("ledger", lambda r: {
            "mode": "late_commit", "method": "POST", "path": "/v1/mutation", "body": PAYMENT,
            "commit_after": late, "answer_after": late, "count": r.randint(1, 2)}),
        "ledger late relation": ("ledger", lambda r: {
            "mode": "late_commit", "method": "POST", "path": "/v1/relation",
            "commit_after": late, "answer_after": late, "count": 1}),
        "ledger 429 burst": ("ledger", lambda r: {
            "mode": "rate_limit", "path": "/v1/.*", "count": r.randint(5, 15), "seconds": 1}),
        "ledger dropped connection": ("ledger", lambda r: {
            "mode": "drop", "path": "/v1/.*", "count": r.randint(1, 3)}),
        "shop 502": ("shop", lambda r: {
            "mode": "error", "method": "GET", "path": "/api/rest/v1/.*", "status": 502,
            "count": r.randint(2, 6)}),
    }


class Chaos:
    """The chaos phase: orders trickle in while faults are armed, workers killed and the
    services cut, each on its own clock."""

    def __init__(self, installation: Installation, control: FakesControl, plan: Plan,
                 rng: random.Random) -> None:
        self.kp, self.control, self.plan, self.rng = installation, control, plan, rng
        self.kinds = fault_kinds(plan)
        self.armed: dict[str, list[str]] = {"ledger": [], "shop": []}
        self._round: list[str] = []
        self.worker_kills = 0
        self.kills_without_victim = 0
        self.embedded_kills = 0
        self.cuts: dict[str, float] = {}  # seconds each service was cut, as measured
        self.expected: list[Expectation] = []

    def run(self, documents: list[dict]) -> None:
        plan = self.plan
        self.control.shop.put("/__sandbox/webhooks/drop",
                              json={"rate": plan.webhook_drop}).raise_for_status()
        put_for = plan.chaos_seconds * 0.6
        pace = put_for / max(1, len(documents))
        started = time.monotonic()
        todo = list(documents)
        next_kill = plan.kill_every
        next_fault = 0.0
        cuts = [(plan.broker_cut, "broker"), (plan.database_cut, "database")]
        restores: list[tuple[float, str, float]] = []  # (until, which, since)
        embedded_kills = list(plan.embedded_kills)
        last_report = 0.0
        while True:
            now = time.monotonic() - started
            if now >= plan.chaos_seconds and not todo and not restores:
                break
            while todo and now >= pace * (len(documents) - len(todo)):
                self._put(todo.pop(0))
            if now >= next_fault:
                self._arm_one()
                next_fault += plan.fault_every
            if self.kp.broker != "embedded":
                if now >= next_kill:
                    if self.kp.kill_a_worker(self.rng) is None:
                        self.kills_without_victim += 1
                    else:
                        self.worker_kills += 1
                    next_kill += plan.kill_every
                for (at, seconds), name in list(cuts):
                    if now >= at:
                        say(f"chaos: cutting the {name} for {seconds:.0f}s")
                        self.kp.proxies[name].cut()
                        cuts.remove(((at, seconds), name))
                        restores.append((now + seconds, name, now))
                for until, name, began in list(restores):
                    if now >= until:
                        self.kp.proxies[name].restore()
                        self.cuts[name] = round(now - began, 1)
                        restores.remove((until, name, began))
            elif embedded_kills and now >= embedded_kills[0]:
                embedded_kills.pop(0)
                say("chaos: SIGKILL to the whole embedded koppel process; starting it again")
                self.kp.kill_and_restart()
                self.embedded_kills += 1
            if now - last_report >= 10:
                say(f"chaos: {now:.0f}s, {len(self.expected)}/{len(documents)} orders put, "
                    f"{self.worker_kills} worker kills, "
                    f"{sum(len(v) for v in self.armed.values())} fault bursts armed")
                last_report = now
            time.sleep(0.05)

    def _put(self, document: dict) -> None:
        (number,) = self.control.put_orders([document]).values()
        expect = document["expect"]
        self.expected.append(Expectation(number, expect["outcome"], expect.get("check")))

    def _arm_one(self) -> None:
        if not self._round:  # every kind once a round, in a random order
            self._round = sorted(self.kinds)
            self.rng.shuffle(self._round)
        kind = self._round.pop()
        fake, spec = self.kinds[kind]
        client = self.control.ledger if fake == "ledger" else self.control.shop
        client.post("/__sandbox/faults", json=spec(self.rng)).raise_for_status()
        self.armed[fake].append(kind)

    def end(self) -> dict[str, dict[str, int]]:
        """Stop the faults; per kind, the bursts armed and the requests they failed."""
        out: dict[str, dict[str, int]] = {}
        for fake, client in (("ledger", self.control.ledger), ("shop", self.control.shop)):
            listed = client.get("/__sandbox/faults").json()
            client.delete("/__sandbox/faults").raise_for_status()
            for kind, fault in zip(self.armed[fake], listed):
                figures = out.setdefault(kind, {"bursts": 0, "fired": 0})
                figures["bursts"] += 1
                figures["fired"] += int(fault["fired"])
        self.control.shop.put("/__sandbox/webhooks/drop", json={"rate": 0}).raise_for_status()
        return out


# -- convergence and the counts -------------------------------------------------------------

# What a run must show none of: (key of Judge.look(), what it counts).
CHECKS = (
    ("in_none_of_report_errors_open", "orders in none of Report/Errors/Open"),
    ("outcome_differs", "orders ended other than the generator meant"),
    ("sales_duplicate", "orders booked twice or more"),
    ("sales_missing", "orders meant to be booked, not in the ledger"),
    ("sales_not_meant", "orders in the ledger not meant to be booked"),
    ("payments_duplicate", "orders paid twice or more"),
    ("payments_missing", "payments due, not in the ledger"),
    ("payments_not_booked_by_koppel", "payments due, not recorded as booked by koppel"),
    ("relations_duplicate", "e-mail addresses with two or more relations"),
)
# The ones that later work can still put right.
WAITED_FOR = ("in_none_of_report_errors_open", "outcome_differs", "sales_missing",
              "payments_missing", "payments_not_booked_by_koppel")

class Judge:
    """Where every order is, by koppel's read model and by the ledger's own records."""

    def __init__(self, installation: Installation, control: FakesControl,
                 expected: list[Expectation]) -> None:
        self.kp, self.control, self.expected = installation, control, expected
        self._due: dict[str, bool] = {}

    def payments_due(self, rows: dict[str, dict]) -> set[str]:
        unknown = [row for number, row in rows.items()
                   if row["status"] == "posted" and number not in self._due]
        due = payments_due(self.kp.reader, self.kp.connection.id, unknown)
        for row in unknown:
            self._due[row["number"]] = row["number"] in due
        return {number for number, owed in self._due.items() if owed}

    def look(self) -> dict:
        rows = self.kp.rows()
        differ = [p for e in self.expected if (p := mismatch(e, rows.get(e.number)))]
        due = self.payments_due(rows)
        unpaid = sorted(n for n in due if rows[n]["payment_status"] != "posted")
        mutations = self.control.mutations()
        sales = Counter(m["invoiceNumber"] for m in mutations if int(m["type"]) == 2)
        payments = Counter(m["invoiceNumber"] for m in mutations if int(m["type"]) == 3)
        meant_posted = {e.number for e in self.expected if e.outcome == "posted"}
        relations = self.control.ledger.get("/__sandbox/relations").json()
        per_email = Counter((r.get("emailAddress") or "").casefold() for r in relations
                            if r.get("emailAddress"))
        numbers = {e.number for e in self.expected}
        return {
            "orders": len(self.expected),
            "meant": dict(Counter(e.outcome for e in self.expected)),
            "read_model": dict(Counter(rows[n]["status"] for n in numbers if n in rows)),
            "in_none_of_report_errors_open": sorted(numbers - set(rows)),
            "outcome_differs": differ,
            "payments_due": len(due),
            "payments_not_booked_by_koppel": unpaid,
            "sales": sum(sales.values()),
            "sales_missing": sorted(meant_posted - set(sales)),
            "sales_duplicate": sorted(n for n, c in sales.items() if c > 1),
            "sales_not_meant": sorted(set(sales) - meant_posted),
            "payments": sum(payments.values()),
            "payments_missing": sorted(due - set(payments)),
            "payments_duplicate": sorted(n for n, c in payments.items() if c > 1),
            "relations": len(relations),
            "relations_duplicate": sorted(e for e, c in per_email.items() if c > 1),
        }

    @staticmethod
    def converged(seen: dict) -> bool:
        """Everything where it belongs; duplicates are counted, they cannot be waited away."""
        return not any(seen[key] for key in WAITED_FOR)

    def wait(self, timeout: float) -> tuple[dict, float | None]:
        started = time.monotonic()
        last_report = 0.0
        while True:
            seen = self.look()
            waited = time.monotonic() - started
            if self.converged(seen):
                return seen, waited
            if waited > timeout:
                return seen, None
            if waited - last_report >= 15:
                say(f"converging: {waited:.0f}s; read model {seen['read_model']}; "
                    f"{len(seen['outcome_differs'])} not yet as meant, "
                    f"{len(seen['payments_missing'])} payments not in the ledger")
                last_report = waited
            time.sleep(3)


def failures(seen: dict, converge_seconds: float | None) -> list[str]:
    """Every reason this run proves a hole; empty when it held."""
    out = [f"{len(seen[key])} {label}: {', '.join(map(str, seen[key][:8]))}"
           + (" ..." if len(seen[key]) > 8 else "") for key, label in CHECKS if seen[key]]
    if converge_seconds is None:
        out.append("did not converge before the timeout")
    return out


# -- the run ------------------------------------------------------------------------------------

def commit_of_tree() -> str:
    try:
        return subprocess.run(["git", "log", "-1", "--format=%h %s"], cwd=ROOT, text=True,
                              capture_output=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run(orders: int, broker: str, seed: int, plan: Plan, timeout: float | None = None,
        made: tuple[str, str, str] | None = None) -> dict:
    """One chaos run; its report. ``made``: (database URL, broker URL, queue prefix) the caller
    made and removes (the tests' fixtures); by default they are made here and removed."""
    rng = random.Random(seed)
    documents = generate(orders, seed, scopes=ORDER_SCOPES)
    logs = Path(tempfile.mkdtemp(prefix=f"koppel-chaos-{broker}-logs-"))
    report: dict = {"broker": broker, "orders": orders, "seed": seed, "commit": commit_of_tree(),
                    "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "plan": asdict(plan), "logs": str(logs)}
    say(f"{orders} orders (seed {seed}), broker {broker}; koppel's logs in {logs}")
    with open(logs / "fakes.log", "ab") as fakes_log:  # a dropped connection's traceback
        fakes = bench_fakes.subprocess_fakes(seed, cwd=str(ROOT), stderr=fakes_log)
    control = FakesControl(fakes)
    try:
        with (nullcontext(made) if made else services(broker)) as (database_url, broker_url,
                                                                     prefix):
            installation = Installation(broker, database_url, broker_url, prefix, fakes, plan,
                                        logs)
            try:
                chaos = Chaos(installation, control, plan, rng)
                began = time.monotonic()
                chaos.run(documents)
                report["chaos_seconds"] = round(time.monotonic() - began, 1)
                report["faults"] = chaos.end()
                report["worker_kills"] = chaos.worker_kills
                report["kills_without_a_live_worker"] = chaos.kills_without_victim
                report["embedded_kills"] = chaos.embedded_kills
                report["cuts"] = chaos.cuts
                report["webhook_deliveries"] = dict(control.deliveries())
                say(f"chaos over after {report['chaos_seconds']}s; waiting for convergence "
                    f"(no operator action)")
                judge = Judge(installation, control, chaos.expected)
                seen, seconds = judge.wait(timeout or plan.convergence_timeout)
                report["converge_seconds"] = None if seconds is None else round(seconds, 1)
                # A late write armed near the end lands after koppel looks done: count after
                # the last one can have landed, or a duplicate it makes goes unseen.
                landed = began + report["chaos_seconds"] + plan.late_write_seconds + 5
                if time.monotonic() < landed:
                    say(f"waiting {landed - time.monotonic():.0f}s more for late writes to land")
                    time.sleep(landed - time.monotonic())
                    seen = judge.look()
                report["seen"] = seen
                report["worker_processes_started"] = (
                    installation.processes["worker"].children() if broker != "embedded"
                    else None)
            finally:
                installation.stop()
    finally:
        control.close()
        fakes.stop()
    report["failures"] = failures(report["seen"], report["converge_seconds"])
    report["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return report


def render(report: dict, console: Console) -> None:
    seen = report["seen"]
    table = Table(title=f"chaos: {report['orders']} orders, broker {report['broker']}, seed "
                        f"{report['seed']} (commit {report['commit']})")
    table.add_column("what")
    table.add_column("figure", justify="right")
    table.add_column("ok", justify="center")

    def row(label: str, value, ok: bool | None = None) -> None:
        table.add_row(label, str(value), "" if ok is None else ("yes" if ok else "NO"))

    for kind, figures in sorted(report["faults"].items()):
        row(f"fault: {kind} (bursts / requests failed)",
            f"{figures['bursts']} / {figures['fired']}")
    deliveries = report["webhook_deliveries"]
    row("webhooks delivered / dropped / failed",
        f"{sum(v for k, v in deliveries.items() if k.isdigit() and k.startswith('2'))} / "
        f"{deliveries.get('dropped', 0)} / "
        f"{sum(v for k, v in deliveries.items() if not k.startswith('2') and k != 'dropped')}")
    if report["broker"] == "embedded":
        row("SIGKILLs of the whole process", report["embedded_kills"])
    else:
        row("worker SIGKILLs", report["worker_kills"])
        # koppel worker waits longer each time a process dies young: not a failure.
        row("kill turns that found no live worker", report["kills_without_a_live_worker"])
        for name, seconds in sorted(report["cuts"].items()):
            row(f"{name} cut (s)", seconds)
    row("chaos phase (s)", report["chaos_seconds"])
    row("time to converge after it (s)",
        report["converge_seconds"] if report["converge_seconds"] is not None else "not",
        report["converge_seconds"] is not None)
    row("read model", ", ".join(f"{k} {v}" for k, v in sorted(seen["read_model"].items())))
    row("sales / payments / relations in the ledger",
        f"{seen['sales']} / {seen['payments']} / {seen['relations']}")
    row("orders meant to be booked / payments due",
        f"{seen['meant'].get('posted', 0)} / {seen['payments_due']}")
    for key, label in CHECKS:
        row(label, len(seen[key]), not seen[key])
    console.print(table)
    if report["plan"]["settings"]:
        console.print("koppel settings changed from their defaults: " + ", ".join(
            f"{k}={v}" for k, v in report["plan"]["settings"].items()))
    for failure in report["failures"]:
        console.print(f"[bold red]FAILED[/]: {failure}")
    if not report["failures"]:
        console.print("[bold green]held[/]: no duplicate, nothing lost, converged without "
                      "operator action")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=600)
    parser.add_argument("--broker", choices=BROKERS, required=True)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--short", action="store_true",
                        help="the CI variant: fewer kills, shorter cuts and phase")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds to wait for convergence after the chaos phase")
    parser.add_argument("--json", type=Path, help="write the report as JSON to this file")
    args = parser.parse_args(argv)
    if not 1 <= args.orders <= 5000:
        parser.error("--orders must be 1..5000")
    report = run(args.orders, args.broker, args.seed, SHORT if args.short else FULL,
                 args.timeout)
    render(report, Console(width=110))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())

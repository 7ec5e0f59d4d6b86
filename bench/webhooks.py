"""Webhook intake of a real ``koppel serve`` process, as the shop meets it in production.

    .venv/bin/python bench/webhooks.py [--requests 2000] [--clients 16] [--rounds 3]
                                       [--root DIR] [--env KOPPEL_WEB_WORKERS=2 ...] [--json F]

A benchmark, not a test. It makes a throwaway PostgreSQL database and a RabbitMQ queue prefix,
imports the demo connection with ``koppel connections import`` (which prints the webhook
address), starts ``koppel serve`` on a free loopback port exactly as an operator would (no
workers: the endpoint writes the inbox row and hands the message to the broker), and POSTs
``--requests`` valid webhook bodies from ``--clients`` threads in a separate process
(``bench/load.py``: each thread has a client of its own, keeping its connection open when the
server allows it). It prints, per round, requests per second (202s only), p50/p95/p99/max
latency, every status or connection error (a reset counts as ``error ...``) and whether the
inbox holds exactly one row per 202; the load average of the machine is printed before and
after, because the machine may be shared.

``--root`` runs another checkout's koppel (its code first on ``PYTHONPATH``), so the same
script measures the server of an older commit: ``--root /path/to/main``.
Everything made is removed afterwards; every address is 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench import load  # noqa: E402
from bench.throughput import AMQP_URL, production_services, say  # noqa: E402
from web.demo import demo_settings_text, free_port  # noqa: E402

_ADDRESS = re.compile(r"webhook orders\.created: (\S+)")
# Never contacted: no worker runs, so nobody fetches the orders these webhooks name.
SHOP_ROOT = "http://127.0.0.1:9/shop"


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def koppel_env(root: Path, database_url: str, prefix: str, port: int, extra: dict) -> dict:
    return {**os.environ,
            "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
            "KOPPEL_DATABASE_URL": database_url, "KOPPEL_BROKER_URL": AMQP_URL,
            "KOPPEL_QUEUE_PREFIX": prefix, "KOPPEL_SECRET_KEY": secrets.token_urlsafe(32),
            "KOPPEL_PUBLIC_URL": f"http://127.0.0.1:{port}", **extra}


def import_connection(env: dict, workdir: Path) -> str:
    settings = workdir / "settings.toml"
    settings.write_text(demo_settings_text(SHOP_ROOT))
    done = subprocess.run([sys.executable, "-m", "web.cli", "connections", "import",
                           str(settings)], env=env, cwd=workdir, capture_output=True, text=True,
                          timeout=120)
    if done.returncode != 0:
        raise SystemExit(f"connections import failed: {done.stderr.strip()}")
    return _ADDRESS.search(done.stdout).group(1)


def start_server(env: dict, workdir: Path, port: int) -> subprocess.Popen:
    log = open(workdir / "serve.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "web.cli", "serve", "--port", str(port)],
                               env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"koppel serve ended: {(workdir / 'serve.log').read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit("koppel serve did not answer /healthz within 60 s")


def stop_server(process: subprocess.Popen) -> None:
    os.killpg(process.pid, 15)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        process.wait()


def process_tree(root: int) -> list[int]:
    """``root`` and its descendants (gunicorn's master and its workers)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    return sorted(tree)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time these processes used so far (what a shared machine's load does
    not change much, unlike the wall clock)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def database_backends(database_url: str) -> list[int]:
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(database_url) as connection:
        return [row[0] for row in connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [name])]


def inbox_rows(database_url: str) -> int:
    import psycopg

    with psycopg.connect(database_url) as connection:
        return connection.execute("SELECT COUNT(*) FROM webhook_inbox").fetchone()[0]


def body(shop_id: int) -> bytes:
    """A delivery of CCV's ``orders.created``, as the shop sends it."""
    return json.dumps({"id": shop_id,
                       "href": f"{SHOP_ROOT}/api/rest/v1/orders/{shop_id}"}).encode()


def one_round(url: str, first_id: int, args) -> dict:
    posts = [(url, body(first_id + i)) for i in range(args.requests)]
    job = {"posts": posts, "threads": args.clients, "deadline": 120.0, "request_timeout": 15}
    seconds, reports = load.run_children(load.webhook_child, [job], 240)
    statuses = Counter(reports[0]["statuses"])
    return {"seconds": round(seconds, 3),
            "requests_per_second": round(statuses.get("202", 0) / seconds, 1),
            "statuses": dict(statuses), "latency_ms": reports[0]["latency_ms"],
            "error": reports[0]["error"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="POSTs per round")
    parser.add_argument("--clients", type=int, default=16, help="client threads")
    parser.add_argument("--rounds", type=int, default=3, help="rounds on the same server")
    parser.add_argument("--warmup", type=int, default=100, help="POSTs before the rounds")
    parser.add_argument("--root", type=Path, default=ROOT, help="the koppel checkout to run")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for koppel serve (repeatable)")
    parser.add_argument("--json", type=Path, help="write the report here too")
    parser.add_argument("--event", default="orders.created",
                        help="the event in the address; an unknown one (400: the connection is "
                             "read, nothing written or sent) shows what the rest costs")
    args = parser.parse_args(argv)
    extra = dict(item.split("=", 1) for item in args.env)
    commit = subprocess.run(["git", "-C", str(args.root), "log", "-1", "--format=%h %s"],
                            capture_output=True, text=True).stdout.strip()
    report = {"root": str(args.root), "commit": commit, "env": extra,
              "requests": args.requests, "clients": args.clients, "cpus": os.cpu_count(),
              "load_before": load_average(), "rounds": []}
    say(f"koppel serve of {args.root} ({commit}); load average {report['load_before']}")
    with production_services() as (database_url, prefix), \
            tempfile.TemporaryDirectory(prefix="koppel-bench-") as tmp:
        workdir = Path(tmp)
        port = free_port()
        env = koppel_env(args.root.resolve(), database_url, prefix, port, extra)
        url = import_connection(env, workdir).replace("/orders.created", f"/{args.event}")
        server = start_server(env, workdir, port)
        try:
            with httpx.Client(timeout=30) as client:
                for shop_id in range(1, args.warmup + 1):
                    client.post(url, content=body(shop_id),
                                headers={"content-type": "application/json"})
            before = inbox_rows(database_url)
            for number in range(args.rounds):
                web = process_tree(server.pid)
                backends = database_backends(database_url)
                cpu = cpu_seconds(web), cpu_seconds(backends)
                result = one_round(url, args.warmup + 1 + number * args.requests, args)
                result["load_after"] = load_average()
                # Backends a pool opened during the round count from zero, which is right.
                backends = sorted(set(backends) | set(database_backends(database_url)))
                result["cpu_ms_per_request"] = {
                    "web": round((cpu_seconds(process_tree(server.pid)) - cpu[0])
                                 * 1000 / args.requests, 3),
                    "postgres": round((cpu_seconds(backends) - cpu[1]) * 1000 / args.requests,
                                      3)}
                report["rounds"].append(result)
                say(f"round {number + 1}: {result['requests_per_second']} req/s, latency ms "
                    f"{result['latency_ms']}, statuses {result['statuses']}, CPU ms/request "
                    f"{result['cpu_ms_per_request']}, load {result['load_after']}")
            accepted = sum(r["statuses"].get("202", 0) for r in report["rounds"])
            report["inbox_rows_per_202"] = f"{inbox_rows(database_url) - before} / {accepted}"
        finally:
            stop_server(server)
            report["server_log_tail"] = (workdir / "serve.log").read_text()[-2000:]
    best = max(report["rounds"], key=lambda r: r["requests_per_second"])
    say(f"best round: {best['requests_per_second']} req/s, p99 {best['latency_ms']['p99']} ms; "
        f"inbox rows / 202s: {report['inbox_rows_per_202']}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "server_log_tail"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

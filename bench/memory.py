"""Does a worker's memory grow with the orders? koppel's own processing path, in one process.

    .venv/bin/python bench/memory.py [--orders 4000] [--warmup 500] [--step 500]
                                     [--frames 0] [--broker amqp://...] [--sqlite]

A diagnostic, not a test. The workers' path as ``koppel worker`` runs it (the intake and
process actors, 4 threads, the payment of R8 booked in the same message) on a throwaway
PostgreSQL database, with the in-process broker unless ``--broker`` names RabbitMQ; the fakes
run in a process of their own (``bench/fakes.py``) and are reached over HTTP, so what grows
here is koppel's and its libraries'. No projector, scheduler or webhooks: the orders are put
into the shop fake silently and their intake is sent to the queue directly.

After ``--warmup`` orders and then every ``--step`` it prints the RSS, glibc's own account
(``mallinfo2``: bytes malloc hands out, free bytes it keeps inside its heaps) and the Python
blocks allocated; at the end the growth per 1,000 orders of each, the object types (``gc``)
that grew, and with ``--frames N`` (tracemalloc, N frames; slow: about 5 orders/s) the 20
allocation sites that grew most between the warm-up and the end.

RSS rising while Python's blocks and malloc's bytes in use stay flat is the allocator keeping
freed memory (fragmentation), not something koppel holds on to.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import fakes as bench_fakes  # noqa: E402
from bench import throughput  # noqa: E402


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def _mallinfo():
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
    except (OSError, AttributeError):  # not glibc 2.33+: RSS and Python's count only
        return None
    return libc.mallinfo2


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Point:
    """Memory as the process, glibc and Python see it, at some number of orders."""

    mallinfo = _mallinfo()

    def __init__(self, orders: int) -> None:
        gc.collect()
        self.orders = orders
        self.rss = rss_mb()
        info = self.mallinfo() if self.mallinfo else None
        self.malloc_used = (info.uordblks + info.hblkhd) / 2**20 if info else None
        self.malloc_free = info.fordblks / 2**20 if info else None
        self.python_blocks = sys.getallocatedblocks()

    def __str__(self) -> str:
        heap = (f"; malloc in use {self.malloc_used:.1f} MB, kept free {self.malloc_free:.1f} MB"
                if self.malloc_used is not None else "")
        return (f"{self.orders:6d} orders: RSS {self.rss:.1f} MB{heap}; "
                f"Python blocks {self.python_blocks}")


def type_counts() -> Counter:
    gc.collect()
    return Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=4000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--step", type=int, default=500)
    parser.add_argument("--frames", type=int, default=0, help="tracemalloc frames (0: off)")
    parser.add_argument("--broker", default="", help="amqp://... (default: in-process)")
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    if not 0 < args.warmup < args.orders <= throughput.MAX_ORDERS or args.step < 1:
        parser.error("need 0 < --warmup < --orders <= 20000 and --step >= 1")
    if args.frames:
        tracemalloc.start(args.frames)
    documents = throughput.paid_domestic(args.orders, args.seed)
    fakes = bench_fakes.subprocess_fakes(cwd=str(ROOT))
    control = throughput.FakesControl(fakes)
    try:
        control.reset()
        services = (contextlib.nullcontext((f"sqlite:///{tempfile.mkdtemp()}/koppel.sqlite",
                                            "kbmem")) if args.sqlite
                    else throughput.production_services())
        with services as (database_url, prefix):
            side = throughput.KoppelSide(fakes, database_url=database_url,
                                         broker_url=args.broker, prefix=prefix, threads=4)
            try:
                run(side, control, documents, args)
            finally:
                side.stop()
    finally:
        control.close()
        fakes.stop()
    return 0


def run(side, control, documents: list[dict], args) -> None:
    runtime = side.runtime
    runtime.start_workers(4)
    connection_id = str(side.connection.id)
    done = 0

    def orders_up_to(count: int) -> None:
        nonlocal done
        while done < count:
            batch = documents[done:min(count, done + 100)]
            for shop_id in control.put_orders(batch, notify=False):
                runtime.actors.intake.send(connection_id, "order", shop_id,
                                           "webhook:orders.created", None)
            for queue in runtime.actors.queues * 2:  # the intakes, then what they sent
                if args.broker:
                    runtime.broker.join(queue, min_successes=3, idle_time=200)
                else:
                    runtime.broker.join(queue, fail_fast=False)
            done += len(batch)

    started = time.monotonic()
    orders_up_to(args.warmup)
    before_types = type_counts()
    before_trace = tracemalloc.take_snapshot() if args.frames else None
    points = [Point(done)]
    print(points[-1], flush=True)
    for count in range(args.warmup + args.step, args.orders + args.step, args.step):
        orders_up_to(min(count, args.orders))
        points.append(Point(done))
        print(points[-1], flush=True)
    after_trace = tracemalloc.take_snapshot() if args.frames else None
    after_types = type_counts()
    runtime.projector.catch_up()
    states = Counter((r["status"], r["payment_status"]) for r in side.order_rows())
    print(f"{done} orders in {time.monotonic() - started:.0f} s; (sale, payment): "
          f"{dict(states)}")

    first, last = points[0], points[-1]
    per_1000 = 1000 / (last.orders - first.orders)
    print(f"growth per 1,000 orders after the warm-up: RSS {(last.rss - first.rss) * per_1000:.3f} MB"
          + (f", malloc in use {(last.malloc_used - first.malloc_used) * per_1000:.3f} MB, "
             f"kept free {(last.malloc_free - first.malloc_free) * per_1000:.3f} MB"
             if first.malloc_used is not None else "")
          + f", Python blocks {(last.python_blocks - first.python_blocks) * per_1000:.0f}")
    grown = Counter({k: after_types[k] - before_types[k] for k in after_types
                     if after_types[k] > before_types[k]})
    print("object types that grew (gc):", ", ".join(
        f"{name} +{n}" for name, n in grown.most_common(15)) or "none")
    if args.frames:
        ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
        stats = after_trace.filter_traces(ignore).compare_to(
            before_trace.filter_traces(ignore), "traceback")
        total = sum(s.size_diff for s in stats)
        print(f"traced Python memory: {total * per_1000 / 2**20:+.3f} MB per 1,000 orders; "
              "the sites that grew most:")
        for stat in stats[:20]:
            print(f"  {stat.size_diff / 1024:+8.1f} KiB {stat.count_diff:+6d} blocks")
            for line in stat.traceback.format()[-2 * min(args.frames, 4):]:
                print("      " + line)


if __name__ == "__main__":
    sys.exit(main())

"""CPU time and resident memory of processes, read from Linux's ``/proc`` (no psutil here).

The benchmark reports koppel's CPU milliseconds per order next to orders per second: on a
shared machine the wall clock depends on the neighbours, the CPU a process spent much less.
A worker process's RSS is sampled over a run to see whether memory grows with the orders.
"""

from __future__ import annotations

import bisect
import os
import threading
import time
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # the command name (field 2) is in parentheses and may hold spaces
    return text[text.rindex(")") + 2:].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads); 0 when it is gone."""
    fields = _stat(pid)
    if fields is None:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (fields 14, 15)


def rss_mb(pid: int) -> float:
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0.0
    return pages * _PAGE / 1e6


def group_members(pgid: int) -> list[int]:
    """The processes of a process group (a ``start_new_session`` child and what it started)."""
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields is not None and int(fields[2]) == pgid:  # pgrp is field 5
                members.append(int(entry))
    return sorted(members)


def worker_processes(pgid: int) -> list[int]:
    """The worker processes under ``koppel worker --processes N``: the group minus its
    supervisor (the group leader); with ``--processes 1`` the leader is the worker itself."""
    return [pid for pid in group_members(pgid) if pid != pgid] or [pgid]


class CpuClock:
    """CPU seconds spent by a set of processes between ``start`` and ``stop``. Processes are
    looked up again at ``stop`` (a worker replaced meanwhile counts from zero)."""

    def __init__(self, pids) -> None:
        self._pids = pids  # a callable giving the pids now
        self._start: dict[int, float] = {}
        self.seconds: float | None = None

    def start(self) -> None:
        self._start = {pid: cpu_seconds(pid) for pid in self._pids()}

    def stop(self) -> float:
        total = 0.0
        for pid in self._pids():
            total += cpu_seconds(pid) - self._start.get(pid, 0.0)
        self.seconds = total
        return total


class RssSampler:
    """Samples the RSS of ``pids()`` and a progress count every ``every`` seconds, in a
    thread: ``samples`` is a list of ``(seconds, progress, {pid: MB})``."""

    def __init__(self, pids, progress, every: float = 5.0) -> None:
        self._pids, self._progress, self.every = pids, progress, every
        self.samples: list[tuple[float, int, dict[int, float]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._began = 0.0

    def start(self) -> None:
        self._began = time.monotonic()
        self._thread.start()

    def _run(self) -> None:
        while True:
            self.sample()
            if self._stop.wait(self.every):
                return

    def sample(self) -> None:
        try:
            progress = int(self._progress())
        except Exception:  # the database is busy or gone: keep the last count
            progress = self.samples[-1][1] if self.samples else 0
        self.samples.append((round(time.monotonic() - self._began, 1), progress,
                             {pid: round(rss_mb(pid), 1) for pid in self._pids()}))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.sample()

    def report(self) -> dict:
        """Per process: first, last and highest MB, and the slope of a least-squares line
        through (orders done, MB) in MB per 1,000 orders, over the samples after the first
        tenth of the orders (start-up and first-use caches are not growth)."""
        out = {}
        pids = sorted({pid for _, _, by_pid in self.samples for pid in by_pid})
        total = max((p for _, p, _ in self.samples), default=0)
        for pid in pids:
            points = [(p, by_pid[pid]) for _, p, by_pid in self.samples
                      if by_pid.get(pid)]
            if not points:
                continue
            later = [(p, mb) for p, mb in points if p >= total / 10] or points
            out[str(pid)] = {"first_mb": points[0][1], "last_mb": points[-1][1],
                             "max_mb": max(mb for _, mb in points),
                             "at_10pct_mb": later[0][1],
                             "mb_per_1000_orders": _slope(later)}
        return {"processes": out, "samples": [
            {"s": s, "orders": p, "mb": {str(k): v for k, v in by_pid.items()}}
            for s, p, by_pid in self.samples]}


def _slope(points: list[tuple[int, float]]) -> float | None:
    if len(points) < 3:
        return None
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var = sum((x - mean_x) ** 2 for x, _ in points)
    if var == 0:
        return None
    cov = sum((x - mean_x) * (y - mean_y) for x, y in points)
    return round(cov / var * 1000, 3)


class LagSampler:
    """How far the read models trail the event log, in seconds, sampled every ``every``
    seconds in a thread (issue 12: "a projected read model's lag behind the log").

    Each sample reads the log's end (the newest notification id) and the projector's
    position. Caught up, the lag is 0; otherwise it is the time since the log first held an
    event the read models do not have yet. That moment is known only to a sampling interval:
    the event arrived after the last sample that did not see it, so the lag is taken from
    that earlier sample, an upper bound at most ``every`` too high, never too low."""

    def __init__(self, end, position, every: float = 0.1) -> None:
        self._end, self._position, self.every = end, position, every
        self._times: list[float] = []  # every sample's time ...
        self._ends: list[int] = []  # ... and the log's end it saw (it never falls)
        self.lags: list[float] = []
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lag-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.sample()
            except Exception:  # the database is busy or gone: this sample is skipped
                self.errors += 1

    def sample(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        position = int(self._position())
        end = int(self._end() or 0)  # after the position: the end can only be later
        self._times.append(now)
        self._ends.append(max(end, self._ends[-1] if self._ends else 0))
        lag = 0.0
        if position < end:
            # The first sample whose end was past the position saw the oldest missing event;
            # it arrived after the sample before that one.
            first = bisect.bisect_right(self._ends, position)
            lag = now - self._times[max(first - 1, 0)]
        self.lags.append(lag)
        return lag

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def report(self) -> dict:
        ordered = sorted(self.lags)

        def quantile(q: float) -> float | None:
            if not ordered:
                return None
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

        return {"samples": len(ordered), "every_s": self.every, "p50_s": quantile(0.5),
                "p99_s": quantile(0.99), "max_s": round(ordered[-1], 3) if ordered else None,
                "behind_share": round(sum(1 for x in ordered if x > 0) / len(ordered), 3)
                if ordered else None, "errors": self.errors}

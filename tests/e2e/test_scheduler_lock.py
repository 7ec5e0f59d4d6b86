"""Exactly one scheduler (I2's jobs), also across a database blip.

Two real ``koppel scheduler`` processes on PostgreSQL; the first reaches the database through a
TCP proxy the test cuts (the machine's PostgreSQL is never touched). Job runs are read from each
process's own log.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from bench.tcp_proxy import TcpProxy
from tests.waiting import until

pytestmark = pytest.mark.slow

JOB_RUN = re.compile(r"scheduler: sweep(:| failed)")


class Scheduler:
    def __init__(self, database_url: str, log: Path) -> None:
        self.log = log
        env = {**os.environ, "KOPPEL_DATABASE_URL": database_url, "KOPPEL_SECRET_KEY": "k",
               "KOPPEL_BROKER_URL": "", "KOPPEL_SWEEP_INTERVAL": "0.5"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "web.cli", "-v", "scheduler"], env=env, cwd=log.parent,
            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)

    def text(self, since: int = 0) -> str:
        return self.log.read_text()[since:]

    def mark(self) -> int:
        return len(self.log.read_text())

    def job_runs(self, since: int = 0) -> int:
        return len(JOB_RUN.findall(self.text(since)))

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def test_a_scheduler_whose_connection_is_cut_stops_its_jobs_while_another_holds_the_lock(
        postgres_url, tmp_path):
    parsed = urlparse(postgres_url)
    with TcpProxy((parsed.hostname, parsed.port)) as proxy:
        via_proxy = postgres_url.replace(f":{parsed.port}/", f":{proxy.port}/")
        first = Scheduler(via_proxy, tmp_path / "first.log")
        second = None
        try:
            until(lambda: first.job_runs() >= 2, what="the first scheduler runs its jobs")
            refused = subprocess.run(
                [sys.executable, "-m", "web.cli", "scheduler"], cwd=tmp_path, timeout=60,
                capture_output=True, text=True,
                env={**os.environ, "KOPPEL_DATABASE_URL": postgres_url,
                     "KOPPEL_SECRET_KEY": "k", "KOPPEL_BROKER_URL": ""})
            assert refused.returncode == 1 and "another koppel scheduler" in refused.stderr

            proxy.cut()  # the first scheduler's database connection drops for 3 s
            time.sleep(3)
            second = Scheduler(postgres_url, tmp_path / "second.log")
            until(lambda: "running" in second.text(), what="the second scheduler starts")
            proxy.restore()
            until(lambda: second.job_runs() >= 1, what="the second scheduler runs its jobs")

            quiet_from = first.mark()  # a job already under way when the cut came has ended
            time.sleep(6)
            assert second.job_runs() >= 4
            assert first.job_runs(quiet_from) == 0, first.text(quiet_from)
            assert "lost the one-scheduler lock" in first.text()

            resumed_from = first.mark()
            second.stop()  # the lock is free again: the first takes it back and resumes
            until(lambda: "holds the one-scheduler lock again" in first.text(resumed_from)
                   and first.job_runs(resumed_from) >= 1,
                   what="the first scheduler resumes",
                  detail=lambda: first.text()[-3000:])
            assert first.process.poll() is None
        finally:
            first.stop()
            if second is not None:
                second.stop()

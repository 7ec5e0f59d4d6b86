"""koppel's commands as real processes (``python -m web.cli ...``), as an operator runs them."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.harness import Harness


def koppel_env(h: Harness, **extra: str) -> dict[str, str]:
    """The environment of the harness's installation (same database, broker, key)."""
    return {**os.environ,
            "KOPPEL_DATABASE_URL": h.config.database_url,
            "KOPPEL_BROKER_URL": h.config.broker_url,
            "KOPPEL_QUEUE_PREFIX": h.config.queue_prefix,
            "KOPPEL_SECRET_KEY": h.config.secret_key,
            "KOPPEL_EBOEKHOUDEN_URL": h.ledger_url,
            "KOPPEL_CLAIM_LEASE": str(h.config.claim_lease),
            "KOPPEL_SETTLE_WINDOW": str(h.config.settle_window),
            "KOPPEL_HTTP_TIMEOUT": "10",
            "KOPPEL_WORKER_THREADS": "2", **extra}


def start_worker(h: Harness, processes: int = 1) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "web.cli", "worker", "--processes",
                             str(processes)], env=koppel_env(h), start_new_session=True)


class Served:
    """``koppel serve --port 0`` in a process group of its own; its output goes to ``log``."""

    def __init__(self, env: dict[str, str], workdir: Path, timeout: float = 60) -> None:
        self.log = workdir / "serve.log"
        with open(self.log, "w") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "web.cli", "serve", "--port", "0"], env=env,
                cwd=workdir, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        self.url = None
        while time.monotonic() < deadline and self.process.poll() is None:
            found = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", self.output())
            if found:
                self.url = found.group(1)
                try:
                    if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
            time.sleep(0.2)
        stop(self.process)
        raise AssertionError(f"koppel serve did not come up:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text()

    def stop(self) -> None:
        stop(self.process)


def stop(process: subprocess.Popen, sig=signal.SIGTERM) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

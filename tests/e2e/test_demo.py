"""``koppel demo --exit``, run as a person runs it: a process of its own in a fresh folder."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import Counter

import pytest


@pytest.mark.slow
@pytest.mark.parametrize("ledger", ["eboekhouden", "billit"])
def test_the_headless_demo_settles_every_order_as_the_generator_meant(tmp_path, ledger):
    result = subprocess.run(
        [sys.executable, "-m", "web.cli", "demo", "--orders", "80", "--exit",
         "--ledger", ledger, "--timeout", "180"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={"PATH": os.environ["PATH"]})  # none of the caller's KOPPEL_ settings
    assert result.returncode == 0, result.stdout + result.stderr
    summary = re.search(r"posted (\d+) / failed (\d+) / open (\d+) / ([\d.]+) seconds "
                        r"for (\d+) orders", result.stdout)
    assert summary, result.stdout
    posted, failed, still_open, _, total = (float(x) for x in summary.groups())
    assert total == 80 and posted + failed + still_open == 80
    assert posted > 50 and failed > 0  # some orders are made to fail a check, on purpose
    assert "UNEXPECTED" not in result.stdout
    assert (tmp_path / "var" / "demo.sqlite").exists()


@pytest.mark.slow
def test_after_the_demo_the_support_commands_read_the_demos_database(tmp_path):
    env = {"PATH": os.environ["PATH"]}  # as a person types them: no KOPPEL_ settings
    demo = subprocess.run(
        [sys.executable, "-m", "web.cli", "demo", "--orders", "10", "--exit", "--timeout", "120"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    audit = subprocess.run([sys.executable, "-m", "web.cli", "audit", "1005"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=120, env=env)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "1005" in audit.stdout and "Received" in audit.stdout
    assert "demo.sqlite" in audit.stderr  # it says which database it read

    from web.config import from_environment
    config = from_environment({}, var_dir=tmp_path / "var")
    # reprocess would talk to the demo's sandbox ledger, never to the real e-Boekhouden
    assert config.demo and config.eboekhouden_url.startswith("http://127.0.0.1:")
    assert config.billit_url.startswith("http://127.0.0.1:")
    (tmp_path / "var" / "koppel.sqlite").touch()  # a real installation in this folder wins
    assert from_environment({}, var_dir=tmp_path / "var").eboekhouden_url == \
        "https://api.e-boekhouden.nl"


def test_the_demo_never_reuses_an_order_number_across_batches(tmp_path, monkeypatch):
    """The trickle generates a new batch every 50 orders; the same generated batch put in
    twice (the worst case) still gets numbers of its own and books without NUMBER_TAKEN."""
    from sandbox.generator import generate
    from web.demo import ORDER_SCOPES, Demo, free_port

    monkeypatch.chdir(tmp_path)
    demo = Demo(free_port(), seed=3)
    try:
        batch = [d for d in generate(12, 3, failing_share=0, unpaid_share=0,
                                     scopes=ORDER_SCOPES)]
        expected = demo.put_orders(batch) + demo.put_orders(batch)
        numbers = [e.number for e in expected]
        assert numbers == [str(n) for n in range(1001, 1025)]
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            states = demo.states()
            if all(states.get(n, {}).get("status") in ("posted", "failed") for n in numbers):
                break
            time.sleep(0.3)
        codes = Counter(states[n]["failure_code"] for n in numbers)
        assert codes[None] == 24 and "NUMBER_TAKEN" not in codes, codes
        # the shop's past is there, and not booked (before the connection's start date)
        assert len(demo.history) == 20 and not set(states) & {e.number for e in demo.history}
    finally:
        demo.stop()


def test_the_demo_installs_koppel_in_a_second_shop_from_its_app_store(tmp_path, monkeypatch):
    import httpx

    from web.demo import Demo, free_port

    monkeypatch.chdir(tmp_path)
    port = free_port()
    demo = Demo(port, seed=4)
    try:
        store = demo.open_app_store(port)
        with httpx.Client(timeout=30, follow_redirects=True) as browser:
            assert "koppel is not installed" in browser.get(store).text
            form = browser.post(store.replace("/appstore", "/appstore/install"))
            assert form.url.path == "/ccv/account"  # koppel asks for the owner's account
            token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
            landed = browser.post(form.url, data={"email": "shop@example.test",
                                                  "password": "a-long-password",
                                                  "csrf_token": token})
            assert landed.status_code == 200 and landed.url.path.startswith("/connections/")
            back = re.search(r'id="back-to-shop" href="([^"]+)"', landed.text).group(1)
            assert "koppel is installed" in browser.get(back).text
        connection = demo.runtime.app.connection_named("127.0.0.1")
        assert connection is not None and connection.paused == "ledger not connected yet"
        hooks = demo.runtime.connections.shop(
            demo.runtime.connections.get(connection.id)).list_webhooks()
        assert len(hooks) == 4
    finally:
        demo.stop()

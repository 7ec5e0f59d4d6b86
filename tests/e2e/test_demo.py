"""``koppel demo --exit``, run as a person runs it: a process of its own in a fresh folder."""

from __future__ import annotations

import os
import re
import subprocess
import sys

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

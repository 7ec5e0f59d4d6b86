"""An embedded installation keeps its queue in its process's memory: when the process is
killed, the intakes it had queued are gone with it. The next start must send them again at
once, not leave the documents to wait for their intake markers to run out (issue 7: the short
chaos run found orders whose webhook came just before a SIGKILL still missing minutes later;
I2)."""

from __future__ import annotations

import time
from datetime import timedelta
from uuid import uuid4

from web.bootstrap import bootstrap
from web.config import Config
from workers.intake_markers import Intake
from workers.scheduler import Intervals


def _intakes_queued(runtime) -> int:
    return runtime.broker.queues[runtime.actors.intake.queue_name].qsize()


def test_a_restarted_embedded_installation_sends_the_intakes_its_predecessor_lost(sqlite_url):
    config = Config(database_url=sqlite_url, secret_key="k" * 43)
    lost = Intake(str(uuid4()), "order", 410000001)
    before = bootstrap(config, environ={})
    # A webhook came: its intake is queued, in this process's memory only...
    assert before.actors.markers.request(lost) is True
    before.actors.intake.send(lost.connection_id, lost.kind, lost.shop_id, "webhook")
    assert _intakes_queued(before) == 1
    before.stop()  # ...and the process ends before a worker took it.

    after = bootstrap(config, environ={})
    try:
        assert _intakes_queued(after) == 0
        after.start_background(projector=False, schedule=Intervals(sweep=timedelta(hours=1)))
        deadline = time.monotonic() + 10
        while _intakes_queued(after) == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _intakes_queued(after) == 1  # the dispatcher sent it again, once
        assert after.actors.markers.request(lost) is False  # and that send covers it
    finally:
        after.stop()

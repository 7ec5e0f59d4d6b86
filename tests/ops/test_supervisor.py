"""The supervisor's restart policy (processes stand in for real ones only here; the real
process tree is tested in tests/e2e/test_worker_processes.py)."""

from workers.supervisor import Backoff, Supervisor


class _Process:
    made = 0

    def __init__(self, _command):
        _Process.made += 1
        self.pid = 1000 + _Process.made
        self.code = None

    def poll(self):
        return self.code


def test_waits_double_up_to_the_longest():
    backoff = Backoff(first=1, longest=10)
    assert [backoff.delay(n) for n in range(6)] == [0, 1, 2, 4, 8, 10]


def test_a_process_that_stayed_up_is_replaced_at_once_and_the_wait_starts_over():
    supervisor = Supervisor(["w"], 1, Backoff(first=1, longest=60, healthy_after=30),
                            spawn=_Process)
    slot = supervisor.slots[0]
    supervisor.step(0)
    for now in (1, 3):  # dies young twice: waits 1 s, then 2 s
        slot.process.code = 1
        supervisor.step(now)
        assert slot.process is None
        supervisor.step(slot.start_at)
    assert slot.early_deaths == 2
    slot.process.code = -9  # killed after a long, healthy life
    supervisor.step(slot.started + 100)
    assert slot.early_deaths == 0 and slot.start_at == slot.started + 100
    supervisor.step(slot.start_at)
    assert slot.process is not None and slot.process.code is None

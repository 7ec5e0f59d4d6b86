"""The benchmark's lag of the read models behind the log (bench/procstat.LagSampler): an upper
bound that is never below the true lag and at most one sampling interval above it."""

from bench.procstat import LagSampler


class Log:
    def __init__(self) -> None:
        self.end, self.position = 0, 0


def test_caught_up_is_no_lag_and_behind_counts_from_the_sample_before_the_event():
    log = Log()
    sampler = LagSampler(lambda: log.end, lambda: log.position, every=0.1)
    assert sampler.sample(now=0.0) == 0.0
    log.end = 5  # events 1..5 arrive between t=0.0 and t=0.1
    assert sampler.sample(now=0.1) == 0.1
    assert sampler.sample(now=0.2) == 0.2  # still none applied
    log.position, log.end = 5, 8  # 1..5 applied; 6..8 arrive after t=0.2
    assert round(sampler.sample(now=0.3), 3) == 0.1
    log.position = 8
    assert sampler.sample(now=0.4) == 0.0


def test_the_oldest_missing_event_sets_the_lag_not_the_newest():
    log = Log()
    sampler = LagSampler(lambda: log.end, lambda: log.position)
    sampler.sample(now=0.0)
    log.end = 3
    sampler.sample(now=1.0)
    log.end = 9  # more arrive; the projector applied the first three only
    log.position = 3
    sampler.sample(now=2.0)
    # Event 4 was first seen at t=2.0, so it arrived after t=1.0: at t=2.5 it waited <= 1.5 s.
    assert sampler.sample(now=2.5) == 1.5


def test_the_report_gives_quantiles_of_the_samples():
    log = Log()
    sampler = LagSampler(lambda: log.end, lambda: log.position)
    for t in range(100):
        if t == 50:
            log.end = 1  # one event, arrived after the sample at t=49, applied after t=50
        elif t == 51:
            log.position = 1
        sampler.sample(now=float(t))
    report = sampler.report()
    assert report["samples"] == 100 and report["p50_s"] == 0.0
    assert report["max_s"] == 1.0 and report["behind_share"] == 0.01

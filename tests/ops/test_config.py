"""Settings from the environment: the schedule's sweep and re-queue age, the pools' size."""

from datetime import timedelta

import pytest

from web.bootstrap import bootstrap
from web.config import ConfigError, from_environment, persistence_env


def _config(tmp_path, **environ):
    return from_environment({"KOPPEL_SECRET_KEY": "k", **environ}, var_dir=tmp_path)


def test_the_sweep_interval_and_requeue_age_are_read_and_used(tmp_path, sqlite_url):
    config = _config(tmp_path, KOPPEL_SWEEP_INTERVAL="90", KOPPEL_REQUEUE_AGE="45.5",
                     KOPPEL_DATABASE_URL=sqlite_url)
    assert (config.sweep_interval, config.requeue_age) == (90.0, 45.5)
    runtime = bootstrap(config, environ={})
    try:
        assert runtime.intervals().sweep == timedelta(seconds=90)
        assert runtime.dispatcher.stale_after == timedelta(seconds=45.5)
        sweep = [job for job in runtime.scheduler().jobs if job.name == "sweep"]
        assert sweep[0].every == timedelta(seconds=90)
    finally:
        runtime.stop()


def test_the_defaults_are_ten_minutes_and_two(tmp_path):
    config = _config(tmp_path)
    assert (config.sweep_interval, config.requeue_age) == (600.0, 120.0)


def test_the_digest_hour_is_read_checked_and_given_to_the_scheduler(tmp_path, sqlite_url):
    config = _config(tmp_path, KOPPEL_DIGEST_HOUR="18", KOPPEL_DATABASE_URL=sqlite_url)
    assert config.digest_hour == 18
    assert _config(tmp_path).digest_hour == 7
    runtime = bootstrap(config, environ={})
    try:
        assert runtime.intervals().digest_hour == 18
    finally:
        runtime.stop()
    for wrong in ("24", "-1", "seven"):
        with pytest.raises(ConfigError, match="KOPPEL_DIGEST_HOUR"):
            _config(tmp_path, KOPPEL_DIGEST_HOUR=wrong)


@pytest.mark.parametrize("name", ["KOPPEL_SWEEP_INTERVAL", "KOPPEL_REQUEUE_AGE",
                                  "KOPPEL_CLAIM_LEASE", "KOPPEL_HTTP_TIMEOUT"])
@pytest.mark.parametrize("value", ["soon", "0", "-5", "nan", "inf"])
def test_a_setting_that_is_no_positive_number_is_refused_by_name(tmp_path, name, value):
    with pytest.raises(ConfigError, match=f"{name} must be a positive number, got '{value}'"):
        _config(tmp_path, **{name: value})


def test_the_event_store_pool_holds_one_and_grows_to_the_process_threads():
    env = persistence_env("postgresql://u@h/db", pool_size=3)
    assert (env["POSTGRES_POOL_SIZE"], env["POSTGRES_MAX_OVERFLOW"]) == ("1", "2")


def test_a_process_sizes_its_pools_by_its_threads(tmp_path):
    assert _config(tmp_path, KOPPEL_WORKER_THREADS="3").pool_size == 5  # embedded: +2
    assert _config(tmp_path).with_(database_threads=2).pool_size == 2

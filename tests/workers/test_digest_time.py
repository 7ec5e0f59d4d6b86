"""The digest's hour is the merchants' own clock, across summer time (workers.notifications)."""

from datetime import datetime, timezone

from workers.notifications import latest_digest_time


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def test_seven_in_the_morning_is_six_utc_in_winter_and_five_in_summer():
    assert latest_digest_time(utc(2026, 11, 30, 10, 0), 7) == utc(2026, 11, 30, 6, 0)
    assert latest_digest_time(utc(2026, 7, 1, 10, 0), 7) == utc(2026, 7, 1, 5, 0)


def test_before_the_hour_the_latest_is_yesterdays():
    assert latest_digest_time(utc(2026, 11, 30, 5, 59), 7) == utc(2026, 11, 29, 6, 0)
    assert latest_digest_time(utc(2026, 11, 30, 6, 0), 7) == utc(2026, 11, 30, 6, 0)


def test_the_nights_the_clocks_change():
    # 2026-03-29: 02:00 CET becomes 03:00 CEST; 2026-10-25: 03:00 CEST becomes 02:00 CET.
    assert latest_digest_time(utc(2026, 3, 29, 4, 0), 7) == utc(2026, 3, 28, 6, 0)
    assert latest_digest_time(utc(2026, 3, 29, 5, 30), 7) == utc(2026, 3, 29, 5, 0)
    assert latest_digest_time(utc(2026, 10, 25, 5, 30), 7) == utc(2026, 10, 24, 5, 0)
    assert latest_digest_time(utc(2026, 10, 25, 6, 0), 7) == utc(2026, 10, 25, 6, 0)

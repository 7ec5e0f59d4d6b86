"""The webhook inbox's retention rule: handled rows older than the configured age are deleted
by the scheduler; pending rows never, however old."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from web.config import ConfigError, from_environment
from workers.inbox import Inbox
from workers.scheduler import Intervals, build_scheduler, forget_handled_webhooks

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)


def _ago(days: float) -> str:
    return (NOW - timedelta(days=days)).isoformat()


def _ids(store) -> set[int]:
    return {int(r["id"]) for r in store.query("SELECT id FROM webhook_inbox")}


def test_handled_rows_older_than_the_age_go_and_pending_rows_stay(store):
    inbox = Inbox(store)
    old_handled = inbox.add("c1", "order", 1, "orders.created", _ago(40))
    inbox.handled(old_handled, _ago(39))
    recent_handled = inbox.add("c1", "order", 2, "orders.created", _ago(40))
    inbox.handled(recent_handled, _ago(2))  # received long ago, handled lately: kept
    old_pending = inbox.add("c1", "order", 3, "orders.created", _ago(400))
    new_pending = inbox.add("c1", "order", 4, "orders.created", _ago(0))
    duplicates = [inbox.add("c2", "order", 5, "orders.updated", _ago(50)) for _ in range(7)]
    inbox.handled_up_to("c2", "order", 5, max(duplicates), _ago(45))

    deleted = forget_handled_webhooks(inbox, timedelta(days=30), now=NOW)

    assert deleted == 8
    assert _ids(store) == {recent_handled, old_pending, new_pending}
    assert inbox.count_pending() == 2
    assert [r["id"] for r in inbox.pending(_ago(-1))] == [old_pending, new_pending]
    assert forget_handled_webhooks(inbox, timedelta(days=30), now=NOW) == 0  # nothing twice


def test_deletes_in_batches_until_none_is_left(store):
    inbox = Inbox(store)
    for shop_id in range(23):
        inbox.handled(inbox.add("c1", "order", shop_id, "orders.created", _ago(90)), _ago(90))
    keep = inbox.add("c1", "order", 99, "orders.created", _ago(90))

    assert inbox.forget_handled(_ago(30), batch=5) == 23
    assert _ids(store) == {keep}


def test_the_scheduler_runs_the_rule_with_the_configured_age(store):
    inbox = Inbox(store)
    now = datetime.now(timezone.utc)
    gone = inbox.add("c1", "order", 1, "orders.created", (now - timedelta(days=9)).isoformat())
    inbox.handled(gone, (now - timedelta(days=8)).isoformat())
    kept = inbox.add("c1", "order", 2, "orders.created", (now - timedelta(days=9)).isoformat())
    inbox.handled(kept, (now - timedelta(days=6)).isoformat())
    pending = inbox.add("c1", "order", 3, "orders.created", (now - timedelta(days=9)).isoformat())

    # only the dispatcher's inbox is used by this job
    dispatcher = SimpleNamespace(inbox=inbox, run_once=lambda: None)
    scheduler = build_scheduler(store, actors=None, dispatcher=dispatcher, sweeper=None,
                                intervals=Intervals(keep_handled_webhooks=timedelta(days=7)))
    [job] = [j for j in scheduler.jobs if j.name == "inbox retention"]
    job.run()

    assert _ids(store) == {kept, pending}


def test_the_age_is_configured_in_days():
    assert from_environment({}).inbox_retention_days == 30
    assert from_environment({"KOPPEL_INBOX_RETENTION_DAYS": "7"}).inbox_retention_days == 7
    try:
        from_environment({"KOPPEL_INBOX_RETENTION_DAYS": "0"})
    except ConfigError as error:
        assert "KOPPEL_INBOX_RETENTION_DAYS" in str(error)
    else:
        raise AssertionError("a retention of 0 days would delete webhooks as they are handled")

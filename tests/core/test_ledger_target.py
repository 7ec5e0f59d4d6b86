"""The ledger target and its postings as pure domain objects (issue 13.3)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from uuid import uuid4

import pytest
from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError

from domain.document import DocumentError
from domain.ledger_target import (LedgerTarget, Purpose, ReplayState, TargetPosting,
                                  target_id, target_posting_id)

CONNECTION = uuid4()
NOW = datetime(2026, 5, 1, 12, tzinfo=timezone.utc)


def added(purpose: str = Purpose.SWITCH, documents: int = 3) -> LedgerTarget:
    return LedgerTarget.add(CONNECTION, "Second", purpose, {"ledger": {}}, NOW.isoformat(),
                            "merchant", [uuid4() for _ in range(documents)])


def test_ids_are_per_connection_and_name_and_per_target_and_document():
    doc = uuid4()
    assert added().id == target_id(CONNECTION, " second ")
    assert target_id(uuid4(), "Second") != target_id(CONNECTION, "Second")
    assert target_posting_id(target_id(CONNECTION, "A"), doc) != \
        target_posting_id(target_id(CONNECTION, "B"), doc)


def test_a_replay_advances_is_extended_finishes_and_a_switch_hands_over():
    target = added()
    with pytest.raises(ValueError):
        target.finish()  # not every document replayed yet
    target.advance(3)
    with pytest.raises(ValueError):
        target.advance(3)  # never back, never standing still
    new = uuid4()
    assert target.extend([new, target.document_ids[0]]) and target.remaining == [str(new)]
    assert not target.extend([new])
    target.advance(4)
    target.finish()
    assert target.takes(1) and target.takes(None)  # before the switch: everything
    target.switched("merchant", connection_version=5)
    assert target.state == ReplayState.SWITCHED
    assert target.takes(4) and not target.takes(5) and not target.takes(None)


def test_only_a_finished_switch_hands_over_and_a_copy_never():
    copy = added(Purpose.COPY, documents=0)
    copy.finish()
    with pytest.raises(ValueError):
        copy.switched("m", 2)
    running = added()
    with pytest.raises(ValueError):
        running.switched("m", 2)


def test_pause_resume_and_relist():
    target = added()
    assert target.pause("page") and not target.pause("page")
    assert target.resume("page") and not target.resume("page")
    with pytest.raises(ValueError):
        target.relist("m", [])  # only a finished one is listed anew
    target.advance(3)
    target.finish()
    target.relist("m", [uuid4()])
    assert (target.state, target.position, target.total, target.runs) == ("running", 0, 1, 2)


def test_ledger_tokens_are_sealed_before_they_are_recorded():
    with pytest.raises(ValueError):
        added().issue_ledger_tokens('{"access_token": "plain"}')


def posting() -> TargetPosting:
    return TargetPosting.check(uuid4(), uuid4(), "1001", {"lines": []}, 1, ok=True)


def test_a_posting_claims_before_it_sends_and_waits_out_the_settle_window():
    p = posting()
    with pytest.raises(DocumentError):
        p.start_posting("w1", {}, 30, NOW)  # no debtor yet
    p.resolve_debtor({"id": 7})
    assert p.start_posting("w1", {}, 30, NOW) == 1
    with pytest.raises(DocumentError):
        p.start_posting("w2", {}, 30, NOW + timedelta(seconds=10))  # a live claim
    p.interrupt_posting("timeout", outcome_unknown=True,
                        settle_until=NOW + timedelta(seconds=300))
    assert p.claim_free_at(NOW + timedelta(seconds=60)) == NOW + timedelta(seconds=300)
    assert p.start_posting("w2", {}, 30, NOW + timedelta(seconds=301)) == 2
    assert p.may_have_reached_ledger  # so it looks the document up first
    p.record_lookup({"id": 9})
    p.record_posted({"id": 9}, {"id": 9}, found_by_lookup=True)
    with pytest.raises(DocumentError):
        p.fail("ledger", "X", "R7.1", "nl", "en")  # a posted one never fails


def test_a_payment_claims_after_the_sale_and_waits_out_its_own_settle_window():
    """R8 into a target, with the payment's own claim (the sale's is done with)."""
    p = posting()
    p.resolve_debtor({"id": 7})
    with pytest.raises(DocumentError):
        p.start_payment("w1", {}, 30, NOW)  # the sale is not posted yet
    p.start_posting("w1", {}, 30, NOW)
    p.record_posted({"id": 9}, {"id": 9}, found_by_lookup=False)
    assert p.payment_status is None and not p.payment_may_have_reached_ledger
    assert p.start_payment("w1", {}, 30, NOW) == 1
    with pytest.raises(DocumentError):
        p.start_payment("w2", {}, 30, NOW + timedelta(seconds=10))  # a live claim
    p.interrupt_payment("timeout", outcome_unknown=True,
                        settle_until=NOW + timedelta(seconds=300))
    assert p.payment_status == "interrupted"
    assert p.payment_claim_free_at(NOW + timedelta(seconds=60)) == NOW + timedelta(seconds=300)
    with pytest.raises(DocumentError):
        p.start_payment("w2", {}, 30, NOW + timedelta(seconds=60))  # the write may still land
    assert p.start_payment("w2", {}, 30, NOW + timedelta(seconds=301)) == 2
    assert p.payment_may_have_reached_ledger  # so it looks the payment up first
    p.record_payment_lookup(None)
    p.fail_payment("PAYMENT_NO_OPEN_ITEM", "R8.2", "nl", "en")
    assert (p.status, p.payment_status) == ("posted", "failed")  # the sale stays posted
    assert p.payment_failure["code"] == "PAYMENT_NO_OPEN_ITEM"
    assert p.start_payment("w3", {}, 30, NOW + timedelta(seconds=400)) == 3  # tried again
    p.record_payment({"id": 11}, {"id": 11}, found_by_lookup=False)
    assert (p.payment_status, p.payment_reference, p.payment_failure) == (
        "posted", {"id": 11}, None)
    with pytest.raises(DocumentError):
        p.start_payment("w4", {}, 30, NOW + timedelta(seconds=500))  # never twice
    with pytest.raises(DocumentError):
        p.record_payment({"id": 12}, {}, found_by_lookup=False)  # without a claim


def test_a_postings_payment_events_are_stored_and_read_back():
    app = Application()
    p = posting()
    p.resolve_debtor({"id": 7})
    p.start_posting("w1", {}, 30, NOW)
    p.record_posted({"id": 9}, {"id": 9}, found_by_lookup=False)
    p.start_payment("w1", {"body": {"amount": "1.00"}}, 30, NOW)
    p.interrupt_payment("500", outcome_unknown=True, settle_until=NOW + timedelta(seconds=5))
    p.start_payment("w1", {}, 30, NOW + timedelta(seconds=6))
    p.record_payment_lookup({"id": 11})
    p.record_payment({"id": 11}, {"id": 11}, found_by_lookup=True)
    app.save(p)
    again = app.repository.get(p.id)
    assert (again.payment_status, again.payment_reference) == ("posted", {"id": 11})
    assert again.payment_claim.attempt == 2
    stored = [e.topic for e in app.recorder.select_events(p.id)]
    assert stored[-5:] == [f"koppel:TargetPosting.Payment{name}:v1" for name in (
        "Started", "Interrupted", "Started", "LookedUp", "Posted")]


def test_two_claims_on_the_same_version_conflict_in_the_store():
    app = Application()
    p = posting()
    p.resolve_debtor({"id": 7})
    app.save(p)
    first, second = app.repository.get(p.id), app.repository.get(p.id)
    first.start_posting("w1", {}, 30, NOW)
    second.start_posting("w2", {}, 30, NOW)
    app.save(first)
    with pytest.raises(IntegrityError):
        app.save(second)


def test_event_topics_are_explicit_and_unique():
    topics = [cls.TOPIC for aggregate in (LedgerTarget, TargetPosting)
              for name, cls in vars(aggregate).items()
              if isinstance(cls, type) and hasattr(cls, "TOPIC") and name != "Created"]
    assert len(topics) == len(set(topics)) >= 15
    assert all(t.startswith(("koppel:LedgerTarget.", "koppel:TargetPosting."))
               and t.endswith(":v1") for t in topics)

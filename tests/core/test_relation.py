"""The relation claim: one customer's relation per connection, created by one worker (R6)."""

from datetime import datetime, timedelta, timezone
from uuid import uuid4

import pytest
from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError

from domain.debtor import relation_key
from domain.relation import Relation

CONN = uuid4()


def test_the_key_is_the_email_as_r6_2_matches_it_else_the_document():
    assert relation_key(" Jan@Example.NL ", "d1") == relation_key("jan@example.nl", "d2")
    assert relation_key("", "d1") != relation_key("", "d2")
    assert Relation.create_id(CONN, relation_key("jan@example.nl", 1)) != Relation.create_id(
        uuid4(), relation_key("jan@example.nl", 1))


def test_a_claim_keeps_others_out_until_its_lease_ends_and_a_record_gives_it_back():
    claim = Relation.open(CONN, "email:jan@example.nl")
    claim.take("w1", 30, datetime.now(timezone.utc), "JanJansen")
    now = claim.claim.claimed_at
    assert claim.busy_until(now + timedelta(seconds=29)) == now + timedelta(seconds=30)
    with pytest.raises(ValueError):
        claim.take("w2", 30, now + timedelta(seconds=1), "JanJansen")
    assert not claim.may_exist_unrecorded

    claim.take("w2", 30, now + timedelta(seconds=31), "JanJansen")  # w1 is gone
    assert claim.may_exist_unrecorded and claim.worker == "w2"
    claim.record({"id": 5, "code": "JanJansen", "extra": 1}, "found")
    assert claim.relation == {"id": 5, "code": "JanJansen"}
    assert claim.busy_until(now + timedelta(seconds=32)) is None


def test_two_first_claims_on_the_same_customer_conflict_in_the_store():
    app = Application()
    first = Relation.open(CONN, "email:jan@example.nl")
    second = Relation.open(CONN, "email:jan@example.nl")
    for claim in (first, second):
        claim.take("w", 30, datetime.now(timezone.utc), "JanJansen")
    app.save(first)
    with pytest.raises(IntegrityError):
        app.save(second)

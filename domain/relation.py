"""One customer's relation in one connection's ledger, and who may create it (R6.2-R6.4).

Two documents of the same customer (or one document on two workers) reach the debtor step at
once; both find no relation with the customer's e-mail and both would create one. This
aggregate is the lock that prevents it, made of the event store's optimistic concurrency: its
id is derived from (connection, e-mail), so the first save of a claim is the right to create
that relation, and a competing save conflicts. The others wait for the relation to show in
the ledger. A claim whose lease ran out (a worker that died between the ledger's create and
its answer) is taken over, and the new holder looks in the ledger first (I1's
look-up-before-send).

A customer without an e-mail cannot be matched (R6.2), so each of their documents gets a
relation of its own (R6.3); the claim is then per document, the code it is about to create
is recorded first, so a taker-over can look it up by code, and the relation made is recorded.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.document import Claim
from domain.ids import relation_id


class Relation(Aggregate):
    TOPIC = "koppel:Relation"

    class Opened(Aggregate.Created):
        """The first claim on this customer's relation was saved: nothing before it."""

        TOPIC = "koppel:Relation.Opened:v1"
        connection_id: UUID
        key: str  # domain.debtor.relation_key: "email:<address>" or "document:<id>"

    class Created(Aggregate.Created):
        """Never triggered (the library wants a ``Created`` class; ``Opened`` creates)."""

        TOPIC = "koppel:Relation.Created:unused"

    def __init__(self, connection_id: UUID, key: str) -> None:
        self.connection_id = connection_id
        self.key = key
        self.claim = Claim()
        self.worker: str | None = None
        self.code: str | None = None  # the code the claim's holder creates
        self.relation: dict | None = None  # {"id", "code"} once created or found

    @staticmethod
    def create_id(connection_id: UUID, key: str) -> UUID:
        return relation_id(connection_id, key)

    @classmethod
    def open(cls, connection_id: UUID, key: str) -> "Relation":
        return cls._create(cls.Opened, connection_id=connection_id, key=key)

    class Claimed(Aggregate.Event):
        """A worker may create the relation until ``lease_seconds`` have passed."""

        TOPIC = "koppel:Relation.Claimed:v1"
        attempt: int
        worker: str
        code: str | None
        lease_seconds: float

        def apply(self, relation: "Relation") -> None:
            relation.claim = relation.claim.taken(self)
            relation.worker = self.worker
            relation.code = self.code

    def busy_until(self, now: datetime) -> datetime | None:
        """The end of a live claim's lease, while it is ahead of ``now``: until then another
        worker may be creating the relation (or its request may still land in the ledger)."""
        if self.claim.claimed_at is None:
            return None
        end = self.claim.claimed_at + timedelta(seconds=self.claim.lease_seconds)
        return end if now < end else None

    def take(self, worker: str, lease_seconds: float, now: datetime,
             code: str | None = None) -> None:
        if self.busy_until(now):
            raise ValueError(f"the relation {self.key} is being created by {self.worker}")
        self.trigger_event(self.Claimed, attempt=self.claim.attempt + 1, worker=worker,
                           code=code, lease_seconds=lease_seconds)

    @property
    def may_exist_unrecorded(self) -> bool:
        """An earlier holder may have created the relation without recording it."""
        return self.claim.may_have_reached_ledger

    class CodeChosen(Aggregate.Event):
        """The holder's code was taken meanwhile (REL_049): it creates the next free one."""

        TOPIC = "koppel:Relation.CodeChosen:v1"
        code: str

        def apply(self, relation: "Relation") -> None:
            relation.code = self.code

    def choose_code(self, code: str) -> None:
        self.trigger_event(self.CodeChosen, code=code)

    class Recorded(Aggregate.Event):
        """The relation exists in the ledger (``how``: created, found); the claim ends."""

        TOPIC = "koppel:Relation.Recorded:v1"
        relation: dict
        how: str

        def apply(self, relation: "Relation") -> None:
            relation.relation = self.relation
            relation.claim = relation.claim.given_back()

    def record(self, relation: dict, how: str) -> None:
        self.trigger_event(self.Recorded, relation={"id": relation["id"],
                                                    "code": relation.get("code")}, how=how)

    class Released(Aggregate.Event):
        """The ledger refused the relation, or the holder knows nothing was sent: the claim
        ends without one, and the next document tries again."""

        TOPIC = "koppel:Relation.Released:v1"
        reason: str

        def apply(self, relation: "Relation") -> None:
            relation.claim = relation.claim.given_back()

    def release(self, reason: str) -> None:
        self.trigger_event(self.Released, reason=reason)

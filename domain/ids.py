"""Deterministic identities: the same shop document always lands on the same aggregate.

A second webhook for an order, a sweep that finds it again, or a worker that retries all derive
the same id, so the event store's optimistic concurrency is what keeps a document single.
"""

from __future__ import annotations

from uuid import UUID, uuid5

# A fixed namespace for koppel's uuid5 ids. Never change it: every stored id depends on it.
KOPPEL_NAMESPACE = UUID("6b6f7070-656c-4d00-8000-6b6f7070656c")

DOCUMENT_KINDS = ("order", "invoice")


def document_id(connection_id: UUID, kind: str, shop_id: int | str) -> UUID:
    if kind not in DOCUMENT_KINDS:
        raise ValueError(f"unknown document kind {kind!r}")
    return uuid5(KOPPEL_NAMESPACE, f"document:{connection_id}:{kind}:{shop_id}")


def connection_id(name: str) -> UUID:
    """A connection is named by the merchant; importing the same name again updates it."""
    return uuid5(KOPPEL_NAMESPACE, f"connection:{name.strip().casefold()}")


def relation_id(connection_id: UUID, key: str) -> UUID:
    """One customer's relation in one connection's ledger (``key``: see domain.debtor)."""
    return uuid5(KOPPEL_NAMESPACE, f"relation:{connection_id}:{key}")


def user_id(email: str) -> UUID:
    """A person is found by the e-mail address they sign in with."""
    return uuid5(KOPPEL_NAMESPACE, f"user:{email.strip().casefold()}")

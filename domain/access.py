"""Who may do what on which connection: the one answer every page, API and action asks.

merchant    their own connections: everything the dashboard offers
accountant  the connections a merchant shares with them: read, and export
support     every connection: read, audit, reprocess, settings (their reason is recorded)
admin       the accounts; no connection's documents
"""

from __future__ import annotations

from enum import StrEnum
from typing import AbstractSet, Iterable
from uuid import UUID

ROLES = ("merchant", "accountant", "support", "admin")


class Action(StrEnum):
    VIEW = "view"          # pages, lists, counts, a document and its history
    EXPORT = "export"      # the JSON lists (what an accountant downloads)
    MANAGE = "manage"      # reprocess, connect a ledger, settings
    ACCOUNTS = "accounts"  # people and their grants (no connection)


_BY_GRANT = {
    "merchant": {Action.VIEW, Action.EXPORT, Action.MANAGE},
    "accountant": {Action.VIEW, Action.EXPORT},
}
_ON_EVERY_CONNECTION = {"support": {Action.VIEW, Action.EXPORT, Action.MANAGE}}
_WITHOUT_CONNECTION = {"admin": {Action.ACCOUNTS}}


def may(role: str, granted: AbstractSet[UUID], action: Action,
        connection_id: UUID | None = None) -> bool:
    """May a person with ``role`` and these grants do ``action`` (on ``connection_id``)?"""
    if connection_id is None:
        return action in _WITHOUT_CONNECTION.get(role, set())
    if action in _ON_EVERY_CONNECTION.get(role, set()):
        return True
    return action in _BY_GRANT.get(role, set()) and connection_id in granted


def sees_every_connection(role: str) -> bool:
    return Action.VIEW in _ON_EVERY_CONNECTION.get(role, set())


def visible(role: str, granted: AbstractSet[UUID], connections: Iterable[UUID],
            action: Action = Action.VIEW) -> list[UUID]:
    """The connections among ``connections`` the person may do ``action`` on."""
    return [c for c in connections if may(role, granted, action, c)]


def reason_required(role: str) -> bool:
    """Support acts on other people's connections: they say why, and it is recorded."""
    return role == "support"

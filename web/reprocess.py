"""A person presses Process on documents in Errors or Open (one, or a selection).

Each document is asked for again through ``Processing.request_reprocess`` (who and why are
recorded, the source is fetched from the shop again) and then queued for the workers: the
ledger is never called in the web request. What could not be asked is told per document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from application.errors import KoppelError
from domain.document import DocumentError

MAX_SELECTION = 50  # a page of Errors or Open; each is one call to the shop


@dataclass
class Asked:
    queued: list[str] = field(default_factory=list)      # numbers now in Open, queued
    posted: list[str] = field(default_factory=list)      # posted: never processed again
    refused: list[tuple[str, KoppelError]] = field(default_factory=list)  # what the shop said


def ask_to_process(runtime, documents: list[tuple[UUID, str]], by: str, reason: str) -> Asked:
    """``documents``: (id, number) pairs the person may manage (the caller checked)."""
    asked = Asked()
    for doc_id, number in documents[:MAX_SELECTION]:
        try:
            runtime.processing.request_reprocess(doc_id, by=by, reason=reason)
        except DocumentError:
            asked.posted.append(number)
            continue
        except KoppelError as error:  # the shop: unreachable, refused, or no such document
            asked.refused.append((number, error))
            continue
        runtime.actors.process.send(str(doc_id))
        asked.queued.append(number)
    return asked

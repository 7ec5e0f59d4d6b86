"""The Dramatiq actors: intake (fetch the source) and process (check, debtor, claim, post).

Actors are declared per broker and queue prefix rather than at import, so a test run (or two
installations sharing one RabbitMQ) gets queues of its own.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from uuid import UUID

import dramatiq
from dramatiq.errors import Retry
from dramatiq.middleware import CurrentMessage
from eventsourcing.application import AggregateNotFoundError
from structlog.contextvars import bind_contextvars

from application.connections import UnknownConnection
from application.errors import TransientError
from application.processing import (ClaimHeld, ConnectionPaused, Processing,
                                    WaitingForReconnect)
from workers.fairness import Deferred, Fairness, default_cap
from workers.inbox import Inbox
from workers.intake_markers import Intake, IntakeMarkers

log = logging.getLogger(__name__)

# A document waiting for its merchant to reconnect is looked at again this often.
RECONNECT_WAIT_MS = 60_000
# A webhook that came while its document was being fetched is answered by one more fetch this
# much later: a stream of duplicates costs a fetch per few seconds, not one per webhook.
AGAIN_DELAY_MS = 5_000


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _retry_for(error: TransientError, claim_lease: float) -> Retry | None:
    """The wait a transient error asks for; None leaves it to Dramatiq's backoff."""
    if isinstance(error, WaitingForReconnect):
        return Retry(error.message, delay=RECONNECT_WAIT_MS)
    if isinstance(error, ClaimHeld):
        # Back when the claim or the settle window ends (a second late, for clocks that
        # differ between workers); the message is never dropped for waiting.
        wait = claim_lease if error.retry_after is None else error.retry_after + 1
        return Retry(error.message, delay=int(wait * 1000))
    if error.retry_after:
        return Retry(error.message, delay=int(error.retry_after * 1000))
    return None


def _retry(error: TransientError, claim_lease: float):
    retry = _retry_for(error, claim_lease)
    if retry is None:
        raise error
    raise retry from error


class Actors:
    def __init__(self, broker: dramatiq.Broker, processing: Processing, inbox: Inbox,
                 markers: IntakeMarkers, prefix: str = "koppel",
                 fairness: Fairness | None = None) -> None:
        self.broker = broker
        self.processing = processing
        self.inbox = inbox
        self.markers = markers
        self.prefix = prefix
        # This process's threads per connection; the composition root sets the cap for the
        # worker threads it starts (``Runtime.start_workers``).
        self.fairness = fairness or Fairness(default_cap(1))
        # Told of every message sent again for a connection without a free turn
        # (connection id, reason): the operator's metrics count them.
        self.on_deferred = lambda connection_id, reason: None
        # Set by the composition root: books a posted document into the connection's further
        # ledgers (ledger targets); raises TransientError to be retried.
        self.on_posted = None
        # Set by the composition root too: books one document (and its payment) into one
        # further ledger, exactly once by the posting's claim (``LedgerReplays.post``).
        self.on_target = None
        self.intake = dramatiq.actor(
            self._intake, broker=broker, actor_name=f"{prefix}.intake",
            queue_name=f"{prefix}.intake")
        self.process = dramatiq.actor(
            self._process, broker=broker, actor_name=f"{prefix}.process",
            queue_name=f"{prefix}.process")
        # Work for a further ledger the dispatcher or the payment check sends again; on the
        # process queue, so every worker that books documents takes it.
        self.target = dramatiq.actor(
            self._target, broker=broker, actor_name=f"{prefix}.target",
            queue_name=f"{prefix}.process")

    def send_intake(self, intake: Intake, via: str, inbox_id: int | None = None) -> None:
        """Send the intake ``markers.request`` asked for. When the broker cannot be reached
        the marker would claim a queued intake that is nowhere, and webhooks, the sweep and
        the dispatcher would all wait for it to run out (``queued_for``)."""
        try:
            self.intake.send(intake.connection_id, intake.kind, intake.shop_id, via, inbox_id)
        except BaseException:
            self.markers.abandon(intake)
            raise

    @property
    def queues(self) -> list[str]:
        return [self.intake.queue_name, self.process.queue_name]

    def _intake(self, connection_id: str, kind: str, shop_id: int, via: str,
                inbox_id: int | None = None) -> None:
        bind_contextvars(connection_id=connection_id, kind=kind, shop_id=shop_id, via=via)
        intake = Intake(connection_id, kind, int(shop_id))
        token = self.markers.start(intake)
        if token is None:
            log.debug("intake of %s %s is running elsewhere; it fetches once more", kind, shop_id)
            return
        newest = self.inbox.newest_pending(connection_id, kind, shop_id)
        try:
            doc_id = self.processing.intake(UUID(connection_id), kind, int(shop_id), via)
        except UnknownConnection:
            log.info("%s %s: its connection was removed; nothing taken in", kind, shop_id)
            doc_id = None
        except TransientError as error:
            log.info("intake of %s %s waits: %s", kind, shop_id, error.message)
            self.markers.retry_later(intake, token)
            _retry(error, self.processing.claim_lease)
        except BaseException:
            self.markers.retry_later(intake, token)  # Dramatiq retries any failure (time limit)
            raise
        if newest is not None:
            self.inbox.handled_up_to(connection_id, kind, shop_id, newest, _now())
        if inbox_id is not None:
            self.inbox.handled(inbox_id, _now())
        if doc_id is not None:
            self.process.send(str(doc_id))
        if self.markers.finish(intake, token):
            self.intake.send_with_options(args=(connection_id, kind, int(shop_id), "again"),
                                          delay=AGAIN_DELAY_MS)

    def _process(self, document_id: str, recheck_payment: bool = False) -> None:
        bind_contextvars(document_id=document_id)
        try:
            refused = self.fairness.refusal_for(document_id)
            if refused is not None:
                raise refused
            outcome = self.processing.process(UUID(document_id),
                                              recheck_payment=recheck_payment,
                                              turn=self.fairness.turn)
        except Deferred as deferred:
            self._defer(document_id, recheck_payment, deferred)
            return
        except (UnknownConnection, AggregateNotFoundError):
            log.info("document %s: its connection was removed (or its history erased); "
                     "nothing booked", document_id)
            return
        except TransientError as error:
            log.info("document %s waits: %s", document_id, error.message)
            _retry(error, self.processing.claim_lease)
        if outcome.status == "posted" and self.on_posted is not None:
            try:  # the connection's further ledgers (application/replay.py) get it too
                self.on_posted(UUID(document_id), outcome.connection_id)
            except TransientError as error:
                log.info("document %s waits for a further ledger: %s", document_id,
                         error.message)
                _retry(error, self.processing.claim_lease)
        log.debug("document %s is %s", outcome.number, outcome.status)

    def _target(self, target_id: str, document_id: str, recheck_payment: bool = False) -> None:
        bind_contextvars(document_id=document_id, target_id=target_id)
        try:
            status = self.on_target(UUID(target_id), UUID(document_id), recheck_payment)
        except ConnectionPaused as error:
            # Not held on the broker for as long as the pause lasts: still left part-way
            # after the resume, the dispatcher sends it again.
            log.info("document %s waits for its further ledger: %s", document_id,
                     error.message)
            return
        except (UnknownConnection, AggregateNotFoundError, LookupError):
            log.info("document %s: its further ledger or connection is gone; nothing booked",
                     document_id)
            return
        except TransientError as error:
            log.info("document %s waits for a further ledger: %s", document_id, error.message)
            _retry(error, self.processing.claim_lease)
        log.debug("document %s in further ledger %s: %s", document_id, target_id, status)

    def _defer(self, document_id: str, recheck_payment: bool, deferred: Deferred) -> None:
        """Send the message again for later, as it is: its retries so far go with it, and
        the deferral adds none (it is no failure). It is in the broker before this one is
        acknowledged (Dramatiq acks when the actor returns): a worker dying in between leaves
        two messages for the document, which the claim protocol books once (I1)."""
        self.fairness.remember(document_id, deferred.connection_id)
        message = CurrentMessage.get_current_message()
        retries = message.options.get("retries", 0) if message is not None else 0
        self.process.send_with_options(args=(document_id, recheck_payment),
                                       delay=int(deferred.wait * 1000), retries=retries,
                                       deferred=True)
        self.on_deferred(deferred.connection_id, deferred.reason)
        if deferred.news:  # an operator sees a connection held back without a line per message
            log.info("connection %s is held back (%s: %s threads of this worker at most, or "
                     "its ledger asked to slow down); its documents wait their turn",
                     deferred.connection_id, deferred.reason, self.fairness.cap)
        log.debug("document %s waits %.2f s: its connection is %s", document_id,
                  deferred.wait, deferred.reason)

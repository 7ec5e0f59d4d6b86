"""The message broker: in-process when embedded, RabbitMQ or Redis in production.

Retries are Dramatiq's own (exponential backoff); a ``Retry`` raised by an actor carries the
wait a ledger asked for (429) or the rest of another worker's claim.
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AgeLimit, Callbacks, CurrentMessage, Pipelines, Retries
from dramatiq.middleware import ShutdownNotifications, TimeLimit

# A transient fault (a ledger outage) is retried for about an hour with growing waits; after
# that the message is dropped, but the document is still open and the scheduler's re-queue of
# stale documents picks it up again: nothing is lost (I2).
MAX_RETRIES = 25
MIN_BACKOFF_MS = 200
MAX_BACKOFF_MS = 5 * 60 * 1000
REDIS_MAINTENANCE_CHANCE = 50_000  # per million commands


def middleware(time_limit_ms: int) -> list:
    return [
        AgeLimit(),
        TimeLimit(time_limit=time_limit_ms),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        Retries(max_retries=MAX_RETRIES, min_backoff=MIN_BACKOFF_MS, max_backoff=MAX_BACKOFF_MS),
        # A message sent again for later (workers/fairness.py) carries the retries so far.
        CurrentMessage(),
    ]


class InProcessBroker(StubBroker):
    """Dramatiq's in-process broker, with its delay queues listed apart from its queues, as
    the other brokers list them. The stub lists them among its queues, so a worker started
    after the actors were declared consumes each delay queue with a queue's prefetch (2 per
    thread) instead of a delay queue's (1000 per thread): a few messages waiting out a long
    delay (a paused connection's minute) then hold every shorter one back until they are
    due, such as the messages the fairness gate sends again for later (workers/fairness.py)."""

    def get_declared_queues(self) -> set[str]:
        return super().get_declared_queues() - self.delay_queues


def make_broker(url: str | None, *, namespace: str = "koppel",
                time_limit_ms: int = 60_000) -> dramatiq.Broker:
    mw = middleware(time_limit_ms)
    if not url:
        broker = InProcessBroker(middleware=mw)
        broker.emit_after("process_boot")
        return broker
    if url.startswith(("amqp://", "amqps://")):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        return RabbitmqBroker(url=url, middleware=mw, confirm_delivery=True)
    if url.startswith(("redis://", "rediss://")):
        from dramatiq.brokers.redis import RedisBroker

        # The messages a killed worker had taken stay in its ack set until a maintenance
        # pass finds its heartbeat older than heartbeat_timeout; Dramatiq runs one with a
        # chance of 1 in 1000 commands, minutes on a quiet installation, and until then the
        # document's intake marker holds off every other path to it (I2). One in 20 brings
        # them back soon after the timeout, for one cheap script step more.
        return RedisBroker(url=url, middleware=mw, namespace=namespace,
                           maintenance_chance=REDIS_MAINTENANCE_CHANCE)
    raise ValueError(
        f"KOPPEL_BROKER_URL must be empty (in-process), amqp://... or redis://...; got "
        f"{url.split('://')[0]}://..."
    )

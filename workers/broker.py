"""The message broker: in-process when embedded, RabbitMQ or Redis in production.

Retries are Dramatiq's own (exponential backoff); a ``Retry`` raised by an actor carries the
wait a ledger asked for (429) or the rest of another worker's claim.
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AgeLimit, Callbacks, Pipelines, Retries, ShutdownNotifications
from dramatiq.middleware import TimeLimit

# A transient fault (a ledger outage) is retried for about an hour with growing waits; after
# that the message is dropped, but the document is still open and the scheduler's re-queue of
# stale documents picks it up again: nothing is lost (I2).
MAX_RETRIES = 25
MIN_BACKOFF_MS = 200
MAX_BACKOFF_MS = 5 * 60 * 1000


def middleware(time_limit_ms: int) -> list:
    return [
        AgeLimit(),
        TimeLimit(time_limit=time_limit_ms),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        Retries(max_retries=MAX_RETRIES, min_backoff=MIN_BACKOFF_MS, max_backoff=MAX_BACKOFF_MS),
    ]


def make_broker(url: str | None, *, namespace: str = "koppel",
                time_limit_ms: int = 60_000) -> dramatiq.Broker:
    mw = middleware(time_limit_ms)
    if not url:
        broker = StubBroker(middleware=mw)
        broker.emit_after("process_boot")
        return broker
    if url.startswith(("amqp://", "amqps://")):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        return RabbitmqBroker(url=url, middleware=mw, confirm_delivery=True)
    if url.startswith(("redis://", "rediss://")):
        from dramatiq.brokers.redis import RedisBroker

        return RedisBroker(url=url, middleware=mw, namespace=namespace)
    raise ValueError(
        f"KOPPEL_BROKER_URL must be empty (in-process), amqp://... or redis://...; got "
        f"{url.split('://')[0]}://..."
    )

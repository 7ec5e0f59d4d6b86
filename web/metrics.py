"""``/metrics`` for Prometheus: what koppel does, counted where it happens, and what it holds,
read from the read models when Prometheus asks.

Counted as it happens (per process; with PROMETHEUS_MULTIPROC_DIR set, every process writes its
counts to files there and /metrics adds them up, so the web workers, ``koppel worker`` and
``koppel scheduler`` of one machine show as one installation):
  koppel_http_request_seconds{system,method}   every call to a shop or ledger (histogram)
  koppel_http_errors_total{system,code}         an HTTP status >= 400, or the transport error
  koppel_messages_retried_total{actor}          a message taken up again after a failure
  koppel_message_failures_total{actor,error}    a message that ended in an exception
  koppel_claims_taken_over_total{subject}       a claim whose worker was gone (lease ran out)
  koppel_messages_deferred_total{connection,reason}  a document's message sent again for later
                                                because its connection had no free thread
                                                (reason busy) or its ledger asked to slow down
                                                (slowed); see workers/fairness.py
  koppel_webhooks_total{status}                 webhooks answered, by HTTP status
Read at scrape time (the same in every process; never a customer's name or amount):
  koppel_documents{connection,status}, koppel_payments{connection,status},
  koppel_found_by_lookup{connection,subject}    postings an earlier attempt had made already
  koppel_projector_lag_events                   events in the store not yet in the read models
  koppel_inbox_pending                          webhooks not yet handed to the broker
  koppel_queue_messages{queue,state}            messages waiting in the broker (state ready or
                                                delayed; Redis tells only their sum: all)

Dramatiq's own Prometheus middleware is not used: it starts an HTTP server of its own in every
worker process, on one fixed port, with a second multiprocess directory; the two counts koppel
needs from it (retries, failures) are the middleware below, in the same registry.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time

import dramatiq
import httpx
from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter,
                               Histogram, generate_latest)
from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger(__name__)

HTTP_SECONDS = Histogram("koppel_http_request_seconds",
                         "Calls to a shop or ledger, until the answer's headers arrived.",
                         ["system", "method"])
HTTP_ERRORS = Counter("koppel_http_errors_total",
                      "Calls answered with an HTTP status of 400 or more (code: the status) or "
                      "not answered (code: the transport error).", ["system", "code"])
RETRIED = Counter("koppel_messages_retried_total",
                  "Messages taken up again after an earlier failure.", ["actor"])
FAILURES = Counter("koppel_message_failures_total",
                   "Messages whose actor raised (Retry: waits it asked for).", ["actor", "error"])
TAKEN_OVER = Counter("koppel_claims_taken_over_total",
                     "Claims taken over because the worker holding them was gone.", ["subject"])
DEFERRED = Counter("koppel_messages_deferred_total",
                   "Messages sent again for later: their connection had all the threads it may "
                   "have (busy) or its ledger asked to slow down (slowed).",
                   ["connection", "reason"])
WEBHOOKS = Counter("koppel_webhooks_total", "Webhooks answered, by HTTP status.", ["status"])


# -- counted as it happens ------------------------------------------------------------------

class MeasuredTransport(httpx.BaseTransport):
    """Times every exchange with one system and counts what went wrong."""

    def __init__(self, inner: httpx.BaseTransport, system: str) -> None:
        self.inner = inner
        self.system = system

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        started = time.perf_counter()
        try:
            response = self.inner.handle_request(request)
        except Exception as error:
            HTTP_ERRORS.labels(self.system, type(error).__name__).inc()
            raise
        finally:
            HTTP_SECONDS.labels(self.system, request.method).observe(
                time.perf_counter() - started)
        if response.status_code >= 400:
            HTTP_ERRORS.labels(self.system, str(response.status_code)).inc()
        return response

    def close(self) -> None:
        self.inner.close()


def measuring(systems: dict[str, str], default: str = "ccvshop"):
    """Wraps a connector's transport (the process's keep-alive pool for its host, or a test's
    fake) so every exchange is measured; ``systems`` names the system behind a base URL (the
    ledgers' URLs are the installation's; every other one is a shop's)."""
    def measure(inner: httpx.BaseTransport, url: str) -> httpx.BaseTransport:
        return MeasuredTransport(inner, systems.get(url, default))
    return measure


class MessageCounts(dramatiq.Middleware):
    def before_process_message(self, broker, message):
        # A message sent again for later carries the retries of the one before it; it is no
        # retry itself (taken off here, so a failure of its own counts when retried).
        if message.options.get("retries", 0) and not message.options.pop("deferred", False):
            RETRIED.labels(message.actor_name).inc()

    def after_process_message(self, broker, message, *, result=None, exception=None):
        if exception is not None:
            FAILURES.labels(message.actor_name, type(exception).__name__).inc()


def claim_taken_over(subject: str) -> None:
    TAKEN_OVER.labels(subject).inc()


def deferred(connection: str, reason: str) -> None:
    DEFERRED.labels(connection, reason).inc()


# -- read when Prometheus asks --------------------------------------------------------------

class ReadModels:
    """A collector over one runtime's read models and broker."""

    def __init__(self, runtime) -> None:
        self.runtime = runtime

    def collect(self):
        store = self.runtime.store
        names = {row["id"]: row["name"] for row in store.query("SELECT id, name FROM connections")}
        documents = GaugeMetricFamily("koppel_documents", "Documents by state.",
                                      labels=["connection", "status"])
        for row in store.query("SELECT connection_id, status, COUNT(*) AS n FROM documents "
                               "GROUP BY connection_id, status"):
            documents.add_metric([names.get(row["connection_id"], ""), row["status"]], row["n"])
        yield documents
        payments = GaugeMetricFamily("koppel_payments", "Payments by state.",
                                     labels=["connection", "status"])
        for row in store.query("SELECT connection_id, payment_status, COUNT(*) AS n FROM "
                               "documents WHERE payment_status IS NOT NULL GROUP BY "
                               "connection_id, payment_status"):
            payments.add_metric([names.get(row["connection_id"], ""), row["payment_status"]],
                                row["n"])
        yield payments
        found = GaugeMetricFamily("koppel_found_by_lookup",
                                  "Postings found in the ledger by a later attempt's lookup.",
                                  labels=["connection", "subject"])
        for row in store.query("SELECT connection_id, SUM(found_by_lookup) AS sale, "
                               "SUM(payment_found_by_lookup) AS payment FROM documents "
                               "GROUP BY connection_id"):
            for subject in ("sale", "payment"):
                found.add_metric([names.get(row["connection_id"], ""), subject],
                                 int(row[subject] or 0))
        yield found
        end = self.runtime.app.recorder.max_notification_id() or 0
        yield GaugeMetricFamily("koppel_projector_lag_events",
                                "Events in the event store not yet in the read models.",
                                value=max(0, end - self.runtime.projector.position()))
        yield GaugeMetricFamily("koppel_inbox_pending",
                                "Webhooks written down but not yet handed to the broker.",
                                value=self.runtime.inbox.count_pending())
        queued = GaugeMetricFamily("koppel_queue_messages", "Messages waiting in the broker.",
                                   labels=["queue", "state"])
        for queue in self.runtime.actors.queues:
            for state, count in queue_depth(self.runtime.broker, queue).items():
                queued.add_metric([queue, state], count)
        yield queued


def queue_depth(broker: dramatiq.Broker, queue: str) -> dict[str, int]:
    """Ready and delayed messages of one queue; empty when the broker cannot tell now."""
    from dramatiq.common import dq_name

    try:
        if hasattr(broker, "get_queue_message_counts"):  # RabbitMQ
            ready, delayed, _dead = broker.get_queue_message_counts(queue)
            return {"ready": ready, "delayed": delayed}
        if hasattr(broker, "do_qsize"):  # Redis tells one sum: ready, delayed and taken
            return {"all": int(broker.do_qsize(queue))}
        queues = broker.queues  # the in-process broker
        return {"ready": queues[queue].qsize(), "delayed": queues[dq_name(queue)].qsize()}
    except Exception as error:  # noqa: BLE001 - a broker outage must not break the scrape
        log.warning("metrics: the size of queue %s is unknown: %s", queue, error)
        return {}


def counted(multiproc_dir: str | None = None) -> bytes:
    """The counts of this process, or of every process that wrote to the multiprocess
    directory (PROMETHEUS_MULTIPROC_DIR), in Prometheus' text format."""
    multiproc_dir = multiproc_dir or os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not multiproc_dir:
        return generate_latest(REGISTRY)
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=multiproc_dir)
    return generate_latest(registry)


def exposition(runtime) -> bytes:
    """Everything: the counts and what the read models hold now."""
    held = CollectorRegistry()
    held.register(ReadModels(runtime))
    return counted() + generate_latest(held)


# -- the route ------------------------------------------------------------------------------

def allowed(headers, remote_addr: str | None, token: str) -> bool:
    """With KOPPEL_METRICS_TOKEN set, only ``Authorization: Bearer <token>``; without it only a
    client on this machine that came through no proxy."""
    if token:
        given = headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    if headers.get("X-Forwarded-For") or headers.get("Forwarded"):
        return False
    try:
        return ipaddress.ip_address(remote_addr or "").is_loopback
    except ValueError:
        return False


def install(app, runtime) -> None:
    from flask import Response, abort, request

    from web.access import public

    @app.get("/metrics")
    @public  # no sign-in: Prometheus has no session; the token or loopback check below decides
    def metrics():
        if not allowed(request.headers, request.remote_addr, runtime.config.metrics_token):
            abort(404)  # like an unknown address: says nothing about what is here
        return Response(exposition(runtime), mimetype=CONTENT_TYPE_LATEST)

    @app.after_request
    def count_webhooks(response):
        if request.endpoint == "webhooks.receive":
            WEBHOOKS.labels(str(response.status_code)).inc()
        return response

"""Fault injection shared by every sandbox fake.

A fault is armed through the control API (``POST /__sandbox/faults``) and applies to the
requests whose method and path match it. The modes are the failures a real API shows and that
koppel must survive:

- ``error``: answer ``status`` (default 500) *instead of* handling the request (nothing written);
- ``after_commit``: handle the request (the write is committed), then answer ``status`` anyway:
  the caller cannot tell whether its write happened (the unknown-outcome case);
- ``rate_limit``: answer 429 with ``Retry-After`` (seconds) instead of handling the request;
- ``latency``: wait ``seconds`` before handling the request;
- ``latency_after_commit``: handle the request, then wait ``seconds`` before answering (lets a
  test kill a client after the ledger committed but before it heard so);
- ``drop``: handle nothing and break the connection mid-response;
- ``no_content``: handle the request, then answer 204 with no body (CCV's official SDK: a POST
  "sometimes gives a no-content, even on success");
- ``late_commit``: a slow ledger that keeps working after its caller gave up. The write is
  committed ``commit_after`` seconds after the request arrived and the answer goes out at
  ``answer_after`` seconds: the write's own answer when it is done by then, else ``status``
  (the write still lands later). With a client timeout shorter than both, the client sees a
  timeout while its write is still on its way (``commit_after`` > timeout) or already in
  (``commit_after`` < timeout).

A fake may add modes of its own (``own_modes``) that only it knows how to apply, and asks
``take`` whether one fires for the request at hand (the shop's badly signed answer, say).
An ``error`` fault may carry the ``message`` the fake's error body says.

A fault matches a request by ``method``, ``path`` (a regular expression matched against the
whole path) and, when given, ``body`` (a regular expression searched for in the request body):
a ledger takes a sale and a payment on the same path, and a test may want to fail only one.

Each fault fires either with probability ``rate`` (seeded, so a run can be repeated) or for the
next ``count`` matching requests, whichever is given (``count`` wins); ``skip`` lets that many
matching requests through first (e.g. fail the second POST, not the first). The fake's own error body
is produced by the ``error_body`` callable the fake passes in, so the wire format stays the fake's.
"""

from __future__ import annotations

import random
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from flask import Flask, Response, copy_current_request_context, current_app, jsonify, request

MODES = {"error", "after_commit", "rate_limit", "latency", "latency_after_commit", "drop",
         "no_content", "late_commit"}


@dataclass
class Fault:
    mode: str
    method: str = "*"
    path: str = ".*"  # a regular expression matched against the request path
    rate: float = 1.0
    count: int | None = None
    status: int = 500
    seconds: float = 0.0
    skip: int = 0
    answer_after: float = 0.0  # late_commit
    commit_after: float = 0.0  # late_commit
    message: str | None = None  # error: what the fake's error body says
    body: str = ""  # a regular expression searched for in the request body; "" matches all
    fired: int = 0
    seen: int = 0
    _pattern: re.Pattern = field(init=False, repr=False)
    _body: re.Pattern = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._pattern = re.compile(self.path)
        self._body = re.compile(self.body.encode())

    def matches(self, method: str, path: str, body: bytes = b"") -> bool:
        return (self.method in ("*", method) and bool(self._pattern.fullmatch(path))
                and bool(self._body.search(body)))

    def as_dict(self) -> dict:
        return {
            "mode": self.mode, "method": self.method, "path": self.path, "rate": self.rate,
            "count": self.count, "status": self.status, "seconds": self.seconds,
            "skip": self.skip, "answer_after": self.answer_after,
            "commit_after": self.commit_after, "message": self.message, "body": self.body,
            "fired": self.fired,
        }


class ConnectionDropped(Exception):
    """Raised while streaming a response so that the server breaks the connection."""


class Faults:
    """The armed faults of one fake, plus the control endpoints to arm and clear them."""

    def __init__(self, error_body: Callable[[int, str], Response], seed: int = 1,
                 own_modes: frozenset[str] = frozenset()) -> None:
        self._error_body = error_body
        self._modes = MODES | own_modes
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._random = random.Random(seed)

    def arm(self, **spec) -> Fault:
        fault = Fault(**spec)
        if fault.mode not in self._modes:
            raise ValueError(f"unknown fault mode {fault.mode!r}; one of {sorted(self._modes)}")
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str, modes: set[str]) -> Fault | None:
        """The first armed fault of ``modes`` that fires for this request (and count it)."""
        body = request.get_data()
        with self._lock:
            for fault in self._faults:
                if fault.mode not in modes or not fault.matches(method, path, body):
                    continue
                fault.seen += 1
                if fault.seen <= fault.skip:
                    continue
                if fault.count is not None:
                    if fault.fired >= fault.count:
                        continue
                elif self._random.random() >= fault.rate:
                    continue
                fault.fired += 1
                return fault
        return None

    def init_app(self, app: Flask) -> None:
        app.before_request(self._before)
        app.after_request(self._after)
        app.add_url_rule("/__sandbox/faults", "sandbox_faults_list", self._list, methods=["GET"])
        app.add_url_rule("/__sandbox/faults", "sandbox_faults_arm", self._arm, methods=["POST"])
        app.add_url_rule(
            "/__sandbox/faults", "sandbox_faults_clear", self._clear, methods=["DELETE"]
        )

    # -- control endpoints -------------------------------------------------------------

    def _list(self):
        with self._lock:
            return jsonify([f.as_dict() for f in self._faults])

    def _arm(self):
        body = request.get_json(force=True)
        specs = body if isinstance(body, list) else [body]
        try:
            armed = [self.arm(**spec) for spec in specs]
        except (TypeError, ValueError, re.error) as exc:
            return jsonify({"error": str(exc)}), 400
        return jsonify([f.as_dict() for f in armed]), 201

    def _clear(self):
        self.clear()
        return "", 204

    # -- request hooks -----------------------------------------------------------------

    def _before(self):
        if request.path.startswith("/__sandbox/"):
            return None
        # Read the body now: a fault that answers before the handler would otherwise leave it
        # unread, and werkzeug's later read of it blocks, so a dropped POST would hang the
        # client until its timeout instead of breaking its connection.
        request.get_data()
        method, path = request.method, request.path
        arrived = time.monotonic()
        fault = self.take(method, path, {"latency"})
        if fault:
            time.sleep(fault.seconds)
        fault = self.take(method, path, {"late_commit"})
        if fault:
            return self._late_commit(fault, arrived)
        fault = self.take(method, path, {"error", "rate_limit", "drop"})
        if fault is None:
            return None
        if fault.mode == "rate_limit":
            response = self._error_body(429, "Too many requests (sandbox fault)")
            response.headers["Retry-After"] = str(max(1, round(fault.seconds or 1)))
            return response
        if fault.mode == "drop":
            return _dropped_response()
        return self._error_body(fault.status, fault.message or "Injected failure (sandbox fault)")

    def _late_commit(self, fault: Fault, arrived: float) -> Response:
        """Handle the request on a thread of its own at ``commit_after`` (it outlives this
        request when it must), answer at ``answer_after``."""
        app = current_app._get_current_object()
        done = threading.Event()
        answer: list[Response] = []

        @copy_current_request_context
        def commit() -> None:
            time.sleep(max(0.0, arrived + fault.commit_after - time.monotonic()))
            try:
                try:
                    result = app.dispatch_request()
                except Exception as exc:  # the fake's own error handlers make its answer
                    result = app.handle_user_exception(exc)
                answer.append(app.make_response(result))
            except Exception:
                app.logger.exception("sandbox: a late write failed")
            finally:
                done.set()

        threading.Thread(target=commit, name="sandbox-late-commit", daemon=True).start()
        done.wait(max(0.0, arrived + fault.answer_after - time.monotonic()))
        if answer:
            return answer[0]
        return self._error_body(fault.status, "The write is still in progress (sandbox fault)")

    def _after(self, response: Response) -> Response:
        if request.path.startswith("/__sandbox/") or response.status_code >= 400:
            return response
        method, path = request.method, request.path
        fault = self.take(method, path, {"latency_after_commit"})
        if fault:
            time.sleep(fault.seconds)
        fault = self.take(method, path, {"after_commit"})
        if fault:
            return self._error_body(fault.status, "Injected failure after commit (sandbox fault)")
        if self.take(method, path, {"no_content"}):
            return Response(status=204)
        return response


def _dropped_response() -> Response:
    def body():
        yield b"{"
        raise ConnectionDropped("sandbox fault: connection dropped")

    # A promised length that is never delivered: a real server breaks the connection and the
    # client sees a protocol error, as it would when a load balancer drops it.
    return Response(body(), status=200, headers={"Content-Length": "1000"},
                    mimetype="application/json")

"""Control endpoints every ledger fake has: its clock, and the log of the calls it answered.

``state`` is the fake's own state object with ``lock``, ``clock_offset``, ``now()`` and
``requests`` (a list of plain dicts that never hold credentials).
"""

from __future__ import annotations

from flask import Flask, Response, jsonify, request


def add_clock_and_request_log(app: Flask, state) -> None:
    @app.post("/__sandbox/clock")
    def control_clock():
        body = request.get_json(silent=True) or {}
        with state.lock:
            state.clock_offset += float(body.get("advance", 0))
            return jsonify({"now": state.now(), "offset": state.clock_offset})

    @app.get("/__sandbox/requests")
    def control_requests():
        with state.lock:
            return jsonify(list(state.requests))

    @app.delete("/__sandbox/requests")
    def control_requests_clear():
        with state.lock:
            state.requests.clear()
        return Response(status=204)

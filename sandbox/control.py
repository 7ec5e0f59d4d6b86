"""Control endpoints the fakes share: the clock, the log of the calls answered (the shop has
this one too), and the options of the ledger fakes.

``state`` is the fake's own state object with ``lock``, ``clock_offset``, ``now()``,
``requests`` (a list of plain dicts that never hold credentials) and ``options``.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify, request


def add_clock_and_request_log(app: Flask, state) -> None:
    add_request_log(app, state)

    @app.post("/__sandbox/clock")
    def control_clock():
        body = request.get_json(silent=True) or {}
        with state.lock:
            state.clock_offset += float(body.get("advance", 0))
            return jsonify({"now": state.now(), "offset": state.clock_offset})


def add_request_log(app: Flask, state) -> None:
    """``GET``/``DELETE /__sandbox/requests``: ``state`` has ``lock`` and ``requests``."""

    @app.get("/__sandbox/requests")
    def control_requests():
        with state.lock:
            return jsonify(list(state.requests))

    @app.delete("/__sandbox/requests")
    def control_requests_clear():
        with state.lock:
            state.requests.clear()
        return Response(status=204)


def add_options(app: Flask, state, known: dict[str, str]) -> None:
    """``GET``/``POST /__sandbox/options``: behaviour the real service may show that its
    documents leave open, switched on per test (``known``: name -> what it does); ``null``
    switches one off again. A reset of the fake's data clears them."""

    @app.get("/__sandbox/options")
    def control_options():
        with state.lock:
            return jsonify(state.options)

    @app.post("/__sandbox/options")
    def control_options_set():
        body = request.get_json(silent=True) or {}
        unknown = set(body) - set(known)
        if unknown:
            return jsonify({"error": f"unknown options {sorted(unknown)}; one of "
                                     f"{sorted(known)}"}), 400
        with state.lock:
            state.options = {k: v for k, v in {**state.options, **body}.items()
                             if v is not None}
            return jsonify(state.options)

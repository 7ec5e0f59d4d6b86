"""Driving a ledger fake through its control API (``/__sandbox/``), as tests do."""

from __future__ import annotations

import httpx


class SandboxControl:
    def __init__(self, base_url: str, transport: httpx.BaseTransport | None) -> None:
        self.base_url = base_url
        self.transport = transport
        self.control = httpx.Client(base_url=base_url, transport=transport, timeout=10)

    def get(self, path: str):
        response = self.control.get(f"/__sandbox/{path}")
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body=None):
        response = self.control.post(f"/__sandbox/{path}", json=body)
        response.raise_for_status()
        return response.json()

    def fault(self, **spec) -> None:
        self.control.post("/__sandbox/faults", json=spec).raise_for_status()

    def requests(self, method: str | None = None, path: str | None = None) -> list[dict]:
        return [r for r in self.get("requests")
                if (method is None or r["method"] == method)
                and (path is None or r["path"] == path)]

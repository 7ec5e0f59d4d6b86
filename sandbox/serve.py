"""Run a sandbox fake on a real local port, in a background thread."""

from __future__ import annotations

import logging
import threading

from werkzeug.serving import BaseWSGIServer, make_server

# A fake answers thousands of requests in a demo or benchmark; a line per request on the
# terminal buries what matters. Failures are still logged.
logging.getLogger("werkzeug").setLevel(logging.WARNING)


class RunningServer:
    """A fake served on 127.0.0.1; ``url`` is its root, ``stop()`` shuts it down."""

    def __init__(self, app, port: int = 0, host: str = "127.0.0.1") -> None:
        self._server: BaseWSGIServer = make_server(host, port, app, threaded=True)
        self.port = self._server.server_port
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"sandbox:{self.port}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "RunningServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def serve(app, port: int = 0, host: str = "127.0.0.1") -> RunningServer:
    return RunningServer(app, port=port, host=host)

"""Run a sandbox fake on a real local port, in a background thread.

The fakes are served by cheroot, an HTTP/1.1 server that keeps connections alive: Werkzeug's
development server sends ``Connection: close`` on every answer (it cannot drain a request body
before the next request line), so every call to a fake paid for a new TCP connection, and a
benchmark measured the handshakes instead of the fakes. koppel's own pages, served here by
the demo and tests, keep Werkzeug's server (``keep_alive=False``): its access log is the one
``web/logs.py`` keeps tokens out of.
"""

from __future__ import annotations

import logging
import threading

from cheroot import wsgi
from werkzeug.serving import make_server

# A fake answers thousands of requests in a demo or benchmark; a line per request on the
# terminal buries what matters. Failures are still logged.
logging.getLogger("werkzeug").setLevel(logging.WARNING)

# Enough for a benchmark's workers plus calls held open by a latency fault; idle keep-alive
# connections wait in cheroot's selector, not in a thread.
THREADS = 32


class _Server(wsgi.Server):
    def error_log(self, msg="", level=20, traceback=False):
        # The "connection dropped" fault breaks an answer on purpose (sandbox/faults.py);
        # cheroot would print its traceback as a server failure.
        if "sandbox fault" in msg:
            return
        super().error_log(msg, level, traceback)


class RunningServer:
    """A fake served on 127.0.0.1; ``url`` is its root, ``stop()`` shuts it down."""

    def __init__(self, app, port: int = 0, host: str = "127.0.0.1",
                 keep_alive: bool = True) -> None:
        if keep_alive:
            self._server = _Server((host, port), app, numthreads=THREADS)
            self._server.prepare()  # binds now, so the port is known before we return
            self.port = self._server.bind_addr[1]
            run, self._stop = self._server.serve, self._server.stop
        else:
            werkzeug = make_server(host, port, app, threaded=True)
            self.port = werkzeug.server_port
            run = werkzeug.serve_forever

            def stop_werkzeug() -> None:
                werkzeug.shutdown()
                werkzeug.server_close()

            self._stop = stop_werkzeug
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=run, name=f"sandbox:{self.port}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop()
        self._thread.join(timeout=5)

    def __enter__(self) -> "RunningServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def serve(app, port: int = 0, host: str = "127.0.0.1", keep_alive: bool = True) -> RunningServer:
    return RunningServer(app, port=port, host=host, keep_alive=keep_alive)

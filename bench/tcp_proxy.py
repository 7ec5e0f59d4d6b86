"""A TCP proxy that a test or the chaos suite puts in front of a real service and cuts.

The machine's own PostgreSQL, RabbitMQ and Redis are never stopped: an outage is played by
this proxy instead. It listens on an ephemeral port of 127.0.0.1 and forwards every connection
to the target. ``cut()`` resets every open connection and refuses new ones (a process sees its
connection die and reconnecting fail) until ``restore()``; ``stall()`` keeps the connections
open but lets nothing through, as a network that drops packets does.

    with TcpProxy(("127.0.0.1", 5432)) as proxy:
        url = f"postgresql://postgres@127.0.0.1:{proxy.port}/db"
        ...
        proxy.cut(); time.sleep(3); proxy.restore()

``python -m bench.tcp_proxy HOST:PORT`` runs one on its own and prints its port.
"""

from __future__ import annotations

import socket
import struct
import threading
from typing import Iterator

OPEN, CUT, STALLED = "open", "cut", "stalled"
_CHUNK = 65536


def _reset(sock: socket.socket) -> None:
    """End a connection as a broken network does (an RST where the kernel sends one). The
    shutdown wakes the pump thread blocked in ``recv``, which a close alone would not."""
    for step in (lambda: sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                         struct.pack("ii", 1, 0)),
                 lambda: sock.shutdown(socket.SHUT_RDWR), sock.close):
        try:
            step()
        except OSError:
            pass


class TcpProxy:
    def __init__(self, target: tuple[str, int], host: str = "127.0.0.1", port: int = 0) -> None:
        self.target = target
        self._listener = socket.create_server((host, port))
        self.host, self.port = self._listener.getsockname()[:2]
        self.state = OPEN
        self.connections_made = 0
        self._lock = threading.Lock()
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._flowing = threading.Event()
        self._flowing.set()
        self._closed = False
        self._acceptor = threading.Thread(target=self._accept, name=f"tcp-proxy:{self.port}",
                                          daemon=True)
        self._acceptor.start()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    # -- faults -------------------------------------------------------------------------

    def cut(self) -> None:
        """Reset every open connection; refuse new ones until ``restore()``."""
        with self._lock:
            self.state = CUT
            pairs, self._pairs = self._pairs, set()
        self._flowing.set()  # stalled pumps wake up and find their sockets gone
        for client, upstream in pairs:
            _reset(client)
            _reset(upstream)

    def stall(self) -> None:
        """Keep connections open but forward nothing (new ones are accepted and wait too)."""
        with self._lock:
            self.state = STALLED
            self._flowing.clear()

    def restore(self) -> None:
        with self._lock:
            self.state = OPEN
            self._flowing.set()

    def open_connections(self) -> int:
        with self._lock:
            return len(self._pairs)

    # -- forwarding -----------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            if self.state == CUT:
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _reset(client)
                continue
            pair = (client, upstream)
            with self._lock:
                if self.state == CUT:
                    _reset(client)
                    _reset(upstream)
                    continue
                self._pairs.add(pair)
                self.connections_made += 1
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(pair, source, sink), daemon=True,
                                 name=f"tcp-proxy:{self.port}:pump").start()

    def _pump(self, pair, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(_CHUNK)
                if not data:
                    break
                self._flowing.wait()
                if pair not in self._pairs:
                    break
                sink.sendall(data)
        except OSError:
            pass
        with self._lock:
            known = pair in self._pairs
            self._pairs.discard(pair)
        if known:  # an orderly end from one side: pass it on
            for sock in pair:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    def close(self) -> None:
        self._closed = True
        try:
            self._listener.close()
        except OSError:
            pass
        self.cut()

    def __enter__(self) -> "TcpProxy":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _parse(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host or "127.0.0.1", int(port)


def main(argv: Iterator[str] | None = None) -> None:
    import argparse
    import time

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", help="HOST:PORT to forward to")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: any)")
    args = parser.parse_args(argv)
    proxy = TcpProxy(_parse(args.target), port=args.port)
    print(f"{proxy.address} -> {args.target}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        proxy.close()


if __name__ == "__main__":
    main()

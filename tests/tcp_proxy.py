"""A TCP proxy in front of a test's redis-server that can sever its connections silently.

A Redis restart usually closes every socket cleanly and the client notices the end of stream
before it reuses a pooled connection. Not always: a container replaced behind the same address,
a NAT or load balancer that forgot the flow, a failover — the old connections look alive in the
pool and the first bytes written on one are answered with a reset. :meth:`SeveringProxy.sever`
does exactly that: it drops every upstream connection without telling the client side, whose
next write is answered with an RST. New connections go through as usual.

Threads, one pair per connection; every blocking call ends when :meth:`close` closes the
sockets. Traffic only on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from dataclasses import dataclass, field


@dataclass
class _Pair:
    client: socket.socket
    upstream: socket.socket
    severed: threading.Event = field(default_factory=threading.Event)


def _reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer gets an RST, not a FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    except OSError:
        pass


class SeveringProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(256)
        self.port = int(self._server.getsockname()[1])
        self._pairs: list[_Pair] = []
        self._severed: list[_Pair] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self.resets = 0
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=2)
                upstream.settimeout(None)
            except OSError:  # Redis is down: the client sees its connection closed
                client.close()
                continue
            pair = _Pair(client, upstream)
            with self._lock:
                self._pairs.append(pair)
            threading.Thread(target=self._to_upstream, args=(pair,), daemon=True).start()
            threading.Thread(target=self._to_client, args=(pair,), daemon=True).start()

    def _to_upstream(self, pair: _Pair) -> None:
        while True:
            try:
                data = pair.client.recv(65536)
            except OSError:
                return
            if pair.severed.is_set():
                if data:  # the client wrote on a connection whose server is gone
                    self.resets += 1
                _reset(pair.client)
                return
            if not data:
                pair.upstream.close()
                return
            try:
                pair.upstream.sendall(data)
            except OSError:
                return

    def _to_client(self, pair: _Pair) -> None:
        while True:
            try:
                data = pair.upstream.recv(65536)
            except OSError:
                data = b""
            if pair.severed.is_set():
                return  # say nothing to the client: it finds out when it writes
            if not data:
                pair.client.close()
                return
            try:
                pair.client.sendall(data)
            except OSError:
                return

    def sever(self) -> int:
        """Drop every current upstream connection, leaving the client sides open and silent.
        Returns how many connections were severed."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
            self._severed.extend(pairs)
        for pair in pairs:
            pair.severed.set()
            with contextlib.suppress(OSError):
                pair.upstream.shutdown(socket.SHUT_RDWR)
            pair.upstream.close()
        return len(pairs)

    def close(self) -> None:
        self._closed.set()
        self._server.close()
        self.sever()
        for pair in self._severed:
            with contextlib.suppress(OSError):
                pair.client.shutdown(socket.SHUT_RDWR)
            pair.client.close()

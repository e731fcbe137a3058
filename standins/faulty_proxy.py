"""A small HTTP proxy on 127.0.0.1 that misbehaves on purpose, and counts what passes through.

Put it in front of a registry to see what a warm does when the upstream answers
429 with Retry-After, 503, resets connections, answers slowly, sends a body at a
steady low rate (`throttle`), or stops sending a body part-way and holds the
connection open (`stall`). Built on the standard library's threading HTTP server,
so it needs no event loop of its own.
"""

from __future__ import annotations

import re
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host"})


@dataclass
class Fault:
    """Misbehave on requests whose `METHOD path` matches `pattern`, `times` times (None: always)."""

    pattern: str
    kind: str  # "429", "503", "reset", "slow", "throttle" or "stall"
    times: int | None = 1
    retry_after: float = 1.0
    delay: float = 0.5  # "slow": before answering; "stall": how long the connection is held silent
    rate: int = 1024 * 1024  # "throttle": body bytes a second
    after: int = 0  # "stall": body bytes sent before going silent (a shorter body goes through)
    hits: int = 0

    def claims(self, line: str) -> bool:
        if not re.search(self.pattern, line):
            return False
        if self.times is not None and self.hits >= self.times:
            return False
        self.hits += 1
        return True


@dataclass
class FaultyProxy:
    target: str
    faults: list[Fault] = field(default_factory=list)
    seen: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def count(self, pattern: str) -> int:
        with self.lock:
            return sum(n for line, n in self.seen.items() if re.search(pattern, line))

    def fault_for(self, line: str) -> Fault | None:
        with self.lock:
            self.seen[line] += 1
            return next((fault for fault in self.faults if fault.claims(line)), None)


def _handler(proxy: FaultyProxy, client: httpx.Client) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: tests read counters, not logs."""

        def _reset(self) -> None:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True

        def _relay(self) -> None:
            line = f"{self.command} {self.path}"
            fault = proxy.fault_for(line)
            # Read the request's body whatever the answer: left unread, it would be taken for the
            # connection's next request.
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            if fault is not None and fault.kind == "reset":
                self._reset()
                return
            if fault is not None and fault.kind in ("429", "503"):
                self.send_response(int(fault.kind))
                if fault.kind == "429":
                    self.send_header("Retry-After", f"{fault.retry_after:g}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if fault is not None and fault.kind == "slow":
                time.sleep(fault.delay)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            upstream = client.request(self.command, proxy.target + self.path, headers=headers, content=body)
            self.send_response(upstream.status_code)
            for key, value in upstream.headers.items():
                if key.lower() == "location":  # an upload session's, say: on this proxy, as a front has it
                    value = value.replace(proxy.target, proxy.url, 1)
                if key.lower() not in _HOP_BY_HOP | {"content-length", "content-encoding"}:
                    self.send_header(key, value)
            content = upstream.content
            length_header = (
                upstream.headers.get("content-length", "0") if self.command == "HEAD" else len(content)
            )
            self.send_header("Content-Length", str(length_header))
            self.end_headers()
            if self.command == "HEAD":
                return
            if fault is not None and fault.kind == "throttle":
                self._send_at(content, fault.rate)
            elif fault is not None and fault.kind == "stall" and len(content) > fault.after:
                self.wfile.write(content[: fault.after])
                self.wfile.flush()
                time.sleep(fault.delay)
                self.close_connection = True
            else:
                self.wfile.write(content)

        def _send_at(self, content: bytes, rate: int) -> None:
            """The body in tenths of a second's worth, each on time: a steady `rate` bytes a second."""
            step = max(1, rate // 10)
            started = time.monotonic()
            for offset in range(0, len(content), step):
                time.sleep(max(0.0, started + offset / rate - time.monotonic()))
                self.wfile.write(content[offset : offset + step])
                self.wfile.flush()

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _relay

    return Handler


@contextmanager
def faulty_proxy(target: str, faults: list[Fault] | None = None) -> Iterator[FaultyProxy]:
    """Serve on a free port on 127.0.0.1 until the block ends."""
    proxy = FaultyProxy(target, faults or [])
    with httpx.Client(timeout=30, follow_redirects=False) as client:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(proxy, client))
        server.daemon_threads = True
        proxy.port = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield proxy
        finally:
            server.shutdown()
            server.server_close()

"""Deterministic fake servers for the integration suite (Python 3 stdlib only).

- fakes.provider.FakeProvider: an OpenAI Chat Completions + Anthropic Messages
  model provider that streams scripted turns over real HTTP.
- fakes.toolserver.ToolServer: an http-tool endpoint that records deliveries
  and applies effects once per Idempotency-Key.

Both listen on 127.0.0.1 on a free port, run in daemon threads, and are
stopped within a bounded time (stop() or the context manager).

This module holds the shared server machinery; the two classes are importable
from here too (``from fakes import FakeProvider, ToolServer``), lazily, so that
``fakes.provider`` and ``fakes.toolserver`` can import this module first.
"""

import http.server
import json
import socket
import threading
import time

__all__ = ["FakeProvider", "ToolServer", "LoopbackServer", "BaseHandler"]

STOP_TIMEOUT_S = 5.0  # upper bound for stop(): shutdown + joining handlers
IO_TIMEOUT_S = 30.0  # socket timeout of every server-side connection


def __getattr__(name):  # PEP 562: lazy re-exports, no import cycle
    if name == "FakeProvider":
        from .provider import FakeProvider
        return FakeProvider
    if name == "ToolServer":
        from .toolserver import ToolServer
        return ToolServer
    raise AttributeError(name)


class Aborted(Exception):
    """The server is stopping, or the client went away: drop the connection."""


class _HTTPServer(http.server.ThreadingHTTPServer):
    """ThreadingHTTPServer that tracks its connections and handler threads so
    that stop() can cut idle keep-alive connections and join every thread."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, owner, handler_cls):
        self.owner = owner
        self.stopping = threading.Event()
        self._conn_lock = threading.Lock()
        self._conns = set()
        self._handler_threads = set()
        super().__init__(("127.0.0.1", 0), handler_cls)

    def process_request(self, request, client_address):
        if self.stopping.is_set():
            self.shutdown_request(request)
            return
        t = threading.Thread(target=self._run_handler, args=(request, client_address),
                             name="fake-http-conn", daemon=True)
        with self._conn_lock:
            self._conns.add(request)
            self._handler_threads.add(t)
        t.start()

    def _run_handler(self, request, client_address):
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._conn_lock:
                self._conns.discard(request)
                self._handler_threads.discard(threading.current_thread())

    def handle_error(self, request, client_address):
        # Client resets and aborted streams are expected; stay quiet.
        pass

    def cut_connections(self):
        with self._conn_lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def join_handlers(self, deadline):
        while True:
            with self._conn_lock:
                threads = list(self._handler_threads)
            if not threads:
                return True
            for t in threads:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                t.join(min(left, 0.2))


class BaseHandler(http.server.BaseHTTPRequestHandler):
    """HTTP/1.1 handler with keep-alive, TCP_NODELAY, bounded socket I/O,
    chunked streaming and interruptible sleeps."""

    protocol_version = "HTTP/1.1"
    server_version = "fake/1.0"
    sys_version = ""
    timeout = IO_TIMEOUT_S

    def setup(self):
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def version_string(self):
        return self.server_version

    def log_message(self, format, *args):  # noqa: A002 (stdlib signature)
        if getattr(self.server.owner, "verbose", False):
            super().log_message(format, *args)

    # -- request helpers ---------------------------------------------------

    def read_body(self):
        """The raw request body (Content-Length or chunked)."""
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            parts = []
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise Aborted()
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # trailers up to the blank line
                    while True:
                        t = self.rfile.readline(65537)
                        if not t or t in (b"\r\n", b"\n"):
                            break
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline(3)
            return b"".join(parts)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def header_dict(self):
        """Request headers with lowercased names (the last value wins)."""
        return {k.lower(): v for k, v in self.headers.items()}

    # -- response helpers --------------------------------------------------

    def sleep(self, seconds):
        """Sleeps, but raises Aborted as soon as the server is stopping."""
        if seconds and seconds > 0:
            if self.server.stopping.wait(seconds):
                raise Aborted()
        elif self.server.stopping.is_set():
            raise Aborted()

    def send_bytes(self, status, body, content_type="application/json", headers=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status, obj, headers=None):
        body = json.dumps(obj).encode()
        self.send_bytes(status, body, "application/json", headers)

    def start_chunked(self, status, content_type, headers=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.flush()

    def write_chunk(self, data):
        """One HTTP chunk in a single write, flushed."""
        if not data:
            return
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def end_chunked(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def cut(self):
        """Closes the connection now, mid-response."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class LoopbackServer:
    """start()/stop()/context manager around an _HTTPServer on 127.0.0.1:0."""

    handler_class = BaseHandler
    verbose = False

    def __init__(self):
        self._httpd = None
        self._thread = None
        self._lifecycle = threading.Lock()
        self.port = None
        self.url = None

    def start(self):
        with self._lifecycle:
            if self._httpd is not None:
                return self
            httpd = _HTTPServer(self, self.handler_class)
            self.port = httpd.server_address[1]
            self.url = "http://127.0.0.1:%d" % self.port
            t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                 name="%s-%d" % (type(self).__name__, self.port), daemon=True)
            self._httpd, self._thread = httpd, t
            t.start()
            return self

    def stop(self, timeout=STOP_TIMEOUT_S):
        """Stops accepting, aborts sleeping/streaming handlers, cuts open
        connections and joins all threads; returns within about `timeout` s.
        Returns True when every thread ended in time."""
        with self._lifecycle:
            httpd, t = self._httpd, self._thread
            self._httpd = self._thread = None
        if httpd is None:
            return True
        deadline = time.monotonic() + timeout
        httpd.stopping.set()
        stopper = threading.Thread(target=httpd.shutdown, daemon=True)
        stopper.start()
        stopper.join(max(0.0, deadline - time.monotonic()))
        httpd.cut_connections()
        ok = httpd.join_handlers(deadline)
        try:
            httpd.server_close()
        except OSError:
            pass
        t.join(max(0.0, deadline - time.monotonic()))
        return ok and not t.is_alive()

    @property
    def running(self):
        return self._httpd is not None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

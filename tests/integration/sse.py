"""A small Server-Sent Events reader over a raw socket (stdlib only), for
tests that need control over disconnects and many concurrent streams.

The response is checked against docs/openapi.yaml (openapi_check.py): its
status and media type when the head arrives, each event as it is read, and
an error body once the server has closed."""

import socket
import time

import openapi_check


class SSE:
    def __init__(self, host, port, path, key=None, headers=None, timeout=30.0,
                 accept="text/event-stream"):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        lines = ["GET %s HTTP/1.1" % path, "Host: %s:%d" % (host, port),
                 "Accept: " + accept, "Connection: close"]
        if key:
            lines.append("Authorization: Bearer " + key)
        for k, v in (headers or {}).items():
            lines.append("%s: %s" % (k, v))
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buf = b""
        self.status = None
        self.headers = {}
        self.closed = False
        self.comments = []
        self._chunked = False
        self._raw = b""
        self._path = path
        self._body_checked = False
        self._read_head()
        if self.status == 200:
            openapi_check.check_response("GET", path, self.status,
                                         self.headers.get("content-type"), b"", sse_events=[])

    def _recv(self):
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return None
        if not data:
            self.closed = True
            return b""
        return data

    def _read_head(self):
        while b"\r\n\r\n" not in self._raw:
            d = self._recv()
            if not d:
                raise AssertionError("no response head")
            self._raw += d
        head, rest = self._raw.split(b"\r\n\r\n", 1)
        first, *hl = head.decode("latin-1").split("\r\n")
        self.status = int(first.split()[1])
        for line in hl:
            k, _, v = line.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        self._chunked = self.headers.get("transfer-encoding", "").lower() == "chunked"
        self._raw = rest
        self._dechunk()

    def _dechunk(self):
        if not self._chunked:
            self.buf += self._raw
            self._raw = b""
            return
        while True:
            if b"\r\n" not in self._raw:
                return
            size_line, rest = self._raw.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                self.closed = True
                self._raw = b""
                return
            if len(rest) < size + 2:
                return
            self.buf += rest[:size]
            self._raw = rest[size + 2:]

    def events(self, until=None, timeout=30.0, max_events=100000):
        """Reads events until `until(event)` is true, the stream closes, or
        the timeout passes. Each event: dict(id, event, data, raw)."""
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < max_events:
            while b"\n\n" in self.buf:
                block, self.buf = self.buf.split(b"\n\n", 1)
                ev = {"id": None, "event": "message", "data": ""}
                data = []
                comment = False
                for line in block.decode("utf-8").split("\n"):
                    if line.startswith(":"):
                        self.comments.append(line)
                        comment = True
                        continue
                    field, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if field == "data":
                        data.append(value)
                    elif field == "id":
                        ev["id"] = value
                    elif field == "event":
                        ev["event"] = value
                    else:
                        ev.setdefault("unknown", []).append(field)
                if comment and not data and ev["id"] is None:
                    continue
                ev["data"] = "\n".join(data)
                if self.status == 200:
                    openapi_check.check_sse_stream_event("GET", self._path, ev["event"],
                                                         ev["data"])
                out.append(ev)
                if until is not None and until(ev):
                    return out
            if self.closed or time.monotonic() > deadline:
                if self.closed:
                    self._check_error_body()
                return out
            d = self._recv()
            if d is None:
                continue
            self._raw += d
            self._dechunk()
        return out

    def _check_error_body(self, head_only=False):
        """A non-200 answer's whole body, once the server has closed (only
        its status and media type when the caller stops reading earlier)."""
        if self.status == 200 or self._body_checked:
            return
        self._body_checked = True
        openapi_check.check_response("GET", self._path, self.status,
                                     self.headers.get("content-type"), self.buf,
                                     head_only=head_only)

    def close(self):
        length = self.headers.get("content-length")
        whole = self.closed or (length is not None and length.isdigit()
                                and len(self.buf) >= int(length))
        self._check_error_body(head_only=not whole)
        try:
            self.sock.close()
        except OSError:
            pass

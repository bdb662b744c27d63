"""A small Server-Sent Events reader over a raw socket (stdlib only), for
tests that need control over disconnects and many concurrent streams."""

import socket
import time


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
        self._read_head()

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
                out.append(ev)
                if until is not None and until(ev):
                    return out
            if self.closed or time.monotonic() > deadline:
                return out
            d = self._recv()
            if d is None:
                continue
            self._raw += d
            self._dechunk()
        return out

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

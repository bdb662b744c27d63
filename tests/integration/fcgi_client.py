"""A minimal FastCGI client (responder role, one request per connection),
for talking to agentrun-stream or an agentrun-api directly, without nginx."""

import socket
import struct


def _record(rtype, req_id, content=b""):
    return struct.pack("!BBHHBx", 1, rtype, req_id, len(content), 0) + content


def _pair(name, value):
    out = b""
    for part in (name, value):
        n = len(part)
        out += bytes([n]) if n < 128 else struct.pack("!I", n | 0x80000000)
    return out + name + value


def open_request(sock_path, params, body=b"", timeout=10.0, req_id=1):
    """Sends one request; returns the connected socket (read with read_response).
    nginx always numbers its request 1; req_id tests any other number."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock_path)
    data = _record(1, req_id, struct.pack("!HB5x", 1, 0))
    pairs = b"".join(_pair(k.encode(), v.encode()) for k, v in params.items())
    data += _record(4, req_id, pairs) + _record(4, req_id)
    if body:
        data += _record(5, req_id, body)
    data += _record(5, req_id)
    s.sendall(data)
    return s


def read_response(s, max_bytes=1 << 20):
    """Reads STDOUT until END_REQUEST or EOF; returns (status, headers, body)."""
    buf, out = b"", b""
    while len(out) < max_bytes:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
        ended = False
        while len(buf) >= 8:
            _, rtype, _, clen, pad = struct.unpack("!BBHHB", buf[:7])
            if len(buf) < 8 + clen + pad:
                break
            content = buf[8:8 + clen]
            buf = buf[8 + clen + pad:]
            if rtype == 6:
                out += content
            elif rtype == 3:
                ended = True
        if ended:
            break
    s.close()
    head, _, body = out.partition(b"\r\n\r\n")
    status, headers = 200, {}
    for line in head.decode("latin-1").split("\r\n"):
        k, _, v = line.partition(":")
        if k.lower() == "status":
            status = int(v.split()[0])
        elif k:
            headers[k.strip().lower()] = v.strip()
    return status, headers, body


def api_request(sock_path, method, uri, key, body=b"", timeout=30.0):
    """One request as nginx would pass it to an agentrun-api socket (JSON
    body, Bearer key); returns (status, headers, body)."""
    params = {"REQUEST_METHOD": method, "REQUEST_URI": uri, "DOCUMENT_URI": uri,
              "QUERY_STRING": "", "HTTP_AUTHORIZATION": "Bearer " + key,
              "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)),
              "REMOTE_ADDR": "127.0.0.1", "SERVER_PROTOCOL": "HTTP/1.1"}
    return read_response(open_request(sock_path, params, body, timeout=timeout))

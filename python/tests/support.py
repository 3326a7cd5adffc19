"""Test helpers: a real musterd on free ports, fake servers (recording,
hanging, down), plain HTTP requests, and a minimal WebSocket client.

Standard library only. The musterd binary is $MUSTERD, else bin/musterd in
the repository (python/../bin/musterd), built with
`go build -o bin/musterd ./cmd/musterd` when missing.
"""

import base64
import hashlib
import http.client
import json
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO_DIR = os.path.dirname(PYTHON_DIR)

_build_lock = threading.Lock()


def musterd_binary():
    """The musterd to test against, built if needed."""
    path = os.environ.get("MUSTERD")
    if path:
        return os.path.abspath(path)
    path = os.path.join(REPO_DIR, "bin", "musterd")
    with _build_lock:
        if not os.path.exists(path):
            sys.stderr.write("building %s\n" % path)
            subprocess.check_call(["go", "build", "-o", "bin/musterd", "./cmd/musterd"], cwd=REPO_DIR)
    return path


_flags = {}


def musterd_has_flag(flag):
    """Whether the musterd under test knows --flag (its -help lists it)."""
    if flag not in _flags:
        proc = subprocess.run([musterd_binary(), "-help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        _flags[flag] = ("-" + flag) in proc.stdout.decode("utf-8", "replace")
    return _flags[flag]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Musterd(object):
    """A musterd process on free loopback ports.

        with Musterd() as server:
            server.get("/api/monitoring/workers")
    """

    def __init__(self, *args):
        self.args = list(args)
        self.proc = None
        self.port = None
        self._log = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        binary = musterd_binary()
        last = None
        for _ in range(3):  # a free port may be taken before musterd binds it
            self.port, grpc = free_port(), free_port()
            self._log = tempfile.TemporaryFile()
            self.proc = subprocess.Popen(
                [binary, "--http-addr=127.0.0.1:%d" % self.port, "--grpc-addr=127.0.0.1:%d" % grpc,
                 "--store=memory"] + self.args,
                stdout=self._log, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    status, _ = request("GET", self.url + "/api/monitoring/workers", timeout=1)
                    if status == 200:
                        return self
                except OSError:
                    pass
                time.sleep(0.02)
            last = self.output()
            self.stop()
        raise RuntimeError("musterd did not start:\n" + (last or ""))

    def output(self):
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def get(self, path):
        status, body = request("GET", self.url + path)
        if status != 200:
            raise AssertionError("GET %s: HTTP %d %s" % (path, status, body))
        return body

    def post(self, path, body):
        return request("POST", self.url + path, body)


def request(method, url, body=None, raw=None, timeout=5, headers=None):
    """One HTTP request on a new connection: (status, parsed JSON or text).
    body is encoded as JSON; raw is sent as it is."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode("utf-8"))
        hdrs = {"Content-Type": "application/json"} if data is not None else {}
        hdrs.update(headers or {})
        path = parts.path + ("?" + parts.query if parts.query else "")
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        text = resp.read().decode("utf-8", "replace")
        try:
            return resp.status, json.loads(text)
        except ValueError:
            return resp.status, text
    finally:
        conn.close()


class Replayer(object):
    """Sends requests over one kept-alive connection, as the deployed
    module's requests.Session-less calls would each send them."""

    def __init__(self, base_url, timeout=5):
        parts = urlsplit(base_url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)

    def send(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json"} if data is not None else {}
        self.conn.request(method, path, body=data, headers=headers)
        resp = self.conn.getresponse()
        text = resp.read().decode("utf-8")
        try:
            return resp.status, json.loads(text)
        except ValueError:
            return resp.status, text

    def close(self):
        self.conn.close()


# ----------------------------------------------------------------------
# Looking into responses

_SELECT = re.compile(r"^(\w+)\[(\w+)=(.*)\]$")


def lookup(doc, path):
    """Follows a dotted path: "a.b", "list.0.key", "len(a.b)" and
    "workers[worker_id=x].status" (the notation of the shared cases)."""
    if path.startswith("len(") and path.endswith(")"):
        return len(lookup(doc, path[4:-1]))
    cur = doc
    for part in path.split("."):
        m = _SELECT.match(part)
        if m:
            cur = cur[m.group(1)]
            matches = [x for x in cur if str(x.get(m.group(2))) == m.group(3)]
            if not matches:
                raise KeyError(part)
            cur = matches[0]
        elif isinstance(cur, list):
            cur = cur[int(part)]
        else:
            cur = cur[part]
    return cur


# ----------------------------------------------------------------------
# Fake servers


class RecordingServer(object):
    """An HTTP server that records every request (method, path, parsed JSON
    body) and answers 200 {"status": "success"} unless respond(method, path,
    body, index) returns another (status, body)."""

    def __init__(self, respond=None, port=0):
        self.requests = []
        self.respond = respond
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                try:
                    body = json.loads(raw.decode("utf-8")) if raw else None
                except ValueError:
                    body = raw
                with outer.lock:
                    index = len(outer.requests)
                    outer.requests.append((self.command, self.path, body))
                    outer.changed.notify_all()
                status, answer = 200, {"status": "success"}
                if outer.respond is not None:
                    got = outer.respond(self.command, self.path, body, index)
                    if got is not None:
                        status, answer = got
                data = json.dumps(answer).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = do_GET = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, n, timeout=5):
        """Waits until at least n requests arrived; returns them."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while len(self.requests) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.changed.wait(left)
            return list(self.requests)


class HangingServer(object):
    """A socket that accepts connections and never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted = []
        self._stop = False
        self.thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def _accept(self):
        self.sock.settimeout(0.05)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted.append(conn)  # read nothing, answer nothing

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self._stop = True
        self.thread.join(1)
        for c in self.accepted:
            c.close()
        self.sock.close()


def down_url():
    """A URL where nothing listens (connections are refused)."""
    return "http://127.0.0.1:%d" % free_port()


# ----------------------------------------------------------------------
# Minimal WebSocket client (RFC 6455): HTTP/1.1 Upgrade handshake, masked
# client frames, unmasked server frames, text messages, ping/pong, close.


class WebSocketNotFound(Exception):
    """The server answered the handshake with 404: no such endpoint."""


class WebSocketError(Exception):
    pass


_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class WebSocket(object):
    """A WebSocket connection whose reader thread collects text messages
    (parsed as JSON when they are) in self.messages."""

    def __init__(self, url, origin=None, timeout=5):
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        lines = [
            "GET %s HTTP/1.1" % (parts.path or "/"),
            "Host: %s:%d" % (parts.hostname, parts.port),
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Key: " + key,
            "Sec-WebSocket-Version: 13",
        ]
        if origin:
            lines.append("Origin: " + origin)
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("ascii"))
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise WebSocketError("connection closed during the handshake")
            head += chunk
        head, self._buf = head.split(b"\r\n\r\n", 1)
        status_line = head.split(b"\r\n")[0].decode("latin-1")
        self.status = int(status_line.split()[1])
        headers = {}
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        if self.status == 404:
            self.sock.close()
            raise WebSocketNotFound(status_line)
        if self.status != 101:
            self.sock.close()
            raise WebSocketError("handshake answered %s" % status_line)
        want = base64.b64encode(hashlib.sha1((key + _WS_GUID).encode("ascii")).digest()).decode("ascii")
        if headers.get("sec-websocket-accept") != want:
            self.sock.close()
            raise WebSocketError("bad Sec-WebSocket-Accept %r" % headers.get("sec-websocket-accept"))
        self.messages = []
        self.closed = None  # (code, reason) once the server closed
        self._cond = threading.Condition()
        self._send_lock = threading.Lock()
        self.sock.settimeout(None)
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()

    # frames

    def _send_frame(self, opcode, payload):
        header = bytearray([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header.append(0x80 | n)
        elif n < 1 << 16:
            header.append(0x80 | 126)
            header += struct.pack("!H", n)
        else:
            header.append(0x80 | 127)
            header += struct.pack("!Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        with self._send_lock:
            self.sock.sendall(bytes(header) + mask + masked)

    def _recv_exact(self, n):
        while len(self._buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self._buf += chunk
        data, self._buf = self._buf[:n], self._buf[n:]
        return data

    def _recv_frame(self):
        b0, b1 = self._recv_exact(2)
        fin, opcode = b0 & 0x80, b0 & 0x0F
        if b1 & 0x80:
            raise WebSocketError("server frames must not be masked")
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._recv_exact(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._recv_exact(8))[0]
        return fin, opcode, self._recv_exact(n)

    def _read_loop(self):
        parts, first_op = [], None
        try:
            while True:
                fin, opcode, payload = self._recv_frame()
                if opcode == 0x9:  # ping
                    self._send_frame(0xA, payload)
                    continue
                if opcode == 0xA:
                    continue
                if opcode == 0x8:
                    code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                    self._finish((code, payload[2:].decode("utf-8", "replace")))
                    try:
                        self._send_frame(0x8, payload[:2])
                    except OSError:
                        pass
                    return
                if opcode in (0x1, 0x2):
                    first_op, parts = opcode, [payload]
                else:  # continuation
                    parts.append(payload)
                if fin:
                    data = b"".join(parts)
                    text = data.decode("utf-8") if first_op == 0x1 else data
                    try:
                        msg = json.loads(text)
                    except (ValueError, TypeError):
                        msg = text
                    with self._cond:
                        self.messages.append(msg)
                        self._cond.notify_all()
        except (EOFError, OSError, WebSocketError):
            self._finish((None, "connection ended"))

    def _finish(self, closed):
        with self._cond:
            if self.closed is None:
                self.closed = closed
            self._cond.notify_all()

    # API

    def send_json(self, obj):
        self._send_frame(0x1, json.dumps(obj).encode("utf-8"))

    def wait_for(self, predicate, timeout=5):
        """Waits until predicate(messages) is true; returns it (falsy on
        timeout or when the connection ended first)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = predicate(self.messages)
                if got or self.closed is not None:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    return got
                self._cond.wait(left)

    def of_type(self, kind):
        with self._cond:
            return [m for m in self.messages if isinstance(m, dict) and m.get("type") == kind]

    def close(self):
        try:
            self._send_frame(0x8, struct.pack("!H", 1000))
        except OSError:
            pass
        self._reader.join(1)
        try:
            self.sock.close()
        except OSError:
            pass

#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Live stock over WebSocket: an open sale page's socket gets the new stock
after a claim, within a deadline.  A tiny RFC 6455 client (stdlib only).

The endpoint is the one the /sales page itself uses (found in its HTML or
its scripts), so the test checks what a browser would do.

usage: test_websocket.py TRIPDEAL_APP sqlite|postgres
"""

import base64
import hashlib
import json
import os
import re
import socket
import struct
import time
import urllib.parse

import tdtest
from tdtest import App, Session, check, log

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
DEADLINE = 5.0


class WebSocket:
    def __init__(self, host, port, path, protocol=None, timeout=10):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16))
        request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key.decode()}\r\n"
                   f"Sec-WebSocket-Version: 13\r\nOrigin: http://{host}:{port}\r\n")
        if protocol:
            request += f"Sec-WebSocket-Protocol: {protocol}\r\n"
        self.sock.sendall(request.encode() + b"\r\n")
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise tdtest.TestFailure(f"WebSocket {path}: connection closed during handshake: {self.buffer!r}")
            self.buffer += chunk
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        check(lines[0].startswith("HTTP/1.1 101"), f"WebSocket {path}: handshake answered {lines[0]!r}")
        headers = {l.split(":", 1)[0].strip().lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
        expected = base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
        check(headers.get("sec-websocket-accept") == expected, "bad Sec-WebSocket-Accept")

    def _read(self, n):
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("WebSocket closed")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def send(self, opcode, payload):
        mask = os.urandom(4)
        header = bytes([0x80 | opcode])
        if len(payload) < 126:
            header += bytes([0x80 | len(payload)])
        elif len(payload) < 65536:
            header += bytes([0x80 | 126]) + struct.pack(">H", len(payload))
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", len(payload))
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def receive(self, timeout):
        """Next text/binary message (bytes) or None on timeout; answers pings."""
        self.sock.settimeout(timeout)
        message = b""
        try:
            while True:
                first, second = self._read(2)
                opcode, final = first & 0x0F, first & 0x80
                check(not second & 0x80, "server frames must not be masked")
                length = second & 0x7F
                if length == 126:
                    length = struct.unpack(">H", self._read(2))[0]
                elif length == 127:
                    length = struct.unpack(">Q", self._read(8))[0]
                payload = self._read(length)
                if opcode == 0x9:
                    self.send(0xA, payload)
                    continue
                if opcode == 0xA:
                    continue
                if opcode == 0x8:
                    raise ConnectionError("WebSocket close frame")
                message += payload
                if final:
                    return message
        except socket.timeout:
            return None

    def close(self):
        try:
            self.send(0x8, struct.pack(">H", 1000))
        except OSError:
            pass
        self.sock.close()


def find_endpoint(app, page_text):
    """(host, port, path, protocol) the sale page connects to."""
    sources = [page_text]
    for src in re.findall(r"<script[^>]+src\s*=\s*[\"']([^\"']+)", page_text, re.I):
        status, _, body = app.request("GET", src)
        if status == 200:
            sources.append(body.decode("utf-8", "replace"))
    text = "\n".join(sources)
    protocol = None
    match = re.search(r"new\s+WebSocket\s*\([^,)]*,\s*[\"'\[]\s*[\"']?([A-Za-z0-9._-]+)", text)
    if match:
        protocol = match.group(1)
    attr = re.search(r"data-(?:ws|websocket|live)[a-z-]*\s*=\s*[\"']([^\"']+)", text, re.I)
    absolute = re.search(r"wss?://[^\"'`\s]+", text)
    if attr or absolute:
        url = (attr or absolute).group(1 if attr else 0)
        if "${" not in url and "://" in url:
            parts = urllib.parse.urlsplit(url)
            return parts.hostname, parts.port or app.port, parts.path or "/", protocol
        if url.startswith("/"):
            return "127.0.0.1", app.port, url, protocol
    paths = re.findall(r"[\"'`](/[A-Za-z0-9_/.-]*(?:ws|live|socket|stream)[A-Za-z0-9_/.-]*)[\"'`]", text)
    for path in paths:
        return "127.0.0.1", app.port, path, protocol
    raise tdtest.TestFailure("the /sales page names no WebSocket endpoint (expected new WebSocket(...) "
                             "or a data-ws attribute)")


def stock_in(message, deal_id):
    """The stock_left for deal_id in a pushed message, or None."""
    try:
        document = json.loads(message)
    except ValueError:
        return None
    items = document if isinstance(document, list) else document.get("deals", [document]) \
        if isinstance(document, dict) else []
    for item in items:
        if isinstance(item, dict):
            identifier = item.get("id", item.get("deal_id", item.get("deal")))
            if identifier == deal_id or str(identifier) == str(deal_id):
                for key in ("stock_left", "stock", "left"):
                    if key in item:
                        return item[key]
    return None


def run(argv):
    if len(argv) != 2:
        raise tdtest.TestFailure(__doc__)
    binary, backend = argv
    db_url = tdtest.database_url(backend)
    app = App(binary, db_url).start()
    # On PostgreSQL a second replica takes claims too: its sales must reach the
    # first replica's sockets (replicas share only the database).
    claim_apps = [app]
    if backend != "sqlite":
        claim_apps.append(App(binary, db_url, seed_demo=False, name="replica").start())
    deal = tdtest.find_deal(app, "open")
    status, _, body = app.request("GET", "/sales")
    check(status == 200, f"/sales -> {status}")
    host, port, path, protocol = find_endpoint(app, body.decode("utf-8"))
    check(host in ("127.0.0.1", "localhost", None) or host.startswith("127."), f"WebSocket host {host} not loopback")
    log(f"WebSocket endpoint ws://{host}:{port}{path} protocol={protocol}")

    sockets = [WebSocket("127.0.0.1", port, path, protocol) for _ in range(3)]
    # Drain any initial snapshot (it must not be stale, if sent).
    for ws in sockets:
        for _ in range(20):
            message = ws.receive(0.3)
            if message is None:
                break
            value = stock_in(message, deal["id"])
            if value is not None:
                check(value == deal["stock_left"], f"initial snapshot says {value}, API {deal['stock_left']}")

    for round_ in range(4):
        claim_app = claim_apps[round_ % len(claim_apps)]
        session = Session(claim_app).start()
        status, _, body = session.claim(deal["id"])
        check(status == 201, f"claim -> {status}: {body[:200]!r}")
        expected = tdtest.get_deal(app, deal["id"])["stock_left"]
        claimed_at = time.monotonic()
        for index, ws in enumerate(sockets):
            seen = None
            end = claimed_at + DEADLINE
            while time.monotonic() < end:
                message = ws.receive(max(0.05, end - time.monotonic()))
                if message is None:
                    break
                seen = stock_in(message, deal["id"])
                if seen == expected:
                    break
            check(seen == expected, f"round {round_}: socket {index} saw stock {seen!r} within {DEADLINE}s, "
                                    f"want {expected}")
        log(f"round {round_}: claim on {claim_app.name}; all sockets got stock {expected} "
            f"in {time.monotonic() - claimed_at:.3f}s")
    # Many open sale pages: 200 more sockets all get the next change.
    crowd = [WebSocket("127.0.0.1", port, path, protocol) for _ in range(200)]
    session = Session(app).start()
    status, _, body = session.claim(deal["id"])
    check(status == 201, f"claim -> {status}")
    expected = tdtest.get_deal(app, deal["id"])["stock_left"]
    end = time.monotonic() + DEADLINE * 2
    missing = []
    for index, ws in enumerate(crowd):
        seen = None
        while time.monotonic() < end:
            message = ws.receive(max(0.05, end - time.monotonic()))
            if message is None:
                break
            seen = stock_in(message, deal["id"])
            if seen == expected:
                break
        if seen != expected:
            missing.append(index)
    check(not missing, f"{len(missing)} of 200 sockets did not get stock {expected} within {DEADLINE * 2}s")
    log(f"200 more sockets all got stock {expected}")
    for ws in crowd:
        ws.close()

    # The app expects nothing from clients: a data frame (masked or not, RFC
    # 6455 §5.1 requires closing on unmasked ones) closes that socket.
    for masked in (True, False):
        rude = WebSocket("127.0.0.1", port, path, protocol)
        if masked:
            rude.send(0x1, b"hello")
        else:
            rude.sock.sendall(bytes([0x81, 0x05]) + b"hello")
        closed = False
        end = time.monotonic() + DEADLINE
        try:
            while time.monotonic() < end:
                rude.receive(0.2)
        except (ConnectionError, OSError):
            closed = True
        check(closed, f"server kept the socket open after a {'masked' if masked else 'unmasked'} client frame")
        rude.sock.close()

    # A hostile client streams 32 MiB into one frame announcing 2^40 bytes:
    # the app must not buffer it (RSS stays flat) or must close the socket,
    # and keeps serving everyone else.
    def rss_kib():
        with open(f"/proc/{app.process.pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    before = rss_kib()
    bad = WebSocket("127.0.0.1", port, path, protocol)
    mask = os.urandom(4)
    chunk = bytes(1 << 20)
    try:
        bad.sock.sendall(bytes([0x81, 0xFF]) + struct.pack(">Q", 1 << 40) + mask)
        for _ in range(32):
            bad.sock.sendall(chunk)
        closed = False
    except OSError:
        closed = True
    grown = rss_kib() - before
    log(f"hostile 2^40-byte frame: socket closed={closed}, app RSS grew {grown} KiB")
    check(grown < 16 * 1024, f"app RSS grew {grown} KiB while a client streamed a huge WebSocket frame")
    check(app.request("GET", "/healthz")[0] == 200, "app not serving during a hostile WebSocket frame")
    bad.sock.close()
    for ws in sockets:
        ws.close()
    check(app.alive(), "app died")
    check(app.request("GET", "/healthz")[0] == 200, "app not serving after WebSocket clients left")


if __name__ == "__main__":
    tdtest.main(run)

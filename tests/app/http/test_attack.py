# SPDX-License-Identifier: Apache-2.0
"""What an adversarial run against tripdeal-app found, each kept fixed (issue 13).

usage: test_attack.py TRIPDEAL_APP slow-body|slow-crowd|bad-input|h2c

slow-body   a body sent a byte at a time is answered 408 within --request-timeout
            (first request and a later one on a keep-alive connection)
slow-crowd  more slow heads and slow bodies than --max-incomplete-requests, in an
            app whose open-file limit they would exhaust: GET / is still answered,
            the oldest slow connections got 408
bad-input   %00 in a path -> 400, never a silent close or "/"; one header repeated
            100 times -> 431
h2c         Upgrade: h2c (curl --http2) is ignored and served as HTTP/1.1

Every loop is bounded in count and time and talks to 127.0.0.1 only.
"""

import os
import resource
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tdtest  # noqa: E402
from tdtest import App, check, log, status_of, raw_exchange  # noqa: E402

SLOW_HEAD = b"POST /community/posts HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 60000\r\n\r\n"


def read_until_closed(sock, deadline_seconds):
    """Bytes the server sends until it closes (or the deadline passes: None)."""
    sock.settimeout(0.2)
    data = b""
    end = time.monotonic() + deadline_seconds
    while time.monotonic() < end:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk
    return None


def dribble_until_answered(sock, bound_seconds, interval=0.5):
    """Send one body byte every `interval` s until the server answers and
    closes; returns (answer bytes, seconds) or (None, seconds) at the bound."""
    started = time.monotonic()
    sock.settimeout(interval)
    data = b""
    while time.monotonic() - started < bound_seconds:
        try:
            sock.send(b"a")
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            chunk = sock.recv(65536)
            if not chunk:
                return data, time.monotonic() - started
            data += chunk
        except socket.timeout:
            pass
        except ConnectionResetError:
            return data, time.monotonic() - started
    return None, time.monotonic() - started


def scenario_slow_body(binary):
    timeout = 2
    app = App(binary, tdtest.database_url("sqlite"),
              extra_args=["--request-timeout", f"{timeout}s"]).start()

    # First request on a connection: the deadline counts from the accept.
    with socket.create_connection(("127.0.0.1", app.port), timeout=5) as sock:
        sock.sendall(SLOW_HEAD)
        answer, seconds = dribble_until_answered(sock, timeout + 8)
    check(answer is not None, f"a body sent a byte every 0.5 s was still open after {timeout + 8} s "
                              f"(--request-timeout {timeout}s)")
    check(status_of(answer) == 408, f"slow body: want 408, got {answer[:80]!r}")
    log(f"slow body on a new connection: 408 after {seconds:.1f} s")

    # A later request on a keep-alive connection gets its own deadline.
    with socket.create_connection(("127.0.0.1", app.port), timeout=5) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        first = b""
        while b"\r\n\r\nok" not in first:
            chunk = sock.recv(4096)
            check(chunk, f"keep-alive connection closed after the first answer: {first!r}")
            first += chunk
        check(status_of(first) == 200, f"GET /healthz -> {first[:60]!r}")
        sock.sendall(SLOW_HEAD)
        answer, seconds = dribble_until_answered(sock, timeout + 8)
    check(answer is not None, "a slow body on a keep-alive connection was never timed out")
    check(status_of(answer) == 408, f"slow body (keep-alive): want 408, got {answer[:80]!r}")
    log(f"slow body on a keep-alive connection: 408 after {seconds:.1f} s")

    # A body that does arrive in time is still served.
    status, _, _ = app.request("POST", "/community/posts", body=b"title=x",
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
    check(status == 403, f"a normal form post (no CSRF) -> {status}, want 403")


def scenario_slow_crowd(binary):
    cap = 16
    request_timeout = 30
    app_files = 128      # the app's open-file limit in this test
    per_kind = 80        # slow heads and slow bodies each: 160 > app_files, 80 > cap
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    check(soft >= 2 * per_kind + 64, f"this test needs an open-file limit of {2 * per_kind + 64}, "
                                     f"has {soft}")
    app = App(binary, tdtest.database_url("sqlite"),
              extra_args=["--request-timeout", f"{request_timeout}s",
                          "--max-incomplete-requests", str(cap), "--threads", "2"]).start()
    resource.prlimit(app.process.pid, resource.RLIMIT_NOFILE, (app_files, app_files))

    bodies, heads = [], []
    tdtest.on_cleanup(lambda: [s.close() for s in bodies + heads])
    started = time.monotonic()
    for i in range(per_kind):
        body = socket.create_connection(("127.0.0.1", app.port), timeout=5)
        body.sendall(SLOW_HEAD + b"a")
        bodies.append(body)
        head = socket.create_connection(("127.0.0.1", app.port), timeout=5)
        head.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        heads.append(head)
    log(f"opened {per_kind} slow bodies and {per_kind} slow heads in {time.monotonic() - started:.1f} s")

    # New visitors are still served, well before the slow ones time out.
    def home_page():
        status, _, body = app.request("GET", "/", timeout=3)
        return status == 200 and b"<html" in body
    tdtest.poll(home_page, request_timeout - 5, interval=0.2,
                what=f"GET / to be answered with {2 * per_kind} slow connections open "
                     f"(cap {cap}, app open-file limit {app_files})")
    log(f"GET / answered {time.monotonic() - started:.1f} s after the crowd started")

    # The oldest slow connections made room: they got 408 (or were closed).
    def closed_or_answered(sock):
        sock.settimeout(0)
        try:
            data = sock.recv(4096)
            return data == b"" or status_of(data) == 408
        except BlockingIOError:
            return False
        except OSError:
            return True
    closed = set()

    def settled():
        for sock in bodies + heads:
            if sock not in closed and closed_or_answered(sock):
                closed.add(sock)
        return len(bodies) + len(heads) - len(closed) <= 2 * cap + 4
    tdtest.poll(settled, request_timeout - 10, interval=0.2,
                what=f"slow connections beyond the cap ({cap} per state) to be closed")
    evicted_bodies = sum(s in closed for s in bodies[:per_kind // 2])
    evicted_heads = sum(s in closed for s in heads[:per_kind // 2])
    check(evicted_bodies > 0 and evicted_heads > 0,
          f"no old slow connection was closed (bodies {evicted_bodies}, heads {evicted_heads})")
    log(f"oldest half: {evicted_bodies} bodies and {evicted_heads} heads closed; "
        f"{len(bodies) + len(heads) - len(closed)} still open")
    check(app.alive(), "app died")


def scenario_bad_input(binary):
    app = App(binary, tdtest.database_url("sqlite")).start()
    for path in ("/healthz%00", "/deals/2%00", "/%00x", "/community?page=%00"):
        raw = raw_exchange(app.port, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode(), timeout=5)
        check(status_of(raw) == 400, f"GET {path}: want 400, got {raw[:80]!r}")
        check(b"NUL" in raw, f"GET {path}: the 400 does not say why: {raw!r}")
    log("%00 in a path -> 400")
    # On a later request of a keep-alive connection (lws parses that head):
    # never served as "/".
    with socket.create_connection(("127.0.0.1", app.port), timeout=5) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        first = b""
        while b"\r\n\r\nok" not in first:
            chunk = sock.recv(4096)
            check(chunk, "keep-alive connection closed after /healthz")
            first += chunk
        sock.sendall(b"GET /%00x HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = read_until_closed(sock, 5)
    check(answer is not None and status_of(answer) == 400,
          f"GET /%00x on a keep-alive connection: want 400, got {answer[:80] if answer else answer!r}")
    head = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"Cookie: a=b\r\n" * 100 + b"\r\n"
    raw = raw_exchange(app.port, head, timeout=5)
    check(status_of(raw) == 431, f"100 x Cookie: want 431, got {raw[:80]!r}")
    log(f"one header repeated 100 times ({len(head)} bytes) -> 431")
    status, _, _ = app.request("GET", "/", headers={"Cookie": "a=b"})
    check(status == 200, f"GET / -> {status} after the bad requests")


def scenario_h2c(binary):
    app = App(binary, tdtest.database_url("sqlite")).start()
    curl = shutil.which("curl")
    if curl:
        argv = [curl, "-sS", "--http2", "-w", "%{http_code} %{http_version}\n"]
        for path in ("/", "/healthz", "/api/deals"):
            argv += ["-o", "/dev/null", f"{app.base}{path}"]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        lines = result.stdout.split()
        check(result.returncode == 0 and lines == ["200", "1.1"] * 3,
              f"curl --http2: {result.stdout!r} {result.stderr!r}")
        log("curl --http2: three 200s over HTTP/1.1")
    else:
        log("curl not installed: raw requests only")

    upgrade = (b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
               b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n")
    with socket.create_connection(("127.0.0.1", app.port), timeout=5) as sock:
        sock.sendall(upgrade)
        answer = b""
        while b"\r\n\r\nok" not in answer:
            chunk = sock.recv(4096)
            check(chunk, f"closed without an answer: {answer!r}")
            answer += chunk
        check(answer.startswith(b"HTTP/1.1 200"), f"Upgrade: h2c: want HTTP/1.1 200, got {answer[:60]!r}")
        # The connection goes on as HTTP/1.1, the next Upgrade is ignored too.
        sock.sendall(upgrade.replace(b"/healthz", b"/readyz"))
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(4096)
            check(chunk, "keep-alive connection closed after the upgrade was ignored")
            answer += chunk
        check(answer.startswith(b"HTTP/1.1 200"), f"second request: {answer[:60]!r}")
    log("raw Upgrade: h2c -> HTTP/1.1 200, twice on one connection")

    # With a body the request cannot be served as HTTP/1.1 by lws: a clear 400, not a silence.
    raw = raw_exchange(app.port, b"POST /community/posts HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\n"
                                 b"Content-Type: application/x-www-form-urlencoded\r\n"
                                 b"Content-Length: 7\r\n\r\ntitle=x", timeout=5)
    check(status_of(raw) in (400, 403), f"POST with Upgrade: h2c -> {raw[:80]!r}")
    # A claim (empty body) with Upgrade: h2c is served: no session -> 403 JSON.
    raw = raw_exchange(app.port, b"POST /api/deals/1/claims HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\n"
                                 b"Connection: close\r\nContent-Length: 0\r\n\r\n", timeout=5)
    check(status_of(raw) == 403 and b"no_session" in raw, f"claim with Upgrade: h2c -> {raw[:200]!r}")
    check(app.request("GET", "/healthz")[0] == 200, "app stopped serving")


def run(argv):
    if len(argv) != 2:
        raise tdtest.TestFailure(__doc__)
    binary, scenario = argv
    {"slow-body": scenario_slow_body, "slow-crowd": scenario_slow_crowd,
     "bad-input": scenario_bad_input, "h2c": scenario_h2c}[scenario](binary)


if __name__ == "__main__":
    tdtest.main(run)

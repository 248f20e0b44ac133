#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Graceful SIGTERM: readiness off, in-flight requests finish, exit 0.

usage: test_drain.py TRIPDEAL_APP sqlite|postgres
"""

import http.client
import signal
import socket
import threading
import time
import urllib.parse

import tdtest
from tdtest import App, Session, check, log

GRACE = 4.0         # --grace-period given to the app
GRACE_BOUND = GRACE + 4.0  # exit must come by then, even with a client stuck mid-request


def run(argv):
    if len(argv) != 2:
        raise tdtest.TestFailure(__doc__)
    binary, backend = argv
    app = App(binary, tdtest.database_url(backend), extra_args=["--grace-period", f"{int(GRACE)}s"]).start()
    session = Session(app).start()
    status, _, form_page = session.get("/community/new")
    check(status == 200, f"/community/new -> {status}")
    csrf_name, csrf_value = tdtest.csrf_field(form_page.decode())

    # In-flight request 1: a post whose body is only half sent at SIGTERM.
    body = urllib.parse.urlencode({csrf_name: csrf_value, "title": "drain 여행 test", "body": "x" * 2000,
                                   "author": "drain", "rating": "4"}).encode()
    slow = socket.create_connection(("127.0.0.1", app.port), timeout=30)
    slow.sendall(b"POST /community/posts HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: "
                 + tdtest.cookie_header(session.jar).encode()
                 + b"\r\nContent-Type: application/x-www-form-urlencoded\r\nConnection: close\r\n"
                 + b"Content-Length: %d\r\n\r\n" % len(body) + body[:len(body) // 2])

    # In-flight load: clients hammering pages across the SIGTERM.
    stop = threading.Event()
    outcomes = {"ok": 0, "refused": 0, "bad": []}
    lock = threading.Lock()

    def hammer():
        for _ in range(100000):
            if stop.is_set():
                return
            try:
                conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=15)
                conn.request("GET", "/sales")
                response = conn.getresponse()
                data = response.read()
                with lock:
                    if response.status == 200 and data.rstrip().endswith(b"</html>"):
                        outcomes["ok"] += 1
                    elif response.status == 503:
                        outcomes["refused"] += 1
                    else:
                        outcomes["bad"].append(f"{response.status} len={len(data)}")
                conn.close()
            except (ConnectionRefusedError, ConnectionResetError, http.client.RemoteDisconnected) as error:
                # Refused = listener closed: fine.  Reset/disconnect before any
                # byte of a response: the request was never accepted (fine only
                # once the listener is gone).
                with lock:
                    outcomes["refused"] += 1
                if not app.alive() or isinstance(error, ConnectionRefusedError):
                    time.sleep(0.01)
            except (OSError, http.client.HTTPException) as error:
                # A truncated response or a mid-response reset: a request lost.
                with lock:
                    outcomes["bad"].append(repr(error))

    threads = [threading.Thread(target=hammer, daemon=True) for _ in range(4)]
    for thread in threads:
        thread.start()
    tdtest.poll(lambda: outcomes["ok"] >= 20, 20, what="load to get going")

    # Keep one idle keep-alive connection open too: it must not hold the exit.
    idle = socket.create_connection(("127.0.0.1", app.port), timeout=30)
    # And a client stuck mid-request forever: the grace period bounds the wait for it.
    stuck = socket.create_connection(("127.0.0.1", app.port), timeout=30)
    stuck.sendall(b"POST /community/posts HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc")

    log("sending SIGTERM")
    sent = time.monotonic()
    app.signal(signal.SIGTERM)

    # Readiness goes off (503) or the listener closes.
    def not_ready():
        try:
            status, _, _ = app.request("GET", "/readyz", timeout=2)
            return status == 503
        except (ConnectionRefusedError, ConnectionResetError, http.client.RemoteDisconnected):
            return True
    tdtest.poll(not_ready, 10, interval=0.02, what="/readyz to turn 503 after SIGTERM")
    log(f"not ready {time.monotonic() - sent:.3f}s after SIGTERM")

    # The half-sent request finishes after SIGTERM.
    check(app.alive(), "app exited while a request was in flight")
    slow.sendall(body[len(body) // 2:])
    reply = b""
    while True:
        chunk = slow.recv(65536)
        if not chunk:
            break
        reply += chunk
    status = tdtest.status_of(reply)
    check(status in (200, 201, 302, 303), f"in-flight POST got {reply[:120]!r} after SIGTERM, want success")
    slow.close()

    code = app.wait_exit(GRACE_BOUND)
    elapsed = time.monotonic() - sent
    stop.set()
    for thread in threads:
        thread.join(timeout=20)
    idle.close()
    stuck.close()
    check(code is not None, f"app still running {GRACE_BOUND}s after SIGTERM")
    check(code == 0, f"app exited with {code} after SIGTERM, want 0; log:\n{app.log_tail()}")
    log(f"exit 0 {elapsed:.2f}s after SIGTERM; load outcomes ok={outcomes['ok']} "
        f"refused/503={outcomes['refused']} bad={outcomes['bad'][:5]}")
    check(not outcomes["bad"], f"requests failed badly during drain: {outcomes['bad'][:5]}")

    # The drained post was stored: restart on the same database and look.
    if backend == "sqlite":
        again = App(binary, app.db_url, seed_demo=False, name="restarted").start()
        status, _, page = again.request("GET", "/community")
        check("drain 여행 test" in page.decode(), "post sent across SIGTERM is not stored")


if __name__ == "__main__":
    tdtest.main(run)

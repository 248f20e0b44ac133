# SPDX-License-Identifier: Apache-2.0
"""Shared helpers for fakekube's Python test suites (stdlib only).

Fakekube starts the binary on a free port in a temporary directory, waits
for its "ready" log line, and talks to it over HTTPS with the generated CA
and bearer token read back from the kubeconfig it wrote.
"""
import base64
import http.client
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import traceback


class Fakekube:
    def __init__(self, exe, *extra, workdir=None, data=None):
        self.exe = exe
        self.own_dir = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="fakekube-test-")
        self.kubeconfig = os.path.join(self.dir, "kubeconfig")
        args = [exe, "--listen", "127.0.0.1:0", "--kubeconfig-out", self.kubeconfig]
        if data:
            args += ["--data", data]
        args += list(extra)
        if os.path.exists(self.kubeconfig):
            os.unlink(self.kubeconfig)
        self.log = open(os.path.join(self.dir, "fakekube.log"), "ab")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log)
        self.url = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("fakekube exited before it was ready (see %s)" % self.log.name)
            self.log.write(line)
            self.log.flush()
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("msg") == "ready":
                self.url = entry["url"]
                break
        if not self.url:
            raise RuntimeError("fakekube did not become ready")
        # Keep draining stdout so the server never blocks on a full pipe.
        import threading

        def drain():
            for l in self.proc.stdout:
                self.log.write(l)
            self.log.flush()

        self.drainer = threading.Thread(target=drain, daemon=True)
        self.drainer.start()
        cfg = open(self.kubeconfig).read()
        self.token = re.search(r"token: (\S+)", cfg).group(1)
        m = re.search(r"certificate-authority-data: (\S+)", cfg)
        self.tls = self.url.startswith("https")
        if self.tls:
            self.ca_file = os.path.join(self.dir, "ca.crt")
            with open(self.ca_file, "wb") as f:
                f.write(base64.b64decode(m.group(1)))
        hostport = self.url.split("://", 1)[1]
        self.host, port = hostport.rsplit(":", 1)
        self.port = int(port)

    def connection(self, timeout=30):
        if self.tls:
            ctx = ssl.create_default_context(cafile=self.ca_file)
            return http.client.HTTPSConnection(self.host, self.port, context=ctx, timeout=timeout)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def request(self, method, path, body=None, content_type="application/json", token=True,
                headers=None):
        conn = self.connection()
        h = {"Accept": "application/json"}
        if token is True:
            h["Authorization"] = "Bearer " + self.token
        elif token:
            h["Authorization"] = "Bearer " + token
        if body is not None:
            if not isinstance(body, (bytes, str)):
                body = json.dumps(body)
            h["Content-Type"] = content_type
        h.update(headers or {})
        conn.request(method, path, body=body, headers=h)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = data.decode(errors="replace")
        return resp.status, parsed, resp

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body, **kw):
        return self.request("POST", path, body, **kw)

    def put(self, path, body, **kw):
        return self.request("PUT", path, body, **kw)

    def patch(self, path, body, content_type="application/merge-patch+json", **kw):
        return self.request("PATCH", path, body, content_type=content_type, **kw)

    def delete(self, path, body=None, **kw):
        return self.request("DELETE", path, body, **kw)

    def watch(self, path, timeout=30):
        """Open a watch; returns a WatchStream yielding decoded events."""
        return WatchStream(self, path, timeout)

    def kubectl(self, *args, check=True, input=None, env=None, timeout=60):
        e = dict(os.environ)
        e["KUBECONFIG"] = self.kubeconfig
        e["HOME"] = self.dir  # kubectl's discovery cache stays per test
        e.update(env or {})
        p = subprocess.run(["kubectl", *args], capture_output=True, text=True, input=input, env=e,
                           timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError("kubectl %s failed (%d): %s%s" % (" ".join(args), p.returncode,
                                                                  p.stdout, p.stderr))
        return p

    def stop(self, cleanup=True):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("fakekube did not stop within 20 s of SIGTERM")
        rc = self.proc.returncode
        self.drainer.join(timeout=5)
        self.log.close()
        if cleanup and self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        return rc


class WatchStream:
    def __init__(self, fk, path, timeout):
        self.conn = fk.connection(timeout=timeout)
        self.conn.request("GET", path, headers={"Authorization": "Bearer " + fk.token,
                                                "Accept": "application/json"})
        self.resp = self.conn.getresponse()
        self.status = self.resp.status

    def next(self):
        """The next event, or None at the end of the stream."""
        while True:
            line = self.resp.readline()
            if not line:
                return None
            line = line.strip()
            if line:
                return json.loads(line)

    def close(self):
        try:
            self.conn.sock.shutdown(2)
        except Exception:
            pass
        self.conn.close()


def wait_for(what, fn, timeout=15.0, interval=0.05):
    """Poll fn() until it returns a true value; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


def run_tests(tests):
    """Run (name, fn) pairs; print one line per test and a summary; exit status."""
    passed = failed = 0
    for name, fn in tests:
        start = time.monotonic()
        try:
            fn()
            passed += 1
            print("ok     %-45s %.2fs" % (name, time.monotonic() - start), flush=True)
        except Exception:
            failed += 1
            print("FAILED %s" % name, flush=True)
            traceback.print_exc()
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


def run_tests_then_stop(fakekube, tests):
    """run_tests(), then stop fakekube with SIGTERM: a non-zero exit fails the run too."""
    try:
        rc = run_tests(tests)
    finally:
        stop_rc = fakekube.stop()
    if stop_rc != 0:
        print("fakekube exited with %d on SIGTERM" % stop_rc)
        rc = 1
    return rc


def expect(cond, message="expectation failed"):
    if not cond:
        raise AssertionError(message)

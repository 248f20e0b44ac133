# SPDX-License-Identifier: Apache-2.0
"""Shared harness for the tripdeal-app HTTP-level tests (Python 3 stdlib only).

Every test starts its own app process(es) on free loopback ports, with a
temporary SQLite file or a fresh PostgreSQL database created from
TRIPDEAL_TEST_PG_URL (exit 77 = skip when unset), waits for /readyz with a
deadline, and always kills what it started (also on failure, timeout or
SIGTERM from meson).
"""

import html as html_lib
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

SKIP = 77
READY_DEADLINE = 30.0


class TestFailure(Exception):
    pass


def log(*args):
    print(*args, flush=True)


def check(condition, message):
    if not condition:
        raise TestFailure(message)


def poll(condition, deadline_seconds, interval=0.05, what="condition"):
    """Call condition() until it returns a truthy value or the deadline passes."""
    end = time.monotonic() + deadline_seconds
    last_error = None
    while time.monotonic() < end:
        try:
            value = condition()
            if value:
                return value
        except (OSError, http.client.HTTPException) as error:
            last_error = error
        time.sleep(interval)
    raise TestFailure(f"timed out after {deadline_seconds}s waiting for {what}"
                      + (f" (last error: {last_error})" if last_error else ""))


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- cleanup
_cleanups = []


def on_cleanup(function):
    _cleanups.append(function)


def run_cleanups():
    while _cleanups:
        function = _cleanups.pop()
        try:
            function()
        except Exception as error:  # cleanup must go on
            log(f"cleanup error: {error}")


def _terminate(signum, frame):
    raise SystemExit(f"terminated by signal {signum}")


def main(test_function):
    """Run test_function(args) with cleanup; exit 0 pass, 1 fail, 77 skip."""
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    code = 1
    try:
        test_function(sys.argv[1:])
        check_sanitizer_reports()
        log("PASS")
        code = 0
    except Skip as skip:
        log(f"SKIP: {skip}")
        code = SKIP
    except TestFailure as failure:
        log(f"FAIL: {failure}")
    except SystemExit as exit_:
        log(f"FAIL: {exit_}")
    finally:
        run_cleanups()
    sys.exit(code)


class Skip(Exception):
    pass


_apps = []
SANITIZER_MARKERS = ("runtime error:", "ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                     "ERROR: UndefinedBehaviorSanitizer", "WARNING: ThreadSanitizer")


def check_sanitizer_reports():
    """In the sanitizer build an app may report and carry on (UBSan): fail on any report."""
    for app in _apps:
        text = app.log_text()
        for marker in SANITIZER_MARKERS:
            if marker in text:
                at = text.index(marker)
                raise TestFailure(f"{app.name}: sanitizer report in its log:\n{text[max(0, at - 200):at + 1500]}")


# ---------------------------------------------------------------- databases
def pg_admin_url():
    url = os.environ.get("TRIPDEAL_TEST_PG_URL")
    if not url:
        raise Skip("TRIPDEAL_TEST_PG_URL is not set")
    if not shutil.which("psql"):
        raise Skip("psql not installed")
    return url


def with_database(url, name):
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


def psql(url, sql, check_result=True):
    result = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", url, "-c", sql],
                            capture_output=True, text=True, timeout=60)
    if check_result and result.returncode != 0:
        raise TestFailure(f"psql failed: {sql!r}: {result.stderr.strip()}")
    return result.stdout.strip()


def create_pg_database(admin_url=None):
    """Create a uniquely named database, dropped at cleanup. Returns its URL."""
    admin_url = admin_url or pg_admin_url()
    name = f"tripdeal_test_{os.getpid()}_{random.randrange(1 << 30)}"
    psql(admin_url, f'CREATE DATABASE "{name}"')
    on_cleanup(lambda: psql(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
                            check_result=False))
    return with_database(admin_url, name)


def temp_dir(prefix="tripdeal-test-"):
    path = tempfile.mkdtemp(prefix=prefix)
    on_cleanup(lambda: shutil.rmtree(path, ignore_errors=True))
    return path


def shared_secret_env():
    """Replicas behind one load balancer share the cookie-signing secret."""
    return {"TRIPDEAL_SECRET": "tripdeal-test-secret-" + "%032x" % random.randrange(1 << 128)}


def database_url(backend):
    if backend == "sqlite":
        return "sqlite:" + os.path.join(temp_dir(), "tripdeal.db")
    if backend in ("postgres", "postgresql", "pg"):
        return create_pg_database()
    raise TestFailure(f"unknown backend {backend}")


# ---------------------------------------------------------------- the app
class App:
    """One tripdeal-app process on a free loopback port."""

    def __init__(self, binary, db_url, seed_demo=True, extra_args=(), name="app", env=None, app_defaults=False):
        self.binary = binary
        self.db_url = db_url
        self.name = name
        self.log_dir = temp_dir()
        self.log_path = os.path.join(self.log_dir, f"{name}.log")
        self.process = None
        self.port = None
        self.seed_demo = seed_demo
        self.extra_args = list(extra_args)
        # Tests share one PostgreSQL with other suites running in parallel:
        # keep this process's connections modest (default claim pool is 32).
        if not app_defaults and not db_url.startswith("sqlite:") and not any(a.startswith("--claim-threads") for a in self.extra_args):
            self.extra_args.append("--claim-threads=8")
        # Our environment minus TRIPDEAL_* (so a developer's settings do not leak in), plus env.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TRIPDEAL_")}
        self.env.update(env or {})
        _apps.append(self)
        on_cleanup(self.kill)

    def start(self, wait_ready=True, ready_deadline=READY_DEADLINE):
        # A free port can be taken between our probe and the app's bind: retry.
        for attempt in range(3):
            self.port = free_port()
            argv = [self.binary, "--listen", f"127.0.0.1:{self.port}", "--db", self.db_url,
                    "--log-level", "info"] + (["--seed-demo"] if self.seed_demo else []) + self.extra_args
            self.log_file = open(self.log_path, "ab")
            self.process = subprocess.Popen(argv, stdout=self.log_file, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True, env=self.env)
            if not wait_ready:
                return self
            try:
                self.wait_ready(ready_deadline)
                return self
            except TestFailure:
                tail = self.log_tail().lower()
                if self.process.poll() is not None and ("in use" in tail or "too many clients" in tail):
                    # Port taken meanwhile, or the shared PostgreSQL briefly full: back off, retry.
                    time.sleep(1 + attempt)
                    continue
                raise
        raise TestFailure(f"{self.name}: could not start")

    def wait_ready(self, deadline=READY_DEADLINE):
        def ready():
            if self.process.poll() is not None:
                raise TestFailure(f"{self.name} exited with {self.process.returncode} before "
                                  f"ready; log:\n{self.log_tail()}")
            status, _, _ = self.request("GET", "/readyz", timeout=2)
            return status == 200
        try:
            poll(ready, deadline, interval=0.05, what=f"{self.name} /readyz 200")
        except TestFailure as failure:
            raise TestFailure(f"{failure}\nlog:\n{self.log_tail()}")

    def log_tail(self, lines=30):
        try:
            with open(self.log_path, "rb") as f:
                data = f.read().decode("utf-8", "replace").splitlines()
            return "\n".join(data[-lines:])
        except OSError:
            return "(no log)"

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def signal(self, signum):
        if self.alive():
            self.process.send_signal(signum)

    def kill(self):
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=10)
        if getattr(self, "log_file", None):
            self.log_file.close()

    def wait_exit(self, timeout):
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def connection(self, timeout=10):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=10):
        """One request on a fresh connection -> (status, headers dict (lower), body bytes)."""
        conn = self.connection(timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            data = response.read()
            header_map = {}
            for key, value in response.getheaders():
                key = key.lower()
                header_map[key] = header_map[key] + "\n" + value if key in header_map else value
            return response.status, header_map, data
        finally:
            conn.close()


# ---------------------------------------------------------------- sessions
def cookies_from(headers):
    """Parse Set-Cookie header(s) (joined by \\n) into {name: value}."""
    jar = {}
    raw = headers.get("set-cookie")
    if not raw:
        return jar
    for line in raw.split("\n"):
        first = line.split(";", 1)[0].strip()
        if "=" in first:
            name, value = first.split("=", 1)
            jar[name.strip()] = value.strip()
    return jar


def cookie_header(jar):
    return "; ".join(f"{k}={v}" for k, v in jar.items())


class Session:
    """An anonymous user: cookie jar + CSRF token from GET /api/session."""

    def __init__(self, app):
        self.app = app
        self.jar = {}
        self.csrf = None
        self.user = None

    def start(self):
        status, headers, body = self.app.request("GET", "/api/session")
        check(status == 200, f"GET /api/session -> {status}: {body[:200]!r}")
        check(headers.get("content-type", "").startswith("application/json"),
              f"/api/session content-type {headers.get('content-type')!r}")
        self.jar.update(cookies_from(headers))
        check(self.jar, f"/api/session set no cookie (headers {headers})")
        document = json.loads(body)
        check("user" in document and "csrf" in document, f"/api/session body {document}")
        check(isinstance(document["csrf"], str) and len(document["csrf"]) >= 16,
              f"/api/session csrf token too short: {document['csrf']!r}")
        self.csrf = document["csrf"]
        self.user = document["user"]
        return self

    def headers(self, extra=None):
        headers = {"Cookie": cookie_header(self.jar)} if self.jar else {}
        headers.update(extra or {})
        return headers

    def get(self, path):
        status, headers, body = self.app.request("GET", path, headers=self.headers())
        self.jar.update(cookies_from(headers))
        return status, headers, body

    def post_form(self, path, fields, csrf_field=None):
        body = urllib.parse.urlencode(fields).encode()
        status, headers, data = self.app.request(
            "POST", path, body=body,
            headers=self.headers({"Content-Type": "application/x-www-form-urlencoded"}))
        self.jar.update(cookies_from(headers))
        return status, headers, data

    def claim(self, deal_id, csrf=None, app=None):
        app = app or self.app
        token = self.csrf if csrf is None else csrf
        extra = {"Content-Length": "0"}
        if token != "":
            extra["X-CSRF-Token"] = token
        return app.request("POST", f"/api/deals/{deal_id}/claims", body=b"",
                           headers=self.headers(extra))


# ---------------------------------------------------------------- deals
def parse_time(value):
    """starts_at/ends_at: RFC 3339 string or epoch seconds -> epoch seconds."""
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return float(text)
    text = text.replace("Z", "+00:00")
    from datetime import datetime
    return datetime.fromisoformat(text).timestamp()


def list_deals(app):
    status, headers, body = app.request("GET", "/api/deals")
    check(status == 200, f"GET /api/deals -> {status}: {body[:200]!r}")
    document = json.loads(body)
    if isinstance(document, dict) and "deals" in document:
        document = document["deals"]
    check(isinstance(document, list), f"/api/deals is not a list: {document!r:.200}")
    return document


def deal_state(deal, now=None):
    now = now or time.time()
    starts, ends = parse_time(deal["starts_at"]), parse_time(deal["ends_at"])
    if now < starts:
        return "upcoming"
    if now >= ends:
        return "ended"
    return "open"


def find_deal(app, state):
    for deal in list_deals(app):
        if deal_state(deal) == state:
            return deal
    raise TestFailure(f"no {state} deal in /api/deals (seed-demo must create one)")


def get_deal(app, deal_id):
    for deal in list_deals(app):
        if deal["id"] == deal_id:
            return deal
    raise TestFailure(f"deal {deal_id} missing from /api/deals")


# ---------------------------------------------------------------- HTML
def _attribute(tag, name):
    """Value of attribute `name` in one tag: "quoted", 'quoted' or bare."""
    match = re.search(r"\b" + name + r"\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s>]+))", tag, re.I)
    if not match:
        return None
    return next(g for g in match.groups() if g is not None)


def hidden_inputs(html):
    """{name: value} of <input type=hidden> in the page."""
    fields = {}
    for tag in re.findall(r"<input\b[^>]*>", html, re.I):
        if not re.search(r"type\s*=\s*[\"']?hidden", tag, re.I):
            continue
        name = _attribute(tag, "name")
        if name is not None:
            fields[name] = html_lib.unescape(_attribute(tag, "value") or "")
    return fields


def csrf_field(html):
    """(name, value) of the CSRF hidden input of a form page."""
    for name, value in hidden_inputs(html).items():
        if "csrf" in name.lower() or "token" in name.lower():
            return name, value
    raise TestFailure("page has no hidden CSRF input")


def form_field_names(html):
    names = [_attribute(tag, "name") for tag in re.findall(r"<(?:input|textarea|select)\b[^>]*>", html, re.I)]
    names = [n for n in names if n]
    return list(dict.fromkeys(names))


def raw_exchange(port, data, timeout=10, read_all=True):
    """Send raw bytes on a new connection; return what the server sends back
    (until it closes or the timeout), as bytes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        chunks = []
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
            if not read_all and b"\r\n\r\n" in b"".join(chunks):
                break
        return b"".join(chunks)


def status_of(raw):
    match = re.match(rb"HTTP/1\.[01] (\d{3})", raw)
    return int(match.group(1)) if match else None

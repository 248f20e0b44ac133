"""Test harness: a real fakekube, the real kubectl and the real tripdeal-operator.

Every process a test starts is stopped by the test (context managers); every
wait has a deadline; every port is picked free by the kernel.  Paths come from
the environment meson sets: FAKEKUBE, OPERATOR, KUBECTL, SOURCE_ROOT.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

FAKEKUBE = os.environ.get("FAKEKUBE", "")
OPERATOR = os.environ.get("OPERATOR", "")
KUBECTL = os.environ.get("KUBECTL", "kubectl")
SOURCE_ROOT = os.environ.get("SOURCE_ROOT", ".")
# Deadlines stretch under sanitizers (scripts/test sets it); never shrink.
TIME_SCALE = max(1.0, float(os.environ.get("TRIPDEAL_TEST_TIME_SCALE", "1")))
CRD = os.path.join(SOURCE_ROOT, "crds", "tripdeal.io_tripdeals.yaml")


def log(*args):
    print(time.strftime("%H:%M:%S"), *args, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Fatal(AssertionError):
    """Raised by a predicate when waiting longer cannot help (a process died)."""


def wait_for(what, predicate, timeout, interval=0.05):
    """Poll predicate() until it returns something truthy; fail after timeout s."""
    deadline = time.monotonic() + timeout * TIME_SCALE
    last = None
    while True:
        try:
            last = predicate()
        except Fatal:
            raise
        except Exception as e:  # a transient error is just "not yet"
            last = e
            if time.monotonic() >= deadline:
                raise AssertionError(f"timed out waiting for {what}: {e!r}") from e
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout * TIME_SCALE:.1f}s waiting for {what} (last: {last!r})")
        time.sleep(interval)


class Process:
    """A child process whose JSON log lines are kept; stopped on exit."""

    def __init__(self, name, argv, env=None):
        self.name = name
        self.argv = argv
        self.log_path = os.path.join(tempfile.gettempdir(), f"{name}-{os.getpid()}-{time.monotonic_ns()}.log")
        self.log_file = open(self.log_path, "w+")
        log("start", name, " ".join(argv))
        self.proc = subprocess.Popen(argv, stdout=self.log_file, stderr=subprocess.STDOUT,
                                     env=env, start_new_session=True)

    def lines(self):
        with open(self.log_path) as f:
            return f.read().splitlines()

    def json_lines(self):
        out = []
        for line in self.lines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def alive(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode

    def dump(self):
        sys.stdout.write(f"---- {self.name} log ({self.log_path}) ----\n")
        sys.stdout.write("\n".join(self.lines()[-80:]) + "\n")


class Cluster:
    """fakekube + kubectl.  Use as a context manager."""

    def __init__(self, extra_args=(), data_file=None, port=None, workdir=None):
        self.workdir = workdir or tempfile.mkdtemp(prefix="tripdeal-e2e-")
        self.kubeconfig = os.path.join(self.workdir, "kubeconfig")
        self.port = port or free_port()
        self.extra_args = list(extra_args)
        self.data_file = data_file
        self.server = None

    def start(self):
        argv = [FAKEKUBE, "--listen", f"127.0.0.1:{self.port}", "--kubeconfig-out", self.kubeconfig,
                "--pod-ready-delay", "200ms"] + self.extra_args
        if self.data_file:
            argv += ["--data", self.data_file]
        self.server = Process("fakekube", argv)
        wait_for("fakekube ready line",
                 lambda: any(l.get("msg") == "ready" for l in self.server.json_lines()) or
                 (not self.server.alive() and self._died()), 30)
        return self

    def _died(self):
        self.server.dump()
        raise Fatal("fakekube exited during start-up")

    def stop(self, sig=signal.SIGTERM):
        if self.server:
            return self.server.stop(sig)
        return None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if exc[0] is not None and self.server:
            self.server.dump()
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def kubectl(self, *args, check=True, input=None, timeout=60):
        argv = [KUBECTL, "--kubeconfig", self.kubeconfig] + list(args)
        p = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout * TIME_SCALE)
        if check and p.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({p.returncode}):\n{p.stdout}{p.stderr}")
        return p

    def get(self, kind, name, namespace=None):
        """The object as JSON, or None when it does not exist."""
        args = ["get", kind, name, "-o", "json"]
        if namespace:
            args += ["-n", namespace]
        p = self.kubectl(*args, check=False)
        if p.returncode != 0:
            if "NotFound" in p.stderr or "not found" in p.stderr:
                return None
            raise AssertionError(f"kubectl get {kind} {name}: {p.stderr}")
        return json.loads(p.stdout)

    def apply_yaml(self, text, *extra):
        return self.kubectl("apply", "-f", "-", *extra, input=text)

    def install_crd(self):
        self.kubectl("apply", "-f", CRD)
        self.kubectl("wait", "--for=condition=Established", "crd/tripdeals.tripdeal.io", "--timeout=30s")


class Operator:
    def __init__(self, cluster, *extra_args, name="tripdeal-operator"):
        self.cluster = cluster
        self.metrics_port = free_port()
        self.health_port = free_port()
        argv = [OPERATOR, "--kubeconfig", cluster.kubeconfig,
                "--metrics-addr", f"127.0.0.1:{self.metrics_port}",
                "--health-addr", f"127.0.0.1:{self.health_port}",
                "--log-level", "debug"] + list(extra_args)
        self.process = Process(name, argv)

    def http(self, port, path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def wait_ready(self):
        wait_for("operator /readyz", lambda: self.http(self.health_port, "/readyz")[0] == 200 or
                 (not self.process.alive() and self._died()), 30, interval=0.1)
        return self

    def _died(self):
        self.process.dump()
        raise Fatal("operator exited")

    def metric(self, name_and_labels):
        status, text = self.http(self.metrics_port, "/metrics")
        for line in text.splitlines():
            if line.startswith(name_and_labels + " "):
                return float(line.split()[-1])
        return None

    def stop(self, sig=signal.SIGTERM):
        return self.process.stop(sig)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is not None:
            self.process.dump()
        self.stop()


SECRET_AND_NS = """
apiVersion: v1
kind: Namespace
metadata: {name: %(ns)s}
---
apiVersion: v1
kind: Secret
metadata: {name: tripdeal-db, namespace: %(ns)s}
stringData: {url: "postgresql://tripdeal@db.%(ns)s.svc/tripdeal"}
"""


def tripdeal_yaml(name, namespace, image="registry.example.com/tripdeal/app:1.4.0", min_replicas=2,
                  max_replicas=10, host=None, sales=""):
    ingress = f"\n    ingress: {{host: {host}, className: nginx}}" if host else ""
    return f"""
apiVersion: tripdeal.io/v1alpha1
kind: TripDeal
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  app:
    image: {image}
    replicas: {{min: {min_replicas}, max: {max_replicas}}}
    database: {{secretRef: {{name: tripdeal-db, key: url}}}}{ingress}
{sales}
"""


OWNED = [("configmap", "ConfigMap"), ("serviceaccount", "ServiceAccount"), ("secret", "Secret"),
         ("deployment", "Deployment"), ("service", "Service"),
         ("hpa", "HorizontalPodAutoscaler"), ("pdb", "PodDisruptionBudget")]


def condition(obj, ctype):
    for c in (obj or {}).get("status", {}).get("conditions", []):
        if c.get("type") == ctype:
            return c
    return None


def run(test):
    """Run one scenario function; exit 77 when binaries are missing."""
    if not FAKEKUBE or not os.path.exists(FAKEKUBE) or not OPERATOR:
        print("FAKEKUBE/OPERATOR not set: skipping")
        sys.exit(77)
    test()
    log("PASS", test.__name__)

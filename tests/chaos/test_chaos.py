# SPDX-License-Identifier: Apache-2.0
"""tripdeal-chaos against fakekube with process pods (real HTTP servers on
loopback pod IPs) and the engine's own steady probe traffic.

usage: test_chaos.py TRIPDEAL_CHAOS FAKEKUBE POD_SERVER REPORT_SCHEMA LOG_DIR

Scenarios: validate (exit 2 naming the field), pod-kill of 50 % -> Passed
with measured recovery and new identities, report.json valid against the
shipped schema and report.html rendered by headless Chromium (screenshot in
LOG_DIR), steady state failing before injection -> Aborted with every UID
unchanged, maxTargetPercent exceeded -> Refused with nothing touched, the
target's Lease held by another drill -> Refused, --dry-run touches nothing.
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fakekube"))
from harness import Fakekube, run_tests_then_stop, wait_for  # noqa: E402

CHAOS, FAKEKUBE, POD_SERVER, SCHEMA, LOG_DIR = sys.argv[1:6]
WORK = tempfile.mkdtemp(prefix="chaos-test-")


def expect(cond, message):
    if not cond:
        raise AssertionError(message)


def deployment(name, replicas, namespace="default"):
    container = {
        "name": "main", "image": "hello:1", "args": ["--listen", "$(POD_IP):8080"],
        "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        "ports": [{"containerPort": 8080, "name": "http"}],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 1,
                           "failureThreshold": 1},
    }
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"terminationGracePeriodSeconds": 2,
                                           "containers": [container]}}}}


def service(name, namespace="default"):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": {"app": name},
                     "ports": [{"name": "http", "port": 8080, "targetPort": "http"}]}}


def pods(fk, app, namespace="default"):
    status, body, _ = fk.get("/api/v1/namespaces/%s/pods?labelSelector=app%%3D%s" % (namespace, app))
    expect(status == 200, "list pods: %s" % status)
    return body["items"]


def ready(pod):
    if pod["metadata"].get("deletionTimestamp"):
        return False
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in pod.get("status", {}).get("conditions", []))


def ready_uids(fk, app):
    return sorted(p["metadata"]["uid"] for p in pods(fk, app) if ready(p))


def endpoints_ready(fk, app, n):
    status, ep, _ = fk.get("/api/v1/namespaces/default/endpoints/" + app)
    if status != 200:
        return False
    return sum(len(s.get("addresses", [])) for s in ep.get("subsets", [])) == n


def start_app(fk, app, replicas):
    for obj, path in ((deployment(app, replicas), "/apis/apps/v1/namespaces/default/deployments"),
                      (service(app), "/api/v1/namespaces/default/services")):
        status, body, _ = fk.post(path, obj)
        expect(status == 201, "create %s: %s %s" % (path, status, body))
    wait_for("%d Ready %s pods" % (replicas, app), lambda: len(ready_uids(fk, app)) == replicas,
             timeout=60)
    wait_for("%d ready endpoints" % replicas, lambda: endpoints_ready(fk, app, replicas), timeout=30)


def experiment(name, app, extra_spec=None, steady=None, http=None):
    h = {"service": app, "port": 8080, "path": "/", "expectStatus": 200, "timeout": "1s",
         "interval": "50ms"}
    h.update(http or {})
    s = {"http": h, "maxErrorRatePercent": 40, "maxRecoverySeconds": 40, "window": "1s"}
    s.update(steady or {})
    spec = {"target": {"namespace": "default", "selector": {"matchLabels": {"app": app}}},
            "action": "pod-kill", "percent": 50, "gracePeriodSeconds": 0, "maxTargetPercent": 50,
            "steadyState": s}
    spec.update(extra_spec or {})
    doc = {"apiVersion": "chaos.tripdeal.io/v1alpha1", "kind": "Experiment",
           "metadata": {"name": name}, "spec": spec}
    path = os.path.join(WORK, name + ".yaml")
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)  # JSON is YAML
    return path


def chaos(fk, *args, timeout=120):
    p = subprocess.run([CHAOS, *args, "--kubeconfig", fk.kubeconfig], capture_output=True,
                       text=True, timeout=timeout)
    print("$ tripdeal-chaos %s -> %d\n%s%s" % (" ".join(args), p.returncode, p.stdout, p.stderr),
          flush=True)
    return p


def fnv1a32(text):
    h = 2166136261
    for b in text.encode():
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return "%08x" % h


def lease_exists(fk, name):
    return fk.get("/apis/coordination.k8s.io/v1/namespaces/default/leases/" + name)[0] == 200


# ---------------------------------------------------------------- scenarios

def test_help_version_validate():
    for flag in ("--help", "--version"):
        p = subprocess.run([CHAOS, flag], capture_output=True, text=True)
        expect(p.returncode == 0 and p.stdout, "%s: %d" % (flag, p.returncode))
    p = subprocess.run([CHAOS, "frobnicate"], capture_output=True, text=True)
    expect(p.returncode == 2 and "unknown command" in p.stderr, p.stderr)
    good = experiment("valid", "hello")
    p = subprocess.run([CHAOS, "validate", good], capture_output=True, text=True)
    expect(p.returncode == 0, p.stderr)
    cases = [
        ({"percent": 50, "count": 1}, "exactly one of count and percent"),
        ({"action": "disk-fill"}, "spec.action"),
        ({"maxTargetPercent": 150}, "spec.maxTargetPercent"),
        ({"gracePeriodSeconds": "soon"}, "spec.gracePeriodSeconds"),
        ({"typo": 1}, "unknown field \"typo\""),
    ]
    for i, (spec, field) in enumerate(cases):
        path = experiment("bad-%d" % i, "hello", extra_spec=spec)
        p = subprocess.run([CHAOS, "validate", path], capture_output=True, text=True)
        expect(p.returncode == 2, "case %s: exit %d" % (spec, p.returncode))
        expect(field in p.stderr, "case %s: %r does not name %s" % (spec, p.stderr, field))
    path = experiment("bad-port", "hello", http={"port": 70000})
    p = subprocess.run([CHAOS, "validate", path], capture_output=True, text=True)
    expect(p.returncode == 2 and "spec.steadyState.http.port" in p.stderr, p.stderr)
    with open(os.path.join(WORK, "broken.yaml"), "w") as f:
        f.write("spec: [unclosed\n")
    p = subprocess.run([CHAOS, "validate", os.path.join(WORK, "broken.yaml")], capture_output=True,
                       text=True)
    expect(p.returncode == 2 and "line" in p.stderr, p.stderr)


def make_pod_kill_passed(fk):
    def test():
        start_app(fk, "hello", 4)
        before = ready_uids(fk, "hello")
        report_dir = os.path.join(LOG_DIR, "chaos-report-pod-kill")
        shutil.rmtree(report_dir, ignore_errors=True)
        p = chaos(fk, "run", experiment("half-the-pods", "hello"), "--report-dir", report_dir)
        expect(p.returncode == 0, "exit %d, want 0 (Passed)" % p.returncode)
        expect("waiting for recovery" in p.stderr and "hit: pod" in p.stderr,
               "no terminal progress")
        report = json.load(open(os.path.join(report_dir, "report.json")))
        expect(report["verdict"] == "Passed", report["reason"])
        expect(isinstance(report["recoverySeconds"], float) and report["recoverySeconds"] > 0,
               "recoverySeconds %r" % report["recoverySeconds"])
        killed = [t["uid"] for t in report["targets"]]
        expect(len(killed) == 2, "targets %r" % report["targets"])
        expect(all(u in before for u in killed), "targets were not Ready pods before")
        after = ready_uids(fk, "hello")
        expect(len(after) == 4, "%d Ready pods after" % len(after))
        expect(not set(killed) & set(after), "a killed pod is still there")
        expect(len(report["replacements"]) >= 2 and
               all(r["readyAt"] for r in report["replacements"][:2]), report["replacements"])
        expect(report["probes"]["sent"] > 0, "no probe traffic")
        expect(report["probes"]["before"]["failed"] == 0, "probes failed before injection")
        expect(all(t.get("lastLogLines") for t in report["targets"]),
               "no last log lines of the killed pods")
        expect(any("listening" in line for t in report["targets"] for line in t["lastLogLines"]),
               "log lines are not the pod's")
        expect(any(r.get("firstLogLines") for r in report["replacements"]),
               "no first log lines of the replacements")
        sources = {e["source"] for e in report["timeline"]}
        expect({"injection", "pods", "engine"} <= sources, "timeline sources %r" % sources)
        expect(not lease_exists(fk, "chaos-selector-" + fnv1a32("app=hello")),
               "the drill left its Lease behind")
        validate_report(report)
        render_report(report_dir, "pod-kill")
    return test


def validate_report(report):
    import jsonschema
    jsonschema.validate(report, json.load(open(SCHEMA)))


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def render_report(report_dir, name):
    browser = chromium()
    if not browser:
        print("SKIP rendering: chromium not installed", flush=True)
        return
    html = os.path.join(report_dir, "report.html")
    args = [browser, "--headless", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update", "--hide-scrollbars",
            "--user-data-dir=" + tempfile.mkdtemp(prefix="chromium-", dir=WORK)]
    if os.geteuid() == 0:
        args.append("--no-sandbox")
    dom = subprocess.run(args + ["--dump-dom", "file://" + html], capture_output=True, text=True,
                         timeout=90, start_new_session=True)
    expect(dom.returncode == 0 and "Timeline" in dom.stdout and "<svg" in dom.stdout,
           "chromium did not render the report: %s" % dom.stderr[-500:])
    shot = os.path.join(LOG_DIR, "chaos-report-%s.png" % name)
    if os.path.exists(shot):
        os.unlink(shot)
    p = subprocess.run(args + ["--screenshot=" + shot, "--window-size=1200,1600", "file://" + html],
                       capture_output=True, timeout=90, start_new_session=True)
    expect(p.returncode == 0 and os.path.exists(shot), "no screenshot: %s" % p.stderr[-500:])
    with open(shot, "rb") as f:
        head = f.read(24)
    expect(head[:8] == b"\x89PNG\r\n\x1a\n", "screenshot is not a PNG")
    width, height = struct.unpack(">II", head[16:24])
    expect((width, height) == (1200, 1600), "screenshot %dx%d" % (width, height))
    expect(os.path.getsize(shot) > 10000, "screenshot looks blank")
    print("screenshot: %s" % shot, flush=True)


def make_aborted(fk):
    def test():
        before = ready_uids(fk, "hello")
        path = experiment("broken-steady-state", "hello", http={"path": "/env/NO_SUCH_VARIABLE"})
        report_dir = os.path.join(WORK, "aborted")
        p = chaos(fk, "run", path, "--report-dir", report_dir)
        expect(p.returncode == 3, "exit %d, want 3 (Aborted)" % p.returncode)
        report = json.load(open(os.path.join(report_dir, "report.json")))
        expect(report["verdict"] == "Aborted" and "before injection" in report["reason"],
               report["reason"])
        expect(report["injectedAt"] is None, "injected anyway")
        expect(ready_uids(fk, "hello") == before, "pod UIDs changed")
        validate_report(report)
    return test


def make_refused_blast_radius(fk):
    def test():
        before = ready_uids(fk, "hello")
        path = experiment("too-many", "hello", extra_spec={"percent": 75, "maxTargetPercent": 50})
        p = chaos(fk, "run", path)
        expect(p.returncode == 4, "exit %d, want 4 (Refused)" % p.returncode)
        expect("maxTargetPercent" in p.stdout, p.stdout)
        expect(ready_uids(fk, "hello") == before, "pod UIDs changed")
        expect(not lease_exists(fk, "chaos-selector-" + fnv1a32("app=hello")), "Lease created")
    return test


def make_refused_lease(fk):
    def test():
        before = ready_uids(fk, "hello")
        name = "chaos-selector-" + fnv1a32("app=hello")
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                 "metadata": {"name": name, "namespace": "default",
                              "annotations": {"chaos.tripdeal.io/experiment": "other-drill"}},
                 "spec": {"holderIdentity": "someone-else", "leaseDurationSeconds": 300,
                          "acquireTime": now, "renewTime": now}}
        status, body, _ = fk.post("/apis/coordination.k8s.io/v1/namespaces/default/leases", lease)
        expect(status == 201, "create lease: %s %s" % (status, body))
        try:
            p = chaos(fk, "run", experiment("second-drill", "hello"))
            expect(p.returncode == 4, "exit %d, want 4 (Refused)" % p.returncode)
            expect("another drill holds the target" in p.stdout and "other-drill" in p.stdout,
                   p.stdout)
            expect(ready_uids(fk, "hello") == before, "pod UIDs changed")
            # A holder that stopped renewing long ago (a crashed drill) does not block.
            old = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(time.time() - 7200))
            status, body, _ = fk.patch("/apis/coordination.k8s.io/v1/namespaces/default/leases/" + name,
                                       {"spec": {"renewTime": old, "leaseDurationSeconds": 60}})
            expect(status == 200, "patch lease: %s %s" % (status, body))
            p = chaos(fk, "run", experiment("after-a-crash", "hello"), "--dry-run")
            expect(p.returncode == 0, "exit %d: an expired Lease still refused" % p.returncode)
        finally:
            fk.delete("/apis/coordination.k8s.io/v1/namespaces/default/leases/" + name)
    return test


def make_dry_run(fk):
    def test():
        before = ready_uids(fk, "hello")
        p = chaos(fk, "run", experiment("dry", "hello"), "--dry-run")
        expect(p.returncode == 0, "exit %d" % p.returncode)
        expect(p.stderr.count("dry run: would kill pod") == 2, p.stderr)
        expect(ready_uids(fk, "hello") == before, "pod UIDs changed")
        expect(not lease_exists(fk, "chaos-selector-" + fnv1a32("app=hello")), "Lease created")
    return test


def make_refused_blackout(fk):
    def test():
        crd = os.path.join(HERE, "..", "..", "crds", "tripdeal.io_tripdeals.yaml")
        fk.kubectl("apply", "-f", crd)
        # A sale every hour for 59 minutes: the window is open now whatever the time.
        tripdeal = {"apiVersion": "tripdeal.io/v1alpha1", "kind": "TripDeal",
                    "metadata": {"name": "shop", "namespace": "default"},
                    "spec": {"app": {"image": "hello:1", "replicas": {"min": 1, "max": 1}},
                             "sales": [{"name": "hourly-flash", "schedule": "0 * * * *",
                                        "timeZone": "Asia/Seoul", "duration": "59m",
                                        "prescale": {"minReplicas": 1, "leadTime": "1m"}}]}}
        wait_for("the TripDeal API", lambda: fk.post(
            "/apis/tripdeal.io/v1alpha1/namespaces/default/tripdeals", tripdeal)[0] in (201, 409),
            timeout=20)
        before = ready_uids(fk, "hello")
        path = experiment("in-the-sale", "hello", extra_spec={"blackout": ["sales"], "salesOf": "shop"})
        p = chaos(fk, "run", path)
        expect(p.returncode == 4, "exit %d, want 4 (Refused)" % p.returncode)
        expect("blackout" in p.stdout and "hourly-flash" in p.stdout, p.stdout)
        expect(ready_uids(fk, "hello") == before, "pod UIDs changed")
        # The same drill against the TripDeal itself (its site pods) is refused too.
        path = experiment("shop-drill", "hello", extra_spec={
            "blackout": ["sales"], "target": {"namespace": "default", "tripDeal": "shop"}})
        p = chaos(fk, "run", path)
        expect(p.returncode == 4 and "hourly-flash" in p.stdout, p.stdout)
    return test


def free_port():
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Prometheus:
    """A real Prometheus on a free loopback port (no scrape targets needed:
    the experiments query PromQL constants)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="prometheus-", dir=WORK)
        with open(os.path.join(self.dir, "prometheus.yml"), "w") as f:
            f.write("global: {scrape_interval: 1s}\nscrape_configs: []\n")
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.log = open(os.path.join(self.dir, "prometheus.log"), "w")
        self.proc = subprocess.Popen(
            ["prometheus", "--config.file=" + os.path.join(self.dir, "prometheus.yml"),
             "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
             "--web.listen-address=127.0.0.1:%d" % self.port], stdout=self.log, stderr=self.log)
        import urllib.request

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("prometheus exited: see %s" % self.log.name)
            try:
                return urllib.request.urlopen(self.url + "/-/ready", timeout=1).status == 200
            except OSError:
                return False
        wait_for("prometheus ready", ready, timeout=60)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def make_prometheus(fk):
    def test():
        if not shutil.which("prometheus"):
            print("SKIP prometheus steady-state check: prometheus not installed", flush=True)
            return
        prom = Prometheus()
        try:
            before = ready_uids(fk, "hello")
            # Above max before injection: Aborted, nothing touched.
            path = experiment("prometheus-high", "hello", steady={
                "prometheus": {"url": prom.url, "query": "vector(5)", "max": 0.5}})
            p = chaos(fk, "run", path)
            expect(p.returncode == 3 and "Prometheus value 5 above max 0.5" in p.stdout, p.stdout)
            expect(ready_uids(fk, "hello") == before, "pod UIDs changed")
            # Within max: Passed, with before / during / after samples in the report.
            report_dir = os.path.join(WORK, "prometheus-ok")
            path = experiment("prometheus-ok", "hello", extra_spec={"count": 1, "percent": None},
                              steady={"prometheus": {"url": prom.url, "query": "vector(0.2)",
                                                     "max": 0.5}})
            p = chaos(fk, "run", path, "--report-dir", report_dir)
            expect(p.returncode == 0, "exit %d" % p.returncode)
            report = json.load(open(os.path.join(report_dir, "report.json")))
            phases = [s["phase"] for s in report["prometheus"]["samples"]]
            expect(phases[0] == "before" and phases[-1] == "after", phases)
            expect(all(s["value"] == 0.2 for s in report["prometheus"]["samples"]), report["prometheus"])
            validate_report(report)
        finally:
            prom.stop()
    return test


def make_abort_condition(fk):
    def test():
        start_app(fk, "solo", 1)
        pod = [p for p in pods(fk, "solo") if ready(p)][0]
        # The probe pins the one pod's own address: once it is killed every request
        # fails (its replacement gets a new IP), so the abort condition must fire.
        path = experiment("abort-condition", "solo", extra_spec={"percent": None, "count": 1,
                                                                  "maxTargetPercent": 100},
                          http={"service": None, "port": None,
                                "url": "http://%s:8080/" % pod["status"]["podIP"]},
                          steady={"abortErrorRatePercent": 20, "maxRecoverySeconds": 30})
        report_dir = os.path.join(WORK, "abort-condition")
        p = chaos(fk, "run", path, "--report-dir", report_dir)
        expect(p.returncode == 3, "exit %d, want 3 (Aborted)" % p.returncode)
        report = json.load(open(os.path.join(report_dir, "report.json")))
        expect(report["verdict"] == "Aborted" and "abortErrorRatePercent" in report["reason"],
               report["reason"])
        expect(report["injectedAt"] and report["recoveredAt"] is None, "not injected, or recovered")
        expect(any(e["source"] == "probe" for e in report["timeline"]), "no probe failures on the timeline")
        validate_report(report)
    return test


def main():
    os.makedirs(LOG_DIR, exist_ok=True)
    fk = Fakekube(FAKEKUBE, "--pods", "process", "--nodes", "2", "--pod-command",
                  "hello:1=" + POD_SERVER)
    tests = [
        ("help, version, validate names the field", test_help_version_validate),
        ("pod-kill 50% -> Passed, report valid and rendered", make_pod_kill_passed(fk)),
        ("steady state failing before -> Aborted, UIDs unchanged", make_aborted(fk)),
        ("maxTargetPercent exceeded -> Refused, nothing touched", make_refused_blast_radius(fk)),
        ("target Lease held -> Refused; expired -> not", make_refused_lease(fk)),
        ("--dry-run touches nothing", make_dry_run(fk)),
        ("inside a sale window (blackout) -> Refused", make_refused_blackout(fk)),
        ("Prometheus steady state: above max -> Aborted, within -> Passed", make_prometheus(fk)),
        ("abortErrorRatePercent fires after injection -> Aborted", make_abort_condition(fk)),
    ]
    try:
        return run_tests_then_stop(fk, tests)
    finally:
        shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

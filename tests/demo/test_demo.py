"""scripts/demo end to end, as a new user runs it (already built: --no-build).

Starts the demo on free ports, then checks what its screen promises: the site
answers through the nginx ingress and the traffic spreads over the pods; the
printed KUBECONFIG works with kubectl; Prometheus scrapes the pods and the
operator, and follows the pods as the TripDeal's floor goes 1 -> 3 -> 1; a
headless Chromium screenshot of the site through the ingress.  Then Ctrl-C
(SIGINT) must stop everything: no process of the demo is left.
Argv: SOURCE_ROOT SCREENSHOT_PATH
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

SOURCE_ROOT, SCREENSHOT = sys.argv[1], sys.argv[2]
TIME_SCALE = max(1.0, float(os.environ.get("TRIPDEAL_TEST_TIME_SCALE", "1")))


def log(*args):
    print(time.strftime("%H:%M:%S"), *args, flush=True)


def wait_for(what, predicate, timeout, interval=0.25):
    deadline = time.monotonic() + timeout * TIME_SCALE
    last = None
    while True:
        try:
            last = predicate()
            if last:
                return last
        except AssertionError:
            raise
        except Exception as e:  # not yet
            last = e
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout * TIME_SCALE:.0f}s waiting for {what} (last: {last!r})")
        time.sleep(interval)


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode(errors="replace")


def processes_using(path):
    """pids whose command line or working directory mentions path."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if path in cmdline or cwd.startswith(path):
            found.append((int(pid), cmdline[:200]))
    return found


class Demo:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="tripdeal-demo-test-")
        os.chmod(self.dir, 0o755)  # the demo's PostgreSQL runs as the postgres user
        self.out_path = os.path.join(self.dir, "screen.txt")
        env = dict(os.environ, TRIPDEAL_DEMO_DIR=os.path.join(self.dir, "state"), TRIPDEAL_DEMO_SITE_PORT="0",
                   TRIPDEAL_DEMO_API_PORT="0", TRIPDEAL_DEMO_PROMETHEUS_PORT="0", TRIPDEAL_DEMO_LIBVIRT="off",
                   TRIPDEAL_DEMO_MIN_REPLICAS="1", TRIPDEAL_DEMO_SCALE_DOWN_SECONDS="0",
                   TRIPDEAL_DEMO_SALE_IN="30")
        self.out = open(self.out_path, "w")
        log("start scripts/demo --no-build, state in", env["TRIPDEAL_DEMO_DIR"])
        self.proc = subprocess.Popen([os.path.join(SOURCE_ROOT, "scripts", "demo"), "--no-build"],
                                     cwd=SOURCE_ROOT, env=env, stdout=self.out, stderr=subprocess.STDOUT)
        self.state = env["TRIPDEAL_DEMO_DIR"]

    def screen(self):
        with open(self.out_path) as f:
            return f.read()

    def up(self):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"scripts/demo exited {self.proc.returncode}:\n{self.screen()}")
            return "TripDeal is up" in self.screen()
        wait_for("the demo's screen", ready, 300, interval=0.5)
        text = self.screen()
        self.site = re.search(r"Site \(nginx ingress over the pods\)\s+(http://\S+)", text).group(1).rstrip("/")
        self.kubeconfig = re.search(r"export KUBECONFIG=(\S+)", text).group(1)
        self.prometheus = re.search(r"Prometheus\s+(http://\S+)/targets", text).group(1)
        return self

    def kubectl(self, *args):
        p = subprocess.run(["kubectl", "--kubeconfig", self.kubeconfig, *args], capture_output=True, text=True,
                           timeout=60)
        assert p.returncode == 0, f"kubectl {' '.join(args)}: {p.stderr}"
        return p.stdout

    def interrupt(self):
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=120 * TIME_SCALE)
        except subprocess.TimeoutExpired:
            raise AssertionError("scripts/demo did not stop within 120 s of SIGINT:\n" + self.screen())


def pod_targets(demo):
    _, body = http_get(demo.prometheus + "/api/v1/targets?state=active")
    targets = json.loads(body)["data"]["activeTargets"]
    return sorted(t["labels"].get("pod", "") for t in targets
                  if t["labels"].get("job") == "tripdeal-pods" and t["health"] == "up")


def ready_pods(demo):
    pods = json.loads(demo.kubectl("get", "pods", "-n", "tripdeal", "-o", "json"))["items"]
    return sorted(p["metadata"]["name"] for p in pods
                  if not p["metadata"].get("deletionTimestamp") and
                  any(c["type"] == "Ready" and c["status"] == "True" for c in p.get("status", {}).get("conditions", [])))


def set_floor(demo, n):
    demo.kubectl("patch", "td", "shop", "-n", "tripdeal", "--type", "merge", "-p",
                 json.dumps({"spec": {"app": {"replicas": {"min": n}}}}))


def check(demo):
    # the site through the ingress
    status, body = http_get(demo.site + "/")
    assert status == 200 and "TripDeal" in body, body[:300]
    deals = json.loads(http_get(demo.site + "/api/deals")[1])
    assert any("Demo flash sale" in d["title"] for d in deals), [d["title"] for d in deals]
    # KUBECONFIG works: the TripDeal is there and Ready
    td = json.loads(demo.kubectl("get", "td", "shop", "-n", "tripdeal", "-o", "json"))
    log("TripDeal phase", td["status"].get("phase"), "floor", td["status"].get("floorReplicas"))
    assert td["spec"]["sales"][0]["name"] == "demo-sale" and td["spec"]["chaos"]["drills"]
    # Prometheus scrapes the operator and the pod
    _, body = http_get(demo.prometheus + "/api/v1/targets?state=active")
    jobs = {t["labels"]["job"] for t in json.loads(body)["data"]["activeTargets"] if t["health"] == "up"}
    wait_for("the operator's target up", lambda: "tripdeal-operator" in {
        t["labels"]["job"] for t in json.loads(http_get(demo.prometheus + "/api/v1/targets?state=active")[1])
        ["data"]["activeTargets"] if t["health"] == "up"}, 60)
    log("Prometheus jobs up", sorted(jobs))
    one = wait_for("one ready pod", lambda: len(ready_pods(demo)) == 1 and ready_pods(demo), 60)
    wait_for("Prometheus to scrape that pod", lambda: pod_targets(demo) == one, 60)

    # 1 -> 3: Endpoints, nginx and Prometheus follow
    set_floor(demo, 3)
    three = wait_for("three ready pods", lambda: len(ready_pods(demo)) == 3 and ready_pods(demo), 120)
    wait_for("Prometheus to discover the three pods", lambda: pod_targets(demo) == three, 60)
    log("Prometheus targets", three)
    ips = {p["status"]["podIP"] for p in json.loads(demo.kubectl("get", "pods", "-n", "tripdeal", "-o", "json"))["items"]
           if p["metadata"]["name"] in three}

    def spread():
        access = os.path.join(demo.state, "ingress", "access.log")
        start = os.path.getsize(access)
        for _ in range(30):
            assert http_get(demo.site + "/sales")[0] == 200
        with open(access) as f:
            f.seek(start)
            upstreams = {line.split()[-2].rsplit(":", 1)[0] for line in f if "/sales" in line}
        return upstreams == ips and upstreams
    log("requests spread over", sorted(wait_for("requests spread over the three pods", spread, 30, interval=0.5)))

    # headless Chromium: the site as a person sees it, through the ingress
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium:
        if os.path.exists(SCREENSHOT):
            os.unlink(SCREENSHOT)
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        "--window-size=1280,900", f"--screenshot={SCREENSHOT}", demo.site + "/"],
                       capture_output=True, timeout=120)
        with open(SCREENSHOT, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n", "the screenshot is not a PNG"
        log("screenshot", SCREENSHOT, os.path.getsize(SCREENSHOT), "bytes")
    else:
        log("chromium not installed: no screenshot")

    # 3 -> 1
    set_floor(demo, 1)
    back = wait_for("one ready pod again", lambda: len(ready_pods(demo)) == 1 and ready_pods(demo), 120)
    wait_for("Prometheus to drop the removed pods", lambda: pod_targets(demo) == back, 60)
    log("Prometheus targets", back)


def main():
    if not shutil.which("kubectl") or not shutil.which("nginx") or not shutil.which("prometheus"):
        print("kubectl, nginx or prometheus missing: skipping")
        sys.exit(77)
    # the programs answer --help and --version, and name bad input
    ingress = os.path.join(SOURCE_ROOT, "tests", "demo", "fakekube-ingress")
    for prog in ([ingress], [os.path.join(SOURCE_ROOT, "scripts", "demo")]):
        for flag in ("--help", "--version"):
            p = subprocess.run(prog + [flag], capture_output=True, text=True, timeout=30)
            assert p.returncode == 0 and p.stdout.strip(), f"{prog[0]} {flag}: {p.returncode} {p.stderr}"
    p = subprocess.run([ingress, "--kubeconfig", "/nonexistent", "--listen", "127.0.0.1:http"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "--listen" in p.stderr, p.stderr
    p = subprocess.run([os.path.join(SOURCE_ROOT, "scripts", "demo"), "--bogus"], capture_output=True, text=True)
    assert p.returncode == 2 and "--bogus" in p.stderr, p.stderr
    demo = Demo()
    try:
        check(demo.up())
    except BaseException:
        sys.stdout.write(demo.screen()[-4000:])
        for name in ("ingress.log", "operator.log", "fakekube.log"):
            path = os.path.join(demo.state, name)
            if os.path.exists(path):
                sys.stdout.write(f"---- {name}\n" + "".join(open(path).readlines()[-20:]))
        raise
    finally:
        code = demo.interrupt()
        log("scripts/demo exited", code, "after SIGINT")
        wait_for("every demo process to be gone", lambda: not processes_using(demo.state), 30)
        assert code == 130, f"exit status {code} after SIGINT"
        assert "stopped" in demo.screen().splitlines()[-1], demo.screen()[-500:]
    shutil.rmtree(demo.dir, ignore_errors=True)
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""pipelines/.gitlab-ci.yml run with gitlab-ci-local 4.70.0 (npm, Node 20,
rsync) in its shell executor, on a snapshot of the working tree: `--list`
names every stage's job (promotion only on the default branch, manual); the
chart job and the images job (the same pipelines/build-images) pass; the
deploy-freeze job against fakekube passes while no sale window is open and
fails, naming the window and its end, once one is. Also the gates the
promotion waits for: pipelines/load-gate against a real tripdeal-app (passes;
fails under an impossible p99) and pipelines/promotion-gate (a passed load
gate + a Passed last drill pass; a Failed drill or no drill refuses).
Jobs that need a registry, a cluster, Helm or a full rebuild (build, test,
deploy, verify, promote) are only listed: build and test run .ci/run's
scripts, which CI runs anyway. Skips (77) when gitlab-ci-local cannot be
installed (npm unreachable)."""
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.environ["SOURCE_ROOT"]
BUILD_ROOT = os.environ["BUILD_ROOT"]
sys.path.insert(0, os.path.join(SOURCE_ROOT, "tests", "operator", "e2e"))
from harness import Cluster, free_port, log, wait_for  # noqa: E402

GCL_VERSION = "4.70.0"
failures = []


def check(cond, what):
    log(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def gitlab_ci_local():
    cache = os.environ.get("GITLAB_CI_LOCAL_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "tripdeal", f"gitlab-ci-local-{GCL_VERSION}")
    exe = os.path.join(cache, "node_modules", ".bin", "gitlab-ci-local")
    if not os.path.exists(exe):
        if not shutil.which("npm"):
            return None, "npm not installed"
        os.makedirs(cache, exist_ok=True)
        r = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", cache,
                            f"gitlab-ci-local@{GCL_VERSION}"], capture_output=True, text=True, timeout=600)
        if r.returncode != 0 or not os.path.exists(exe):
            return None, f"npm install gitlab-ci-local@{GCL_VERSION} failed: {r.stderr.strip()[-300:]}"
    return exe, None


def snapshot(dest):
    """The working tree's files (tracked + untracked, not ignored) as a fresh git repository."""
    files = subprocess.run(["git", "-C", SOURCE_ROOT, "ls-files", "-co", "--exclude-standard", "-z"],
                           capture_output=True, check=True).stdout
    subprocess.run(["rsync", "-a", "--from0", "--files-from=-", SOURCE_ROOT + "/", dest + "/"], input=files,
                   check=True)
    for cmd in (["init", "-q"], ["add", "-A"],
                ["-c", "user.email=ci@example.com", "-c", "user.name=ci", "commit", "-qm", "snapshot"]):
        subprocess.run(["git", "-C", dest, *cmd], check=True, capture_output=True)


def main():
    for tool in ("rsync", "node", "git"):
        if not shutil.which(tool):
            print(f"SKIP: {tool} not installed (gitlab-ci-local needs it)")
            return 77
    exe, why = gitlab_ci_local()
    if not exe:
        print(f"SKIP: {why}")
        return 77
    work = tempfile.mkdtemp(prefix="tripdeal-pipeline-")
    repo = os.path.join(work, "repo")
    os.makedirs(repo)
    snapshot(repo)
    common = ["--file", "pipelines/.gitlab-ci.yml", "--shell-executor-no-image",
              "--variable", f"BUILD_DIR={BUILD_ROOT}",
              "--variable", f"DEPLOY_FREEZE={os.path.join(BUILD_ROOT, 'pipelines', 'tripdeal-deploy-freeze')}"]
    env = dict(os.environ, RENDER_CHART_BUILD_DIR=os.path.join(BUILD_ROOT, "tests", "chart"))

    def gcl(*args, timeout=900):
        r = subprocess.run([exe, *common, *args], cwd=repo, capture_output=True, text=True, env=env, timeout=timeout)
        return r.returncode, r.stdout + r.stderr

    try:
        rc, out = gcl("--variable", "CI_COMMIT_BRANCH=main", "--variable", "CI_DEFAULT_BRANCH=main", "--list")
        for job in ("build", "test", "images", "chart", "freeze:staging", "deploy:staging", "verify:staging",
                    "promote:production"):
            check(rc == 0 and f"\n{job} " in out, f"--list names {job}")
        promote = [l for l in out.splitlines() if l.startswith("promote:production")]
        check(promote and " manual " in promote[0], "promote:production is manual")

        rc, out = gcl("chart")
        check(rc == 0 and "PASS  chart" in out, "gitlab-ci-local chart: PASS" + ("" if rc == 0 else "\n" + out[-2000:]))

        with Cluster() as cluster:
            cluster.install_crd()
            cluster.kubectl("create", "namespace", "shop")
            later = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=6)).hour
            closed = f"""
apiVersion: tripdeal.io/v1alpha1
kind: TripDeal
metadata: {{name: later, namespace: shop}}
spec:
  app: {{image: registry.example.com/tripdeal/app:1.4.0, replicas: {{min: 1, max: 1}}}}
  sales:
  - {{name: evening, schedule: "0 {later} * * *", timeZone: UTC, duration: 1h,
     prescale: {{leadTime: 10m, minReplicas: 1}}, cooldown: 15m}}
"""
            cluster.apply_yaml(closed)
            variables = ["--variable", f"KUBECONFIG_STAGING={cluster.kubeconfig}"]
            rc, out = gcl("freeze:staging", *variables)
            check(rc == 0 and "clear: no sale window open" in out,
                  "freeze:staging on fakekube with no window open: PASS" + ("" if rc == 0 else "\n" + out[-2000:]))
            soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=5)
            open_now = closed.replace("name: later", "name: now").replace(
                f'"0 {later} * * *"', f'"{soon.minute} {soon.hour} * * *"')  # prescale (10m lead) open now
            cluster.apply_yaml(open_now)
            rc, out = gcl("freeze:staging", *variables)
            check(rc != 0 and "frozen: TripDeal shop/now sale evening: window open, closes" in out,
                  "freeze:staging on fakekube during a sale window: FAIL naming the window and its end\n" + out[-2500:])

        if os.geteuid() == 0 and all(shutil.which(t) for t in ("buildah", "skopeo")):
            rc, out = gcl("images", timeout=1200)
            check(rc == 0 and "PASS  images" in out and os.path.exists(os.path.join(repo, "images", "tripdeal-app.tar"))
                  and os.path.exists(os.path.join(repo, "images", "tripdeal-operator.tar")),
                  "gitlab-ci-local images: PASS, both OCI archives written" + ("" if rc == 0 else "\n" + out[-2000:]))
        else:
            log("note: images job not run (needs root and buildah/skopeo); chart-images covers the script")

        # The promotion's gates on real input.
        app_port = free_port()
        app = subprocess.Popen([os.environ["APP"], "--listen", f"127.0.0.1:{app_port}", "--db",
                                f"sqlite:{os.path.join(work, 'gate.db')}"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, cwd=work)
        try:
            def up():
                try:
                    return urllib.request.urlopen(f"http://127.0.0.1:{app_port}/healthz", timeout=2).status == 200
                except Exception:
                    return app.poll() is not None
            wait_for("app /healthz", up, 30)
            report = os.path.join(work, "load-gate.json")
            gate = os.path.join(SOURCE_ROOT, "pipelines", "load-gate")
            r = subprocess.run([gate, f"http://127.0.0.1:{app_port}/healthz", "--duration", "2s", "--connections",
                                "4", "--max-p99-ms", "5000", "--report", report], capture_output=True, text=True)
            passed = json.load(open(report)) if os.path.exists(report) else {}
            check(r.returncode == 0 and passed.get("passed") and passed.get("requests", 0) > 0,
                  f"load-gate against the real app passes: {r.stdout.strip()} {r.stderr.strip()}")
            bad = os.path.join(work, "load-gate-bad.json")
            r = subprocess.run([gate, f"http://127.0.0.1:{app_port}/healthz", "--duration", "1s", "--connections",
                                "4", "--max-p99-ms", "0.000001", "--report", bad], capture_output=True, text=True)
            check(r.returncode == 1 and "FAILED" in r.stdout, f"load-gate fails above its p99 threshold: {r.stdout.strip()}")
        finally:
            app.terminate()
            app.wait(timeout=30)

        now = datetime.datetime.now(datetime.timezone.utc)
        def tds(verdict):
            item = {"apiVersion": "tripdeal.io/v1alpha1", "kind": "TripDeal",
                    "metadata": {"name": "shop", "namespace": "staging"},
                    "spec": {"chaos": {"drills": [{"name": "weekly-pod-kill"}]}}, "status": {}}
            if verdict:
                item["status"]["lastDrill"] = {"name": "weekly-pod-kill", "verdict": verdict,
                                               "finishedAt": (now - datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                                               "message": "error ratio 2.1% above 0.5%" if verdict == "Failed" else ""}
            path = os.path.join(work, f"tds-{verdict}.json")
            json.dump({"apiVersion": "v1", "kind": "List", "items": [item]}, open(path, "w"))
            return path
        promo = os.path.join(SOURCE_ROOT, "pipelines", "promotion-gate")
        r = subprocess.run([promo, "--load-report", report, "--tripdeals", tds("Passed")], capture_output=True, text=True)
        check(r.returncode == 0, f"promotion-gate: load gate passed + drill Passed -> 0: {r.stdout.strip()}")
        r = subprocess.run([promo, "--load-report", report, "--tripdeals", tds("Failed")], capture_output=True, text=True)
        check(r.returncode == 1 and "verdict Failed" in r.stdout, f"promotion-gate: drill Failed -> refused: {r.stdout.strip()}")
        r = subprocess.run([promo, "--load-report", report, "--tripdeals", tds(None)], capture_output=True, text=True)
        check(r.returncode == 1 and "no drill has run yet" in r.stdout, f"promotion-gate: no drill yet -> refused: {r.stdout.strip()}")
        r = subprocess.run([promo, "--load-report", bad, "--tripdeals", tds("Passed")], capture_output=True, text=True)
        check(r.returncode == 1 and "load gate failed" in r.stdout, f"promotion-gate: load gate failed -> refused: {r.stdout.strip()}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

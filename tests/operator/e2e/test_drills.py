#!/usr/bin/env python3
"""The operator runs spec.chaos drills: a pod-kill drill scheduled every
minute starts as soon as it is added (its fire time is within the start
window), phase Drilling while it runs, status.lastDrill and Events
DrillStarted/DrillPassed after, and the drill metrics count it.  The site
pods are real tripdeal-app processes (fakekube process pods), probed through
the site's own Service.  A second TripDeal whose sale window is open now
skips its drill: Event DrillSkipped naming the sale, lastDrill Skipped."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request

from harness import SECRET_AND_NS, Cluster, Operator, free_port, log, run, tripdeal_yaml, wait_for

APP = os.environ.get("TRIPDEAL_APP", "")


def events(cluster, name):
    out = cluster.kubectl("get", "events", "-n", "tripdeal", "-o", "json").stdout
    return [(e["reason"], e.get("message", "")) for e in json.loads(out)["items"]
            if e["involvedObject"].get("name") == name and e["involvedObject"].get("kind") == "TripDeal"]


def ready_pods(cluster, name):
    out = cluster.kubectl("get", "pods", "-n", "tripdeal", "-l", "app.kubernetes.io/instance=" + name,
                          "-o", "json").stdout
    return sorted(p["metadata"]["uid"] for p in json.loads(out)["items"]
                  if not p["metadata"].get("deletionTimestamp") and any(
                      c["type"] == "Ready" and c["status"] == "True"
                      for c in p.get("status", {}).get("conditions", [])))


class Prometheus:
    """A real Prometheus on a free port for the drill's prometheusQuery (a PromQL
    constant: nothing to scrape); None when prometheus is not installed."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="drills-prometheus-")
        with open(os.path.join(self.dir, "prometheus.yml"), "w") as f:
            f.write("global: {scrape_interval: 1s}\nscrape_configs: []\n")
        self.url = "http://127.0.0.1:%d" % free_port()
        self.log = open(os.path.join(self.dir, "log"), "w")
        self.proc = subprocess.Popen(["prometheus", "--config.file=" + os.path.join(self.dir, "prometheus.yml"),
                                      "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
                                      "--web.listen-address=" + self.url[len("http://"):]],
                                     stdout=self.log, stderr=self.log)

        def ready():
            try:
                return urllib.request.urlopen(self.url + "/-/ready", timeout=1).status == 200
            except OSError:
                return False
        wait_for("prometheus ready", ready, 60)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def scenario():
    prometheus = Prometheus() if shutil.which("prometheus") else None
    try:
        drills_scenario(prometheus)
    finally:
        if prometheus:
            prometheus.stop()


def drills_scenario(prometheus):
    if not APP or not os.path.exists(APP):
        print("TRIPDEAL_APP not set: skipping")
        raise SystemExit(77)
    image = "registry.example.com/tripdeal/app:1.4.0"
    db = os.path.join(os.environ.get("TMPDIR", "/tmp"), "drills-e2e-%d.db" % os.getpid())
    operator_args = ["--prometheus-url", prometheus.url] if prometheus else []
    with Cluster(["--pods", "process", "--nodes", "2", "--pod-command", image + "=" + APP]) as cluster, \
            Operator(cluster, *operator_args) as operator:
        cluster.install_crd()
        cluster.apply_yaml((SECRET_AND_NS % {"ns": "tripdeal"}).replace(
            "postgresql://tripdeal@db.tripdeal.svc/tripdeal", "sqlite:" + db))
        operator.wait_ready()
        cluster.apply_yaml(tripdeal_yaml("shop", "tripdeal", image=image, min_replicas=2, max_replicas=2))
        wait_for("2 Ready site pods", lambda: len(ready_pods(cluster, "shop")) == 2, 90)
        wait_for("2 ready endpoints", lambda: sum(len(s.get("addresses", [])) for s in (
            cluster.get("endpoints", "shop", "tripdeal") or {}).get("subsets", [])) == 2, 30)
        before = ready_pods(cluster, "shop")

        drill = {"spec": {"chaos": {"drills": [{
            "name": "minutely-pod-kill", "schedule": "* * * * *", "timeZone": "Asia/Seoul",
            "action": "pod-kill", "target": {"count": 1}, "maxTargetPercent": 50,
            "steadyState": {"maxErrorRatePercent": 50, "maxRecoverySeconds": 60}}]}}}
        if prometheus:
            # Steady while the query (a constant here) stays at or below threshold.
            drill["spec"]["chaos"]["drills"][0]["steadyState"].update(
                {"prometheusQuery": "vector(0.1)", "threshold": 0.5})
        else:
            log("prometheus not installed: the drill runs without prometheusQuery")
        cluster.kubectl("patch", "tripdeal", "shop", "-n", "tripdeal", "--type=merge", "-p", json.dumps(drill))

        saw_drilling = []

        def finished():
            td = cluster.get("tripdeal", "shop", "tripdeal")
            status = td.get("status", {})
            if status.get("phase") == "Drilling":
                saw_drilling.append(True)
            last = status.get("lastDrill", {})
            return last if last.get("verdict") not in (None, "Running") else None
        last = wait_for("status.lastDrill with a verdict", finished, 90, interval=0.1)
        log("lastDrill", last)
        # No second run at the next minute while the checks below look.
        drill["spec"]["chaos"]["drills"][0]["schedule"] = "0 0 1 1 *"
        cluster.kubectl("patch", "tripdeal", "shop", "-n", "tripdeal", "--type=merge", "-p", json.dumps(drill))
        assert last["name"] == "minutely-pod-kill", last
        assert last["verdict"] == "Passed", last
        assert last["recoverySeconds"] > 0 and last["startedAt"] and last["finishedAt"], last
        assert last["failedRequests"] >= 0, last
        assert saw_drilling, "phase Drilling never seen while the drill ran"
        reasons = [r for r, _ in events(cluster, "shop")]
        assert "DrillStarted" in reasons and "DrillPassed" in reasons, reasons
        # One original pod left, one replacement (Ready again after any probe flap under load).
        after = wait_for("2 Ready pods, one of them new", lambda: (lambda a: a if len(a) == 2 else None)(
            ready_pods(cluster, "shop")), 30)
        assert len(set(before) & set(after)) == 1, (before, after)
        wait_for("phase back from Drilling", lambda: cluster.get("tripdeal", "shop", "tripdeal")
                 ["status"].get("phase") != "Drilling", 20)
        table = cluster.kubectl("get", "td", "shop", "-n", "tripdeal").stdout
        log(table)
        assert "Passed" in table, table
        assert operator.metric('tripdeal_operator_drills_total{verdict="Passed"}') == 1
        assert operator.metric("tripdeal_operator_drill_recovery_seconds_count") == 1

        # A sale every hour for 59 minutes: its window is open whatever the time.
        sales = """  sales:
  - name: hourly-flash
    schedule: "0 * * * *"
    timeZone: Asia/Seoul
    duration: 59m
    prescale: {leadTime: 1m, minReplicas: 1}
  chaos:
    blackout: [sales]
    drills:
    - name: during-the-sale
      schedule: "* * * * *"
      action: pod-kill
      target: {count: 1}
"""
        cluster.apply_yaml(tripdeal_yaml("sale", "tripdeal", image=image, min_replicas=1, max_replicas=1,
                                         sales=sales))
        skipped = wait_for("DrillSkipped", lambda: [m for r, m in events(cluster, "sale") if r == "DrillSkipped"],
                           30)
        log("skipped:", skipped)
        assert "hourly-flash" in skipped[0], skipped
        last = wait_for("lastDrill Skipped", lambda: cluster.get("tripdeal", "sale", "tripdeal")
                        .get("status", {}).get("lastDrill"), 10)
        assert last["verdict"] == "Skipped" and "hourly-flash" in last["message"], last
        assert "DrillStarted" not in [r for r, _ in events(cluster, "sale")]
        assert operator.metric('tripdeal_operator_drills_total{verdict="Skipped"}') >= 1
    if os.path.exists(db):
        os.unlink(db)


if __name__ == "__main__":
    run(scenario)

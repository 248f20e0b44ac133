#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Every query of every Grafana dashboard in charts/tripdeal/files/dashboards
runs against a real Prometheus scraping the real programs: tripdeal-operator
(reconciling TripDeals on fakekube, one of them with a node pool on
libvirt's test:///default), the site pods fakekube runs as processes from
the operator's Deployment, and one seeded tripdeal-app (deals, so stock
series exist). Each query must be valid PromQL (Prometheus answers
"success"), and each metric and label it names must exist in what was
scraped, so no panel is empty because of a typo. Template variables are
replaced by `.*` and $__rate_interval by 15s."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.environ["SOURCE_ROOT"]
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(SOURCE_ROOT, "tests", "operator", "e2e"))
from harness import SECRET_AND_NS, Cluster, Operator, free_port, log, tripdeal_yaml, wait_for  # noqa: E402
from metric_names import names_in  # noqa: E402

DASHBOARDS = os.path.join(SOURCE_ROOT, "charts", "tripdeal", "files", "dashboards")
APP_IMAGE = "registry.example.com/tripdeal/app:1.4.0"
# Named by a dashboard but exported by a change not merged here yet: reported, not failed.
PENDING = {
    "tripdeal_operator_drill_recovery_seconds_bucket": "the drills' recovery histogram (the chaos change)",
    "tripdeal_operator_drill_recovery_seconds_sum": "the drills' recovery histogram (the chaos change)",
    "tripdeal_operator_drill_recovery_seconds_count": "the drills' recovery histogram (the chaos change)",
}
POOL = """
  nodePools:
  - name: burst
    libvirt: {uri: "test:///default", baseImage: /nonexistent/base.qcow2, storagePool: default-pool,
              network: default, vcpus: 1, memoryMiB: 64}
    min: 0
    max: 1
    joinSecretRef: {name: kubeadm-join}
"""
failures = []


def check(cond, what):
    log(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def get_json(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        return json.loads(e.read() or b"{}")
    except Exception:
        return None


def http_ok(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except Exception:
        return False


class Prometheus:
    def __init__(self, workdir, targets):
        self.port = free_port()
        cfg = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"}, "scrape_configs": []}
        for job, addr, labels, honor in targets:
            cfg["scrape_configs"].append({"job_name": job, "honor_labels": honor, "scrape_interval": "1s",
                                          "static_configs": [{"targets": [addr], "labels": labels}]})
        path = os.path.join(workdir, "prometheus.yml")
        open(path, "w").write(json.dumps(cfg))
        self.log = open(os.path.join(workdir, "prometheus.log"), "w")
        self.proc = subprocess.Popen(["prometheus", f"--config.file={path}",
                                      f"--storage.tsdb.path={os.path.join(workdir, 'tsdb')}",
                                      f"--web.listen-address=127.0.0.1:{self.port}"],
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def query(self, q):
        return get_json(f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": q}))

    def has(self, q):
        r = self.query(q)
        return bool(r and r.get("status") == "success" and r["data"]["result"])

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


def substitute(expr):
    expr = expr.replace("$__rate_interval", "15s").replace("${__rate_interval}", "15s")
    return re.sub(r"\$\{?[a-zA-Z_]+\}?", ".*", expr)


def labels_in(expr):
    stripped = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    labels = set(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*\"", stripped))
    for group in re.findall(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", stripped):
        labels.update(x.strip() for x in group.split(",") if x.strip())
    return labels - {"le", "__name__"}


def check_expr(prom, where, expr):
    q = substitute(expr)
    r = prom.query(q)
    check(r is not None and r.get("status") == "success",
          f"{where}: valid PromQL ({(r or {}).get('error', '')}) {q}")
    names = names_in(q)
    for n in sorted(names):
        exists = prom.has(f'count({{__name__="{n}"}})')
        if not exists and n in PENDING:
            log(f"note {where}: {n} not exported yet: {PENDING[n]}")
            continue
        check(exists, f"{where}: metric {n} exists")
    present = [n for n in names if prom.has(f'count({{__name__="{n}"}})')]
    if not present:
        return
    for label in sorted(labels_in(q)):
        ok = any(prom.has(f'count({n}{{{label}!=""}})') for n in present)
        check(ok, f"{where}: label {label} exists on {sorted(present)}")


def main():
    for tool in ("prometheus",):
        if not shutil.which(tool):
            print(f"SKIP: {tool} not installed")
            return 77
    work = tempfile.mkdtemp(prefix="tripdeal-dashboards-")
    app_proc = prom = None
    extra = ["--pods", "process", "--pod-command", f"{APP_IMAGE}={os.environ['APP']}"]
    try:
        with Cluster(extra_args=extra) as cluster, Operator(cluster) as operator:
            cluster.install_crd()
            cluster.apply_yaml(SECRET_AND_NS % {"ns": "tripdeal"})
            cluster.kubectl("create", "secret", "generic", "kubeadm-join", "-n", "tripdeal",
                            "--from-literal=join=kubeadm join 10.0.0.1:6443 --token abc.def")
            operator.wait_ready()
            cluster.apply_yaml(tripdeal_yaml("shop", "tripdeal", min_replicas=1, max_replicas=1).replace(
                "    database: {secretRef: {name: tripdeal-db, key: url}}\n", ""))
            cluster.apply_yaml(tripdeal_yaml("pool", "tripdeal", min_replicas=1, max_replicas=1).replace(
                "    database: {secretRef: {name: tripdeal-db, key: url}}\n", "") + POOL)

            def site_pods():
                out = json.loads(cluster.kubectl("get", "pods", "-n", "tripdeal", "-o", "json").stdout)
                running = [p for p in out["items"] if p.get("status", {}).get("podIP")
                           and any(c.get("ready") for c in p["status"].get("containerStatuses", []))]
                return running if len(running) >= 1 else None

            pods = wait_for("a Ready site pod run by fakekube", site_pods, 90)
            app_port = free_port()
            app_proc = subprocess.Popen([os.environ["APP"], "--listen", f"127.0.0.1:{app_port}", "--db",
                                         f"sqlite:{os.path.join(work, 'demo.db')}", "--seed-demo"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=work)
            wait_for("seeded app /healthz", lambda: http_ok(f"http://127.0.0.1:{app_port}/healthz")
                     or app_proc.poll() is not None, 30)
            targets = [("tripdeal-operator", f"127.0.0.1:{operator.metrics_port}",
                        {"namespace": "tripdeal-system", "pod": "tripdeal-operator-0"}, True),
                       ("tripdeal-app-seeded", f"127.0.0.1:{app_port}", {"namespace": "tripdeal", "pod": "seeded"}, False)]
            for p in pods:
                targets.append(("tripdeal-site", f"{p['status']['podIP']}:8080",
                                {"namespace": p["metadata"]["namespace"], "pod": p["metadata"]["name"]}, False))
            prom = Prometheus(work, targets)
            # Traffic on every target's routes, so request series exist.
            for _, addr, _, _ in targets[1:]:
                for path in ("/", "/deals", "/healthz", "/nope"):
                    try:
                        urllib.request.urlopen(f"http://{addr}{path}", timeout=5).read()
                    except Exception:
                        pass
            wait_for("every target scraped 3 times", lambda: (lambda r: r and r.get("status") == "success" and len(
                r["data"]["result"]) == len(targets) and all(float(x["value"][1]) >= 3 for x in r["data"]["result"]))(
                prom.query("count_over_time(up[1m]) * on (job, instance) up")), 60, interval=0.5)
            wait_for("the pool TripDeal's VM series", lambda: prom.has("tripdeal_operator_vms"), 30, interval=0.5)

            n = 0
            for f in sorted(os.listdir(DASHBOARDS)):
                d = json.load(open(os.path.join(DASHBOARDS, f)))
                for v in d.get("templating", {}).get("list", []):
                    if v.get("type") != "query":
                        continue
                    m = re.match(r"label_values\((.*),\s*(\w+)\)$", v["query"]["query"])
                    check(m is not None, f"{f} variable {v['name']}: label_values(METRIC, LABEL)")
                    if m:
                        sel, label = substitute(m.group(1)), m.group(2)
                        check(prom.has(f'count({sel}) by ({label})') and prom.has(f'count({sel}{{{label}!=""}})'
                              if "{" not in sel else f'count({sel})'),
                              f"{f} variable {v['name']}: {sel} has label {label}")
                for panel in d["panels"]:
                    for t in panel.get("targets", []):
                        n += 1
                        check_expr(prom, f"{f} panel {panel['title']!r} {t['refId']}", t["expr"])
            log(f"{n} panel queries checked")
            check(not prom.has('count({__name__="tripdeal_http_request_total"})') and
                  prom.has('count({__name__="tripdeal_http_requests_total"})'),
                  "self-test: a misspelt metric name is seen as missing, the right one as present")
    finally:
        if prom:
            prom.stop()
        if app_proc:
            app_proc.terminate()
            app_proc.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

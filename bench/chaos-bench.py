#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Recovery seconds of chaos drills, measured by tripdeal-chaos itself.

usage: bench/chaos-bench.py BUILD_DIR [--runs N] [--pods N] [--toleration S] [--json FILE]

pod-kill: fakekube with process pods (fakekube-pod-server, readiness probe
every 1 s), a Deployment of --pods replicas behind a Service, N drills of
50 % with gracePeriodSeconds 0, probing the Service every 50 ms.
node-kill (only with TRIPDEAL_TEST_QEMU_URI): two OS-less QEMU domains as
nodes, one pod on each, tolerationSeconds --toleration; N drills each
powering one VM off (virDomainDestroy) and starting it again.
Prints one markdown table: min / median / max recovery seconds and failed
probe requests per action.  Everything runs on loopback and is torn down.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "fakekube"))
from harness import Fakekube, wait_for  # noqa: E402


def ready(pod):
    return not pod["metadata"].get("deletionTimestamp") and any(
        c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", []))


def deploy(fk, replicas, image, extra_spec=None):
    container = {"name": "main", "image": image, "args": ["--listen", "$(POD_IP):8080"],
                 "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
                 "ports": [{"containerPort": 8080, "name": "http"}],
                 "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 1}}
    spec = {"terminationGracePeriodSeconds": 1, "containers": [container]}
    spec.update(extra_spec or {})
    fk.post("/apis/apps/v1/namespaces/default/deployments", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": spec}}})
    fk.post("/api/v1/namespaces/default/services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 8080, "targetPort": "http"}]}})

    def all_ready():
        pods = fk.get("/api/v1/namespaces/default/pods?labelSelector=app%3Dweb")[1]["items"]
        ep = fk.get("/api/v1/namespaces/default/endpoints/web")[1] or {}
        eps = sum(len(s.get("addresses", [])) for s in (ep.get("subsets", []) if isinstance(ep, dict) else []))
        return sum(ready(p) for p in pods) == replicas and eps == replicas
    wait_for("%d ready pods and endpoints" % replicas, all_ready, timeout=120)
    return all_ready


def drill(chaos, fk, work, spec, extra_args=()):
    doc = {"apiVersion": "chaos.tripdeal.io/v1alpha1", "kind": "Experiment",
           "metadata": {"name": "bench"}, "spec": spec}
    path = os.path.join(work, "bench.yaml")
    with open(path, "w") as f:
        json.dump(doc, f)
    report_dir = os.path.join(work, "report")
    p = subprocess.run([chaos, "run", path, "--kubeconfig", fk.kubeconfig, "--report-dir", report_dir,
                        *extra_args], capture_output=True, text=True, timeout=300)
    report = json.load(open(os.path.join(report_dir, "report.json")))
    if p.returncode != 0:
        print("drill exit %d: %s" % (p.returncode, report["reason"]), file=sys.stderr)
        return None
    return report["recoverySeconds"], report["probes"]["failed"], report["probes"]["sent"]


def bench_pod_kill(build, runs, pods, work):
    fk = Fakekube(os.path.join(build, "tests/fakekube/fakekube"), "--pods", "process", "--nodes", "2",
                  "--pod-command", "web:1=" + os.path.join(build, "tests/fakekube/controllers/fakekube-pod-server"))
    try:
        all_ready = deploy(fk, pods, "web:1")
        out = []
        for _ in range(runs):
            wait_for("steady before the next drill", all_ready, timeout=60)
            r = drill(os.path.join(build, "chaos/tripdeal-chaos"), fk, work, {
                "target": {"selector": {"matchLabels": {"app": "web"}}}, "action": "pod-kill",
                "percent": 50, "maxTargetPercent": 50, "gracePeriodSeconds": 0,
                "steadyState": {"http": {"service": "web", "port": 8080, "interval": "50ms"},
                                "maxErrorRatePercent": 100, "maxRecoverySeconds": 60}})
            if r:
                out.append(r)
        return out
    finally:
        fk.stop()


def bench_node_kill(build, runs, toleration, work):
    uri = os.environ.get("TRIPDEAL_TEST_QEMU_URI")
    if not uri:
        print("node-kill skipped: TRIPDEAL_TEST_QEMU_URI not set", file=sys.stderr)
        return []
    names = ["bench-node-%d-%s" % (os.getpid(), s) for s in "ab"]
    pool = "bench-%d" % os.getpid()  # libvirtd is shared: pin the pods to our own VMs
    xml = """<domain type='qemu'><name>%s</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64'>hvm</type></os><metadata><tripdeal:node xmlns:tripdeal="https://tripdeal.io/vmctl/1">
<tripdeal:pool>%s</tripdeal:pool><tripdeal:owner>default/bench</tripdeal:owner></tripdeal:node></metadata>
<devices></devices></domain>"""
    fk = None
    try:
        for n in names:
            path = os.path.join(work, n + ".xml")
            with open(path, "w") as f:
                f.write(xml % (n, pool))
            subprocess.run(["virsh", "-c", uri, "define", path], check=True, capture_output=True)
            subprocess.run(["virsh", "-c", uri, "start", n], check=True, capture_output=True)
        fk = Fakekube(os.path.join(build, "tests/fakekube/fakekube"), "--nodes", "0", "--libvirt-uri", uri,
                      "--node-boot-delay", "1s", "--pods", "process",
                      "--pod-command", "web:1=" + os.path.join(build, "tests/fakekube/controllers/fakekube-pod-server"))
        tol = [{"key": k, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": toleration}
               for k in ("node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready")]
        spread = [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway",
                   "labelSelector": {"matchLabels": {"app": "web"}}}]
        all_ready = deploy(fk, 2, "web:1", {"tolerations": tol, "topologySpreadConstraints": spread,
                                            "nodeSelector": {"tripdeal.io/pool": pool}})
        out = []
        for _ in range(runs):
            def nodes_ready():
                items = fk.get("/api/v1/nodes")[1]["items"]
                return sum(any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])
                           for n in items if n["metadata"]["name"] in names) == 2
            wait_for("both nodes Ready", nodes_ready, timeout=60)
            wait_for("steady", all_ready, timeout=60)
            # Spread the pods again (the replacement may share a node with the other pod).
            pods = fk.get("/api/v1/namespaces/default/pods?labelSelector=app%3Dweb")[1]["items"]
            if len({p["spec"].get("nodeName") for p in pods}) < 2:
                fk.delete("/api/v1/namespaces/default/pods/" + pods[0]["metadata"]["name"])
                wait_for("spread", lambda: len({p["spec"].get("nodeName") for p in fk.get(
                    "/api/v1/namespaces/default/pods?labelSelector=app%3Dweb")[1]["items"] if ready(p)}) == 2, 60)
            r = drill(os.path.join(build, "chaos/tripdeal-chaos"), fk, work, {
                "target": {"selector": {"matchLabels": {"app": "web"}}}, "action": "node-kill",
                "count": 1, "maxTargetPercent": 50,
                "steadyState": {"http": {"service": "web", "port": 8080, "interval": "50ms", "timeout": "500ms"},
                                "maxErrorRatePercent": 100, "maxRecoverySeconds": toleration + 30}},
                ["--libvirt-uri", uri])
            if r:
                out.append(r)
        return out
    finally:
        if fk:
            fk.stop()
        for n in names:
            subprocess.run(["virsh", "-c", uri, "destroy", n], capture_output=True)
            subprocess.run(["virsh", "-c", uri, "undefine", n], capture_output=True)


def row(action, setup, results):
    if not results:
        return "| %s | %s | 0 | – | – | – | – |" % (action, setup)
    secs = [r[0] for r in results]
    failed = sum(r[1] for r in results)
    sent = sum(r[2] for r in results)
    return "| %s | %s | %d | %.2f | %.2f | %.2f | %d of %d (%.1f %%) |" % (
        action, setup, len(results), min(secs), statistics.median(secs), max(secs), failed, sent,
        100.0 * failed / sent if sent else 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--pods", type=int, default=4)
    ap.add_argument("--toleration", type=int, default=3)
    ap.add_argument("--json")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="chaos-bench-")
    try:
        pod = bench_pod_kill(args.build, args.runs, args.pods, work)
        node = bench_node_kill(args.build, args.runs, args.toleration, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("| action | setup | runs | min s | median s | max s | failed probe requests |")
    print("|---|---|---|---|---|---|---|")
    print(row("pod-kill 50 %", "%d process pods, grace 0" % args.pods, pod))
    print(row("node-kill 1 of 2", "QEMU VMs, tolerationSeconds %d" % args.toleration, node))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"pod_kill": pod, "node_kill": node, "time": time.time()}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())

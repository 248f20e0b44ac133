#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The chart's operator Deployment, applied to fakekube with process pods
(the operator image mapped to the built binary), runs the operator
in-cluster: it authenticates with the service-account token fakekube's
kubelet projects into the pod, its two replicas each bind metrics and health
to $(POD_IP) (process pods share the host's network), exactly one of them
holds the Lease, and the sample TripDeal is reconciled. Skips (77) with the
reason when fakekube cannot project service-account tokens into process pods
(needs root and fakekube's pod sandbox)."""
import json
import os
import subprocess
import sys
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.environ["SOURCE_ROOT"]
sys.path.insert(0, os.path.join(SOURCE_ROOT, "tests", "operator", "e2e"))
from harness import Cluster, log, wait_for  # noqa: E402

NS = "tripdeal-system"
OPERATOR_IMAGE = "registry.example.com/tripdeal/operator:0.1.0"
APP_IMAGE = "registry.example.com/tripdeal/app:0.1.0"
SKIP = 77


def metric(ip, port, name):
    try:
        with urllib.request.urlopen(f"http://{ip}:{port}/metrics", timeout=2) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[-1])
    except Exception:
        return None
    return None


def main():
    if os.geteuid() != 0:
        print("SKIP: fakekube's process pods get their service-account token only when it runs as root")
        return SKIP
    rendered = subprocess.run(
        [os.path.join(HERE, "render-chart"), os.path.join(SOURCE_ROOT, "charts", "tripdeal"),
         "--namespace", NS, "--set", "operator.image.tag=0.1.0", "--set", "sampleTripDeal.enabled=true",
         "--set", f"sampleTripDeal.image={APP_IMAGE}", "--set", "operator.logLevel=debug"],
        capture_output=True, text=True, check=True).stdout
    extra = ["--pods", "process", "--pod-command", f"{OPERATOR_IMAGE}={os.environ['OPERATOR']}",
             "--pod-command", f"{APP_IMAGE}={os.environ['APP']}", "--nodes", "2"]
    extra += os.environ.get("FAKEKUBE_EXTRA_ARGS", "").split()  # e.g. --openapi FILE
    with Cluster(extra_args=extra) as cluster:
        cluster.install_crd()
        cluster.kubectl("create", "namespace", NS)
        cluster.kubectl("apply", "-f", "-", input=rendered)

        def pods():
            out = cluster.kubectl("get", "pods", "-n", NS, "-l", "app.kubernetes.io/name=tripdeal-operator",
                                  "-o", "json").stdout
            return json.loads(out)["items"]

        def running():
            p = [x for x in pods() if x.get("status", {}).get("phase") == "Running"
                 and x["status"].get("podIP")]
            return p if len(p) == 2 else None

        ops = wait_for("two operator pods Running", running, 60)
        # In-cluster config needs the projected token: without it the operator
        # exits at once naming the missing file.
        def started_or_failed():
            for p in ops:
                logs = cluster.kubectl("logs", "-n", NS, p["metadata"]["name"], check=False).stdout
                if "service account token" in logs or "not running in a cluster" in logs:
                    return ("missing", logs)
                if "connecting to the API server" in logs:
                    return ("ok", logs)
            return None
        state, logs = wait_for("operator start-up line", started_or_failed, 30)
        if state == "missing":
            print("SKIP: fakekube does not project the service-account token (and KUBERNETES_SERVICE_HOST) "
                  "into process pods yet, so the operator cannot load its in-cluster config:\n" + logs[-600:])
            return SKIP

        lease = wait_for("the Lease held", lambda: (lambda l: l if l and l["spec"].get("holderIdentity") else None)(
            cluster.get("lease", "tripdeal-operator", NS)), 60)
        log("lease holder:", lease["spec"]["holderIdentity"])
        ips = [p["status"]["podIP"] for p in ops]
        assert len(set(ips)) == 2, f"two pods, two addresses: {ips}"
        leaders = wait_for("each replica's /metrics on its POD_IP, one leader", lambda: (
            lambda v: v if None not in v and sorted(v) == [0.0, 1.0] else None)(
            [metric(ip, 8090, "tripdeal_operator_is_leader") for ip in ips]), 30)
        log(f"tripdeal_operator_is_leader on {ips}: {leaders}")

        td = wait_for("the sample TripDeal reconciled", lambda: (
            lambda t: t if t and t.get("status", {}).get("observedGeneration") else None)(
            cluster.get("tripdeal", "shop", NS)), 60)
        assert cluster.get("deployment", "shop", NS), "the site's Deployment was created"
        log(f"TripDeal shop: phase {td['status'].get('phase')}, floor {td['status'].get('floorReplicas')}")
    log("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())

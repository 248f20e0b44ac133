#!/usr/bin/env python3
"""The operator runs a node-kill drill of spec.chaos on real QEMU VMs.

A TripDeal has a node pool of two tiny OS-less QEMU domains (made by the
operator through vmctl, as in test_nodepools.py); fakekube registers them as
Nodes (--libvirt-uri, only this run's --libvirt-domain-prefix) and runs the
site pods on them as real tripdeal-app processes.  A node-kill drill powers
one VM off hard through the node pool module: its pod dies with it, is
replaced on the other VM within tolerationSeconds, status.lastDrill says
Passed with recoverySeconds, Events DrillStarted/DrillPassed, and the VM runs
again afterwards with no Lease left.  Then the operator is SIGKILLed while a
second node-kill drill has a VM off: the next operator finds the drill's
Lease and starts that VM again.  A TripDeal without node pools gets its
node-kill drill Refused with a message that says why.

Needs TRIPDEAL_TEST_QEMU_URI (eval "$(scripts/test-services start)"), root,
virsh and qemu-img; exits 77 (skipped) with a message otherwise.  Everything
it makes carries a unique prefix and is removed at the end, also on failure.
"""
import json
import os
import secrets
import shutil
import signal
import sys

from harness import SECRET_AND_NS, Cluster, Operator, log, run, wait_for
from test_drills import events, ready_pods
from test_nodepools import Host, virsh

QEMU_URI = os.environ.get("TRIPDEAL_TEST_QEMU_URI", "")
APP = os.environ.get("APP", "")  # tripdeal-app (meson's e2e environment)
NS = "tripdeal"
IMAGE = "registry.example.com/tripdeal/app:1.4.0"
TOLERATION = 3
# The TripDeal's name is the run's prefix: its VMs (<name>-<pool>-xxxxx) carry it.
NAME = "nk" + secrets.token_hex(3)


def tripdeal(host, drills=""):
    return f"""
apiVersion: tripdeal.io/v1alpha1
kind: TripDeal
metadata: {{name: {NAME}, namespace: {NS}}}
spec:
  app:
    image: {IMAGE}
    replicas: {{min: 2, max: 2}}
    database: {{secretRef: {{name: tripdeal-db, key: url}}}}
    failover: {{tolerationSeconds: {TOLERATION}}}
    # Small requests: both site pods fit on one 64 MiB VM once the other is off.
    resources: {{requests: {{cpu: 100m, memory: 16Mi}}, limits: {{cpu: "1", memory: 256Mi}}}}
  nodePools:
  - name: drill
    libvirt:
      uri: {QEMU_URI}
      baseImage: {host.base}
      storagePool: {host.pool}
      network: {host.network}
      vcpus: 1
      memoryMiB: 64
    min: 2
    max: 2
    joinSecretRef: {{name: kubeadm-join}}
{drills}---
apiVersion: v1
kind: Secret
metadata: {{name: kubeadm-join, namespace: {NS}}}
stringData: {{join: "kubeadm join 10.0.0.1:6443 --token abcdef.0123456789abcdef"}}
"""


def drill_patch(name, schedule="* * * * *", recovery=TOLERATION + 30):
    return json.dumps({"spec": {"chaos": {"drills": [{
        "name": name, "schedule": schedule, "action": "node-kill", "target": {"count": 1},
        "maxTargetPercent": 50,
        "steadyState": {"maxErrorRatePercent": 60, "maxRecoverySeconds": recovery}}]}}})


def node_ready(cluster, name):
    node = cluster.get("node", name)
    return node and any(c["type"] == "Ready" and c["status"] == "True"
                        for c in node["status"].get("conditions", []))


def vm_nodes(cluster):
    out = cluster.kubectl("get", "nodes", "-o", "json").stdout
    return sorted(n["metadata"]["name"] for n in json.loads(out)["items"]
                  if n["metadata"]["name"].startswith(NAME + "-") and node_ready(cluster, n["metadata"]["name"]))


def site_pods(cluster, name=NAME):
    """{uid: node} of the Ready site pods."""
    out = cluster.kubectl("get", "pods", "-n", NS, "-l", "app.kubernetes.io/instance=" + name,
                          "-o", "json").stdout
    return {p["metadata"]["uid"]: p["spec"].get("nodeName") for p in json.loads(out)["items"]
            if p["metadata"]["uid"] in ready_pods(cluster, name)}


def last_drill(cluster, name=NAME):
    last = (cluster.get("tripdeal", name, NS) or {}).get("status", {}).get("lastDrill", {})
    return last if last.get("verdict") not in (None, "Running") else None


def domstate(name):
    return virsh("domstate", name, check=False).stdout.strip()


def spread_over(cluster, vms):
    """One Ready site pod on each VM (the first VM Ready, or a drill, may have both)."""
    pods = wait_for("2 Ready site pods", lambda: (lambda p: p if len(p) == 2 else None)(site_pods(cluster)), 120)
    if sorted(pods.values()) != vms:
        out = json.loads(cluster.kubectl("get", "pods", "-n", NS, "-o", "json").stdout)["items"]
        victim = [p["metadata"]["name"] for p in out if p["metadata"]["uid"] in pods][0]
        cluster.kubectl("delete", "pod", victim, "-n", NS, "--wait=false")
    wait_for("one Ready site pod on each VM", lambda: sorted(site_pods(cluster).values()) == vms, 90)


def scenario():
    if not QEMU_URI:
        print("SKIP: TRIPDEAL_TEST_QEMU_URI is not set (run eval \"$(scripts/test-services start)\" "
              "where libvirtd with the QEMU driver can start)")
        sys.exit(77)
    if os.geteuid() != 0 or not shutil.which("virsh") or not shutil.which("qemu-img"):
        print("SKIP: needs root (a bridge for the pool's network), virsh and qemu-img")
        sys.exit(77)
    if not APP or not os.path.exists(APP):
        print("SKIP: APP not set (the site pods run the real tripdeal-app)")
        sys.exit(77)
    # meson's timeout sends SIGTERM: the with-blocks below still clean up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    db = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"{NAME}.db")
    try:
        with Host(NAME) as host:
            drills_scenario(host, db)
    finally:
        if os.path.exists(db):
            os.unlink(db)


def drills_scenario(host, db):
    # Only this run's VMs are Nodes, and they are the only Nodes: the pods live on them.
    with Cluster(["--libvirt-uri", QEMU_URI, "--libvirt-domain-prefix", NAME + "-",
                  "--node-boot-delay", "1s", "--nodes", "0",
                  "--pods", "process", "--pod-command", IMAGE + "=" + APP]) as cluster:
        cluster.install_crd()
        cluster.apply_yaml((SECRET_AND_NS % {"ns": NS}).replace(
            "postgresql://tripdeal@db.tripdeal.svc/tripdeal", "sqlite:" + db))
        # A long Node Ready deadline: the pool must not replace the VM the drill powers off.
        first = Operator(cluster, "--node-ready-timeout", "10m", name="tripdeal-operator-1")
        try:
            first.wait_ready()
            refused_without_pools(cluster)
            cluster.apply_yaml(tripdeal(host))
            vms = wait_for("two Ready VM nodes", lambda: (lambda v: v if len(v) == 2 else None)(vm_nodes(cluster)),
                           90, interval=0.2)
            log("VM nodes", vms)
            spread_over(cluster, vms)
            wait_for("2 ready endpoints", lambda: sum(len(s.get("addresses", [])) for s in (
                cluster.get("endpoints", NAME, NS) or {}).get("subsets", [])) == 2, 30)
            before = site_pods(cluster)
            log("site pods before", before)

            cluster.kubectl("patch", "tripdeal", NAME, "-n", NS, "--type=merge", "-p", drill_patch("kill-a-vm"))
            seen_off = []

            def finished():
                seen_off.extend(vm for vm in vms if domstate(vm) == "shut off")
                return last_drill(cluster)
            last = wait_for("status.lastDrill with a verdict", finished, 120, interval=0.2)
            log("lastDrill", last)
            # No second run at the next minute while the checks below look.
            cluster.kubectl("patch", "tripdeal", NAME, "-n", NS, "--type=merge", "-p",
                            drill_patch("kill-a-vm", schedule="0 0 1 1 *"))
            assert last["name"] == "kill-a-vm" and last["verdict"] == "Passed", last
            assert last["recoverySeconds"] > 0 and last["startedAt"] and last["finishedAt"], last
            reasons = [r for r, _ in events(cluster, NAME)]
            assert "DrillStarted" in reasons and "DrillPassed" in reasons, reasons

            # The killed VM's pod was replaced on the other VM.
            after = wait_for("2 Ready site pods, one of them new",
                             lambda: (lambda a: a if len(a) == 2 else None)(site_pods(cluster)), 60)
            log("site pods after", after)
            gone = [uid for uid in before if uid not in after]
            assert len(gone) == 1, (before, after)
            killed = before[gone[0]]
            survivor = [vm for vm in vms if vm != killed][0]
            assert killed in seen_off, f"{killed} was not seen powered off (saw {sorted(set(seen_off))})"
            new = [uid for uid in after if uid not in before]
            assert len(new) == 1 and after[new[0]] == survivor, (before, after)
            # The VM runs again, its Node turns Ready, the drill's Lease is gone.
            assert domstate(killed) == "running", domstate(killed)
            wait_for(f"node {killed} Ready again", lambda: node_ready(cluster, killed), 60)
            assert cluster.get("lease", f"chaos-tripdeal-{NAME}", NS) is None
            assert sorted(host.domains()) == vms, host.domains()  # restored, not replaced
            assert first.metric('tripdeal_operator_drills_total{verdict="Passed"}') == 1
            log(f"node-kill drill Passed: {killed} powered off, its pod replaced on {survivor}, "
                f"recovered in {last['recoverySeconds']}s, VM running again")

            # Interrupted: the operator dies while a VM is off.
            spread_over(cluster, vms)
            cluster.kubectl("patch", "tripdeal", NAME, "-n", NS, "--type=merge", "-p",
                            drill_patch("interrupted", recovery=300))
            off = wait_for("a VM powered off by the drill",
                           lambda: [vm for vm in vms if domstate(vm) == "shut off"], 90, interval=0.1)
        except BaseException:
            first.process.dump()
            raise
        finally:
            first.stop(signal.SIGKILL)
        log("operator 1 killed while", off, "was off")
        lease = cluster.get("lease", f"chaos-tripdeal-{NAME}", NS)
        assert lease and off[0] in lease["metadata"]["annotations"]["chaos.tripdeal.io/powered-off"], lease
        cluster.kubectl("patch", "tripdeal", NAME, "-n", NS, "--type=merge", "-p",
                        drill_patch("interrupted", schedule="0 0 1 1 *"))
        with Operator(cluster, "--node-ready-timeout", "10m", name="tripdeal-operator-2") as second:
            second.wait_ready()
            wait_for(f"{off[0]} started again by the next operator", lambda: domstate(off[0]) == "running", 60)
            wait_for("the drill's Lease deleted",
                     lambda: cluster.get("lease", f"chaos-tripdeal-{NAME}", NS) is None, 30)
            last = wait_for("lastDrill Aborted", lambda: (lambda l: l if l and l["verdict"] == "Aborted" else None)(
                last_drill(cluster)), 30)
            assert "interrupted" in last["message"], last
            assert sorted(host.domains()) == vms, host.domains()
            wait_for(f"node {off[0]} Ready again", lambda: node_ready(cluster, off[0]), 60)
            log("the next operator started", off[0], "again and deleted the Lease")
            rc = second.stop()
            # Under the sanitizers a leak makes the exit code non-zero.
            assert rc == 0, f"operator exit code {rc}"


def refused_without_pools(cluster):
    """node-kill on a TripDeal without node pools: Refused, saying why."""
    cluster.apply_yaml(f"""
apiVersion: tripdeal.io/v1alpha1
kind: TripDeal
metadata: {{name: {NAME}-plain, namespace: {NS}}}
spec:
  app:
    image: {IMAGE}
    replicas: {{min: 1, max: 1}}
    database: {{secretRef: {{name: tripdeal-db, key: url}}}}
""")
    cluster.kubectl("patch", "tripdeal", NAME + "-plain", "-n", NS, "--type=merge", "-p",
                    drill_patch("no-pools"))
    last = wait_for("lastDrill of the TripDeal without node pools",
                    lambda: last_drill(cluster, NAME + "-plain"), 60, interval=0.2)
    log("lastDrill without node pools", last)
    assert last["verdict"] == "Refused" and "no node pools" in last["message"], last
    reasons = [r for r, _ in events(cluster, NAME + "-plain")]
    assert "DrillPassed" not in reasons, reasons
    cluster.kubectl("delete", "tripdeal", NAME + "-plain", "-n", NS)
    wait_for("the TripDeal without pools gone", lambda: cluster.get("tripdeal", NAME + "-plain", NS) is None, 30)


if __name__ == "__main__":
    run(scenario)

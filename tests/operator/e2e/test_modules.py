#!/usr/bin/env python3
"""Node pool support is loaded only when a TripDeal has node pools.

The operator maps libvirt (and glib, GnuTLS, ICU, libxml2... ~7 MiB resident)
only through tripdeal-operator-nodepools.so, loaded the first time a TripDeal
has spec.nodePools.  Without the module, such a TripDeal gets NodesReady=False
(NodePoolSupportMissing) naming what was looked for, and everything else
about it still works.  libvirt's test:///default driver stands in for a host:
it lives in the operator's process, so no daemon is needed.
"""
import os
import shutil
import tempfile

import harness
from harness import SECRET_AND_NS, Cluster, Operator, condition, log, run, tripdeal_yaml, wait_for

NS = "tripdeal"
POOL = """
  nodePools:
  - name: burst
    libvirt:
      uri: "test:///default"
      baseImage: /nonexistent/base.qcow2
      storagePool: default-pool
      network: default
      vcpus: 1
      memoryMiB: 64
    min: 1
    max: 2
    joinSecretRef: {name: kubeadm-join}
"""
JOIN_SECRET = """
apiVersion: v1
kind: Secret
metadata: {name: kubeadm-join, namespace: %s}
stringData: {join: "kubeadm join 10.0.0.1:6443 --token abc.def --discovery-token-unsafe-skip-ca-verification"}
""" % NS


def mapped(pid, library):
    with open(f"/proc/{pid}/maps") as f:
        return any(library in line for line in f)


def nodes_ready(cluster, name):
    return condition(cluster.get("tripdeal", name, NS), "NodesReady")


def scenario():
    with Cluster() as cluster:
        cluster.install_crd()
        cluster.apply_yaml(SECRET_AND_NS % {"ns": NS})
        cluster.apply_yaml(JOIN_SECRET)

        with Operator(cluster) as operator:
            operator.wait_ready()
            pid = operator.process.proc.pid
            cluster.apply_yaml(tripdeal_yaml("plain", NS))
            wait_for("plain Ready", lambda: (condition(cluster.get("tripdeal", "plain", NS), "Ready") or {})
                     .get("status") == "True", 10)
            assert not mapped(pid, "libvirt"), "libvirt is mapped although no TripDeal has node pools"
            log("no node pools: libvirt not mapped")

            cluster.apply_yaml(tripdeal_yaml("pooled", NS, min_replicas=1, max_replicas=2) + POOL)
            c = wait_for("NodesReady on pooled", lambda: nodes_ready(cluster, "pooled"), 15)
            assert c["reason"] != "NodePoolSupportMissing", c
            assert any(l.get("msg") == "loaded node pool support" for l in operator.process.json_lines())
            assert mapped(pid, "libvirt"), "node pools are reconciled but libvirt is not mapped"
            log("node pools: module loaded, NodesReady", c["reason"], c["message"])
            cluster.kubectl("delete", "tripdeal", "pooled", "-n", NS, "--wait=true", timeout=60)

        # The executable alone, without the module beside it.
        installed = os.path.join(os.environ.get("NODEPOOLS_MODULE_DIR", "/nonexistent"),
                                 "tripdeal-operator-nodepools.so")
        if os.path.exists(installed):
            log("SKIP missing-module part:", installed, "is installed")
            return
        alone = tempfile.mkdtemp(prefix="tripdeal-operator-alone-")
        try:
            binary = shutil.copy(harness.OPERATOR, alone)
            harness.OPERATOR = binary
            with Operator(cluster) as operator:
                operator.wait_ready()
                cluster.apply_yaml(tripdeal_yaml("lonely", NS, min_replicas=1, max_replicas=2) + POOL)
                c = wait_for("NodesReady on lonely",
                             lambda: (nodes_ready(cluster, "lonely") or {}).get("reason") == "NodePoolSupportMissing"
                             and nodes_ready(cluster, "lonely"), 15)
                assert c["status"] == "False", c
                assert "tripdeal-operator-nodepools.so not found" in c["message"], c
                assert alone in c["message"], c
                # The rest of the TripDeal is reconciled as usual.
                wait_for("lonely Deployment", lambda: cluster.get("deployment", "lonely", NS), 10)
                assert not mapped(operator.process.proc.pid, "libvirt")
                log("module missing: NodesReady", c["reason"], c["message"])
                # Deleting it cannot release VMs: the finalizer stays, with an Event.
                cluster.kubectl("delete", "tripdeal", "lonely", "-n", NS, "--wait=false")
                wait_for("NodeReleaseFailed event", lambda: "cannot load node pool support" in cluster.kubectl(
                    "get", "events", "-n", NS, "--field-selector", "reason=NodeReleaseFailed",
                    "-o", "jsonpath={.items[*].message}").stdout, 15)
        finally:
            shutil.rmtree(alone, ignore_errors=True)


if __name__ == "__main__":
    run(scenario)

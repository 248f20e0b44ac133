#!/usr/bin/env python3
"""KVM node pools end to end, on real QEMU domains.

fakekube runs with --libvirt-uri (one Node per running TripDeal domain, Ready
after --node-boot-delay), the operator's node pool points at the same
libvirtd.  A sale window opening seconds from now adds VMs *before* the pod
floor rises (nodeLeadTime > leadTime); they register as Nodes, pods land on
them, and after the window the VMs are drained and destroyed: no domain, no
volume left.  Deleting the TripDeal afterwards goes through the finalizer.

Needs TRIPDEAL_TEST_QEMU_URI (e.g. qemu:///system) and root for the bridge the
pool's network uses (libvirt's NAT networks need dnsmasq and iptables, which
the build machines lack); exits 77 (skipped) otherwise.  Every domain, volume,
storage pool, network and bridge it makes carries a unique prefix and is
removed at the end, also on failure.
"""
import calendar
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from harness import SECRET_AND_NS, Cluster, Operator, log, run, wait_for

QEMU_URI = os.environ.get("TRIPDEAL_TEST_QEMU_URI", "")
NS = "tripdeal"
# The TripDeal's name is the run's unique prefix, so its VMs
# (<tripdeal>-<pool>-xxxxx) carry it too.
PREFIX = "np" + secrets.token_hex(3)
NAME = PREFIX


def virsh(*args, check=True):
    p = subprocess.run(["virsh", "-c", QEMU_URI, *args], capture_output=True, text=True, timeout=60)
    if check and p.returncode != 0:
        raise AssertionError(f"virsh {' '.join(args)}: {p.stdout}{p.stderr}")
    return p


class Host:
    """A temporary storage pool with a tiny OS-less base image, and a bridge network."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.pool = f"{prefix}-pool"
        self.network = f"{prefix}-net"
        self.bridge = f"{prefix}br"[:15]
        self.dir = None

    def __enter__(self):
        try:
            self.dir = tempfile.mkdtemp(prefix=f"{self.prefix}-", dir="/var/tmp")
            os.chmod(self.dir, 0o755)  # QEMU's user must reach the images
            self.base = os.path.join(self.dir, "base.qcow2")
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", self.base, "64M"], check=True)
            virsh("pool-create-as", self.pool, "dir", "--target", self.dir)
            # A host bridge and a libvirt network in bridge mode: no dnsmasq, no firewall.
            subprocess.run(["ip", "link", "add", self.bridge, "type", "bridge"], check=True)
            subprocess.run(["ip", "link", "set", self.bridge, "up"], check=True)
            xml = os.path.join(self.dir, "net.xml")
            with open(xml, "w") as f:
                f.write(f"<network><name>{self.network}</name><forward mode='bridge'/>"
                        f"<bridge name='{self.bridge}'/></network>")
            virsh("net-create", xml)
            os.unlink(xml)
        except BaseException:
            self.cleanup()
            raise
        return self

    def domains(self):
        out = virsh("list", "--all", "--name").stdout.split()
        return [d for d in out if d.startswith(self.prefix)]

    def volumes(self):
        virsh("pool-refresh", self.pool, check=False)
        out = virsh("vol-list", self.pool, check=False).stdout.splitlines()[2:]
        return [line.split()[0] for line in out if line.strip() and not line.split()[0].startswith("base")]

    def cleanup(self):
        for d in self.domains():
            virsh("destroy", d, check=False)
            virsh("undefine", d, "--nvram", check=False)
            virsh("undefine", d, check=False)
        for v in self.volumes() if self.dir else []:
            virsh("vol-delete", v, "--pool", self.pool, check=False)
        virsh("pool-destroy", self.pool, check=False)
        virsh("net-destroy", self.network, check=False)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __exit__(self, *exc):
        self.cleanup()


def sale_times():
    """A sale starting at a minute boundary 50-110 s from now; the node window
    opens ~5 s from now, the pod floor 25 s after that."""
    now = time.time()
    start = (int(now + 50) // 60 + 1) * 60
    node_lead = int(start - now) - 5
    lead = node_lead - 25
    return start, node_lead, lead


def tripdeal(host, prefix, start, node_lead, lead):
    t = time.gmtime(start)
    return f"""
apiVersion: tripdeal.io/v1alpha1
kind: TripDeal
metadata: {{name: {prefix}, namespace: {NS}}}
spec:
  app:
    image: registry.example.com/tripdeal/app:1.4.0
    replicas: {{min: 1, max: 10}}
    database: {{secretRef: {{name: tripdeal-db, key: url}}}}
  sales:
  - name: flash
    schedule: "{t.tm_min} {t.tm_hour} * * *"
    timeZone: UTC
    duration: 1m
    prescale: {{leadTime: {lead}s, minReplicas: 6, nodes: 2, nodeLeadTime: {node_lead}s}}
  nodePools:
  - name: burst
    libvirt:
      uri: {QEMU_URI}
      baseImage: {host.base}
      storagePool: {host.pool}
      network: {host.network}
      vcpus: 1
      memoryMiB: 64
    min: 0
    max: 3
    joinSecretRef: {{name: kubeadm-join}}
---
apiVersion: v1
kind: Secret
metadata: {{name: kubeadm-join, namespace: {NS}}}
stringData: {{join: "kubeadm join 10.0.0.1:6443 --token abcdef.0123456789abcdef"}}
"""


def status_of(cluster):
    td = cluster.get("tripdeal", NAME, NS)
    return (td or {}).get("status", {})


def vm_nodes(cluster):
    out = cluster.kubectl("get", "nodes", "-l", "fakekube.tripdeal.io/backend=libvirt", "-o", "json").stdout
    # Other TripDeal domains on the same libvirtd get Nodes too: only ours count.
    return {n["metadata"]["name"]: n for n in json.loads(out)["items"]
            if n["metadata"]["name"].startswith(NAME + "-")}


def ready(node):
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions", []))


def pods(cluster):
    out = cluster.kubectl("get", "pods", "-n", NS, "-o", "json").stdout
    return json.loads(out)["items"]


def hpa_floor(cluster):
    h = cluster.get("hpa", NAME, NS)
    return h and h["spec"].get("minReplicas")


def scenario():
    if not QEMU_URI:
        print("TRIPDEAL_TEST_QEMU_URI not set: skipping")
        sys.exit(77)
    if os.geteuid() != 0 or not shutil.which("virsh") or not shutil.which("qemu-img"):
        print("needs root, virsh and qemu-img: skipping")
        sys.exit(77)
    # meson's timeout sends SIGTERM: turn it into an exception so that the
    # with-blocks below still stop the processes and remove domains and volumes.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    prefix = PREFIX
    with Host(prefix) as host:
        # Only our VMs become Nodes: other tests' domains on the shared libvirtd would otherwise be
        # empty, preferred nodes for the drain's replacement pods, and when their test removes them
        # those pods stay not Ready (node gone) and the PodDisruptionBudget blocks the drain for good.
        cluster = Cluster(["--libvirt-uri", QEMU_URI, "--libvirt-domain-prefix", NAME + "-",
                           "--node-boot-delay", "1s", "--nodes", "1"])
        with cluster, Operator(cluster, "--drain-timeout", "10s", "--node-ready-timeout", "5m") as operator:
            cluster.install_crd()
            cluster.apply_yaml(SECRET_AND_NS % {"ns": NS})
            operator.wait_ready()
            start, node_lead, lead = sale_times()
            floor_at = start - lead
            log(f"sale at {time.strftime('%H:%M:%S', time.gmtime(start))}, nodes from -{node_lead}s, "
                f"pods from -{lead}s")
            cluster.apply_yaml(tripdeal(host, prefix, start, node_lead, lead))

            # 1. Before the window: no VMs.
            wait_for("status written", lambda: status_of(cluster).get("phase"), 20)
            assert not vm_nodes(cluster)

            # 2. The node window opens: two VMs, Ready Nodes, before the floor rises.
            wait_for("two Ready VM nodes", lambda: len([n for n in vm_nodes(cluster).values() if ready(n)]) == 2,
                     60, interval=0.2)
            names = sorted(vm_nodes(cluster))
            assert time.time() < floor_at, "nodes came only after the pod floor rose"
            assert hpa_floor(cluster) == 1, hpa_floor(cluster)
            log("VM nodes Ready before the floor rose:", names, f"{floor_at - time.time():.1f}s early")
            for name in names:
                assert name.startswith(f"{NAME}-burst-"), name
                info = virsh("dominfo", name).stdout
                assert "running" in info, info
                assert f"{NS}/{NAME}" in virsh("metadata", name, "https://tripdeal.io/vmctl/1").stdout
            wait_for("status.nodes lists them Ready",
                     lambda: sorted(n["name"] for n in status_of(cluster).get("nodes", [])
                                    if n["state"] == "Running/Ready") == names, 20)
            events = json.loads(cluster.kubectl("get", "events", "-n", NS, "-o", "json").stdout)["items"]
            provisioned = [e for e in events if e["reason"] == "NodeProvisioned"]
            assert len(provisioned) == 2, provisioned
            assert all("abcdef" not in e["message"] for e in events)
            vms_metric = operator.metric(f'tripdeal_operator_vms{{namespace="{NS}",name="{NAME}",pool="burst"}}')
            assert vms_metric == 2, vms_metric

            # 3. The floor rises: pods land on the VM nodes.
            wait_for("floor raised", lambda: hpa_floor(cluster) == 6, max(5, floor_at - time.time() + 10))
            wait_for("pods on VM nodes",
                     lambda: len([p for p in pods(cluster) if p["spec"].get("nodeName") in names]) >= 2, 30)
            log("pods on VM nodes:", sorted(p["metadata"]["name"] + "@" + p["spec"]["nodeName"]
                                            for p in pods(cluster) if p["spec"].get("nodeName") in names))

            # 4. After the window: drained, destroyed, volumes gone.
            end = start + 60
            wait_for("VM nodes released", lambda: not host.domains() and not vm_nodes(cluster),
                     end - time.time() + 90, interval=0.5)
            assert not host.volumes(), host.volumes()
            running = [p for p in pods(cluster) if p["spec"].get("nodeName") in names
                       and not p["metadata"].get("deletionTimestamp")]
            assert not running, running
            events = json.loads(cluster.kubectl("get", "events", "-n", NS, "-o", "json").stdout)["items"]
            released = [e for e in events if e["reason"] == "NodeReleased"]
            assert len(released) == 2, released
            wait_for("status.nodes empty", lambda: not status_of(cluster).get("nodes"), 20)
            log("VMs drained and destroyed after the window; no domain or volume left")

            # 5. The finalizer: a pool with min 1 gets a VM; deleting the TripDeal removes it first.
            cluster.kubectl("patch", "tripdeal", NAME, "-n", NS, "--type=json", "-p",
                            json.dumps([{"op": "replace", "path": "/spec/nodePools/0/min", "value": 1}]))
            wait_for("a VM for min 1", lambda: len(host.domains()) == 1, 60, interval=0.2)
            cluster.kubectl("delete", "tripdeal", NAME, "-n", NS, "--wait=false")
            wait_for("TripDeal gone", lambda: cluster.get("tripdeal", NAME, NS) is None, 60)
            assert not host.domains(), host.domains()
            assert not host.volumes(), host.volumes()
            log("finalizer released the VM before the TripDeal went")


if __name__ == "__main__":
    run(scenario)

# SPDX-License-Identifier: Apache-2.0
"""node-kill through real libvirtd + QEMU: two tiny OS-less domains carry
vmctl's TripDeal metadata, fakekube registers them as Nodes (its libvirt
watcher) and runs one process pod on each; tripdeal-chaos powers one VM off
hard.  The node's pod dies at once, is replaced on the other node within
tolerationSeconds + 15 s, and the VM is started again afterwards; after a
SIGINT at once, after a SIGKILL by the next run (from the drill's Lease); a
Lease naming a VM that will not start is kept.

usage: test_node_kill.py TRIPDEAL_CHAOS FAKEKUBE POD_SERVER REPORT_SCHEMA LOG_DIR
Needs TRIPDEAL_TEST_QEMU_URI (eval "$(scripts/test-services start)"); exits
77 (skipped) with a message when it is not set.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fakekube"))
from harness import Fakekube, run_tests_then_stop, wait_for  # noqa: E402

CHAOS, FAKEKUBE, POD_SERVER, SCHEMA, LOG_DIR = sys.argv[1:6]
URI = os.environ.get("TRIPDEAL_TEST_QEMU_URI", "")
TOLERATION = 3
WORK = tempfile.mkdtemp(prefix="chaos-node-kill-")
OWNER = "default/drill-%d" % os.getpid()
# libvirtd is shared: other suites' TripDeal domains become fakekube Nodes too,
# so the pods are pinned to this test's own pool.
POOL = "chaos-%d" % os.getpid()
NAMES = ["chaos-node-%d-a" % os.getpid(), "chaos-node-%d-b" % os.getpid()]
BROKEN = "chaos-node-%d-broken" % os.getpid()  # defined, never startable: its disk does not exist

DOMAIN_XML = """<domain type='qemu'>
  <name>%s</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <metadata>
    <tripdeal:node xmlns:tripdeal="https://tripdeal.io/vmctl/1">
      <tripdeal:pool>%s</tripdeal:pool>
      <tripdeal:owner>%s</tripdeal:owner>
    </tripdeal:node>
  </metadata>
  <devices></devices>
</domain>
"""

BROKEN_XML = DOMAIN_XML.replace("<devices></devices>", """<devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='%s'/>
      <target dev='vda' bus='virtio'/></disk>
  </devices>""")


def expect(cond, message):
    if not cond:
        raise AssertionError(message)


def virsh(*args, check=True):
    p = subprocess.run(["virsh", "-c", URI, *args], capture_output=True, text=True, timeout=60)
    if check and p.returncode != 0:
        raise AssertionError("virsh %s: %s" % (" ".join(args), p.stderr))
    return p.stdout.strip()


def node_ready(fk, name):
    status, node, _ = fk.get("/api/v1/nodes/" + name)
    return status == 200 and any(c["type"] == "Ready" and c["status"] == "True"
                                 for c in node["status"].get("conditions", []))


def ready(pod):
    return not pod["metadata"].get("deletionTimestamp") and any(
        c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", []))


def web_pods(fk):
    return fk.get("/api/v1/namespaces/default/pods?labelSelector=app%3Dweb")[1]["items"]


def deployment():
    tolerations = [{"key": k, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": TOLERATION}
                   for k in ("node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready")]
    container = {"name": "main", "image": "web:1", "args": ["--listen", "$(POD_IP):8080"],
                 "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
                 "ports": [{"containerPort": 8080, "name": "http"}],
                 "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 1}}
    spread = [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway",
               "labelSelector": {"matchLabels": {"app": "web"}}}]
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"tolerations": tolerations, "topologySpreadConstraints": spread,
                                           "nodeSelector": {"tripdeal.io/pool": POOL},
                                           "terminationGracePeriodSeconds": 1, "containers": [container]}}}}


def make_node_kill(fk):
    def test():
        for name in NAMES:
            wait_for("node %s Ready" % name, lambda: node_ready(fk, name), timeout=60)
        for obj, path in ((deployment(), "/apis/apps/v1/namespaces/default/deployments"),
                          ({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                            "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 8080,
                                                                            "targetPort": "http"}]}},
                           "/api/v1/namespaces/default/services")):
            status, body, _ = fk.post(path, obj)
            expect(status == 201, "create %s: %s %s" % (path, status, body))
        wait_for("2 Ready web pods on both nodes", lambda: sorted(
            p["spec"].get("nodeName", "") for p in web_pods(fk) if ready(p)) == sorted(NAMES), timeout=60)
        wait_for("2 ready endpoints", lambda: sum(
            len(s.get("addresses", [])) for s in fk.get("/api/v1/namespaces/default/endpoints/web")[1]
            .get("subsets", [])) == 2, timeout=30)
        experiment = {
            "apiVersion": "chaos.tripdeal.io/v1alpha1", "kind": "Experiment",
            "metadata": {"name": "node-kill"},
            "spec": {"target": {"namespace": "default", "selector": {"matchLabels": {"app": "web"}}},
                     "action": "node-kill", "count": 1, "maxTargetPercent": 50,
                     "steadyState": {"http": {"service": "web", "port": 8080, "interval": "50ms",
                                              "timeout": "500ms"},
                                     "maxErrorRatePercent": 60,
                                     "maxRecoverySeconds": TOLERATION + 15}}}
        path = os.path.join(WORK, "node-kill.yaml")
        with open(path, "w") as f:
            json.dump(experiment, f)
        report_dir = os.path.join(LOG_DIR, "chaos-report-node-kill")
        shutil.rmtree(report_dir, ignore_errors=True)
        p = subprocess.run([CHAOS, "run", path, "--kubeconfig", fk.kubeconfig, "--libvirt-uri", URI,
                            "--report-dir", report_dir], capture_output=True, text=True, timeout=180)
        print(p.stdout, p.stderr, flush=True)
        expect(p.returncode == 0, "exit %d, want 0 (Passed)" % p.returncode)
        report = json.load(open(os.path.join(report_dir, "report.json")))
        nodes = [t["name"] for t in report["targets"] if t["kind"] == "Node"]
        pods = [t for t in report["targets"] if t["kind"] == "Pod"]
        expect(len(nodes) == 1 and nodes[0] in NAMES, "node targets %r" % nodes)
        expect(len(pods) == 1 and pods[0]["node"] == nodes[0], "pod targets %r" % pods)
        expect(pods[0]["lastLogLines"], "no log lines read before the kill")
        expect(report["recoverySeconds"] <= TOLERATION + 15,
               "recovery %.1fs > tolerationSeconds + 15" % report["recoverySeconds"])
        survivor = [n for n in NAMES if n != nodes[0]][0]
        expect(any(r["node"] == survivor and r["readyAt"] for r in report["replacements"]),
               "no replacement Ready on %s: %r" % (survivor, report["replacements"]))
        # The pod died with its node at once: not Ready within 3 s of the power-off.
        injected = report["injectedAt"]
        not_ready = [e["at"] for e in report["timeline"]
                     if e["message"] == "pod %s not Ready" % pods[0]["name"]]
        expect(not_ready, "the killed node's pod never went not Ready")

        def seconds(at):
            import datetime
            return datetime.datetime.strptime(at, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
        expect(seconds(not_ready[0]) - seconds(injected) < 3,
               "pod went not Ready %.1fs after the power-off" % (seconds(not_ready[0]) - seconds(injected)))
        expect(any(e["source"] == "libvirt" and "started again" in e["message"] for e in report["timeline"]),
               "VM not restored")
        expect(virsh("domstate", nodes[0]) == "running", "VM %s is not running again" % nodes[0])
        wait_for("restored node Ready again", lambda: node_ready(fk, nodes[0]), timeout=60)
        import jsonschema
        jsonschema.validate(report, json.load(open(SCHEMA)))
    return test


def make_abort_restores(fk):
    def test():
        for name in NAMES:
            wait_for("node %s Ready" % name, lambda: node_ready(fk, name), timeout=60)
        # The last drill left both pods on one node: spread them again.
        pods = [p for p in web_pods(fk) if ready(p)]
        if len({p["spec"].get("nodeName") for p in pods}) < 2:
            fk.delete("/api/v1/namespaces/default/pods/" + pods[0]["metadata"]["name"])
        wait_for("one Ready pod on each node", lambda: sorted(
            p["spec"].get("nodeName", "") for p in web_pods(fk) if ready(p)) == sorted(NAMES), timeout=60)
        experiment = {
            "apiVersion": "chaos.tripdeal.io/v1alpha1", "kind": "Experiment",
            "metadata": {"name": "node-kill-interrupted"},
            "spec": {"target": {"namespace": "default", "selector": {"matchLabels": {"app": "web"}}},
                     "action": "node-kill", "count": 1, "maxTargetPercent": 50,
                     "steadyState": {"http": {"service": "web", "port": 8080},
                                     "maxErrorRatePercent": 60, "maxRecoverySeconds": 60}}}
        path = os.path.join(WORK, "node-kill-interrupted.yaml")
        with open(path, "w") as f:
            json.dump(experiment, f)
        report_dir = os.path.join(WORK, "interrupted")
        p = subprocess.Popen([CHAOS, "run", path, "--kubeconfig", fk.kubeconfig, "--libvirt-uri", URI,
                              "--report-dir", report_dir], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        try:
            lines = []
            for line in p.stderr:  # bounded: the drill ends within maxRecoverySeconds
                lines.append(line)
                if "hit: node" in line:
                    p.send_signal(signal.SIGINT)  # Ctrl-C while waiting for recovery
                    break
            rest_out, rest_err = p.communicate(timeout=120)
        finally:
            if p.poll() is None:
                p.kill()
        print("".join(lines), rest_out, rest_err, flush=True)
        expect(p.returncode == 3, "exit %d, want 3 (Aborted)" % p.returncode)
        report = json.load(open(os.path.join(report_dir, "report.json")))
        expect(report["verdict"] == "Aborted" and "interrupted" in report["reason"], report["reason"])
        killed = [t["name"] for t in report["targets"] if t["kind"] == "Node"][0]
        expect(any(e["source"] == "libvirt" and "started again" in e["message"] for e in report["timeline"]),
               "the VM was not restored on abort")
        expect(virsh("domstate", killed) == "running", "VM %s is not running after the abort" % killed)
        wait_for("node Ready again", lambda: node_ready(fk, killed), timeout=60)
    return test


def make_killed_outright(fk):
    """SIGKILL during a node-kill: nothing in the process can restore the VM;
    the Lease names it, and the next run (here a pod-kill with a libvirt
    connection) starts it first once that Lease has expired."""
    def test():
        for name in NAMES:
            wait_for("node %s Ready" % name, lambda: node_ready(fk, name), timeout=60)
        pods = [p for p in web_pods(fk) if ready(p)]
        if len({p["spec"].get("nodeName") for p in pods}) < 2:
            fk.delete("/api/v1/namespaces/default/pods/" + pods[0]["metadata"]["name"])
        wait_for("one Ready pod on each node", lambda: sorted(
            p["spec"].get("nodeName", "") for p in web_pods(fk) if ready(p)) == sorted(NAMES), timeout=60)
        steady = {"http": {"service": "web", "port": 8080}, "maxErrorRatePercent": 60,
                  "maxRecoverySeconds": 60}
        kill = {"apiVersion": "chaos.tripdeal.io/v1alpha1", "kind": "Experiment",
                "metadata": {"name": "node-kill-sigkill"},
                "spec": {"target": {"namespace": "default", "selector": {"matchLabels": {"app": "web"}}},
                         "action": "node-kill", "count": 1, "maxTargetPercent": 50, "steadyState": steady}}
        path = os.path.join(WORK, "node-kill-sigkill.yaml")
        with open(path, "w") as f:
            json.dump(kill, f)
        p = subprocess.Popen([CHAOS, "run", path, "--kubeconfig", fk.kubeconfig, "--libvirt-uri", URI],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            for line in p.stderr:  # bounded: the drill ends within maxRecoverySeconds
                if "hit: node" in line:
                    p.kill()
                    break
            p.wait(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
        expect(p.returncode == -signal.SIGKILL, "tripdeal-chaos was not killed (%s)" % p.returncode)
        leases = [x for x in fk.get("/apis/coordination.k8s.io/v1/namespaces/default/leases")[1]["items"]
                  if x["metadata"].get("annotations", {}).get("chaos.tripdeal.io/powered-off")]
        expect(len(leases) == 1, "no Lease names the powered-off VM: %r" % leases)
        killed = leases[0]["metadata"]["annotations"]["chaos.tripdeal.io/powered-off"]
        expect(killed in NAMES and virsh("domstate", killed) == "shut off",
               "VM %s is not off after the SIGKILL" % killed)
        # As if its leaseDurationSeconds had passed (maxRecoverySeconds + 120 s).
        status, body, _ = fk.patch("/apis/coordination.k8s.io/v1/namespaces/default/leases/"
                                   + leases[0]["metadata"]["name"],
                                   {"spec": {"renewTime": "2026-01-01T00:00:00.000000Z"}})
        expect(status == 200, "patch Lease: %s %s" % (status, body))
        wait_for("2 Ready pods again", lambda: len([p for p in web_pods(fk) if ready(p)]) == 2, timeout=60)
        pod_kill = dict(kill, metadata={"name": "pod-kill-after"},
                        spec=dict(kill["spec"], action="pod-kill", gracePeriodSeconds=0))
        path = os.path.join(WORK, "pod-kill-after.yaml")
        with open(path, "w") as f:
            json.dump(pod_kill, f)
        p = subprocess.run([CHAOS, "run", path, "--kubeconfig", fk.kubeconfig, "--libvirt-uri", URI],
                           capture_output=True, text=True, timeout=180)
        print(p.stdout, p.stderr, flush=True)
        expect("started again VM(s) %s, left off by an interrupted drill" % killed in p.stderr,
               "the next run did not start VM %s" % killed)
        expect(p.returncode == 0, "the next run: exit %d, want 0 (Passed)" % p.returncode)
        expect(virsh("domstate", killed) == "running", "VM %s is not running again" % killed)
        wait_for("restored node Ready again", lambda: node_ready(fk, killed), timeout=60)
        left = [x for x in fk.get("/apis/coordination.k8s.io/v1/namespaces/default/leases")[1]["items"]
                if x["metadata"].get("annotations", {}).get("chaos.tripdeal.io/powered-off")]
        expect(not left, "Leases naming powered-off VMs remain: %r" % left)
    return test


def make_unstartable_kept(fk):
    """A stale Lease naming a VM that will not start (its disk is gone): the
    next run says so and keeps the Lease, the only record that the VM is off,
    instead of deleting it; once the VM is gone the Lease is let go."""
    def test():
        xml = os.path.join(WORK, BROKEN + ".xml")
        with open(xml, "w") as f:
            f.write(BROKEN_XML % (BROKEN, POOL + "-broken", OWNER, os.path.join(WORK, "missing.qcow2")))
        virsh("define", xml)
        lease_name = "chaos-broken-%d" % os.getpid()
        status, body, _ = fk.post("/apis/coordination.k8s.io/v1/namespaces/default/leases", {
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": lease_name, "labels": {"app.kubernetes.io/managed-by": "tripdeal-chaos"},
                         "annotations": {"chaos.tripdeal.io/powered-off": BROKEN}},
            "spec": {"holderIdentity": "tripdeal-chaos/gone", "leaseDurationSeconds": 10,
                     "renewTime": "2026-01-01T00:00:00.000000Z"}})
        expect(status == 201, "create Lease: %s %s" % (status, body))
        pod_kill = {"apiVersion": "chaos.tripdeal.io/v1alpha1", "kind": "Experiment",
                    "metadata": {"name": "pod-kill-beside-a-broken-vm"},
                    "spec": {"target": {"namespace": "default", "selector": {"matchLabels": {"app": "web"}}},
                             "action": "pod-kill", "count": 1, "gracePeriodSeconds": 0, "maxTargetPercent": 50,
                             "steadyState": {"http": {"service": "web", "port": 8080}, "maxErrorRatePercent": 60,
                                             "maxRecoverySeconds": 60}}}
        path = os.path.join(WORK, "pod-kill-broken.yaml")
        with open(path, "w") as f:
            json.dump(pod_kill, f)
        wait_for("2 Ready pods", lambda: len([p for p in web_pods(fk) if ready(p)]) == 2, timeout=60)
        p = subprocess.run([CHAOS, "run", path, "--kubeconfig", fk.kubeconfig, "--libvirt-uri", URI],
                           capture_output=True, text=True, timeout=180)
        print(p.stdout, p.stderr, flush=True)
        expect("cannot start VM %s again" % BROKEN in p.stderr and "Lease default/%s kept" % lease_name in p.stderr,
               "the run did not name the VM that could not be started and its kept Lease")
        expect(fk.get("/apis/coordination.k8s.io/v1/namespaces/default/leases/" + lease_name)[0] == 200,
               "the Lease naming the VM that would not start was deleted")
        expect(virsh("domstate", BROKEN) == "shut off", "VM %s is not off" % BROKEN)
        # Gone VMs need nothing: undefined, the next run lets the Lease go.
        virsh("undefine", BROKEN)
        wait_for("2 Ready pods", lambda: len([p for p in web_pods(fk) if ready(p)]) == 2, timeout=60)
        p = subprocess.run([CHAOS, "run", path, "--kubeconfig", fk.kubeconfig, "--libvirt-uri", URI],
                           capture_output=True, text=True, timeout=180)
        print(p.stdout, p.stderr, flush=True)
        expect(p.returncode == 0, "the run after: exit %d, want 0 (Passed)" % p.returncode)
        expect(fk.get("/apis/coordination.k8s.io/v1/namespaces/default/leases/" + lease_name)[0] == 404,
               "the Lease of a VM that is gone was kept")
    return test


def main():
    if not URI or not shutil.which("virsh"):
        print("SKIP: TRIPDEAL_TEST_QEMU_URI is not set (run eval \"$(scripts/test-services start)\" "
              "where libvirtd with the QEMU driver can start)")
        return 77
    os.makedirs(LOG_DIR, exist_ok=True)
    fk = None
    try:
        for name in NAMES:
            xml = os.path.join(WORK, name + ".xml")
            with open(xml, "w") as f:
                f.write(DOMAIN_XML % (name, POOL, OWNER))
            virsh("define", xml)
            virsh("start", name)
        fk = Fakekube(FAKEKUBE, "--nodes", "0", "--libvirt-uri", URI, "--node-boot-delay", "1s",
                      "--pods", "process", "--pod-command", "web:1=" + POD_SERVER)
        return run_tests_then_stop(fk, [
            ("node-kill: pods replaced within tolerationSeconds + 15 s, VM restored", make_node_kill(fk)),
            ("node-kill interrupted (SIGINT) -> Aborted, VM restored", make_abort_restores(fk)),
            ("node-kill killed outright (SIGKILL) -> the next run starts the VM", make_killed_outright(fk)),
            ("a VM that will not start keeps its Lease", make_unstartable_kept(fk)),
        ])
    finally:
        for name in NAMES + [BROKEN]:
            virsh("destroy", name, check=False)
            virsh("undefine", name, check=False)
        shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

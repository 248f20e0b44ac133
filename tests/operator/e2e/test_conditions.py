#!/usr/bin/env python3
"""What the operator tells the user about a TripDeal it cannot fully run:

- no spec.app.resources: the pods get the default requests and limits, and
  AutoscalingReady=True; resources without a CPU request: AutoscalingReady=False
  (NoCPURequest) with a Warning Event;
- a missing database Secret, then a missing key: DatabaseReady=False
  (SecretNotFound, SecretKeyNotFound) with a Warning Event and a log line
  naming the TripDeal; True once the Secret is right;
- names that cannot become a Service name or label value (1shop.v2, shop.v2,
  100 characters, 10,000 characters with quotes): Ready=False InvalidSpec
  naming metadata.name, an Event, nothing created, and deletion still works;
- an owned object the API server refuses (422): Ready=False ObjectRejected
  with the server's message and an Event, not a retry forever;
- a node pool whose libvirt URI cannot be reached: NodesReady=False with the
  cause and a Warning Event; removing nodePools removes NodesReady;
- every action is logged once with the TripDeal's namespace and name."""
import json
import re

from harness import SECRET_AND_NS, Cluster, Operator, condition, log, run, wait_for

IMAGE = "registry.example.com/tripdeal/app:1.4.0"


def td(name, app_extra="", spec_extra="", db=True):
    database = "\n    database: {secretRef: {name: tripdeal-db, key: url}}" if db else ""
    return f"""
apiVersion: tripdeal.io/v1alpha1
kind: TripDeal
metadata: {{name: {name}, namespace: tripdeal}}
spec:
  app:
    image: {IMAGE}
    replicas: {{min: 1, max: 2}}{database}{app_extra}
{spec_extra}
"""


def events_for(cluster, name):
    items = json.loads(cluster.kubectl("get", "events", "-n", "tripdeal", "-o", "json").stdout)["items"]
    return [e for e in items if e["involvedObject"]["name"] == name]


def wait_condition(cluster, name, ctype, reason, timeout=10):
    def check():
        c = condition(cluster.get("tripdeal", name, "tripdeal"), ctype)
        return c if c and c["reason"] == reason else None
    return wait_for(f"{name}: {ctype} {reason}", check, timeout)


def logged(operator, name, reason):
    return any(l.get("namespace") == "tripdeal" and l.get("name") == name and l.get("reason") == reason
               for l in operator.process.json_lines())


def resources_and_autoscaling(cluster, operator):
    cluster.apply_yaml(td("plain"))
    c = wait_condition(cluster, "plain", "AutoscalingReady", "CPURequestSet")
    assert c["status"] == "True", c
    deploy = wait_for("plain Deployment", lambda: cluster.get("deployment", "plain", "tripdeal"), 5)
    resources = deploy["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources["requests"]["cpu"] == "200m" and resources["limits"]["memory"] == "256Mi", resources

    cluster.apply_yaml(td("nocpu", app_extra="\n    resources: {requests: {memory: 64Mi}, limits: {memory: 128Mi}}"))
    c = wait_condition(cluster, "nocpu", "AutoscalingReady", "NoCPURequest")
    assert c["status"] == "False" and "requests.cpu" in c["message"], c
    assert any(e["type"] == "Warning" and e["reason"] == "NoCPURequest" for e in events_for(cluster, "nocpu"))


def database_secret(cluster, operator):
    cluster.apply_yaml(td("nodb").replace("tripdeal-db", "missing-db"))
    c = wait_condition(cluster, "nodb", "DatabaseReady", "SecretNotFound")
    assert c["status"] == "False" and "missing-db" in c["message"], c
    assert any(e["type"] == "Warning" and e["reason"] == "SecretNotFound" for e in events_for(cluster, "nodb"))
    wait_for("SecretNotFound logged", lambda: logged(operator, "nodb", "SecretNotFound"), 5)

    cluster.apply_yaml("""
apiVersion: v1
kind: Secret
metadata: {name: missing-db, namespace: tripdeal}
stringData: {other: x}
""")
    # A Secret change does not wake the TripDeal; a spec change does.
    cluster.kubectl("patch", "tripdeal", "nodb", "-n", "tripdeal", "--type=merge", "-p",
                    json.dumps({"spec": {"app": {"logLevel": "warn"}}}))
    c = wait_condition(cluster, "nodb", "DatabaseReady", "SecretKeyNotFound")
    assert '"url"' in c["message"], c

    cluster.kubectl("patch", "secret", "missing-db", "-n", "tripdeal", "--type=merge", "-p",
                    json.dumps({"stringData": {"url": "postgresql://x@db/tripdeal"}}))
    cluster.kubectl("patch", "tripdeal", "nodb", "-n", "tripdeal", "--type=merge", "-p",
                    json.dumps({"spec": {"app": {"logLevel": "info"}}}))
    c = wait_condition(cluster, "nodb", "DatabaseReady", "SecretFound")
    assert c["status"] == "True", c


def bad_names(cluster, operator):
    names = ["1shop.v2", "shop.v2", "a" * 100, ('q"' * 5000)]
    for name in names:
        obj = {"apiVersion": "tripdeal.io/v1alpha1", "kind": "TripDeal",
               "metadata": {"name": name, "namespace": "tripdeal"},
               "spec": {"app": {"image": IMAGE, "replicas": {"min": 1, "max": 2},
                                "database": {"secretRef": {"name": "tripdeal-db", "key": "url"}}}}}
        p = cluster.kubectl("create", "-f", "-", input=json.dumps(obj), check=False)
        if p.returncode != 0:
            # A real API server refuses this name itself (not a DNS-1123 subdomain).
            log(f"name of {len(name)} characters refused by the API server: {p.stderr.strip()[:120]}")
            assert len(name) > 253 or '"' in name, p.stderr
            continue
        c = wait_condition(cluster, name, "Ready", "InvalidSpec")
        assert c["status"] == "False" and c["message"].startswith("metadata.name:"), c
        if re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", name) and len(name) <= 253:
            assert any(e["reason"] == "InvalidSpec" for e in events_for(cluster, name))
        else:
            # Only fakekube accepts such a name (a real API server refuses the
            # TripDeal itself), and no Event can be named after it.
            log(f"name of {len(name)} characters accepted by fakekube: no Event expected")
        for kind in ("deployment", "service", "configmap", "hpa", "secret"):
            items = json.loads(cluster.kubectl("get", kind, "-n", "tripdeal", "-o", "json").stdout)["items"]
            owned = [o["metadata"]["name"] for o in items
                     if any(r.get("name") == name for r in o["metadata"].get("ownerReferences", []))]
            assert not owned, (kind, owned)
        td_obj = cluster.get("tripdeal", name, "tripdeal")
        assert "tripdeal.io/cleanup" in td_obj["metadata"].get("finalizers", []), td_obj["metadata"]
        cluster.kubectl("delete", "tripdeal", name, "-n", "tripdeal", "--wait=false")
        wait_for(f"{name[:20]}... deleted", lambda: cluster.get("tripdeal", name, "tripdeal") is None, 10)


def rejected_object(cluster, operator):
    # The CRD lets valueFrom through; the API server's Pod schema refuses it.
    cluster.apply_yaml(td("rejected", app_extra="\n    env: [{name: A, valueFrom: {notASource: {x: y}}}]"))
    c = wait_condition(cluster, "rejected", "Ready", "ObjectRejected")
    assert "Deployment rejected" in c["message"], c
    assert any(e["type"] == "Warning" and e["reason"] == "ObjectRejected" for e in events_for(cluster, "rejected"))
    errors = operator.metric('tripdeal_operator_reconcile_total{result="error"}') or 0
    # Fixed spec: the Deployment is made.
    cluster.kubectl("patch", "tripdeal", "rejected", "-n", "tripdeal", "--type=json", "-p",
                    json.dumps([{"op": "remove", "path": "/spec/app/env"}]))
    wait_for("Deployment after the fix", lambda: cluster.get("deployment", "rejected", "tripdeal"), 10)
    assert (operator.metric('tripdeal_operator_reconcile_total{result="error"}') or 0) == errors


def node_pools(cluster, operator):
    pools = """  nodePools:
  - name: burst
    libvirt: {uri: "qemu+tcp://127.0.0.1:1/system", baseImage: /var/lib/libvirt/images/base.qcow2}
    max: 2
    joinSecretRef: {name: kubeadm-join}"""
    cluster.apply_yaml(td("pools", spec_extra=pools))

    def nodes_false():
        c = condition(cluster.get("tripdeal", "pools", "tripdeal"), "NodesReady")
        return c if c and c["status"] == "False" else None
    c = wait_for("NodesReady False", nodes_false, 20)
    log("NodesReady:", c["reason"], c["message"])
    assert c["message"], c
    wait_for("NodesReady Warning Event",
             lambda: any(e["type"] == "Warning" and e["reason"] == c["reason"] for e in events_for(cluster, "pools")), 5)

    cluster.kubectl("patch", "tripdeal", "pools", "-n", "tripdeal", "--type=json", "-p",
                    json.dumps([{"op": "remove", "path": "/spec/nodePools"}]))
    wait_for("NodesReady removed", lambda: condition(cluster.get("tripdeal", "pools", "tripdeal"), "NodesReady") is None,
             20)


def scenario():
    with Cluster() as cluster, Operator(cluster) as operator:
        cluster.install_crd()
        cluster.apply_yaml(SECRET_AND_NS % {"ns": "tripdeal"})
        operator.wait_ready()
        resources_and_autoscaling(cluster, operator)
        database_secret(cluster, operator)
        bad_names(cluster, operator)
        rejected_object(cluster, operator)
        node_pools(cluster, operator)
        # Every action once, with namespace/name.
        assert logged(operator, "plain", "Created")
        created = [l for l in operator.process.json_lines()
                   if l.get("name") == "plain" and l.get("reason") == "Created" and "Deployment" in l.get("msg", "")]
        assert len(created) == 1, created
        # Without --leader-elect there is no leader to become.
        assert not any("became the leader" in l.get("msg", "") for l in operator.process.json_lines())


if __name__ == "__main__":
    run(scenario)

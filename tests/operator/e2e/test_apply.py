#!/usr/bin/env python3
"""Apply a TripDeal: every owned object appears within 2 s with the expected
fields and a controller ownerReference; status turns Ready with
observedGeneration; `kubectl get td` shows the printer columns; deleting the
TripDeal runs the finalizer and garbage-collects the owned objects."""
import json
import os
import time

from harness import (OWNED, SECRET_AND_NS, SOURCE_ROOT, Cluster, Operator, condition, log, run, tripdeal_yaml,
                     wait_for)


def scenario():
    with Cluster() as cluster, Operator(cluster) as operator:
        cluster.install_crd()
        cluster.apply_yaml(SECRET_AND_NS % {"ns": "tripdeal"})
        operator.wait_ready()

        # The golden files (every object kind, the full sample with resources
        # and a TLS ingress) pass the server's strict schema validation.
        data = os.path.join(SOURCE_ROOT, "tests", "operator", "data")
        for name in sorted(os.listdir(data)):
            if name.startswith("shop.") and not name.endswith(".tripdeal.json"):
                cluster.kubectl("create", "--dry-run=server", "-f", os.path.join(data, name))

        started = time.monotonic()
        cluster.apply_yaml(tripdeal_yaml("shop", "tripdeal", host="shop.example.com"))
        td = wait_for("TripDeal uid", lambda: cluster.get("tripdeal", "shop", "tripdeal"), 5)
        uid = td["metadata"]["uid"]

        def all_owned():
            objs = {}
            for kind, _ in OWNED + [("ingress", "Ingress")]:
                o = cluster.get(kind, "shop-session" if kind == "secret" else "shop", "tripdeal")
                if not o:
                    return None
                objs[kind] = o
            return objs

        objs = wait_for("every owned object", all_owned, 2)
        log(f"owned objects present after {time.monotonic() - started:.2f}s")
        for kind, o in objs.items():
            refs = [r for r in o["metadata"].get("ownerReferences", []) if r.get("controller")]
            assert len(refs) == 1, (kind, o["metadata"])
            assert refs[0]["uid"] == uid and refs[0]["kind"] == "TripDeal", refs
            assert refs[0]["blockOwnerDeletion"] is True
            assert o["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "tripdeal-operator"

        deploy = objs["deployment"]
        container = deploy["spec"]["template"]["spec"]["containers"][0]
        assert container["image"] == "registry.example.com/tripdeal/app:1.4.0"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert deploy["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
        tolerations = {t["key"]: t for t in deploy["spec"]["template"]["spec"]["tolerations"]}
        assert tolerations["node.kubernetes.io/unreachable"]["tolerationSeconds"] == 30
        env = {e["name"]: e for e in container["env"]}
        assert env["TRIPDEAL_DB"]["valueFrom"]["secretKeyRef"] == {"name": "tripdeal-db", "key": "url"}
        hpa = objs["hpa"]
        assert hpa["spec"]["minReplicas"] == 2 and hpa["spec"]["maxReplicas"] == 10
        assert hpa["spec"]["scaleTargetRef"]["name"] == "shop"
        assert objs["ingress"]["spec"]["rules"][0]["host"] == "shop.example.com"
        assert objs["service"]["spec"]["ports"][0]["targetPort"] == "http"
        # Pod Security "restricted", its own ServiceAccount without a token,
        # the shared session key, and a grace period beyond preStop + drain.
        pod = deploy["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 65532
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
        assert pod["serviceAccountName"] == "shop" and pod["automountServiceAccountToken"] is False
        assert objs["serviceaccount"]["automountServiceAccountToken"] is False
        assert env["TRIPDEAL_SECRET"]["valueFrom"]["secretKeyRef"] == {"name": "shop-session", "key": "secret"}
        assert pod["terminationGracePeriodSeconds"] > container["lifecycle"]["preStop"]["sleep"]["seconds"] + 25
        # An owned ServiceAccount deleted by hand comes back.
        cluster.kubectl("delete", "serviceaccount", "shop", "-n", "tripdeal")
        wait_for("ServiceAccount re-made", lambda: cluster.get("serviceaccount", "shop", "tripdeal"), 5)

        # fakekube's controllers run the pods; the operator reports them.
        def ready():
            td = cluster.get("tripdeal", "shop", "tripdeal")
            c = condition(td, "Ready")
            return td if c and c["status"] == "True" else None

        td = wait_for("Ready=True", ready, 30)
        assert td["status"]["observedGeneration"] == td["metadata"]["generation"]
        assert td["status"]["phase"] == "Ready", td["status"]
        assert td["status"]["floorReplicas"] == 2
        assert td["status"]["readyReplicas"] >= 2
        assert "tripdeal.io/cleanup" in td["metadata"]["finalizers"]

        table = cluster.kubectl("get", "td", "-n", "tripdeal").stdout
        log(table)
        header = table.splitlines()[0].split()
        for column in ("NAME", "PHASE", "REPLICAS", "READY", "FLOOR", "AGE"):
            assert column in header, header
        assert "Ready" in table.splitlines()[1]

        events = json.loads(cluster.kubectl("get", "events", "-n", "tripdeal", "-o", "json").stdout)
        reasons = {e["reason"] for e in events["items"]
                   if e["involvedObject"].get("kind") == "TripDeal"}
        assert "Created" in reasons, reasons

        # Deletion: the finalizer runs, then garbage collection takes the rest.
        cluster.kubectl("delete", "tripdeal", "shop", "-n", "tripdeal", "--wait=false")
        wait_for("TripDeal gone", lambda: cluster.get("tripdeal", "shop", "tripdeal") is None, 10)
        wait_for("owned objects garbage-collected",
                 lambda: all(cluster.get(k, "shop-session" if k == "secret" else "shop", "tripdeal") is None
                             for k, _ in OWNED), 15)
        assert operator.process.alive()


if __name__ == "__main__":
    run(scenario)

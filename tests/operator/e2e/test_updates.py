#!/usr/bin/env python3
"""Spec changes flow to the owned objects; what users and other controllers
set survives; a hand edit of an owned field is put back; an invalid spec
changes nothing, says why, and the operator keeps serving other TripDeals."""
import json

from harness import (SECRET_AND_NS, Cluster, Operator, condition, log, run, tripdeal_yaml,
                     wait_for)


def container_image(cluster, name):
    d = cluster.get("deployment", name, "tripdeal")
    return d and d["spec"]["template"]["spec"]["containers"][0]["image"]


def scenario():
    # No simulated HPA here, so the replica count a user or HPA set stays visible.
    with Cluster(["--no-hpa"]) as cluster, Operator(cluster) as operator:
        cluster.install_crd()
        cluster.apply_yaml(SECRET_AND_NS % {"ns": "tripdeal"})
        operator.wait_ready()
        cluster.apply_yaml(tripdeal_yaml("shop", "tripdeal", host="a.example.com"))
        cluster.apply_yaml(tripdeal_yaml("other", "tripdeal"))
        wait_for("shop deployment", lambda: cluster.get("deployment", "shop", "tripdeal"), 5)
        wait_for("shop ingress", lambda: cluster.get("ingress", "shop", "tripdeal"), 5)

        # Someone else's annotation and label, and the HPA's replica count.
        cluster.kubectl("annotate", "deployment", "shop", "-n", "tripdeal", "team/owner=sre")
        cluster.kubectl("label", "service", "shop", "-n", "tripdeal", "cost-center=travel")
        cluster.kubectl("scale", "deployment", "shop", "-n", "tripdeal", "--replicas=7")

        # Spec change: image, min/max, ingress host.
        cluster.apply_yaml(tripdeal_yaml("shop", "tripdeal", image="registry.example.com/tripdeal/app:1.5.0",
                                         min_replicas=3, max_replicas=20, host="b.example.com"))
        wait_for("new image", lambda: container_image(cluster, "shop") == "registry.example.com/tripdeal/app:1.5.0", 5)
        wait_for("new HPA bounds", lambda: (lambda h: h and h["spec"]["minReplicas"] == 3 and
                                            h["spec"]["maxReplicas"] == 20)(cluster.get("hpa", "shop", "tripdeal")), 5)
        wait_for("new ingress host", lambda: cluster.get("ingress", "shop", "tripdeal")["spec"]["rules"][0]["host"]
                 == "b.example.com", 5)
        deploy = cluster.get("deployment", "shop", "tripdeal")
        assert deploy["metadata"]["annotations"]["team/owner"] == "sre", deploy["metadata"]
        assert deploy["spec"]["replicas"] == 7, "the operator must never write spec.replicas"
        service = cluster.get("service", "shop", "tripdeal")
        assert service["metadata"]["labels"]["cost-center"] == "travel"

        # Hand edit of an owned field: put back.
        cluster.kubectl("set", "image", "deployment/shop", "-n", "tripdeal", "app=evil/app:latest")
        wait_for("image put back", lambda: container_image(cluster, "shop") == "registry.example.com/tripdeal/app:1.5.0", 5)
        assert cluster.get("deployment", "shop", "tripdeal")["metadata"]["annotations"]["team/owner"] == "sre"
        # The Event names the value really replaced, not just the field.
        want = ("spec.template.spec.containers[0].image: evil/app:latest -> "
                "registry.example.com/tripdeal/app:1.5.0")
        wait_for("Updated event naming the replaced image", lambda: any(
            e["reason"] == "Updated" and want in e["message"]
            for e in json.loads(cluster.kubectl("get", "events", "-n", "tripdeal", "-o", "json").stdout)["items"]), 5)

        # Ingress removed from the spec: the Ingress goes.
        cluster.apply_yaml(tripdeal_yaml("shop", "tripdeal", image="registry.example.com/tripdeal/app:1.5.0",
                                         min_replicas=3, max_replicas=20))
        wait_for("ingress deleted", lambda: cluster.get("ingress", "shop", "tripdeal") is None, 5)

        # Invalid spec the schema cannot catch: min > max.
        before = cluster.get("hpa", "shop", "tripdeal")["metadata"]["resourceVersion"]
        cluster.kubectl("patch", "tripdeal", "shop", "-n", "tripdeal", "--type=merge", "-p",
                        json.dumps({"spec": {"app": {"replicas": {"min": 30, "max": 5}}}}))

        def invalid():
            c = condition(cluster.get("tripdeal", "shop", "tripdeal"), "Ready")
            return c if c and c["reason"] == "InvalidSpec" else None

        c = wait_for("InvalidSpec condition", invalid, 5)
        assert c["status"] == "False" and "spec.app.replicas.min" in c["message"], c
        td = cluster.get("tripdeal", "shop", "tripdeal")
        assert td["status"]["phase"] == "Error"
        assert td["status"]["observedGeneration"] == td["metadata"]["generation"]
        assert cluster.get("hpa", "shop", "tripdeal")["metadata"]["resourceVersion"] == before
        events = json.loads(cluster.kubectl("get", "events", "-n", "tripdeal", "-o", "json").stdout)
        assert any(e["reason"] == "InvalidSpec" and e["type"] == "Warning" and
                   e["involvedObject"]["name"] == "shop" for e in events["items"])

        # Unknown time zone: also InvalidSpec naming the field.
        cluster.kubectl("patch", "tripdeal", "shop", "-n", "tripdeal", "--type=merge", "-p", json.dumps(
            {"spec": {"app": {"replicas": {"min": 3, "max": 20}},
                      "sales": [{"name": "s", "schedule": "0 10 * * *", "timeZone": "Mars/Olympus",
                                 "duration": "1h", "prescale": {"minReplicas": 5}}]}}))
        wait_for("timeZone named", lambda: "spec.sales[0].timeZone" in (invalid() or {}).get("message", ""), 5)

        # The other TripDeal is still served.
        cluster.kubectl("patch", "tripdeal", "other", "-n", "tripdeal", "--type=merge", "-p",
                        json.dumps({"spec": {"app": {"image": "registry.example.com/tripdeal/app:2.0.0"}}}))
        wait_for("other updated", lambda: container_image(cluster, "other") == "registry.example.com/tripdeal/app:2.0.0", 5)

        # Fixing the spec recovers.
        cluster.kubectl("patch", "tripdeal", "shop", "-n", "tripdeal", "--type=json", "-p",
                        json.dumps([{"op": "remove", "path": "/spec/sales"}]))
        wait_for("Ready again", lambda: (lambda c: c and c["reason"] != "InvalidSpec")(
            condition(cluster.get("tripdeal", "shop", "tripdeal"), "Ready")), 10)
        assert operator.process.alive()
        log("errors logged:", sum(1 for l in operator.process.json_lines() if l.get("level") == "error"))


if __name__ == "__main__":
    run(scenario)

#!/usr/bin/env python3
"""The API server goes away and comes back (its watch connections cut), and
the operator's resume point falls out of the retained watch window (410 Gone):
the operator relists and applies every change made meanwhile, exactly once."""
import json
import os
import signal

from harness import SECRET_AND_NS, Cluster, Operator, log, run, tripdeal_yaml, wait_for


def image_of(cluster, name):
    d = cluster.get("deployment", name, "tripdeal")
    return d and d["spec"]["template"]["spec"]["containers"][0]["image"]


def scenario():
    cluster = Cluster(["--watch-window", "20"])
    cluster.data_file = os.path.join(cluster.workdir, "state.json")
    with cluster, Operator(cluster) as operator:
        cluster.install_crd()
        cluster.apply_yaml(SECRET_AND_NS % {"ns": "tripdeal"})
        operator.wait_ready()
        cluster.apply_yaml(tripdeal_yaml("shop", "tripdeal"))
        wait_for("deployment", lambda: cluster.get("deployment", "shop", "tripdeal"), 5)

        # 1. Restart the API server: watches are cut, the operator reconnects.
        cluster.stop()
        cluster.start()
        cluster.kubectl("patch", "tripdeal", "shop", "-n", "tripdeal", "--type=merge", "-p",
                        json.dumps({"spec": {"app": {"image": "registry.example.com/tripdeal/app:2"}}}))
        wait_for("change after restart applied", lambda: image_of(cluster, "shop") == "registry.example.com/tripdeal/app:2", 15)

        # 2. Freeze the operator, cut its watches, and push far more than the
        #    watch window (20 events) through the server, including a change
        #    to the TripDeal and a new TripDeal: its resume point is now Gone.
        operator.process.proc.send_signal(signal.SIGSTOP)
        try:
            cluster.stop()
            cluster.start()
            for i in range(40):
                cluster.kubectl("create", "configmap", f"noise-{i}", "-n", "tripdeal")
            cluster.kubectl("patch", "tripdeal", "shop", "-n", "tripdeal", "--type=merge", "-p",
                            json.dumps({"spec": {"app": {"image": "registry.example.com/tripdeal/app:3"}}}))
            cluster.apply_yaml(tripdeal_yaml("late", "tripdeal"))
        finally:
            operator.process.proc.send_signal(signal.SIGCONT)

        wait_for("change during the gap applied", lambda: image_of(cluster, "shop") == "registry.example.com/tripdeal/app:3", 20)
        wait_for("TripDeal created during the gap reconciled", lambda: cluster.get("deployment", "late", "tripdeal"), 20)
        events = json.loads(cluster.kubectl("get", "events", "-n", "tripdeal", "-o", "json").stdout)
        created = [e for e in events["items"] if e["reason"] == "Created" and e["involvedObject"]["name"] == "late"
                   and "Deployment" in e["message"]]
        assert len(created) == 1 and created[0].get("count", 1) == 1, created
        assert operator.process.alive()
        log("operator survived two API server restarts and a 410 relist")


if __name__ == "__main__":
    run(scenario)

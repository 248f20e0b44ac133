#!/usr/bin/env python3
"""A drill interrupted by an operator crash is not left half-done: the
operator is SIGKILLed while its drill runs (phase Drilling, the drill's
Lease held); the next operator finds the Lease of a tripdeal-operator
identity, restores what it changed and deletes it, and marks
status.lastDrill Aborted with Event DrillAborted.  The site is whole again:
as many Ready pods as before."""
import json
import os
import signal

from harness import SECRET_AND_NS, Cluster, Operator, log, run, tripdeal_yaml, wait_for
from test_drills import APP, ready_pods, events


def scenario():
    if not APP or not os.path.exists(APP):
        print("TRIPDEAL_APP not set: skipping")
        raise SystemExit(77)
    image = "registry.example.com/tripdeal/app:1.4.0"
    db = os.path.join(os.environ.get("TMPDIR", "/tmp"), "drills-restart-e2e-%d.db" % os.getpid())
    with Cluster(["--pods", "process", "--nodes", "2", "--pod-command", image + "=" + APP]) as cluster:
        cluster.install_crd()
        cluster.apply_yaml((SECRET_AND_NS % {"ns": "tripdeal"}).replace(
            "postgresql://tripdeal@db.tripdeal.svc/tripdeal", "sqlite:" + db))
        first = Operator(cluster, name="tripdeal-operator-1")
        try:
            first.wait_ready()
            cluster.apply_yaml(tripdeal_yaml("shop", "tripdeal", image=image, min_replicas=2, max_replicas=2))
            wait_for("2 Ready site pods", lambda: len(ready_pods(cluster, "shop")) == 2, 90)
            wait_for("2 ready endpoints", lambda: sum(len(s.get("addresses", [])) for s in (
                cluster.get("endpoints", "shop", "tripdeal") or {}).get("subsets", [])) == 2, 30)
            # A long steady window keeps the drill running while the operator dies.
            drill = {"spec": {"chaos": {"drills": [{
                "name": "crash-me", "schedule": "* * * * *", "action": "pod-kill",
                "target": {"count": 1}, "steadyState": {"maxErrorRatePercent": 50,
                                                        "maxRecoverySeconds": 60}}]}}}
            cluster.kubectl("patch", "tripdeal", "shop", "-n", "tripdeal", "--type=merge", "-p",
                            json.dumps(drill))
            wait_for("the drill's Lease", lambda: cluster.get("lease", "chaos-tripdeal-shop", "tripdeal"), 30,
                     interval=0.02)
            lease = cluster.get("lease", "chaos-tripdeal-shop", "tripdeal")
            assert lease["spec"]["holderIdentity"].startswith("tripdeal-operator/"), lease["spec"]
            assert cluster.get("tripdeal", "shop", "tripdeal")["status"]["lastDrill"]["verdict"] == "Running"
        finally:
            first.stop(signal.SIGKILL)
        log("operator 1 killed while its drill ran")
        assert cluster.get("lease", "chaos-tripdeal-shop", "tripdeal"), "the Lease vanished with the operator"
        # No new run at the next minute while the next operator is checked.
        drill["spec"]["chaos"]["drills"][0]["schedule"] = "0 0 1 1 *"
        cluster.kubectl("patch", "tripdeal", "shop", "-n", "tripdeal", "--type=merge", "-p", json.dumps(drill))

        with Operator(cluster, name="tripdeal-operator-2") as second:
            second.wait_ready()
            wait_for("the Lease restored and deleted",
                     lambda: cluster.get("lease", "chaos-tripdeal-shop", "tripdeal") is None, 30)
            last = wait_for("lastDrill Aborted", lambda: (lambda l: l if l.get("verdict") == "Aborted" else None)(
                cluster.get("tripdeal", "shop", "tripdeal")["status"].get("lastDrill", {})), 30)
            log("lastDrill", last)
            assert last["name"] == "crash-me" and "interrupted" in last["message"], last
            assert any(r == "DrillAborted" and "interrupted" in m for r, m in events(cluster, "shop"))
            wait_for("2 Ready site pods again", lambda: len(ready_pods(cluster, "shop")) == 2, 60)
            wait_for("phase not Drilling", lambda: cluster.get("tripdeal", "shop", "tripdeal")["status"]
                     .get("phase") not in (None, "Drilling"), 20)
    if os.path.exists(db):
        os.unlink(db)


if __name__ == "__main__":
    run(scenario)

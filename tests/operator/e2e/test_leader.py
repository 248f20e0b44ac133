#!/usr/bin/env python3
"""Two operators with --leader-elect: exactly one acts; SIGKILL it and the
other takes over within the lease duration (15 s); SIGTERM releases the
lease and exits 0."""
import json
import signal
import time

from harness import SECRET_AND_NS, Cluster, Operator, log, run, tripdeal_yaml, wait_for


def leaders(ops):
    return [op for op in ops if op.metric("tripdeal_operator_is_leader") == 1]


def scenario():
    with Cluster() as cluster:
        cluster.install_crd()
        cluster.apply_yaml(SECRET_AND_NS % {"ns": "tripdeal"})
        a = Operator(cluster, "--leader-elect", "--leader-election-namespace", "tripdeal", name="operator-a")
        b = Operator(cluster, "--leader-elect", "--leader-election-namespace", "tripdeal", name="operator-b")
        with a, b:
            a.wait_ready()
            b.wait_ready()
            wait_for("one leader", lambda: len(leaders([a, b])) == 1, 20, interval=0.2)
            first = leaders([a, b])[0]
            second = b if first is a else a
            lease = cluster.get("lease", "tripdeal-operator", "tripdeal")
            log("lease holder:", lease["spec"]["holderIdentity"])
            assert str(first.process.proc.pid) in lease["spec"]["holderIdentity"]

            cluster.apply_yaml(tripdeal_yaml("shop", "tripdeal"))
            wait_for("deployment by the leader", lambda: cluster.get("deployment", "shop", "tripdeal"), 5)
            # Only the leader wrote: the standby reconciled nothing.
            assert (second.metric('tripdeal_operator_reconcile_total{result="success"}') or 0) == 0
            assert len(leaders([a, b])) == 1

            killed_at = time.monotonic()
            first.stop(signal.SIGKILL)
            wait_for("takeover", lambda: second.metric("tripdeal_operator_is_leader") == 1, 20, interval=0.1)
            took = time.monotonic() - killed_at
            log(f"standby took over {took:.1f}s after SIGKILL")
            assert took <= 15 + 2 + 1, took

            cluster.kubectl("patch", "tripdeal", "shop", "-n", "tripdeal", "--type=merge", "-p",
                            json.dumps({"spec": {"app": {"image": "registry.example.com/tripdeal/app:9"}}}))
            wait_for("new leader reconciles", lambda: cluster.get("deployment", "shop", "tripdeal")["spec"]
                     ["template"]["spec"]["containers"][0]["image"] == "registry.example.com/tripdeal/app:9", 10)

            # SIGTERM: release the lease, exit 0.
            assert second.stop(signal.SIGTERM) == 0
            lease = cluster.get("lease", "tripdeal-operator", "tripdeal")
            log("lease after release:", lease["spec"])
            assert not lease["spec"].get("holderIdentity") or lease["spec"].get("leaseDurationSeconds") == 1


if __name__ == "__main__":
    run(scenario)

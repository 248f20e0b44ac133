#!/usr/bin/env python3
"""A sale whose prescale starts seconds from now: the HPA floor rises within
1 s of prescaleAt, the phase turns Prescaling -> OnSale within 1 s of
startsAt (no change to the object in between), the floor falls back within
1 s of the window's end; status and
`kubectl get td` show the floor and the next sale; Prescaled/Released events."""
import datetime
import json
import time

from harness import SECRET_AND_NS, Cluster, Operator, log, run, tripdeal_yaml, wait_for


def scenario():
    with Cluster() as cluster, Operator(cluster) as operator:
        cluster.install_crd()
        cluster.apply_yaml(SECRET_AND_NS % {"ns": "tripdeal"})
        operator.wait_ready()

        # Cron fires on whole minutes: start at the next minute that leaves
        # room, and pick leadTime so the prescale begins ~6 s from now.
        now = time.time()
        start = (int(now) // 60 + 1) * 60
        if start - now < 10:
            start += 60
        prescale_at = int(now) + 6
        lead = start - prescale_at
        duration = 2
        ends = start + duration
        utc = datetime.datetime.fromtimestamp(start, datetime.timezone.utc)
        sales = f"""  sales:
  - name: flash
    schedule: "{utc.minute} {utc.hour} * * *"
    timeZone: UTC
    duration: {duration}s
    prescale: {{leadTime: {lead}s, minReplicas: 5}}
"""
        cluster.apply_yaml(tripdeal_yaml("shop", "tripdeal", min_replicas=2, max_replicas=8, sales=sales))

        def floor():
            h = cluster.get("hpa", "shop", "tripdeal")
            return h["spec"]["minReplicas"] if h else None

        wait_for("baseline floor", lambda: floor() == 2, 5)
        td = cluster.get("tripdeal", "shop", "tripdeal")
        wait_for("status.nextSale", lambda: cluster.get("tripdeal", "shop", "tripdeal")["status"].get("nextSale"), 5)
        td = cluster.get("tripdeal", "shop", "tripdeal")
        assert td["status"]["nextSale"]["name"] == "flash"
        assert td["status"]["nextSale"]["startsAt"] == utc.strftime("%Y-%m-%dT%H:%M:%SZ"), td["status"]
        table = cluster.kubectl("get", "td", "shop", "-n", "tripdeal").stdout
        log(table)
        assert "NEXT SALE" in table.splitlines()[0] and "FLOOR" in table.splitlines()[0]

        # Rise: poll finely and measure against prescaleAt.
        wait_for("floor raised", lambda: floor() == 5, prescale_at - time.time() + 3, interval=0.02)
        rose_after = time.time() - prescale_at
        log(f"floor rose {rose_after:.3f}s after prescaleAt")
        assert rose_after <= 1.0, rose_after
        td = wait_for("status Prescaling", lambda: (lambda t: t if t["status"].get("phase") == "Prescaling" else None)(
            cluster.get("tripdeal", "shop", "tripdeal")), 2)
        assert td["status"]["floorReplicas"] == 5
        generation = td["metadata"]["generation"]

        # OnSale at startsAt with no other change to the object: only the
        # operator's own timer for the sale's start can do it.
        wait_for("phase OnSale", lambda: cluster.get("tripdeal", "shop", "tripdeal")["status"]["phase"] == "OnSale",
                 start - time.time() + 3, interval=0.02)
        on_sale_after = time.time() - start
        log(f"phase OnSale {on_sale_after:.3f}s after startsAt")
        assert -0.05 <= on_sale_after <= 1.0, on_sale_after
        assert cluster.get("tripdeal", "shop", "tripdeal")["metadata"]["generation"] == generation

        wait_for("floor released", lambda: floor() == 2, ends - time.time() + 3, interval=0.02)
        fell_after = time.time() - ends
        log(f"floor fell {fell_after:.3f}s after the window closed")
        assert -0.05 <= fell_after <= 1.0, fell_after
        assert cluster.get("tripdeal", "shop", "tripdeal")["status"]["floorReplicas"] == 2

        events = json.loads(cluster.kubectl("get", "events", "-n", "tripdeal", "-o", "json").stdout)
        reasons = [e["reason"] for e in events["items"] if e["involvedObject"]["name"] == "shop"]
        assert "Prescaled" in reasons and "Released" in reasons, reasons
        # Exact timers, not polling: a handful of reconciles, not hundreds.
        total = sum(operator.metric(f'tripdeal_operator_reconcile_total{{result="{r}"}}') or 0
                    for r in ("success", "error"))
        log("reconciles:", total)
        assert total < 60, total


if __name__ == "__main__":
    run(scenario)

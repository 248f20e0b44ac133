#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""charts/tripdeal/files/alerts.yaml: `promtool check rules`, `promtool test
rules tests/chart/alerts_test.yaml`, a unit test for every alert, short `for:`
(a sale lasts an hour), and only metric names the programs really export."""
import os
import re
import subprocess
import sys

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from metric_names import exported_names, names_in  # noqa: E402

ROOT = os.environ.get("SOURCE_ROOT") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RULES = os.path.join(ROOT, "charts", "tripdeal", "files", "alerts.yaml")
TESTS = os.path.join(ROOT, "tests", "chart", "alerts_test.yaml")
PROMTOOL = os.environ.get("PROMTOOL", "promtool")
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def seconds(d):
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)(ms|s|m|h|d)", d))


r = subprocess.run([PROMTOOL, "check", "rules", RULES], capture_output=True, text=True)
check(r.returncode == 0, "promtool check rules: " + (r.stdout + r.stderr).strip().replace("\n", " "))
r = subprocess.run([PROMTOOL, "test", "rules", TESTS], capture_output=True, text=True)
check(r.returncode == 0, "promtool test rules alerts_test.yaml" + ("" if r.returncode == 0 else "\n" + r.stdout + r.stderr))

rules = [rule for g in yaml.safe_load(open(RULES))["groups"] for rule in g["rules"]]
tested = {t["alertname"] for case in yaml.safe_load(open(TESTS))["tests"]
          for t in case.get("alert_rule_test", []) if t.get("exp_alerts")}
exported = exported_names(ROOT)
wanted = {"TripDealHighErrorRatio", "TripDealHighLatencyP99", "TripDealPodsBelowFloorDuringSale",
          "TripDealHPAAtCeiling", "TripDealStockExhausted", "TripDealClaimErrors",
          "TripDealDrillFailed", "TripDealOperatorReconcileErrors",
          "TripDealNodePoolNotReadyBeforeSale"}
alerts = {r["alert"] for r in rules if "alert" in r}
check(wanted <= alerts, f"the alerts the issue asks for exist (missing: {sorted(wanted - alerts)})")
for rule in rules:
    name = rule.get("alert") or rule.get("record")
    check(name in tested, f"{name}: a promtool unit test expects it to fire")
    check(seconds(rule.get("for", "0s")) <= 300, f"{name}: for: {rule.get('for', '0s')} is at most 5m")
    used = names_in(rule["expr"])
    check(used and used <= exported,
          f"{name}: metrics {sorted(used)} are exported (unknown: {sorted(used - exported)})")
    check(rule.get("labels", {}).get("severity") in ("critical", "warning", "info"),
          f"{name}: has a severity label")
sys.exit(1 if failures else 0)

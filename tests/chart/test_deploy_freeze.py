#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""tripdeal-deploy-freeze at the edges of DESIGN.md's sample sale (10:00
Asia/Seoul = 01:00 UTC, nodeLeadTime 20m, leadTime 10m, 1h, cooldown 15m):
frozen from 00:40:00 UTC (node prescale) to 02:15:00 exclusive, clear
outside; --margin freezes before a window opens; overlapping occurrences and
bad input are reported; an invalid TripDeal is ignored as the operator does."""
import json
import os
import subprocess
import sys

import yaml

SOURCE_ROOT = os.environ["SOURCE_ROOT"]
FREEZE = os.environ["DEPLOY_FREEZE"]
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def run(items, *args):
    r = subprocess.run([FREEZE, *args], input=json.dumps({"kind": "List", "items": items}),
                       capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


# The sample file also holds the Namespace and Secrets the TripDeal refers to.
sample = next(d for d in yaml.safe_load_all(open(os.path.join(SOURCE_ROOT, "crds", "samples", "tripdeal_full.yaml")))
              if d and d.get("kind") == "TripDeal")
for at, want in (("2026-12-04T00:39:59Z", 0), ("2026-12-04T00:40:00Z", 1), ("2026-12-04T01:30:00Z", 1),
                 ("2026-12-04T02:14:59Z", 1), ("2026-12-04T02:15:00Z", 0), ("2026-12-04T12:00:00Z", 0)):
    rc, out = run([sample], "--now", at)
    check(rc == want and (("closes 2026-12-04T02:15:00.000Z" in out) if want else "clear" in out),
          f"at {at}: exit {want} [{rc}: {out.strip()}]")
rc, out = run([sample], "--now", "2026-12-04T00:30:00Z", "--margin", "15m")
check(rc == 1 and "opens 2026-12-04T00:40:00.000Z" in out, f"--margin 15m at 00:30: frozen, opens 00:40 [{out.strip()}]")
rc, out = run([sample], "--now", "2026-12-04T00:30:00Z", "--margin", "5m")
check(rc == 0, f"--margin 5m at 00:30: clear [{out.strip()}]")
overlap = json.loads(json.dumps(sample))
overlap["spec"]["sales"][0]["schedule"] = "*/5 * * * *"
rc, out = run([overlap], "--now", "2026-12-04T05:00:00Z")
check(rc == 1 and "occurrences overlap" in out, f"overlapping occurrences: frozen [{out.strip()}]")
invalid = json.loads(json.dumps(sample))
invalid["metadata"]["name"] = "broken"
invalid["spec"]["sales"][0]["timeZone"] = "Mars/Base"
rc, out = run([invalid], "--now", "2026-12-04T01:00:00Z")
check(rc == 0 and "broken" in out and "ignored" in out, f"invalid TripDeal ignored, named [{out.strip()}]")
r = subprocess.run([FREEZE], input="not json", capture_output=True, text=True)
check(r.returncode == 3 and "not JSON" in r.stderr, f"bad input: exit 3 [{r.stderr.strip()}]")
r = subprocess.run([FREEZE, "--margin", "soon"], input="{}", capture_output=True, text=True)
check(r.returncode == 2 and "--margin" in r.stderr and "soon" in r.stderr, f"bad --margin: exit 2 [{r.stderr.strip()}]")
r = subprocess.run([FREEZE, "--version"], capture_output=True, text=True)
check(r.returncode == 0 and r.stdout.startswith("tripdeal-deploy-freeze "), "--version")
sys.exit(1 if failures else 0)

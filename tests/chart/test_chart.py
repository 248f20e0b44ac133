#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""charts/tripdeal: render (defaults and every ci/ values file) against golden
files, schema errors name the key, the chart's CRD is byte-identical to crds/,
and every rendered object passes `kubectl apply --dry-run=server` on fakekube
(which validates built-in kinds against the Kubernetes 1.36 OpenAPI schema and
TripDeals against the CRD). UPDATE_GOLDEN=1 rewrites the golden files."""
import difflib
import os
import subprocess
import sys

SOURCE_ROOT = os.environ["SOURCE_ROOT"]
sys.path.insert(0, os.path.join(SOURCE_ROOT, "tests", "fakekube"))
from harness import Fakekube  # noqa: E402

CHART = os.path.join(SOURCE_ROOT, "charts", "tripdeal")
RENDER = os.path.join(SOURCE_ROOT, "tests", "chart", "render-chart")
GOLDEN = os.path.join(SOURCE_ROOT, "tests", "chart", "golden")
NAMESPACE = "tripdeal-system"
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def render(*args):
    return subprocess.run([RENDER, CHART, "--namespace", NAMESPACE, *args],
                          capture_output=True, text=True, timeout=300)


def values_sets():
    yield "default", []
    for f in sorted(os.listdir(os.path.join(CHART, "ci"))):
        if f.endswith(".yaml"):
            yield f[: -len(".yaml")], ["-f", os.path.join(CHART, "ci", f)]


def test_crd_identical():
    for name in sorted(os.listdir(os.path.join(SOURCE_ROOT, "crds"))):
        if not name.endswith(".yaml"):
            continue
        a = open(os.path.join(SOURCE_ROOT, "crds", name), "rb").read()
        path = os.path.join(CHART, "crds", name)
        b = open(path, "rb").read() if os.path.exists(path) else None
        check(a == b, f"charts/tripdeal/crds/{name} is byte-identical to crds/{name} "
                      "(cp crds/*.yaml charts/tripdeal/crds/)")


def test_golden():
    rendered = {}
    for name, args in values_sets():
        r = render(*args)
        check(r.returncode == 0, f"render {name}: exit 0 ({r.stderr.strip()[:300]})")
        rendered[name] = r.stdout
        path = os.path.join(GOLDEN, name + ".yaml")
        if os.environ.get("UPDATE_GOLDEN"):
            os.makedirs(GOLDEN, exist_ok=True)
            open(path, "w").write(r.stdout)
        want = open(path).read() if os.path.exists(path) else ""
        diff = "".join(difflib.unified_diff(want.splitlines(True), r.stdout.splitlines(True),
                                            "golden/" + name + ".yaml", "rendered"))
        check(not diff, f"render {name} matches tests/chart/golden/{name}.yaml"
                        + ("" if not diff else "\n" + diff[:3000]))
    return rendered


def test_schema_errors():
    cases = [
        (["--set", "operator.replicas=0"], "operator.replicas", "below the minimum"),
        (["--set", "operator.image.pullPolicy=Sometimes"], "operator.image.pullPolicy", "not one of"),
        (["--set", "operator.replcas=2"], "operator.replcas", "not a known key"),
        (["--set", "metrics.serviceMonitor.interval=often"], "metrics.serviceMonitor.interval",
         "does not match"),
        (["--set-string", "operator.metricsPort=8090"], "operator.metricsPort", "must be integer"),
    ]
    for args, key, why in cases:
        r = render(*args)
        check(r.returncode == 1 and key in r.stderr and why in r.stderr and not r.stdout,
              f"{' '.join(args)}: exit 1 naming {key} ({why}) [got {r.returncode}: {r.stderr.strip()}]")
    r = render("--set", "serviceAccount.create=false")
    check(r.returncode == 1 and "serviceAccount.name is required" in r.stderr,
          f"serviceAccount.create=false without a name: required() fails [{r.stderr.strip()}]")


def test_dry_run(rendered):
    fk = Fakekube(os.environ["FAKEKUBE"])
    try:
        for ns in (NAMESPACE, "tripdeal", "monitoring"):
            fk.kubectl("create", "namespace", ns)
        fk.kubectl("apply", "-f", os.path.join(CHART, "crds"))
        fk.kubectl("apply", "-f", os.path.join(SOURCE_ROOT, "tests", "chart", "data",
                                               "monitoring-crds.yaml"))
        for name, text in sorted(rendered.items()):
            r = fk.kubectl("apply", "--dry-run=server", "-f", "-", input=text, check=False)
            kinds = text.count("\nkind: ")
            dry = r.stdout.count("(server dry run)")
            check(r.returncode == 0 and dry == kinds,
                  f"{name}: all {kinds} objects pass server-side dry-run "
                  f"[{dry} passed; {r.stderr.strip()[:800]}]")
        # The dry run really validates: a wrong field type is refused.
        broken = rendered["default"].replace("replicas: 2\n", "replicas: two\n", 1)
        r = fk.kubectl("apply", "--dry-run=server", "-f", "-", input=broken, check=False)
        check(r.returncode != 0, "a Deployment with replicas: two is refused by the dry run")
    finally:
        fk.stop()


def main():
    test_crd_identical()
    rendered = test_golden()
    test_schema_errors()
    test_dry_run(rendered)
    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""scripts/scenarios run SCENARIO --short (suite scenarios): the functional goals.

Runs the scenario against the whole system (scripts/demo underneath), then
checks the report a user reads: report.json has the issue's fields for the
scenario and report.html is self-contained with its plots; a headless
Chromium screenshot of report.html is kept beside it.  A broken goal fails
the test with the goal's name (printed by scripts/scenarios).  Latency
figures are reported, never asserted.  A scenario that is not available on
this tree (failure without the chaos CLI) is a skip (77).  The failure
scenario's node-kill must have run where libvirtd + QEMU do
(TRIPDEAL_TEST_QEMU_URI, as root); elsewhere its absence is printed.
Argv: SOURCE_ROOT SCENARIO REPORT_DIR
"""
import json
import os
import shutil
import subprocess
import sys

SOURCE_ROOT, SCENARIO, REPORT_DIR = sys.argv[1:4]


def main():
    for tool in ("kubectl", "nginx", "prometheus", "psql"):
        if not shutil.which(tool):
            print(f"{tool} missing: skipping")
            sys.exit(77)
    shutil.rmtree(REPORT_DIR, ignore_errors=True)
    p = subprocess.run([os.path.join(SOURCE_ROOT, "scripts", "scenarios"), "run", SCENARIO, "--short", "--no-build",
                        "--report-dir", REPORT_DIR], cwd=SOURCE_ROOT, timeout=1500)
    report = json.load(open(os.path.join(REPORT_DIR, "report.json")))
    s = next(x for x in report["scenarios"] if x["name"] == SCENARIO)
    if s.get("passed") is None:
        print(f"{SCENARIO}: not available: {s.get('reason')}")
        sys.exit(77)
    for key in ("name", "passed", "requests", "latencyMs", "claims", "replicas", "goals"):
        assert key in s, f"report.json: {SCENARIO} has no {key}"
    if SCENARIO == "burst":
        for key in ("floorRaisedAt", "saleStartsAt", "readyAtSaleStart"):
            assert key in s, f"report.json: burst has no {key}"
    if SCENARIO == "failure":
        for key in ("recoverySeconds", "failedRatio", "drills", "nodeKill"):
            assert key in s, f"report.json: failure has no {key}"
        # where libvirtd + QEMU run (scripts/test-services), the node-kill must have run, not been left out
        if os.environ.get("TRIPDEAL_TEST_QEMU_URI") and os.geteuid() == 0:
            assert s["nodeKill"]["available"], f"node-kill not run: {s['nodeKill'].get('reason')}"
            assert "node-kill" in s["recoverySeconds"], "report.json: no node-kill recoverySeconds"
        else:
            print(f"node-kill not available here: {s['nodeKill'].get('reason')}")
    html = open(os.path.join(REPORT_DIR, "report.html")).read()
    assert "data:image/png;base64," in html, "report.html has no embedded plot"
    assert "src='http" not in html and 'src="http' not in html, "report.html loads something from outside"
    chromium = shutil.which("chromium")
    if chromium:
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        "--window-size=1100,2400", f"--screenshot={REPORT_DIR}/report.png",
                        "file://" + os.path.abspath(os.path.join(REPORT_DIR, "report.html"))],
                       capture_output=True, timeout=120)
    assert p.returncode == 0, f"scripts/scenarios exited {p.returncode}: a goal broke (see 'goal broken' above)"
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()

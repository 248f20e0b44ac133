"""tripdeal-loadgen against a real tripdeal-app (SQLite, one process, demo data).

What a scenario relies on: the arrival rate is kept (count ~ rate x duration),
browse and claims both run (a claim is a fresh user: session, then the POST
with cookie + CSRF), claims never exceed the deal's stock, outcomes and
per-second counts are in the JSON, and a non-loopback target is refused.
Argv: LOADGEN APP
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

LOADGEN, APP = sys.argv[1], sys.argv[2]


def wait_listening(proc, log_path, deadline_s=30):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        with open(log_path) as f:
            for line in f:
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                if msg.get("msg") == "listening":
                    return msg["url"].rstrip("/")
        if proc.poll() is not None:
            raise AssertionError("tripdeal-app exited:\n" + open(log_path).read())
        time.sleep(0.05)
    raise AssertionError("tripdeal-app did not listen within 30 s")


def main():
    work = tempfile.mkdtemp(prefix="loadgen-test-")
    log_path = os.path.join(work, "app.log")
    with open(log_path, "w") as log:
        app = subprocess.Popen([APP, "--listen", "127.0.0.1:0", "--db", f"sqlite:{work}/t.db", "--seed-demo"],
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        url = wait_listening(app, log_path)
        deals = json.load(urllib.request.urlopen(url + "/api/deals", timeout=5))
        deal = next(d for d in deals if d["state"] == "open")

        # flags: --help, --version, bad input named
        assert subprocess.run([LOADGEN, "--help"], capture_output=True).returncode == 0
        v = subprocess.run([LOADGEN, "--version"], capture_output=True, text=True)
        assert v.returncode == 0 and "tripdeal-loadgen" in v.stdout
        bad = subprocess.run([LOADGEN, "--url", "http://10.0.0.1:80"], capture_output=True, text=True)
        assert bad.returncode == 2 and "loopback" in bad.stderr, bad.stderr
        bad = subprocess.run([LOADGEN, "--url", url, "--claim-percent", "10"], capture_output=True, text=True)
        assert bad.returncode == 2 and "--deal" in bad.stderr, bad.stderr
        bad = subprocess.run([LOADGEN, "--url", url, "--phase", "3s:x:0"], capture_output=True, text=True)
        assert bad.returncode == 2 and "phase" in bad.stderr, bad.stderr

        # two phases: 40/s browse, then 80/s with 25 % claims
        out = os.path.join(work, "result.json")
        run = subprocess.run([LOADGEN, "--url", url, "--deal", str(deal["id"]), "--phase", "2s:40:0",
                              "--phase", "2s:80:25", "--out", out], capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        result = json.load(open(out))
        arrivals = result["arrivals"]
        assert 230 <= arrivals <= 242, f"arrivals {arrivals}, expected 240 (2 s x 40 + 2 s x 80)"
        claims = result["claims"]
        attempted = claims["ok"] + claims["soldOut"] + claims["alreadyClaimed"]
        assert 35 <= attempted <= 42, f"claims {claims}: expected 40 (25 % of 160)"
        assert claims["alreadyClaimed"] == 0, "every claim is a fresh user"
        assert claims["ok"] == min(attempted, deal["stock_left"]), (claims, deal)
        assert result["requests"]["failed"] == 0, result["requests"]
        # browse 200 + sessions 40 + claims 40 (201/409)
        assert result["requests"]["total"] == arrivals + attempted, result["requests"]
        per_second = result["perSecond"]
        assert len(per_second) in (4, 5), [p["requests"] for p in per_second]
        assert per_second[0]["claims"] == 0 and per_second[3]["claims"] > 0
        lat = result["latencyMs"]
        assert 0 < lat["p50"] <= lat["p99"] <= lat["max"], lat
        after = json.load(urllib.request.urlopen(url + "/api/deals", timeout=5))
        left = next(d for d in after if d["id"] == deal["id"])["stock_left"]
        assert left == deal["stock_left"] - claims["ok"], (left, deal["stock_left"], claims)
        print(f"arrivals {arrivals}, requests {result['requests']['total']}, claims {claims}, "
              f"p50 {lat['p50']:.2f} ms p99 {lat['p99']:.2f} ms")
    finally:
        app.terminate()
        app.wait(timeout=30)
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()

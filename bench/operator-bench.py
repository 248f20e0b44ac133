#!/usr/bin/env python3
"""Operator benchmark: reconcile latency and RSS with 1, 100 and 1,000 TripDeals.

Latency = a TripDeal's spec changes (image) -> its Deployment carries the new
image, observed through a watch on Deployments (so the measurement does not
poll).  Runs fakekube (no simulated controllers: only the API) and the
operator on loopback.  Not part of `meson test`.

RSS is the operator's VmRSS at the end, split into RssAnon (its own memory:
heap, stacks, relocated library data) and RssFile (shared-library pages).
For scale, bench/rss-floor.c -- one libcurl+OpenSSL HTTPS GET, nothing else --
is built and measured against the same fakekube: the floor of any client of
the API built on these libraries.

usage: bench/operator-bench.py BUILD_DIR [--counts 1,100,1000] [--samples 200]
"""
import argparse
import faulthandler
import http.client
import json
import os
import platform
import re
import ssl
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "operator", "e2e"))
import harness  # noqa: E402


def rss_kib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class Api:
    """Minimal raw client for the benchmark driver (kubectl is too slow to drive 1,000 objects)."""

    def __init__(self, kubeconfig):
        text = open(kubeconfig).read()
        self.server = re.search(r"server: (\S+)", text).group(1)
        self.token = re.search(r"token: (\S+)", text).group(1)
        self.ca_file = kubeconfig + ".ca.crt"
        self.ctx = ssl.create_default_context(cafile=self.ca_file)

    def request(self, method, path, body=None, content_type="application/json"):
        req = urllib.request.Request(self.server + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None)
        req.add_header("Authorization", "Bearer " + self.token)
        req.add_header("Content-Type", content_type)
        with urllib.request.urlopen(req, context=self.ctx, timeout=30) as r:
            return json.loads(r.read() or b"{}")

    def watch(self, path):
        req = urllib.request.Request(self.server + path)
        req.add_header("Authorization", "Bearer " + self.token)
        return urllib.request.urlopen(req, context=self.ctx, timeout=600)


def tripdeal(name, image):
    return {"apiVersion": "tripdeal.io/v1alpha1", "kind": "TripDeal",
            "metadata": {"name": name, "namespace": "bench"},
            "spec": {"app": {"image": image, "replicas": {"min": 1, "max": 1}}}}


def run(count, samples):
    with harness.Cluster(["--no-controllers"]) as cluster:
        cluster.install_crd()
        cluster.apply_yaml("apiVersion: v1\nkind: Namespace\nmetadata: {name: bench}\n")
        api = Api(cluster.kubeconfig)
        with harness.Operator(cluster, "--workers", "4", "--log-level", "warn") as op:
            op.wait_ready()
            t0 = time.monotonic()
            for i in range(count):
                api.request("POST", "/apis/tripdeal.io/v1alpha1/namespaces/bench/tripdeals", tripdeal(f"td-{i}", "app:0"))
            harness.wait_for("every Deployment", lambda: len(api.request(
                "GET", "/apis/apps/v1/namespaces/bench/deployments")["items"]) == count, 600, interval=0.5)
            settle = time.monotonic() - t0

            # Steady state first: the creation backlog (status writes, owned
            # objects' events) drains before latency is sampled.
            def reconciles():
                return sum(op.metric(f'tripdeal_operator_reconcile_total{{result="{r}"}}') or 0
                           for r in ("success", "error", "invalid_spec"))
            last = [None]

            def quiet():
                now = (reconciles(), op.metric("tripdeal_operator_workqueue_depth"))
                done = now == last[0] and now[1] == 0
                last[0] = now
                return done
            harness.wait_for("operator idle", quiet, 300, interval=1.0)

            # Watch Deployments; record when each image change lands.
            seen = {}
            cond = threading.Condition()
            rv = api.request("GET", "/apis/apps/v1/namespaces/bench/deployments?limit=1")["metadata"]["resourceVersion"]
            stream = api.watch(f"/apis/apps/v1/namespaces/bench/deployments?watch=1&timeoutSeconds=900&resourceVersion={rv}")

            def lines():
                # read1() returns what has arrived; iterating the response
                # would wait for a full buffer and stall the measurement.
                pending = b""
                while True:
                    try:
                        chunk = stream.read1(65536)
                    except (OSError, ValueError, http.client.HTTPException):
                        return  # the server went away at teardown
                    if not chunk:
                        return
                    pending += chunk
                    *complete, pending = pending.split(b"\n")
                    yield from (l for l in complete if l.strip())

            def reader():
                for line in lines():
                    ev = json.loads(line)
                    o = ev["object"]
                    image = o.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [{}])[0].get("image")
                    with cond:
                        seen[(o["metadata"]["name"], image)] = time.monotonic()
                        cond.notify_all()

            threading.Thread(target=reader, daemon=True).start()
            latencies = []
            for s in range(samples):
                name = f"td-{s % count}"
                image = f"app:{s + 1}"
                start = time.monotonic()
                api.request("PATCH", f"/apis/tripdeal.io/v1alpha1/namespaces/bench/tripdeals/{name}",
                            {"spec": {"app": {"image": image}}}, "application/merge-patch+json")
                with cond:
                    ok = cond.wait_for(lambda: (name, image) in seen, timeout=30)
                if not ok:
                    raise AssertionError(f"{name} never got {image}")
                latencies.append((seen[(name, image)] - start) * 1000)
            _, text = op.http(op.metrics_port, "/metrics")
            buckets = [l for l in text.splitlines()
                       if l.startswith("tripdeal_operator_reconcile_duration_seconds")]
            print(f"# {count} TripDeals, reconcile durations:", "; ".join(
                l.split("_seconds")[1] for l in buckets), file=sys.stderr, flush=True)
            rss = rss_kib(op.process.proc.pid)
            anon = rss_kib(op.process.proc.pid, "RssAnon")
            floor = rss_floor(api)
    latencies.sort()
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]
    return {"tripdeals": count, "samples": samples, "settle_s": round(settle, 2),
            "p50_ms": round(p(0.50), 2), "p99_ms": round(p(0.99), 2),
            "mean_ms": round(statistics.mean(latencies), 2), "rss_mib": round(rss / 1024, 1),
            "anon_mib": round(anon / 1024, 1), "file_mib": round((rss - anon) / 1024, 1),
            "floor": floor}


RSS_FLOOR = None  # path of the built bench/rss-floor


def build_rss_floor(build_dir):
    global RSS_FLOOR
    out = os.path.join(build_dir, "bench-operator")
    os.makedirs(out, exist_ok=True)
    RSS_FLOOR = os.path.join(out, "rss-floor")
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libcurl"], check=True,
                           capture_output=True, text=True).stdout.split()
    subprocess.run(["cc", "-std=c17", "-O2", "-Wall", "-Wextra", "-o", RSS_FLOOR,
                    os.path.join(os.path.dirname(__file__), "rss-floor.c")] + flags, check=True)


def rss_floor(api):
    """VmRSS / RssAnon / RssFile (MiB) of bench/rss-floor after one GET /version."""
    p = subprocess.run([RSS_FLOOR, api.server + "/version", api.ca_file, api.token], check=True,
                       capture_output=True, text=True, timeout=30)
    kib = {k.rstrip(":"): int(v) for k, v, *_ in (l.split() for l in p.stdout.splitlines())}
    return {k: round(v / 1024, 1) for k, v in kib.items()}


def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores, {cpu}, {mem:.0f} GiB, Linux {platform.release()}"


def main():
    faulthandler.dump_traceback_later(int(os.environ.get("BENCH_TRACEBACK_AFTER", "0")) or 10**9, exit=True)
    ap = argparse.ArgumentParser()
    ap.add_argument("build_dir")
    ap.add_argument("--counts", default="1,100,1000")
    ap.add_argument("--samples", type=int, default=200)
    args = ap.parse_args()
    harness.FAKEKUBE = os.path.join(args.build_dir, "tests", "fakekube", "fakekube")
    harness.OPERATOR = os.path.join(args.build_dir, "operator", "tripdeal-operator")
    harness.SOURCE_ROOT = os.path.join(os.path.dirname(__file__), "..")
    harness.CRD = os.path.join(harness.SOURCE_ROOT, "crds", "tripdeal.io_tripdeals.yaml")
    build_rss_floor(args.build_dir)
    print("machine:", machine())
    print("| TripDeals | samples | all reconciled after | p50 | p99 | mean | operator RSS | RssAnon | RssFile |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    floors = []
    for count in [int(c) for c in args.counts.split(",")]:
        r = run(count, args.samples)
        floors.append(r["floor"])
        print(f"| {r['tripdeals']} | {r['samples']} | {r['settle_s']} s | {r['p50_ms']} ms | "
              f"{r['p99_ms']} ms | {r['mean_ms']} ms | {r['rss_mib']} MiB | {r['anon_mib']} MiB | "
              f"{r['file_mib']} MiB |", flush=True)
    f = floors[-1]
    print(f"\nbench/rss-floor (one libcurl+OpenSSL GET, same fakekube): VmRSS {f['VmRSS']} MiB, "
          f"RssAnon {f['RssAnon']} MiB, RssFile {f['RssFile']} MiB")


if __name__ == "__main__":
    main()

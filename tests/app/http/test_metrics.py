#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""/metrics passes `promtool check metrics` and its counters reflect traffic.

usage: test_metrics.py TRIPDEAL_APP sqlite|postgres
"""

import re
import resource
import shutil
import time
import os
import subprocess

import tdtest
from tdtest import App, Session, check, log

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        check(match, f"unparsable metrics line {line!r}")
        labels = dict(LABEL.findall(match.group(2) or ""))
        samples.append((match.group(1), labels, float(match.group(3))))
    return samples


def total(samples, name, **want):
    return sum(v for n, labels, v in samples if n == name and all(labels.get(k) == w for k, w in want.items()))


def series(samples, name):
    return [(labels, v) for n, labels, v in samples if n == name]


def scrape(app):
    status, headers, body = app.request("GET", "/metrics")
    check(status == 200, f"/metrics -> {status}")
    check("text/plain" in headers.get("content-type", ""), f"/metrics content-type {headers.get('content-type')}")
    return body.decode("utf-8")


def run(argv):
    if len(argv) != 2:
        raise tdtest.TestFailure(__doc__)
    binary, backend = argv
    promtool = shutil.which("promtool")
    if not promtool:
        raise tdtest.Skip("promtool not installed (Debian package prometheus)")
    app = App(binary, tdtest.database_url(backend)).start()
    deal = tdtest.find_deal(app, "open")
    upcoming = tdtest.find_deal(app, "upcoming")

    # Some traffic first, so every family has samples.
    for path in ["/", "/sales", f"/deals/{deal['id']}", "/community", "/nope"]:
        app.request("GET", path)
    # A request may be counted just after its response is sent: wait until
    # the warm-up 404 shows before taking the baseline.
    tdtest.poll(lambda: total(parse(scrape(app)), "tripdeal_http_requests_total", code="404") >= 1, 5,
                what="the warm-up 404 to be counted")
    before = parse(scrape(app))

    # Known traffic between two scrapes.
    for _ in range(7):
        check(app.request("GET", "/sales")[0] == 200, "/sales not 200")
    for _ in range(3):
        check(app.request("GET", "/no-such-page")[0] == 404, "/no-such-page not 404")
    winners = [Session(app).start() for _ in range(4)]
    for session in winners:
        check(session.claim(deal["id"])[0] == 201, "claim not 201")
    check(winners[0].claim(deal["id"])[0] == 409, "repeat claim not 409")
    check(winners[0].claim(deal["id"], csrf="bad" * 8)[0] == 403, "bad csrf not 403")
    check(winners[1].claim(upcoming["id"])[0] == 422, "upcoming claim not 422")

    def caught_up():
        samples = parse(scrape(app))
        return (total(samples, "tripdeal_http_requests_total", code="404")
                - total(before, "tripdeal_http_requests_total", code="404") >= 3
                and sum(v for _, v in series(samples, "tripdeal_claims_total"))
                - sum(v for _, v in series(before, "tripdeal_claims_total")) >= 6)
    tdtest.poll(caught_up, 5, what="counters to include the traffic")
    text = scrape(app)
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    check(result.returncode == 0, f"promtool check metrics failed:\n{result.stdout}{result.stderr}")
    log("promtool check metrics: OK")
    after = parse(text)

    for family in ["tripdeal_http_requests_total", "tripdeal_http_request_duration_seconds_bucket",
                   "tripdeal_http_request_duration_seconds_sum", "tripdeal_http_request_duration_seconds_count",
                   "tripdeal_claims_total", "tripdeal_deal_stock_left"]:
        check(series(after, family), f"/metrics has no {family}")
    check(f"# TYPE tripdeal_http_requests_total counter" in text, "requests_total not typed counter")
    check(f"# TYPE tripdeal_http_request_duration_seconds histogram" in text, "duration not typed histogram")

    # The standard process metrics (issue 10's dashboards and alerts use them), from /proc.
    process = {name: value for name, labels, value in after if name.startswith("process_")}
    for family, kind in [("process_cpu_seconds_total", "counter"), ("process_resident_memory_bytes", "gauge"),
                         ("process_virtual_memory_bytes", "gauge"), ("process_start_time_seconds", "gauge"),
                         ("process_open_fds", "gauge"), ("process_max_fds", "gauge")]:
        check(family in process, f"/metrics has no {family}")
        check(f"# TYPE {family} {kind}" in text, f"{family} not typed {kind}")
    pid = app.process.pid
    with open(f"/proc/{pid}/status") as f:
        rss_kib = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    check(0 < process["process_resident_memory_bytes"] <= 4 * rss_kib * 1024 + (64 << 20),
          f"process_resident_memory_bytes {process['process_resident_memory_bytes']} vs VmRSS {rss_kib} KiB")
    check(process["process_virtual_memory_bytes"] >= process["process_resident_memory_bytes"],
          "virtual memory below resident memory")
    started = os.stat(f"/proc/{pid}").st_mtime  # /proc/PID appears when the process starts
    check(abs(process["process_start_time_seconds"] - started) < 120 and
          process["process_start_time_seconds"] <= time.time(),
          f"process_start_time_seconds {process['process_start_time_seconds']} vs start ~{started}")
    open_now = len(os.listdir(f"/proc/{pid}/fd"))
    check(3 <= process["process_open_fds"] <= open_now + 16,
          f"process_open_fds {process['process_open_fds']}, /proc says {open_now}")
    soft_limit = resource.prlimit(pid, resource.RLIMIT_NOFILE)[0]
    check(process["process_max_fds"] == soft_limit, f"process_max_fds {process['process_max_fds']} != {soft_limit}")
    check(process["process_cpu_seconds_total"] >= 0, "negative CPU time")
    log(f"process metrics: {process}")

    # Requests by route and code: find the route label used for /sales.
    sales_routes = {labels.get("route") for labels, _ in series(after, "tripdeal_http_requests_total")
                    if "sales" in labels.get("route", "")}
    check(sales_routes, "no route label mentions sales")
    route = sorted(sales_routes, key=len)[0]
    delta = (total(after, "tripdeal_http_requests_total", route=route, code="200")
             - total(before, "tripdeal_http_requests_total", route=route, code="200"))
    check(delta == 7, f'requests_total{{route="{route}",code="200"}} grew by {delta}, want 7')
    delta_404 = (total(after, "tripdeal_http_requests_total", code="404")
                 - total(before, "tripdeal_http_requests_total", code="404"))
    check(delta_404 == 3, f"404 requests grew by {delta_404}, want 3")
    for labels, _ in series(after, "tripdeal_http_requests_total"):
        check("/no-such-page" not in labels.get("route", "") and "/deals/" + str(deal["id"]) != labels.get("route"),
              f"route label is the raw path (unbounded cardinality): {labels}")

    # Histogram: +Inf bucket equals count; count grew with the traffic.
    count_after = sum(v for _, v in series(after, "tripdeal_http_request_duration_seconds_count"))
    count_before = sum(v for _, v in series(before, "tripdeal_http_request_duration_seconds_count"))
    check(count_after - count_before >= 17, f"histogram count grew by {count_after - count_before}, want >= 17")
    inf = sum(v for labels, v in series(after, "tripdeal_http_request_duration_seconds_bucket")
              if labels.get("le") == "+Inf")
    check(inf == count_after, f"+Inf buckets {inf} != count {count_after}")

    # Claims by outcome.
    outcomes_before = {labels.get("outcome"): v for labels, v in series(before, "tripdeal_claims_total")}
    outcomes_after = {labels.get("outcome"): v for labels, v in series(after, "tripdeal_claims_total")}
    log(f"claim outcomes: {outcomes_after}")
    grew = {k: v - outcomes_before.get(k, 0) for k, v in outcomes_after.items()}
    check(4 in grew.values(), f"no claims_total outcome grew by the 4 successful claims: {grew}")
    check(sum(grew.values()) >= 6, f"claims_total grew by {sum(grew.values())}, want >= 6 (4 ok, 1 already, 1 closed)")

    # Stock left per deal matches the API.
    current = tdtest.get_deal(app, deal["id"])["stock_left"]
    gauge = total(after, "tripdeal_deal_stock_left", deal=str(deal["id"]))
    if not series([s for s in after if s[1].get("deal") == str(deal["id"])], "tripdeal_deal_stock_left"):
        gauge = total(after, "tripdeal_deal_stock_left", deal=deal["title"])
    check(gauge == current, f"tripdeal_deal_stock_left for deal {deal['id']} is {gauge}, API says {current}")


if __name__ == "__main__":
    tdtest.main(run)

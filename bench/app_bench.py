#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""tripdeal-app benchmark on loopback with wrk, nginx as the static ceiling.

Starts (each on a free 127.0.0.1 port, all torn down at the end):
  * tripdeal-app on SQLite (temp file, --seed-demo)
  * tripdeal-app on PostgreSQL (fresh database from TRIPDEAL_TEST_PG_URL)
  * nginx (temp prefix and config, worker_processes auto, access_log off)
    serving a saved copy of the app's main page
then runs wrk for /, /deals/{id} and the claim API on both backends, checks
zero oversell in the database after the claim runs, and prints a table plus
the machine.  Builds nothing: give it the build directory.

usage: app_bench.py BUILD_DIR [--duration 10] [--connections 200] [--threads 2]
"""

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "app", "http"))
import tdtest  # noqa: E402  (the test harness: app processes, ports, cleanup)

BENCH_STOCK = 100_000_000


def load_average():
    """Other work on the machine skews every number: print it with them."""
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "?"


def cpu_seconds(pid):
    """CPU time (user + system, all threads) of pid and its child processes (nginx workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                pids += [int(x) for x in f.read().split()]
    except OSError:
        pass
    for one in pids:
        try:
            with open(f"/proc/{one}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


def machine():
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[:1]
    nginx_version = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    pg = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
    return {"nproc": os.cpu_count(), "cpu": cpu, "memory": memory, "kernel": platform.release(),
            "os": _os_name(), "wrk": (wrk_version or ["?"])[0], "nginx": nginx_version, "psql": pg}


def _os_name():
    try:
        for line in open("/etc/os-release"):
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def to_ms(text):
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def best_of(args, measure, key="rps"):
    """measure() args.repeat times; keep the run with the highest `key`, and all samples."""
    runs = [measure() for _ in range(max(1, args.repeat))]
    best = max(runs, key=lambda r: r.get(key, 0))
    best["samples"] = [round(r.get(key, 0)) for r in runs]
    return best


def wrk(url, args, script=None, script_args=(), server_pid=None):
    argv = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s", "--latency",
            "--timeout", "5s"]
    if script:
        argv += ["-s", script]
    argv.append(url)
    if script_args:
        argv += ["--"] + list(script_args)
    cpu_before = cpu_seconds(server_pid) if server_pid else None
    result = subprocess.run(argv, capture_output=True, text=True, timeout=args.duration + 120)
    out = result.stdout
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed: {result.stderr}{out}")
    stats = {"raw": out}
    if server_pid:
        stats["server_cpu_seconds"] = cpu_seconds(server_pid) - cpu_before
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    stats["rps"] = float(match.group(1)) if match else float("nan")
    for pct in ("50", "99"):
        match = re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", out, re.M)
        stats[f"p{pct}"] = to_ms(match.group(1)) if match else float("nan")
    match = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    stats["non2xx"] = int(match.group(1)) if match else 0
    match = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    stats["errors"] = sum(map(int, match.groups())) if match else 0
    match = re.search(r"(\d+) requests in ([\d.]+)(\w+)", out)
    stats["requests"] = int(match.group(1)) if match else 0
    if stats.get("server_cpu_seconds"):
        # Requests per CPU-second of the server itself: less sensitive than
        # req/s to whatever else the machine runs (PostgreSQL's CPU not counted).
        stats["per_cpu_second"] = stats["requests"] / stats["server_cpu_seconds"]
    for line in out.splitlines():
        if line.startswith("CLAIMS "):
            _, key, value = line.split()
            stats[f"claims_{key}"] = int(value)
        if line.startswith("SESSIONS_SAVED "):
            stats["sessions"] = int(line.split()[1])
    return stats


# ---------------------------------------------------------------- databases
def insert_bench_deal(db_url):
    """A deal open for a day with a huge stock, so the claim run measures
    throughput, not selling out.  Returns its id."""
    now = int(time.time())
    sql = ("INSERT INTO deals (product_id, title, price, list_price, stock_total, stock_left, starts_at, ends_at) "
           f"SELECT id, 'Benchmark deal 벤치마크', 1000, 2000, {BENCH_STOCK}, {BENCH_STOCK}, {now - 60}, "
           f"{now + 86400} FROM products ORDER BY id LIMIT 1 RETURNING id")
    if db_url.startswith("sqlite:"):
        out = subprocess.run(["sqlite3", db_url[len("sqlite:"):], ".timeout 10000", sql], capture_output=True,
                             text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError(f"sqlite3: {out.stderr}")
        return int(out.stdout.strip().splitlines()[-1])
    return int(psql_retry(db_url, sql).splitlines()[-1])


def psql_retry(db_url, sql):
    """psql, retried: a shared PostgreSQL may briefly have no free connection slot."""
    for attempt in range(20):
        try:
            return tdtest.psql(db_url, sql)
        except tdtest.TestFailure as error:
            if "too many clients" not in str(error) or attempt == 19:
                raise
            time.sleep(0.5)


def oversell_check(db_url, deal_id):
    """(stock_total, stock_left, claims recorded) straight from the database."""
    sql = (f"SELECT d.stock_total, d.stock_left, (SELECT count(*) FROM claims c WHERE c.deal_id = d.id) "
           f"FROM deals d WHERE d.id = {deal_id}")
    if db_url.startswith("sqlite:"):
        out = subprocess.run(["sqlite3", db_url[len("sqlite:"):], ".timeout 10000", sql], capture_output=True,
                             text=True, timeout=60).stdout.strip().splitlines()[-1]
    else:
        out = psql_retry(db_url, sql)
    return tuple(int(x) for x in out.split("|"))


# ---------------------------------------------------------------- nginx
def start_nginx(page_bytes):
    prefix = tdtest.temp_dir("tripdeal-nginx-")
    os.chmod(prefix, 0o755)
    root = os.path.join(prefix, "html")
    os.makedirs(root)
    os.chmod(root, 0o755)
    with open(os.path.join(root, "index.html"), "wb") as f:
        f.write(page_bytes)
    os.chmod(os.path.join(root, "index.html"), 0o644)
    port = tdtest.free_port()
    conf = os.path.join(prefix, "nginx.conf")
    user = "user root;\n" if os.geteuid() == 0 else ""
    with open(conf, "w") as f:
        f.write(f"""{user}worker_processes auto;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{
            default_type "text/html; charset=utf-8";
            try_files /index.html =404;
        }}
    }}
}}
""")
    process = subprocess.Popen(["nginx", "-p", prefix, "-c", conf], stdout=subprocess.DEVNULL,
                               stderr=open(os.path.join(prefix, "stderr.log"), "wb"), start_new_session=True)

    def stop():
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
    tdtest.on_cleanup(stop)

    def up():
        if process.poll() is not None:
            raise tdtest.TestFailure("nginx exited: " + open(os.path.join(prefix, "stderr.log")).read())
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/")
        return conn.getresponse().status == 200
    tdtest.poll(up, 15, what="nginx")
    return port, process.pid


# ---------------------------------------------------------------- claims
def claim_run(app, db_url, args, work):
    deal_id = insert_bench_deal(db_url)
    session_dir = tempfile.mkdtemp(prefix=f"sessions-{app.name}-", dir=work)
    # Phase 1: sessions (one per future claim; no claim made yet).
    stats = wrk(app.base + "/api/session", args, os.path.join(HERE, "sessions.lua"), [session_dir])
    session_file = session_dir + ".tsv"
    with open(session_file, "wb") as out:
        for name in sorted(os.listdir(session_dir)):
            with open(os.path.join(session_dir, name), "rb") as f:
                shutil.copyfileobj(f, out)
    stats_session = stats
    # Phase 2: the claims.
    stats = wrk(app.base + "/", args, os.path.join(HERE, "claims.lua"),
                [session_file, str(deal_id), str(args.threads)], server_pid=app.process.pid)
    total, left, recorded = oversell_check(db_url, deal_id)
    stats["claims_per_second"] = stats.get("claims_201", 0) / args.duration
    stats["oversell"] = {"stock_total": total, "stock_left": left, "claims_recorded": recorded,
                         "ok": left >= 0 and left + recorded == total and recorded >= stats.get("claims_201", 0)}
    stats["sessions_rps"] = stats_session["rps"]
    stats["sessions"] = stats_session.get("sessions", 0)
    return stats


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("build_dir")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", help="also write the results as JSON here")
    parser.add_argument("--app-arg", action="append", default=[],
                        help="extra tripdeal-app argument (repeat), e.g. --app-arg=--threads=8")
    parser.add_argument("--only", choices=["pages", "claims"], help="run only the page or the claim runs")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run each measurement N times and keep the best (noisy shared machines)")
    args = parser.parse_args()
    binary = os.path.join(args.build_dir, "app", "tripdeal-app")
    for tool in ("wrk", "nginx", "psql", "sqlite3"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not installed")
    if not os.access(binary, os.X_OK):
        sys.exit(f"{binary} not found: build first (meson compile -C {args.build_dir})")
    pg_url = os.environ.get("TRIPDEAL_TEST_PG_URL", "postgresql://postgres@127.0.0.1:55432/postgres")
    os.environ["TRIPDEAL_TEST_PG_URL"] = pg_url

    results = {"machine": machine(), "settings": vars(args), "runs": []}
    try:
        work = tdtest.temp_dir("tripdeal-bench-")
        sqlite_url = "sqlite:" + os.path.join(work, "bench.db")
        pg_db_url = tdtest.create_pg_database(pg_url)
        apps = {"sqlite": tdtest.App(binary, sqlite_url, name="sqlite", extra_args=args.app_arg).start(),
                "postgresql": tdtest.App(binary, pg_db_url, name="postgresql", extra_args=args.app_arg,
                                            app_defaults=True).start()}
        urls = {"sqlite": sqlite_url, "postgresql": pg_db_url}
        open_deal = tdtest.find_deal(apps["sqlite"], "open")
        status, _, page = apps["sqlite"].request("GET", "/")
        assert status == 200, f"/ -> {status}"
        nginx_port, nginx_pid = start_nginx(page)

        def record(target, backend, stats):
            row = {"target": target, "backend": backend, **{k: v for k, v in stats.items() if k != "raw"}}
            results["runs"].append(row)
            print(f"  {target:<18} {backend:<11} {stats['rps']:>8.0f} req/s  p50 {stats['p50']:7.2f} ms  "
                  f"p99 {stats['p99']:7.2f} ms  {stats.get('per_cpu_second', 0):>7.0f} req/CPU-s  "
                  f"non-2xx {stats['non2xx']}  errors {stats['errors']}  load {load_average().split()[0]}"
                  + (f"  samples {stats['samples']}" if len(stats.get("samples", [])) > 1 else ""),
                  flush=True)

        print(f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s on loopback; "
              f"app args {args.app_arg}; load average {load_average()}", flush=True)
        if args.only != "claims":
            record("/ (static copy)", "nginx", best_of(args, lambda: wrk(f"http://127.0.0.1:{nginx_port}/", args,
                                                                         server_pid=nginx_pid)))
        for backend, app in (apps.items() if args.only != "claims" else []):
            deal_id = tdtest.find_deal(app, "open")["id"]
            pid = app.process.pid
            record("/", backend, best_of(args, lambda: wrk(app.base + "/", args, server_pid=pid)))
            record("/deals/{id}", backend,
                   best_of(args, lambda: wrk(app.base + f"/deals/{deal_id}", args, server_pid=pid)))
        for backend, app in (apps.items() if args.only != "pages" else []):
            stats = best_of(args, lambda: claim_run(app, urls[backend], args, work), key="claims_per_second")
            record("claim API", backend, stats)
            print(f"    claims 201={stats.get('claims_201', 0)} 409={stats.get('claims_409', 0)} "
                  f"other={stats.get('claims_other', 0)} -> {stats['claims_per_second']:.0f} claims/s; "
                  f"sessions pre-made {stats['sessions']} at {stats['sessions_rps']:.0f}/s; "
                  f"oversell check {stats['oversell']}", flush=True)
        for app in apps.values():
            if not app.alive():
                print(f"WARNING: {app.name} app died during the benchmark:\n{app.log_tail()}")
        print(f"load average at the end {load_average()}", flush=True)
    finally:
        tdtest.run_cleanups()
    results["load_average_end"] = load_average()

    # Summary against the targets.
    runs = {(r["target"], r["backend"]): r for r in results["runs"]}
    print("\nTargets:")
    for backend in ("sqlite", "postgresql"):
        if args.only != "claims":
            nginx = runs[("/ (static copy)", "nginx")]["rps"]
            home = runs[("/", backend)]
            ratio = home["rps"] / nginx * 100
            print(f"  {backend}: dynamic / = {ratio:.0f}% of nginx static (target >= 50%) "
                  f"{'OK' if ratio >= 50 else 'MISSED'}")
            nginx_cpu = runs[("/ (static copy)", "nginx")].get("per_cpu_second")
            if nginx_cpu and home.get("per_cpu_second"):
                print(f"  {backend}: per server CPU-second, dynamic / = "
                      f"{home['per_cpu_second'] / nginx_cpu * 100:.0f}% of nginx static")
            for target in ("/", "/deals/{id}"):
                p99 = runs[(target, backend)]["p99"]
                print(f"  {backend}: {target} p99 {p99:.2f} ms (target < 10 ms) {'OK' if p99 < 10 else 'MISSED'}")
        if args.only == "pages":
            continue
        claims = runs[("claim API", backend)]
        print(f"  {backend}: {claims['claims_per_second']:.0f} claims/s (target >= 5000 on postgresql), "
              f"oversell check {'OK' if claims['oversell']['ok'] else 'FAILED'}")
    m = results["machine"]
    print(f"\nMachine: {m['nproc']} CPUs, {m['cpu']}, {m['memory']} RAM, kernel {m['kernel']}, {m['os']}; "
          f"{m['wrk']}; {m['nginx']}; {m['psql']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()

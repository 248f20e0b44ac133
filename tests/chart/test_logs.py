#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""charts/tripdeal/files/fluent-bit: real log lines of each program (the app
serving requests, the operator reconciling on fakekube, fakekube itself),
wrapped as the container runtime writes them (CRI: TIME STREAM F LINE), go
through the config's own parser rules as far as can be done without Fluent
Bit: the cri_line regex (Onigmo named groups, run with Python's re), the
tripdeal_json parser (JSON object, Time_Format), the grep filter's regex on
the pod labels the chart and the operator really set; the Loki output keeps
labels low-cardinality (namespace, app, container) with request_id and level
as fields. Unchecked (no Fluent Bit or Loki here): Fluent Bit's own parsing
of the files, the tail/multiline input, the kubernetes filter's enrichment,
the modify filter, delivery to Loki and the LogQL queries of the chart README."""
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.environ["SOURCE_ROOT"]
sys.path.insert(0, os.path.join(SOURCE_ROOT, "tests", "operator", "e2e"))
from harness import SECRET_AND_NS, Cluster, Operator, free_port, log, tripdeal_yaml, wait_for  # noqa: E402

FB = os.path.join(SOURCE_ROOT, "charts", "tripdeal", "files", "fluent-bit")
failures = []


def check(cond, what):
    log(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def sections(path):
    out, current = [], None
    for raw in open(path):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"\[(\w+)\]", line)
        if m:
            current = (m.group(1).upper(), {})
            out.append(current)
            continue
        key, _, value = line.partition(" ")
        current[1][key.lower()] = value.strip()
    return out


def strftime_to_python(fmt):
    return fmt.replace("%L", "%f")


def onigmo_to_python(regex):
    return re.sub(r"\(\?<([a-zA-Z_]\w*)>", r"(?P<\1>", regex)


def app_lines(work):
    port = free_port()
    out = open(os.path.join(work, "app.log"), "w")
    p = subprocess.Popen([os.environ["APP"], "--listen", f"127.0.0.1:{port}", "--db",
                          f"sqlite:{os.path.join(work, 'app.db')}", "--log-level", "info"],
                         stdout=out, stderr=subprocess.STDOUT, cwd=work)

    def up():
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).status == 200
        except Exception:
            return p.poll() is not None
    wait_for("app up", up, 30)
    for path in ("/", "/deals", "/nope"):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5).read()
        except Exception:
            pass
    p.terminate()
    p.wait(timeout=30)
    out.close()
    return open(os.path.join(work, "app.log")).read().splitlines()


def operator_and_fakekube_lines():
    with Cluster() as cluster, Operator(cluster) as operator:
        cluster.install_crd()
        cluster.apply_yaml(SECRET_AND_NS % {"ns": "tripdeal"})
        operator.wait_ready()
        cluster.apply_yaml(tripdeal_yaml("shop", "tripdeal"))
        wait_for("reconciled", lambda: (cluster.get("tripdeal", "shop", "tripdeal") or {}).get("status", {}).get(
            "observedGeneration"), 30)
        cluster.apply_yaml(tripdeal_yaml("bad", "tripdeal", min_replicas=5, max_replicas=2))
        wait_for("InvalidSpec", lambda: (cluster.get("tripdeal", "bad", "tripdeal") or {}).get("status", {}).get(
            "phase") == "Error", 30)
        operator.stop()
        cluster.stop()
        return operator.process.lines(), cluster.server.lines()


def main():
    fb = sections(os.path.join(FB, "fluent-bit.conf"))
    parsers = {s["name"]: s for kind, s in sections(os.path.join(FB, "parsers.conf")) if kind == "PARSER"}
    inputs = [s for k, s in fb if k == "INPUT"]
    filters = [s for k, s in fb if k == "FILTER"]
    outputs = [s for k, s in fb if k == "OUTPUT"]
    check(any(s.get("name") == "tail" and s.get("multiline.parser") == "cri" for s in inputs),
          "INPUT tail with the cri multiline parser")
    kube = [s for s in filters if s.get("name") == "kubernetes"]
    check(kube and kube[0].get("merge_log") == "On" and kube[0].get("merge_parser") in parsers,
          "FILTER kubernetes merges the JSON line with a parser defined in parsers.conf")
    loki = [s for s in outputs if s.get("name") == "loki"]
    check(len(loki) == 1, "one OUTPUT loki")
    labels = {l.split("=")[0].strip() for l in loki[0].get("labels", "").split(",")} if loki else set()
    check(labels == {"namespace", "app", "container"}, f"Loki labels are namespace, app, container only: {sorted(labels)}")
    check(loki and loki[0].get("line_format") == "json" and loki[0].get("auto_kubernetes_labels") == "Off",
          "Loki line is JSON (request_id, level... stay fields), no automatic pod labels")

    # The grep filter against the labels the pods really carry.
    grep = [s for s in filters if s.get("name") == "grep"][0]
    grep_re = re.compile(onigmo_to_python(grep["regex"].split(" ", 1)[1].strip()))
    rendered = subprocess.run([os.path.join(HERE, "render-chart"), os.path.join(SOURCE_ROOT, "charts", "tripdeal")],
                              capture_output=True, text=True, check=True).stdout
    op_deploy = [d for d in yaml.safe_load_all(rendered) if d and d.get("kind") == "Deployment"][0]
    site = json.load(open(os.path.join(SOURCE_ROOT, "tests", "operator", "data", "shop.Deployment.json")))
    for who, labels_ in (("operator pods (chart)", op_deploy["spec"]["template"]["metadata"]["labels"]),
                         ("site pods (operator)", site["spec"]["template"]["metadata"]["labels"])):
        name = labels_.get("app.kubernetes.io/name", "")
        check(grep_re.search(name) is not None, f"grep keeps {who}: app.kubernetes.io/name={name}")
    check(grep_re.search("fluent-bit") is None and grep_re.search("tripdeal-db") is None,
          "grep drops other pods (fluent-bit, tripdeal-db)")

    cri = parsers["cri_line"]
    cri_re = re.compile(onigmo_to_python(cri["regex"]))
    tj = parsers[kube[0]["merge_parser"]]
    with tempfile.TemporaryDirectory(prefix="tripdeal-logs-") as work:
        sources = {"tripdeal-app": app_lines(work)}
        sources["tripdeal-operator"], sources["fakekube"] = operator_and_fakekube_lines()
    for program, lines in sources.items():
        lines = [l for l in lines if l.strip()]
        check(len(lines) > 3, f"{program}: {len(lines)} real log lines captured")
        parsed = 0
        levels, request_ids = set(), 0
        for line in lines:
            cri_line = f"2026-12-04T10:00:00.123456789+00:00 stdout F {line}"
            m = cri_re.match(cri_line)
            if not m or m.group("log") != line:
                check(False, f"{program}: cri_line parses {line[:120]!r}")
                continue
            datetime.strptime(m.group("time")[:26] + "+00:00", strftime_to_python(cri["time_format"]))
            try:
                record = json.loads(m.group("log"))
            except ValueError:
                check(False, f"{program}: line is JSON: {line[:200]!r}")
                continue
            ok = isinstance(record, dict) and all(k in record for k in (tj["time_key"], "level", "msg", "program"))
            try:
                datetime.strptime(record[tj["time_key"]], strftime_to_python(tj["time_format"]))
            except (KeyError, ValueError) as e:
                ok = False
                check(False, f"{program}: time matches {tj['time_format']}: {e}")
            if not ok:
                check(False, f"{program}: record has time, level, msg, program: {line[:200]!r}")
                continue
            parsed += 1
            levels.add(record["level"])
            request_ids += "request_id" in record
        check(parsed == len(lines), f"{program}: {parsed}/{len(lines)} lines through cri_line + {tj['name']}; levels {sorted(levels)}")
        check(levels <= {"debug", "info", "warn", "error"}, f"{program}: levels are debug/info/warn/error")
        if program == "tripdeal-app":
            check(request_ids >= 3, f"tripdeal-app: request lines carry request_id ({request_ids})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Sessions across replicas: the operator owns a Secret with a generated
session key and gives it to every pod, so a session made by one replica is
accepted by another.  Two process pods (the real tripdeal-app) on
PostgreSQL: a session from pod A claims through pod B -> 201, and the
database holds exactly that claim.  The key is made once: a reconcile never
rotates it (not even after a hand edit, which is how a user rotates it), and
it is never logged nor put in an Event.

Needs TRIPDEAL_TEST_PG_URL (scripts/test-services) and psql; skipped (77)
with a message without them."""
import base64
import json
import os
import random
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request

from harness import Cluster, Operator, log, run, wait_for

APP = os.environ.get("APP", "")
IMAGE = "registry.example.com/tripdeal/app:1.4.0"


def psql(url, sql):
    p = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", url, "-c", sql],
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError(f"psql {sql!r}: {p.stderr.strip()}")
    return p.stdout.strip()


def with_database(url, name):
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


def http(method, url, headers=None, data=None):
    req = urllib.request.Request(url, method=method, headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def claims_for(db_url, deal_id):
    rows = psql(db_url, "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = 'public' AND table_name LIKE '%claim%' AND column_name LIKE '%deal%'")
    for row in rows.splitlines():
        table, column = row.split("|")
        return int(psql(db_url, f'SELECT count(*) FROM "{table}" WHERE "{column}" = {int(deal_id)}'))
    raise AssertionError("no claims table in the database")


def scenario():
    admin_url = os.environ.get("TRIPDEAL_TEST_PG_URL")
    if not admin_url:
        print("TRIPDEAL_TEST_PG_URL is not set (eval \"$(scripts/test-services start)\"): skipping")
        sys.exit(77)
    if not shutil.which("psql") or not APP:
        print("psql or the APP binary is missing: skipping")
        sys.exit(77)
    database = f"tripdeal_op_sessions_{os.getpid()}_{random.randrange(1 << 30)}"
    psql(admin_url, f'CREATE DATABASE "{database}"')
    try:
        sessions_across_replicas(with_database(admin_url, database))
    finally:
        psql(admin_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def sessions_across_replicas(db_url):
    with Cluster(extra_args=["--pods", "process", "--pod-command", f"{IMAGE}={APP}"]) as cluster, \
            Operator(cluster) as operator:
        cluster.install_crd()
        cluster.apply_yaml(f"""
apiVersion: v1
kind: Namespace
metadata: {{name: tripdeal}}
---
apiVersion: v1
kind: Secret
metadata: {{name: tripdeal-db, namespace: tripdeal}}
stringData: {{url: "{db_url}"}}
---
apiVersion: tripdeal.io/v1alpha1
kind: TripDeal
metadata: {{name: shop, namespace: tripdeal}}
spec:
  app:
    image: {IMAGE}
    replicas: {{min: 2, max: 2}}
    seedDemo: true
    database: {{secretRef: {{name: tripdeal-db, key: url}}}}
""")
        operator.wait_ready()

        secret = wait_for("session Secret", lambda: cluster.get("secret", "shop-session", "tripdeal"), 10)
        refs = secret["metadata"].get("ownerReferences", [])
        assert refs and refs[0]["kind"] == "TripDeal" and refs[0]["controller"], refs
        key = base64.b64decode(secret["data"]["secret"]).decode()
        assert len(key) >= 32, "session key too short"

        def ready_pod_ips():
            pods = json.loads(cluster.kubectl("get", "pods", "-n", "tripdeal", "-l",
                                              "app.kubernetes.io/instance=shop", "-o", "json").stdout)["items"]
            ips = [p["status"].get("podIP") for p in pods
                   if not p["metadata"].get("deletionTimestamp") and
                   any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))]
            return ips if len(ips) == 2 and all(ips) else None

        pod_a, pod_b = wait_for("two ready pods", ready_pod_ips, 60, interval=0.2)
        log("pods", pod_a, pod_b)
        assert pod_a != pod_b

        # A session made by pod A...
        status, headers, body = http("GET", f"http://{pod_a}:8080/api/session")
        assert status == 200, (status, body)
        cookie = headers.get("Set-Cookie", "").split(";")[0]
        assert cookie.startswith("td_session="), headers
        csrf = json.loads(body)["csrf"]
        status, _, body = http("GET", f"http://{pod_a}:8080/api/deals")
        deal = next(d for d in json.loads(body) if d["state"] == "open")
        before = claims_for(db_url, deal["id"])

        # ...claims through pod B.
        status, _, body = http("POST", f"http://{pod_b}:8080/api/deals/{deal['id']}/claims",
                               headers={"Cookie": cookie, "X-CSRF-Token": csrf}, data=b"")
        log("claim through pod B:", status, body[:200])
        assert status == 201, (status, body)
        assert claims_for(db_url, deal["id"]) == before + 1

        # A reconcile never rotates the key: neither after a spec change nor
        # after a hand edit (the user's own rotation is kept).
        hand_key = "hand-rotated-" + "%040x" % random.randrange(1 << 160)
        cluster.kubectl("patch", "secret", "shop-session", "-n", "tripdeal", "--type=merge",
                        "-p", json.dumps({"stringData": {"secret": hand_key}}))
        cluster.kubectl("patch", "tripdeal", "shop", "-n", "tripdeal", "--type=merge",
                        "-p", json.dumps({"spec": {"app": {"logLevel": "debug"}}}))
        generation = cluster.get("tripdeal", "shop", "tripdeal")["metadata"]["generation"]
        wait_for("the spec change reconciled",
                 lambda: cluster.get("tripdeal", "shop", "tripdeal")["status"].get("observedGeneration") == generation,
                 10)
        secret = cluster.get("secret", "shop-session", "tripdeal")
        assert base64.b64decode(secret["data"]["secret"]).decode() == hand_key, "the key was rotated"

        # Never logged, never in an Event.
        events = cluster.kubectl("get", "events", "-n", "tripdeal", "-o", "json").stdout
        for text, where in ((events, "Events"), ("\n".join(operator.process.lines()), "the operator's log")):
            assert key not in text and hand_key not in text, f"the session key is in {where}"


if __name__ == "__main__":
    run(scenario)

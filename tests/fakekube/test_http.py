#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""fakekube over raw HTTP (stdlib http.client + ssl with the generated CA).

Usage: test_http.py PATH/TO/fakekube
"""
import base64
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Fakekube, expect, run_tests_then_stop, wait_for  # noqa: E402

EXE = sys.argv[1]
FK = None  # the shared instance (no controllers: the tests own every object)

NS = "/api/v1/namespaces/default"


def cm(name, **meta):
    m = {"name": name}
    m.update(meta)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": m, "data": {"k": "v"}}


def deployment(name, replicas=1, image="nginx:1.25"):
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app", "image": image,
                                                       "env": [{"name": "A", "value": "1"}]}]}}},
    }


def rv(obj):
    return int(obj["metadata"]["resourceVersion"])


def test_cli_flags():
    p = subprocess.run([EXE, "--bogus"], capture_output=True, text=True, timeout=10)
    expect(p.returncode == 2, "bad flag exit code %d" % p.returncode)
    expect(len(p.stderr.strip().splitlines()) == 1, "one-line error: %r" % p.stderr)
    p = subprocess.run([EXE, "--listen", "127.0.0.1:0"], capture_output=True, text=True, timeout=10)
    expect(p.returncode == 2 and "kubeconfig-out" in p.stderr, p.stderr)
    p = subprocess.run([EXE, "--listen", "x", "--kubeconfig-out", "/tmp/x", "--pods", "vm"],
                       capture_output=True, text=True, timeout=10)
    expect(p.returncode == 2, p.stderr)
    p = subprocess.run([EXE, "--help"], capture_output=True, text=True, timeout=10)
    expect(p.returncode == 0 and "--watch-window" in p.stdout)


def test_auth():
    code, body, _ = FK.get("/api/v1/namespaces", token=None)
    expect(code == 401 and body["kind"] == "Status" and body["reason"] == "Unauthorized", body)
    code, body, _ = FK.get("/api/v1/namespaces", token="nope")
    expect(code == 401 and body["code"] == 401, body)
    code, body, _ = FK.get("/version", token=None)
    expect(code == 200 and body["major"] == "1", body)
    code, body, _ = FK.get("/api/v1/namespaces")
    expect(code == 200 and {"default", "kube-system"} <= {i["metadata"]["name"] for i in body["items"]})


def test_service_account_tokens():
    """TokenRequest issues a token per ServiceAccount that the API accepts as a Bearer token;
    it stops working when the account (or the pod it is bound to) goes. No RBAC: any valid
    token may do anything."""
    sa_path = NS + "/serviceaccounts"
    code, sa, _ = FK.post(sa_path, {"apiVersion": "v1", "kind": "ServiceAccount",
                                    "metadata": {"name": "robot"}})
    expect(code == 201, sa)
    code, tr, _ = FK.post(sa_path + "/robot/token", {"apiVersion": "authentication.k8s.io/v1",
                                                     "kind": "TokenRequest", "spec": {}})
    expect(code == 201 and tr["kind"] == "TokenRequest" and tr["status"]["token"]
           and tr["status"]["expirationTimestamp"]
           and tr["spec"]["audiences"] == ["https://kubernetes.default.svc.cluster.local"], tr)
    token = tr["status"]["token"]
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    expect(claims["sub"] == "system:serviceaccount:default:robot"
           and claims["kubernetes.io"]["serviceaccount"]["uid"] == sa["metadata"]["uid"], claims)
    code, body, _ = FK.get(NS + "/configmaps", token=token)
    expect(code == 200 and body["kind"] == "ConfigMapList", (code, body))
    # Tampered or foreign tokens: 401.
    head, payload, sig = token.split(".")
    forged = dict(claims, sub="system:serviceaccount:default:admin")
    forged_payload = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
    for bad in (token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
                head + "." + forged_payload + "." + sig, "a.b.c", token + "x"):
        code, body, _ = FK.get(NS + "/configmaps", token=bad)
        expect(code == 401 and body["reason"] == "Unauthorized", (bad, code, body))
    # Another audience is not the API's.
    code, other, _ = FK.post(sa_path + "/robot/token", {"spec": {"audiences": ["vault"]}})
    expect(code == 201, other)
    expect(FK.get(NS + "/configmaps", token=other["status"]["token"])[0] == 401)
    # Too short, missing account, wrong method.
    code, body, _ = FK.post(sa_path + "/robot/token", {"spec": {"expirationSeconds": 60}})
    expect(code == 422 and body["details"]["causes"][0]["field"] == "spec.expirationSeconds", body)
    code, body, _ = FK.post(sa_path + "/nobody/token", {"spec": {}})
    expect(code == 404, body)
    expect(FK.get(sa_path + "/robot/token")[0] == 405)
    # Bound to a pod: invalid once the pod is gone.
    code, p, _ = FK.post(NS + "/pods", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "tok"},
                                        "spec": {"containers": [{"name": "c", "image": "x"}]}})
    expect(code == 201, p)
    code, bound, _ = FK.post(sa_path + "/robot/token", {"spec": {"boundObjectRef": {
        "kind": "Pod", "apiVersion": "v1", "name": "tok", "uid": p["metadata"]["uid"]}}})
    expect(code == 201, bound)
    expect(FK.get(NS + "/pods/tok", token=bound["status"]["token"])[0] == 200)
    FK.delete(NS + "/pods/tok?gracePeriodSeconds=0")
    expect(FK.get(NS + "/configmaps", token=bound["status"]["token"])[0] == 401, "pod-bound token after the pod")
    # The account deleted: its tokens stop working; recreated (new uid): still refused.
    FK.delete(sa_path + "/robot")
    expect(FK.get(NS + "/configmaps", token=token)[0] == 401)
    FK.post(sa_path, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot"}})
    expect(FK.get(NS + "/configmaps", token=token)[0] == 401, "a token of the old robot")
    FK.delete(sa_path + "/robot")
    # Discovery names the subresource as kube-apiserver does.
    _, v1, _ = FK.get("/api/v1")
    sub = [r for r in v1["resources"] if r["name"] == "serviceaccounts/token"]
    expect(sub and sub[0]["kind"] == "TokenRequest" and sub[0]["group"] == "authentication.k8s.io", sub)


DNS1035 = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
           "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
           "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")
DNS1123_LABEL = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
                 "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
                 "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
DNS1123_SUBDOMAIN = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
                     "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
                     "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*"
                     "[a-z0-9])?)*')")


def test_object_names():
    """Each kind's own name rule, refused with kube-apiserver's 422 and words."""
    def create(path, kind, name, api="v1", extra=None):
        obj = {"apiVersion": api, "kind": kind, "metadata": {"name": name}}
        obj.update(extra or {})
        return FK.post(path, obj)

    svc_spec = {"spec": {"ports": [{"port": 80}]}}
    cases = [
        # (path, kind, api, name, extra, expected messages or None when valid)
        (NS + "/services", "Service", "v1", "1shop.v2", svc_spec, [DNS1035]),
        (NS + "/services", "Service", "v1", "shop.v2", svc_spec, [DNS1035]),
        (NS + "/services", "Service", "v1", "s" * 64, svc_spec, ["must be no more than 63 characters"]),
        (NS + "/services", "Service", "v1", "shop-v2", svc_spec, None),
        ("/api/v1/namespaces", "Namespace", "v1", "shop.v2", None, [DNS1123_LABEL]),
        ("/api/v1/namespaces", "Namespace", "v1", "1shop", None, None),
        (NS + "/configmaps", "ConfigMap", "v1", "1shop.v2", None, None),
        (NS + "/configmaps", "ConfigMap", "v1", "a..b", None, [DNS1123_SUBDOMAIN]),
        (NS + "/configmaps", "ConfigMap", "v1", "Bad_Name", None, [DNS1123_SUBDOMAIN]),
        (NS + "/configmaps", "ConfigMap", "v1", "c" * 254, None,
         ["must be no more than 253 characters"]),
        ("/apis/rbac.authorization.k8s.io/v1/clusterroles", "ClusterRole", "rbac.authorization.k8s.io/v1",
         "system:Odd_Name", None, None),
        ("/apis/rbac.authorization.k8s.io/v1/clusterroles", "ClusterRole", "rbac.authorization.k8s.io/v1",
         "50%", None, ["may not contain '%'"]),
        ("/apis/batch/v1/namespaces/default/cronjobs", "CronJob", "batch/v1", "j" * 53,
         {"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {
             "restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}}}}}},
         ["must be no more than 52 characters"]),
    ]
    # A name in the request path must be a valid path segment: 400 as genericregistry answers.
    code, body, _ = FK.get(NS + "/configmaps/50%25")
    expect(code == 400 and body["message"] == 'Name parameter invalid: "50%": may not contain \'%\'', body)
    code, body, _ = FK.get(NS + "/configmaps/..")
    expect(code in (400, 404), (code, body))  # clients normalise "..": never a listing
    for path, kind, api, name, extra, want in cases:
        code, body, _ = create(path, kind, name, api, extra)
        if want is None:
            expect(code == 201, (kind, name, code, body))
            continue
        expect(code == 422 and body["reason"] == "Invalid", (kind, name, code, body))
        causes = body["details"]["causes"]
        expect([c["field"] for c in causes] == ["metadata.name"] * len(want), causes)
        expect([c["message"] for c in causes] == ['Invalid value: "%s": %s' % (name, w) for w in want],
               (causes, want))
        if len(want) == 1:
            expect(body["message"] == '%s%s "%s" is invalid: metadata.name: Invalid value: "%s": %s' % (
                kind, "." + api.split("/")[0] if "/" in api else "", name, name, want[0]), body["message"])


def test_plain_http():
    fk = Fakekube(EXE, "--no-controllers", "--plain-http")
    try:
        expect(fk.url.startswith("http://") and "certificate-authority-data" not in open(fk.kubeconfig).read())
        expect(fk.get("/api/v1/namespaces")[0] == 200)
        expect(fk.get("/api/v1/namespaces", token=None)[0] == 200, "kubectl sends no token over HTTP")
        expect(fk.get("/api/v1/namespaces", token="wrong")[0] == 401)
    finally:
        expect(fk.stop() == 0)


def test_discovery():
    code, body, _ = FK.get("/api")
    expect(code == 200 and body["versions"] == ["v1"])
    code, body, _ = FK.get("/apis")
    groups = {g["name"] for g in body["groups"]}
    expect({"apps", "autoscaling", "policy", "coordination.k8s.io", "networking.k8s.io",
            "events.k8s.io", "apiextensions.k8s.io"} <= groups, groups)
    code, body, _ = FK.get("/apis/apps/v1")
    names = {r["name"]: r for r in body["resources"]}
    expect("deployments/scale" in names and "deployments/status" in names)
    expect(names["deployments"]["shortNames"] == ["deploy"] and "watch" in names["deployments"]["verbs"])
    code, body, _ = FK.get("/api/v1")
    names = {r["name"] for r in body["resources"]}
    expect({"pods/eviction", "pods/status", "namespaces", "nodes", "events"} <= names, names)
    code, body, _ = FK.get("/apis/nope.example/v1")
    expect(code == 404 and body["reason"] == "NotFound")
    code, body, _ = FK.get("/openapi/v3")
    expect(code == 200 and "apis/apps/v1" in body["paths"])
    code, _, resp = FK.get("/openapi/v2")
    expect(code == 200)


def test_create_get_conflict():
    code, created, _ = FK.post(NS + "/configmaps", cm("c1"))
    expect(code == 201, created)
    meta = created["metadata"]
    expect(meta["uid"] and meta["creationTimestamp"] and meta["resourceVersion"])
    code, body, _ = FK.post(NS + "/configmaps", cm("c1"))
    expect(code == 409 and body["reason"] == "AlreadyExists", body)
    code, body, _ = FK.get(NS + "/configmaps/missing")
    expect(code == 404 and body["reason"] == "NotFound" and body["details"]["name"] == "missing", body)
    upd = dict(created)
    upd["data"] = {"k": "v2"}
    code, updated, _ = FK.put(NS + "/configmaps/c1", upd)
    expect(code == 200 and rv(updated) > rv(created), updated)
    # The same (now stale) resourceVersion again: 409 Conflict.
    upd["data"] = {"k": "v3"}
    code, body, _ = FK.put(NS + "/configmaps/c1", upd)
    expect(code == 409 and body["reason"] == "Conflict" and body["code"] == 409, body)
    code, got, _ = FK.get(NS + "/configmaps/c1")
    expect(got["data"]["k"] == "v2" and got["metadata"]["uid"] == meta["uid"])


def test_generation():
    code, d, _ = FK.post("/apis/apps/v1/namespaces/default/deployments", deployment("gen"))
    expect(code == 201 and d["metadata"]["generation"] == 1, d)
    expect("status" not in d or not d["status"].get("replicas"), d)
    path = "/apis/apps/v1/namespaces/default/deployments/gen"
    code, d2, _ = FK.patch(path, {"metadata": {"labels": {"x": "y"}}})
    expect(code == 200 and d2["metadata"]["generation"] == 1, d2)
    code, d3, _ = FK.patch(path, {"spec": {"replicas": 3}})
    expect(d3["metadata"]["generation"] == 2, d3)
    code, d4, _ = FK.patch(path + "/status", {"status": {"replicas": 3, "observedGeneration": 2}})
    expect(code == 200 and d4["metadata"]["generation"] == 2 and d4["status"]["replicas"] == 3, d4)
    # The main endpoint ignores status; /status ignores spec.
    code, d5, _ = FK.patch(path, {"status": {"replicas": 9}})
    expect(d5["status"]["replicas"] == 3, d5)
    code, d6, _ = FK.patch(path + "/status", {"spec": {"replicas": 7}, "status": {"replicas": 4}})
    expect(d6["spec"]["replicas"] == 3 and d6["status"]["replicas"] == 4, d6)
    code, scale, _ = FK.get(path + "/scale")
    expect(code == 200 and scale["kind"] == "Scale" and scale["spec"]["replicas"] == 3, scale)
    expect(scale["status"]["selector"] == "app=gen", scale)
    scale["spec"]["replicas"] = 5
    code, scale2, _ = FK.put(path + "/scale", scale)
    expect(code == 200 and scale2["spec"]["replicas"] == 5, scale2)
    code, d7, _ = FK.get(path)
    expect(d7["spec"]["replicas"] == 5 and d7["metadata"]["generation"] == 3, d7)


def test_schema_validation():
    bad = deployment("bad")
    bad["spec"]["bogus"] = 1
    code, body, _ = FK.post("/apis/apps/v1/namespaces/default/deployments", bad)
    expect(code == 422 and body["reason"] == "Invalid", body)
    expect(any(c["field"] == "spec.bogus" for c in body["details"]["causes"]), body)
    bad = deployment("bad")
    bad["spec"]["replicas"] = "three"
    code, body, _ = FK.post("/apis/apps/v1/namespaces/default/deployments", bad)
    expect(code == 422 and body["details"]["causes"][0]["field"] == "spec.replicas", body)
    bad = deployment("bad")
    del bad["spec"]["selector"]
    code, body, _ = FK.post("/apis/apps/v1/namespaces/default/deployments", bad)
    expect(code == 422 and any(c["field"] == "spec.selector" and c["reason"] == "FieldValueRequired"
                               for c in body["details"]["causes"]), body)
    bad = deployment("bad")
    bad["spec"]["template"]["spec"]["containers"][0]["imagee"] = "x"
    code, body, _ = FK.post("/apis/apps/v1/namespaces/default/deployments", bad)
    expect(code == 422 and "spec.template.spec.containers[0].imagee" in body["message"], body)
    # Warn: accepted, the unknown field dropped, a Warning header returned.
    warn = cm("warned")
    warn["bogus"] = True
    code, body, resp = FK.post(NS + "/configmaps?fieldValidation=Warn", warn)
    expect(code == 201 and "bogus" not in body, body)
    expect("unknown field" in (resp.getheader("Warning") or ""), resp.getheaders())
    ignore = cm("ignored")
    ignore["bogus"] = True
    code, body, resp = FK.post(NS + "/configmaps?fieldValidation=Ignore", ignore)
    expect(code == 201 and "bogus" not in body and not resp.getheader("Warning"))
    # Quantities may be numbers, int-or-string both.
    ok = deployment("quantities")
    ok["spec"]["template"]["spec"]["containers"][0]["resources"] = {"requests": {"cpu": 1, "memory": "64Mi"}}
    ok["spec"]["strategy"] = {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": "0%"}}
    code, body, _ = FK.post("/apis/apps/v1/namespaces/default/deployments", ok)
    expect(code == 201, body)


def test_dry_run_and_generate_name():
    code, body, _ = FK.post(NS + "/configmaps?dryRun=All", cm("dry"))
    expect(code == 201 and body["metadata"]["name"] == "dry")
    code, _, _ = FK.get(NS + "/configmaps/dry")
    expect(code == 404)
    obj = cm("")
    obj["metadata"] = {"generateName": "gen-"}
    code, body, _ = FK.post(NS + "/configmaps", obj)
    name = body["metadata"]["name"]
    expect(code == 201 and name.startswith("gen-") and len(name) == 9, body)
    code, body, _ = FK.post(NS + "/configmaps", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}})
    expect(code == 422 and body["details"]["causes"][0]["field"] == "metadata.name", body)
    code, body, _ = FK.post(NS + "/configmaps", cm("Bad_Name"))
    expect(code == 422, body)
    code, body, _ = FK.post("/api/v1/namespaces/nowhere/configmaps", cm("x"))
    expect(code == 404 and body["details"]["kind"] == "namespaces", body)
    code, body, _ = FK.request("PATCH", NS + "/configmaps/c1", "{}", content_type="text/plain")
    expect(code == 415, body)


def test_list_selectors_and_paging():
    for i in range(7):
        labels = {"tier": "web" if i % 2 else "db", "idx": str(i)}
        if i < 3:
            labels["canary"] = "yes"
        code, _, _ = FK.post(NS + "/configmaps", cm("sel-%d" % i, labels=labels))
        expect(code == 201)

    def names(query):
        code, body, _ = FK.get(NS + "/configmaps?" + query)
        expect(code == 200, body)
        return sorted(i["metadata"]["name"] for i in body["items"])

    expect(names("labelSelector=tier%3Dweb") == ["sel-1", "sel-3", "sel-5"])
    expect(names("labelSelector=tier%3D%3Dweb,canary") == ["sel-1"])
    expect(names("labelSelector=tier!%3Dweb,idx") == ["sel-0", "sel-2", "sel-4", "sel-6"])
    expect(names("labelSelector=idx+in+(1,2,9)") == ["sel-1", "sel-2"])
    expect(names("labelSelector=idx%20notin%20(0,1,2,3,4),tier") == ["sel-5", "sel-6"])
    expect(names("labelSelector=!canary,idx") == ["sel-3", "sel-4", "sel-5", "sel-6"])
    expect(names("fieldSelector=metadata.name%3Dsel-4") == ["sel-4"])
    expect("sel-4" not in names("fieldSelector=metadata.name!%3Dsel-4"))
    code, body, _ = FK.get(NS + "/configmaps?labelSelector=a+in+(")
    expect(code == 400 and body["reason"] == "BadRequest", body)
    # Paging: limit + continue visit every object exactly once.
    import urllib.parse
    seen, token, pages = [], None, 0
    while pages < 20:
        q = "labelSelector=idx&limit=3" + ("&continue=" + urllib.parse.quote(token, safe="") if token else "")
        code, body, _ = FK.get(NS + "/configmaps?" + q)
        expect(code == 200, body)
        seen += [i["metadata"]["name"] for i in body["items"]]
        pages += 1
        token = body["metadata"].get("continue")
        if not token:
            break
    expect(sorted(seen) == ["sel-%d" % i for i in range(7)] and pages == 3, (seen, pages))
    # Cluster-wide list and pods by spec.nodeName.
    for n, node in (("p-a", "node-a"), ("p-b", "node-b")):
        FK.post(NS + "/pods", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": n},
                               "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i"}]}})
    code, body, _ = FK.get("/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-b")
    expect([i["metadata"]["name"] for i in body["items"]] == ["p-b"], body)


def test_patches():
    path = "/apis/apps/v1/namespaces/default/deployments/patchme"
    FK.post("/apis/apps/v1/namespaces/default/deployments", deployment("patchme"))
    # Strategic merge: containers merge by name, env by name.
    smp = {"spec": {"template": {"spec": {"containers": [
        {"name": "sidecar", "image": "busybox"},
        {"name": "app", "env": [{"name": "B", "value": "2"}]}]}}}}
    code, d, _ = FK.patch(path, smp, content_type="application/strategic-merge-patch+json")
    expect(code == 200, d)
    cs = {c["name"]: c for c in d["spec"]["template"]["spec"]["containers"]}
    expect(set(cs) == {"app", "sidecar"} and cs["app"]["image"] == "nginx:1.25", cs)
    expect([e["name"] for e in cs["app"]["env"]] == ["A", "B"], cs["app"])
    # $patch: delete removes a list element.
    code, d, _ = FK.patch(path, {"spec": {"template": {"spec": {"containers": [
        {"name": "sidecar", "$patch": "delete"}]}}}}, content_type="application/strategic-merge-patch+json")
    expect([c["name"] for c in d["spec"]["template"]["spec"]["containers"]] == ["app"], d)
    # Merge patch replaces lists.
    code, d, _ = FK.patch(path, {"spec": {"template": {"spec": {"containers": [
        {"name": "only", "image": "x:1"}]}}}})
    expect([c["name"] for c in d["spec"]["template"]["spec"]["containers"]] == ["only"], d)
    # JSON patch, including a failing test op (422).
    code, d, _ = FK.patch(path, [{"op": "replace", "path": "/spec/replicas", "value": 4},
                                 {"op": "add", "path": "/metadata/labels", "value": {"a": "b"}}],
                          content_type="application/json-patch+json")
    expect(code == 200 and d["spec"]["replicas"] == 4 and d["metadata"]["labels"] == {"a": "b"}, d)
    code, body, _ = FK.patch(path, [{"op": "test", "path": "/spec/replicas", "value": 9}],
                             content_type="application/json-patch+json")
    expect(code == 422, body)
    # A patch that breaks the schema is refused.
    code, body, _ = FK.patch(path, {"spec": {"replicas": "many"}})
    expect(code == 422, body)
    # Apply patch creates, then merges.
    apply_path = NS + "/configmaps/applied?fieldManager=test"
    code, body, _ = FK.patch(apply_path, {"apiVersion": "v1", "kind": "ConfigMap",
                                          "metadata": {"name": "applied"}, "data": {"a": "1"}},
                             content_type="application/apply-patch+yaml")
    expect(code == 201, body)
    code, body, _ = FK.patch(apply_path, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  b: '2'\n",
                             content_type="application/apply-patch+yaml")
    expect(code == 200 and body["data"] == {"a": "1", "b": "2"}, body)
    # A resourceVersion inside a merge patch is a precondition.
    code, body, _ = FK.patch(path, {"metadata": {"resourceVersion": "1"}, "spec": {"replicas": 1}})
    expect(code == 409, body)


def collect(stream, n, deadline_s=10):
    events = []
    deadline = time.monotonic() + deadline_s
    while len(events) < n and time.monotonic() < deadline:
        ev = stream.next()
        if ev is None:
            break
        if ev["type"] != "BOOKMARK":
            events.append(ev)
    return events


def test_watch_resume():
    code, body, _ = FK.get(NS + "/configmaps")
    start = body["metadata"]["resourceVersion"]
    w = FK.watch(NS + "/configmaps?watch=1&resourceVersion=%s&labelSelector=w%%3D1" % start)
    expect(w.status == 200)
    FK.post(NS + "/configmaps", cm("w-a", labels={"w": "1"}))
    FK.post(NS + "/configmaps", cm("w-other"))  # filtered out
    FK.patch(NS + "/configmaps/w-a", {"data": {"k": "2"}})
    FK.post(NS + "/configmaps", cm("w-b", labels={"w": "1"}))
    FK.delete(NS + "/configmaps/w-a")
    events = collect(w, 4)
    w.close()
    got = [(e["type"], e["object"]["metadata"]["name"]) for e in events]
    expect(got == [("ADDED", "w-a"), ("MODIFIED", "w-a"), ("ADDED", "w-b"), ("DELETED", "w-a")], got)
    rvs = [rv(e["object"]) for e in events]
    expect(rvs == sorted(rvs) and len(set(rvs)) == 4, rvs)
    # Resume after the second event: exactly the last two, no loss, no duplicate.
    w = FK.watch(NS + "/configmaps?watch=true&resourceVersion=%d&labelSelector=w%%3D1" % rvs[1])
    again = collect(w, 2)
    more = None
    w.close()
    expect([(e["type"], e["object"]["metadata"]["name"]) for e in again] == got[2:], again)
    # Without a resourceVersion: synthetic ADDED for what exists.
    w = FK.watch(NS + "/configmaps?watch=1&labelSelector=w%3D1&timeoutSeconds=1")
    initial = collect(w, 5, deadline_s=5)
    w.close()
    expect([(e["type"], e["object"]["metadata"]["name"]) for e in initial] == [("ADDED", "w-b")], initial)
    # timeoutSeconds ends the stream.
    w = FK.watch(NS + "/configmaps?watch=1&resourceVersion=%d&timeoutSeconds=1" % rvs[-1])
    t0 = time.monotonic()
    while w.next() is not None:
        pass
    expect(time.monotonic() - t0 < 5, "timeoutSeconds=1 ended after %.1fs" % (time.monotonic() - t0))
    w.close()
    del more
    # Selector transitions: leaving the selector is DELETED, entering it ADDED.
    code, body, _ = FK.get(NS + "/configmaps")
    w = FK.watch(NS + "/configmaps?watch=1&labelSelector=w%%3D1&resourceVersion=%s" % body["metadata"]["resourceVersion"])
    FK.patch(NS + "/configmaps/w-b", {"metadata": {"labels": {"w": "2"}}})
    FK.post(NS + "/configmaps", cm("w-c", labels={"w": "2"}))
    FK.patch(NS + "/configmaps/w-c", {"metadata": {"labels": {"w": "1"}}})
    events = collect(w, 2)
    w.close()
    got = [(e["type"], e["object"]["metadata"]["name"]) for e in events]
    expect(got == [("DELETED", "w-b"), ("ADDED", "w-c")], got)


def test_boolean_query_parameters():
    """kube-apiserver reads watch=, allowWatchBookmarks=, ... with apimachinery's
    Convert_Slice_string_To_bool: "0" and "false" (any case) are false, everything
    else true. The Python client sends watch=True."""
    code, body, _ = FK.get(NS + "/configmaps")
    start = body["metadata"]["resourceVersion"]
    for value in ("True", "TRUE", "t", "1", "yes"):
        w = FK.watch(NS + "/configmaps?watch=%s&resourceVersion=%s&timeoutSeconds=1" % (value, start))
        expect(w.status == 200, (value, w.status))
        first = w.resp.readline()
        w.close()
        expect(first == b"" or b'"type"' in first, "watch=%s answered a list: %r" % (value, first[:200]))
    for value in ("0", "false", "False", "FALSE"):
        code, body, _ = FK.get(NS + "/configmaps?watch=%s" % value)
        expect(code == 200 and body.get("kind") == "ConfigMapList", (value, code, body))
    # A watch that actually sees an event, opened the way the Python client opens it.
    w = FK.watch(NS + "/configmaps?watch=True&resourceVersion=%s" % start)
    FK.post(NS + "/configmaps", cm("bool-watch"))
    events = collect(w, 1)
    w.close()
    expect([(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "bool-watch")],
           events)
    FK.delete(NS + "/configmaps/bool-watch")


def test_watch_gone_and_bookmarks():
    fk = Fakekube(EXE, "--no-controllers", "--watch-window", "5", "--bookmark-interval", "300ms")
    try:
        code, body, _ = fk.get(NS + "/configmaps")
        old = body["metadata"]["resourceVersion"]
        for i in range(3):
            fk.post(NS + "/configmaps", cm("page-%d" % i))
        code, page, _ = fk.get(NS + "/configmaps?limit=1")
        token = page["metadata"]["continue"]
        for i in range(12):
            fk.post(NS + "/configmaps", cm("g-%d" % i))
        w = fk.watch(NS + "/configmaps?watch=1&resourceVersion=%s" % old)
        ev = w.next()
        w.close()
        expect(ev["type"] == "ERROR" and ev["object"]["code"] == 410 and ev["object"]["reason"] in ("Expired", "Gone"), ev)
        import urllib.parse
        code, body, _ = fk.get(NS + "/configmaps?limit=1&continue=" + urllib.parse.quote(token, safe=""))
        expect(code == 410 and body["reason"] == "Expired", body)
        # Bookmarks arrive on an idle watch that allows them, with the current resourceVersion.
        code, body, _ = fk.get(NS + "/configmaps")
        now = body["metadata"]["resourceVersion"]
        w = fk.watch(NS + "/configmaps?watch=1&allowWatchBookmarks=true&resourceVersion=%s" % now)
        ev = w.next()
        w.close()
        expect(ev["type"] == "BOOKMARK" and ev["object"]["metadata"]["resourceVersion"] == now, ev)
        w = fk.watch(NS + "/configmaps?watch=1&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan")
        events = []
        while True:
            ev = w.next()
            events.append(ev)
            if ev is None or ev["type"] == "BOOKMARK":
                break
        w.close()
        expect(events[-1]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"] == "true", events[-1])
        expect(len(events) == 16, len(events))
    finally:
        fk.stop()


def test_finalizers():
    FK.post(NS + "/configmaps", cm("fin", finalizers=["example.com/hold"]))
    code, body, _ = FK.delete(NS + "/configmaps/fin")
    expect(code == 200 and body["metadata"].get("deletionTimestamp"), body)
    code, body, _ = FK.get(NS + "/configmaps/fin")
    expect(code == 200 and body["metadata"]["finalizers"] == ["example.com/hold"])
    code, body, _ = FK.patch(NS + "/configmaps/fin", {"metadata": {"finalizers": None}})
    expect(code == 200, body)
    wait_for("finalized object to go", lambda: FK.get(NS + "/configmaps/fin")[0] == 404)


def owned(name, owner, block=False, finalizers=None):
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": owner["metadata"]["name"],
           "uid": owner["metadata"]["uid"]}
    if block:
        ref["blockOwnerDeletion"] = True
    meta = {"ownerReferences": [ref]}
    if finalizers:
        meta["finalizers"] = finalizers
    return cm(name, **meta)


def test_garbage_collection():
    # Background: dependents go after the owner.
    _, owner, _ = FK.post(NS + "/configmaps", cm("owner-bg"))
    FK.post(NS + "/configmaps", owned("dep-bg", owner))
    code, _, _ = FK.delete(NS + "/configmaps/owner-bg?propagationPolicy=Background")
    expect(code == 200)
    wait_for("background dependent deleted", lambda: FK.get(NS + "/configmaps/dep-bg")[0] == 404)
    # Orphan: dependents stay, without the ownerReference.
    _, owner, _ = FK.post(NS + "/configmaps", cm("owner-or"))
    FK.post(NS + "/configmaps", owned("dep-or", owner))
    FK.delete(NS + "/configmaps/owner-or", {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Orphan"})
    wait_for("orphaning owner gone", lambda: FK.get(NS + "/configmaps/owner-or")[0] == 404)
    code, dep, _ = FK.get(NS + "/configmaps/dep-or")
    expect(code == 200 and not dep["metadata"].get("ownerReferences"), dep)
    # Foreground: the owner waits (foregroundDeletion) for blocking dependents.
    _, owner, _ = FK.post(NS + "/configmaps", cm("owner-fg"))
    FK.post(NS + "/configmaps", owned("dep-fg", owner, block=True, finalizers=["example.com/slow"]))
    FK.delete(NS + "/configmaps/owner-fg?propagationPolicy=Foreground")
    code, o, _ = FK.get(NS + "/configmaps/owner-fg")
    expect(code == 200 and "foregroundDeletion" in o["metadata"]["finalizers"] and o["metadata"]["deletionTimestamp"], o)
    wait_for("dependent marked deleting",
             lambda: FK.get(NS + "/configmaps/dep-fg")[1]["metadata"].get("deletionTimestamp"))
    time.sleep(0.3)
    expect(FK.get(NS + "/configmaps/owner-fg")[0] == 200, "owner left before its blocking dependent")
    FK.patch(NS + "/configmaps/dep-fg", {"metadata": {"finalizers": None}})
    wait_for("foreground owner gone", lambda: FK.get(NS + "/configmaps/owner-fg")[0] == 404)
    expect(FK.get(NS + "/configmaps/dep-fg")[0] == 404)
    # A dependent whose owner never existed is collected too.
    FK.post(NS + "/configmaps", owned("dep-dangling", {"metadata": {"name": "ghost", "uid": "0000"}}))
    wait_for("dangling dependent collected", lambda: FK.get(NS + "/configmaps/dep-dangling")[0] == 404)


def pod(name, labels=None, node="node-1", grace=None):
    spec = {"nodeName": node, "containers": [{"name": "c", "image": "img:1"}]}
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}}, "spec": spec}


def make_ready(name):
    code, body, _ = FK.patch(NS + "/pods/%s/status" % name, {"status": {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True"}]}})
    expect(code == 200, body)


def test_pods_graceful_delete_and_eviction():
    code, p, _ = FK.post(NS + "/pods", pod("graceful", grace=1))
    expect(code == 201 and p["status"]["phase"] == "Pending", p)
    code, body, _ = FK.delete(NS + "/pods/graceful")
    expect(code == 200 and body["metadata"]["deletionGracePeriodSeconds"] == 1, body)
    expect(FK.get(NS + "/pods/graceful")[0] == 200)
    wait_for("pod gone after its grace period", lambda: FK.get(NS + "/pods/graceful")[0] == 404, timeout=6)
    FK.post(NS + "/pods", pod("now", grace=30))
    FK.delete(NS + "/pods/now")
    code, body, _ = FK.delete(NS + "/pods/now?gracePeriodSeconds=0")
    expect(FK.get(NS + "/pods/now")[0] == 404, "grace 0 removes at once")
    # Eviction honours PodDisruptionBudgets.
    for i in range(2):
        FK.post(NS + "/pods", pod("ev-%d" % i, labels={"app": "ev"}))
        make_ready("ev-%d" % i)
    code, body, _ = FK.post("/apis/policy/v1/namespaces/default/poddisruptionbudgets", {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "ev"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "ev"}}}})
    expect(code == 201, body)
    wait_for("pdb status", lambda: FK.get("/apis/policy/v1/namespaces/default/poddisruptionbudgets/ev")[1]
             .get("status", {}).get("expectedPods") == 2)
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "ev-0"}}
    code, body, _ = FK.post(NS + "/pods/ev-0/eviction", eviction)
    expect(code == 429 and body["reason"] == "TooManyRequests", body)
    FK.post(NS + "/pods", pod("ev-2", labels={"app": "ev"}))
    make_ready("ev-2")
    code, body, _ = FK.post(NS + "/pods/ev-0/eviction", eviction)
    expect(code == 201, body)
    code, body, _ = FK.get(NS + "/pods/ev-0")
    expect(code == 404 or body["metadata"].get("deletionTimestamp"), body)
    wait_for("pdb disruptionsAllowed 0", lambda: FK.get("/apis/policy/v1/namespaces/default/poddisruptionbudgets/ev")[1]
             ["status"]["disruptionsAllowed"] == 0)


CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "gizmos.example.com"},
    "spec": {
        "group": "example.com", "scope": "Namespaced",
        "names": {"plural": "gizmos", "singular": "gizmo", "kind": "Gizmo", "shortNames": ["gz"]},
        "versions": [{
            "name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
            "additionalPrinterColumns": [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                                         {"name": "Ready", "type": "string",
                                          "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"}],
            "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                "spec": {"type": "object", "required": ["size"], "properties": {
                    "size": {"type": "integer", "minimum": 1},
                    "mode": {"type": "string", "enum": ["fast", "slow"], "default": "slow"},
                    "name": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 5},
                    "opts": {"type": "object", "default": {}, "properties": {
                        "retries": {"type": "integer", "default": 3}}},
                    "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}},
                "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}},
        }],
    },
}


def test_crd():
    code, body, _ = FK.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", CRD)
    expect(code == 201, body)
    conds = {c["type"]: c["status"] for c in body["status"]["conditions"]}
    expect(conds == {"NamesAccepted": "True", "Established": "True"}, body["status"])
    code, body, _ = FK.get("/apis/example.com/v1")
    expect(code == 200 and body["resources"][0]["name"] == "gizmos" and body["resources"][0]["shortNames"] == ["gz"], body)
    expect("example.com" in {g["name"] for g in FK.get("/apis")[1]["groups"]})
    base = "/apis/example.com/v1/namespaces/default/gizmos"
    code, g, _ = FK.post(base, {"apiVersion": "example.com/v1", "kind": "Gizmo", "metadata": {"name": "g1"},
                                "spec": {"size": 2, "free": {"any": ["thing"]}}})
    expect(code == 201, g)
    expect(g["spec"]["mode"] == "slow" and g["spec"]["opts"] == {"retries": 3}, g)
    expect(g["spec"]["free"] == {"any": ["thing"]})
    for bad, field in (({"size": 0}, "spec.size"), ({"size": 1, "mode": "warp"}, "spec.mode"),
                       ({}, "spec.size"), ({"size": "1"}, "spec.size"), ({"size": 1, "name": "ABC"}, "spec.name"),
                       ({"size": 1, "name": "abcdefgh"}, "spec.name"), ({"size": 1, "extra": 1}, "spec.extra")):
        code, body, _ = FK.post(base, {"apiVersion": "example.com/v1", "kind": "Gizmo",
                                       "metadata": {"name": "bad"}, "spec": bad})
        expect(code == 422 and any(c["field"] == field for c in body["details"]["causes"]), (bad, body))
    # The status subresource keeps spec and status writes apart.
    code, g2, _ = FK.patch(base + "/g1", {"spec": {"size": 5}, "status": {"phase": "X"}})
    expect(g2["spec"]["size"] == 5 and "status" not in g2 and g2["metadata"]["generation"] == 2, g2)
    code, g3, _ = FK.patch(base + "/g1/status", {"spec": {"size": 9}, "status": {
        "conditions": [{"type": "Ready", "status": "True"}]}})
    expect(g3["spec"]["size"] == 5 and g3["status"]["conditions"][0]["status"] == "True", g3)
    expect(g3["metadata"]["generation"] == 2, g3)
    code, sm, _ = FK.patch(base + "/g1", {"spec": {"size": 6}}, content_type="application/strategic-merge-patch+json")
    expect(code == 415, sm)
    code, table, _ = FK.get(base, headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    expect(table["kind"] == "Table", table)
    expect([c["name"] for c in table["columnDefinitions"]] == ["Name", "Size", "Ready"], table)
    expect(table["rows"][0]["cells"] == ["g1", 5, "True"], table["rows"])
    # Deleting the CRD removes its objects and its API.
    FK.delete("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gizmos.example.com")
    wait_for("CRD API gone", lambda: FK.get(base)[0] == 404)


def test_hpa_versions():
    v1 = "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers"
    v2 = "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers"
    code, body, _ = FK.post(v1, {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
                                 "metadata": {"name": "h"}, "spec": {
                                     "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "gen"},
                                     "minReplicas": 1, "maxReplicas": 4, "targetCPUUtilizationPercentage": 60}})
    expect(code == 201 and body["apiVersion"] == "autoscaling/v1" and body["spec"]["targetCPUUtilizationPercentage"] == 60, body)
    code, h2, _ = FK.get(v2 + "/h")
    expect(h2["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 60, h2)
    FK.patch(v2 + "/h", {"spec": {"behavior": {"scaleDown": {"stabilizationWindowSeconds": 30}}}})
    code, h1, _ = FK.patch(v1 + "/h", {"spec": {"targetCPUUtilizationPercentage": 75}})
    expect(code == 200 and h1["spec"]["targetCPUUtilizationPercentage"] == 75, h1)
    code, h2, _ = FK.get(v2 + "/h")
    expect(h2["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 75, h2)
    expect(h2["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 30, "v1 writes keep v2-only fields")


def test_tables_builtin():
    FK.post(NS + "/pods", pod("tab", labels={"t": "1"}))
    code, table, _ = FK.get(NS + "/pods?labelSelector=t%3D1",
                            headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io, application/json"})
    expect([c["name"] for c in table["columnDefinitions"]][:5] == ["Name", "Ready", "Status", "Restarts", "Age"], table)
    expect(table["rows"][0]["cells"][:4] == ["tab", "0/1", "Pending", "0"], table["rows"])
    expect(table["rows"][0]["object"]["kind"] == "PartialObjectMetadata")
    code, table, _ = FK.get("/apis/apps/v1/namespaces/default/deployments/gen",
                            headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    expect([c["name"] for c in table["columnDefinitions"]][:5] == ["Name", "Ready", "Up-to-date", "Available", "Age"])


def test_namespaces_and_collections():
    code, body, _ = FK.post("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "scratch"}})
    expect(code == 201 and body["status"]["phase"] == "Active", body)
    for i in range(3):
        FK.post("/api/v1/namespaces/scratch/configmaps", cm("x-%d" % i, labels={"g": "a" if i else "b"}))
    code, body, _ = FK.delete("/api/v1/namespaces/scratch/configmaps?labelSelector=g%3Da")
    expect(code == 200 and len(body["items"]) == 2, body)
    expect(len(FK.get("/api/v1/namespaces/scratch/configmaps")[1]["items"]) == 1)
    code, body, _ = FK.delete("/api/v1/namespaces/scratch")
    expect(code == 200 and body["status"]["phase"] == "Terminating", body)
    wait_for("namespace gone", lambda: FK.get("/api/v1/namespaces/scratch")[0] == 404)
    expect(FK.get("/api/v1/namespaces/scratch/configmaps/x-0")[0] == 404)
    # Leases and both Event APIs are plain resources.
    code, body, _ = FK.post("/apis/coordination.k8s.io/v1/namespaces/default/leases", {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "leader"},
        "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}})
    expect(code == 201, body)
    code, body, _ = FK.post(NS + "/events", {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e1"},
                                             "involvedObject": {"kind": "Pod", "name": "tab"}, "reason": "Test",
                                             "message": "hello", "type": "Normal"})
    expect(code == 201, body)
    code, body, _ = FK.post("/apis/events.k8s.io/v1/namespaces/default/events", {
        "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e2"},
        "eventTime": "2026-01-01T00:00:00.000000Z", "reportingController": "x", "reportingInstance": "y",
        "action": "Test", "reason": "Test", "type": "Normal", "regarding": {"kind": "Pod", "name": "tab"},
        "note": "from the events API"})
    expect(code == 201 and body["apiVersion"] == "events.k8s.io/v1" and body["note"] == "from the events API", body)
    # One store, two APIs: each event is visible through both, converted.
    code, e2, _ = FK.get(NS + "/events/e2")
    expect(code == 200 and e2["message"] == "from the events API" and e2["involvedObject"]["name"] == "tab", e2)
    code, e1, _ = FK.get("/apis/events.k8s.io/v1/namespaces/default/events/e1")
    expect(code == 200 and e1["note"] == "hello" and e1["regarding"]["kind"] == "Pod", e1)
    code, body, _ = FK.get(NS + "/events?fieldSelector=involvedObject.name%3Dtab")
    expect(sorted(i["metadata"]["name"] for i in body["items"]) == ["e1", "e2"], body)


def test_many_watchers():
    n = 300
    path = NS + "/configmaps?watch=1&resourceVersion=%s&fieldSelector=metadata.name%%3Dfanout"
    code, body, _ = FK.get(NS + "/configmaps")
    start = body["metadata"]["resourceVersion"]
    streams, errors = [None] * n, []

    def open_one(i):
        try:
            streams[i] = FK.watch(path % start, timeout=60)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=open_one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expect(not errors and all(s and s.status == 200 for s in streams), errors[:3])
    FK.post(NS + "/configmaps", cm("fanout"))
    got = [None] * n

    def read_one(i):
        try:
            ev = streams[i].next()
            got[i] = ev and ev["type"] == "ADDED" and ev["object"]["metadata"]["name"] == "fanout"
        except Exception:  # noqa: BLE001
            got[i] = False

    t0 = time.monotonic()
    threads = [threading.Thread(target=read_one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    elapsed = time.monotonic() - t0
    for s in streams:
        s.close()
    expect(all(got), "%d of %d watchers got the event" % (sum(1 for g in got if g), n))
    print("       %d watchers received the event in %.2fs" % (n, elapsed))


def test_malformed_requests():
    """Garbage bodies, content types and paths get 4xx answers, never a crash."""
    import random
    FK.post(NS + "/configmaps", cm("fuzz"))
    FK.post(NS + "/pods", pod("fuzz"))
    bodies = ["", "[]", '"x"', "1", "null", '{"metadata":[]}', '{"metadata":{"name":5}}', '{"kind":5}',
              '{"spec":{"containers":"x"}}', '{"metadata":{"labels":"x"}}', '{"metadata":{"finalizers":[1]}}',
              '[{"op":"remove","path":"/metadata"}]', '[{"op":"add","path":"","value":5}]', '{"$patch":"delete"}',
              '{"$setElementOrder/x":5,"$retainKeys":5}', '{"target":{"name":5}}', "k8s\x00\x0a\x02", "a: [b"]
    paths = [NS + "/configmaps", NS + "/configmaps/fuzz", NS + "/pods/fuzz", NS + "/pods/fuzz/status",
             NS + "/pods/fuzz/eviction", NS + "/pods/fuzz/binding", NS + "/pods/fuzz/log?tailLines=-5",
             "/apis/apps/v1/namespaces/default/deployments/gen/scale", "/api/v1/namespaces/default/configmaps?limit=-1&continue=%25",
             "/apis/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s"]
    types = ["application/json", "application/merge-patch+json", "application/json-patch+json",
             "application/strategic-merge-patch+json", "application/apply-patch+yaml",
             "application/vnd.kubernetes.protobuf", "text/plain"]
    rng = random.Random(7)
    for _ in range(400):
        method = rng.choice(["POST", "PUT", "PATCH", "DELETE"])
        code, _, _ = FK.request(method, rng.choice(paths), rng.choice(bodies), content_type=rng.choice(types))
        expect(code < 500, "server error %d" % code)
    expect(FK.proc.poll() is None and FK.get("/api/v1/namespaces")[0] == 200, "server still serving")


def test_persistence():
    d = tempfile.mkdtemp(prefix="fakekube-data-")
    data = os.path.join(d, "state.json")
    fk = Fakekube(EXE, "--no-controllers", data=data)
    try:
        fk.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", CRD)
        _, c, _ = fk.post(NS + "/configmaps", cm("kept"))
        code, g, _ = fk.post("/apis/example.com/v1/namespaces/default/gizmos", {
            "apiVersion": "example.com/v1", "kind": "Gizmo", "metadata": {"name": "g"}, "spec": {"size": 1}})
        expect(code == 201, g)
        last = rv(g)
        token, ca = fk.token, open(fk.ca_file, "rb").read()
    finally:
        expect(fk.stop(cleanup=False) == 0, "clean exit on SIGTERM")
    expect(os.path.exists(data))
    fk = Fakekube(EXE, "--no-controllers", data=data, workdir=fk.dir)
    try:
        code, c2, _ = fk.get(NS + "/configmaps/kept")
        expect(code == 200 and c2["metadata"]["uid"] == c["metadata"]["uid"], c2)
        code, g2, _ = fk.get("/apis/example.com/v1/namespaces/default/gizmos/g")
        expect(code == 200 and g2["spec"]["size"] == 1, g2)
        _, n, _ = fk.post(NS + "/configmaps", cm("after"))
        expect(rv(n) > last, (rv(n), last))
        # The same token and CA: clients holding the old kubeconfig keep working.
        expect(fk.token == token and open(fk.ca_file, "rb").read() == ca, "identity kept across restart")
    finally:
        fk.stop()


def main():
    global FK
    FK = Fakekube(EXE, "--no-controllers")
    return run_tests_then_stop(FK, [
        ("cli_flags", test_cli_flags),
        ("auth", test_auth),
        ("service_account_tokens", test_service_account_tokens),
        ("object_names", test_object_names),
        ("plain_http", test_plain_http),
        ("discovery", test_discovery),
        ("create_get_conflict", test_create_get_conflict),
        ("generation_status_scale", test_generation),
        ("schema_validation", test_schema_validation),
        ("dry_run_generate_name", test_dry_run_and_generate_name),
        ("list_selectors_paging", test_list_selectors_and_paging),
        ("patches", test_patches),
        ("watch_resume", test_watch_resume),
        ("boolean_query_parameters", test_boolean_query_parameters),
        ("watch_gone_bookmarks", test_watch_gone_and_bookmarks),
        ("finalizers", test_finalizers),
        ("garbage_collection", test_garbage_collection),
        ("pods_graceful_eviction_pdb", test_pods_graceful_delete_and_eviction),
        ("crd", test_crd),
        ("hpa_v1_v2", test_hpa_versions),
        ("tables_builtin", test_tables_builtin),
        ("namespaces_collections", test_namespaces_and_collections),
        ("many_watchers", test_many_watchers),
        ("malformed_requests", test_malformed_requests),
        ("persistence", test_persistence),
    ])


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Least privilege, checked both ways: the chart's ClusterRole + Role grant
exactly the API calls tripdeal-operator makes. The operator runs against
fakekube through a logging proxy (tests/chart/api_proxy.py) while a TripDeal
is created, changed (an Ingress dropped, the image changed), deleted, and the
operator stops (Lease released). Every call it made must be granted (fails on
less); every grant must be a call it made, or one listed in
rbac-not-exercised.yaml with the code that still makes it (fails on more)."""
import os
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.environ["SOURCE_ROOT"], "tests", "operator", "e2e"))
from api_proxy import ApiProxy, verb_of  # noqa: E402
from harness import (SECRET_AND_NS, SOURCE_ROOT, Cluster, Operator, condition, log,  # noqa: E402
                     run, tripdeal_yaml, wait_for)

RELEASE_NS = "tripdeal-system"


def granted_rules():
    out = subprocess.run([os.path.join(HERE, "render-chart"), os.path.join(SOURCE_ROOT, "charts", "tripdeal"),
                          "--namespace", RELEASE_NS, "--set", "logging.fluentBit.enabled=true"], capture_output=True, text=True, check=True).stdout
    cluster, namespaced = set(), set()
    for doc in yaml.safe_load_all(out):
        if not doc or doc.get("kind") not in ("ClusterRole", "Role"):
            continue
        if doc["metadata"]["name"] not in ("tripdeal-operator", "tripdeal-operator-leader-election"):
            continue  # another component's role (Fluent Bit)
        for rule in doc["rules"]:
            for g in rule["apiGroups"]:
                for r in rule["resources"]:
                    for v in rule["verbs"]:
                        assert "*" not in (g, r, v), f"wildcard in {doc['kind']} {rule}"
                        (cluster if doc["kind"] == "ClusterRole" else namespaced).add((g, r, v))
    return cluster, namespaced


def proxied_kubeconfig(cluster, port, path):
    cfg = yaml.safe_load(open(cluster.kubeconfig))
    for c in cfg["clusters"]:
        c["cluster"] = {"server": f"http://127.0.0.1:{port}"}
    open(path, "w").write(yaml.safe_dump(cfg))


def scenario():
    cluster_grants, role_grants = granted_rules()
    with Cluster() as cluster:
        cluster.install_crd()
        cluster.apply_yaml(SECRET_AND_NS % {"ns": "tripdeal"})
        cluster.kubectl("create", "namespace", RELEASE_NS)
        ca = os.path.join(cluster.workdir, "ca.crt")
        import base64
        cfg = yaml.safe_load(open(cluster.kubeconfig))
        open(ca, "wb").write(base64.b64decode(cfg["clusters"][0]["cluster"]["certificate-authority-data"]))
        proxy = ApiProxy("127.0.0.1", cluster.port, ca)
        kubeconfig = os.path.join(cluster.workdir, "operator.kubeconfig")
        proxied_kubeconfig(cluster, proxy.port, kubeconfig)
        try:
            op = Operator(cluster, "--leader-elect", "--leader-election-namespace", RELEASE_NS,
                          "--kubeconfig", kubeconfig)
            with op:
                op.wait_ready()
                cluster.apply_yaml(tripdeal_yaml("shop", "tripdeal", host="shop.example.com"))
                wait_for("TripDeal Ready", lambda: (condition(cluster.get("tripdeal", "shop", "tripdeal"), "Ready")
                                                    or {}).get("reason") in ("ReplicasReady",), 30)
                wait_for("Ingress", lambda: cluster.get("ingress", "shop", "tripdeal"), 10)
                # A hand edit of a label the operator owns, on every owned object:
                # the operator puts each back with a patch.
                kinds = ["configmap", "service", "deployment", "hpa", "pdb", "ingress"]
                for kind in kinds:
                    cluster.kubectl("label", "--overwrite", kind, "shop", "-n", "tripdeal",
                                    "app.kubernetes.io/name=hand-edited")
                wait_for("hand edits put back", lambda: all(
                    cluster.get(k, "shop", "tripdeal")["metadata"]["labels"]["app.kubernetes.io/name"]
                    == "tripdeal" for k in kinds), 15)
                cluster.apply_yaml(tripdeal_yaml("shop", "tripdeal", image="registry.example.com/tripdeal/app:1.5.0"))
                wait_for("Ingress deleted", lambda: cluster.get("ingress", "shop", "tripdeal") is None, 15)
                cluster.kubectl("delete", "tripdeal", "shop", "-n", "tripdeal", "--wait=true", "--timeout=30s")
            # (op stopped: SIGTERM releases the Lease)
            calls = proxy.snapshot()
        finally:
            proxy.close()

    observed_cluster, observed_role, failures = set(), set(), []
    for method, path, query in calls:
        v = verb_of(method, path, query)
        if not v:
            continue
        group, resource, verb, ns = v
        key = (group, resource, verb)
        if key in role_grants and ns == RELEASE_NS:
            observed_role.add(key)
        else:
            observed_cluster.add(key)
    log(f"{len(calls)} API calls; distinct: cluster-wide {sorted(observed_cluster)}; "
        f"in {RELEASE_NS} {sorted(observed_role)}")

    less = sorted(observed_cluster - cluster_grants)
    if less:
        failures.append(f"the ClusterRole lacks calls the operator makes: {less}")
    # Leases must only ever be touched in the release namespace.
    stray = sorted(k for k in observed_cluster if k in role_grants)
    if stray:
        failures.append(f"calls granted only in {RELEASE_NS} were made elsewhere: {stray}")

    declared = yaml.safe_load(open(os.path.join(HERE, "rbac-not-exercised.yaml")))
    declared_keys = set()
    for d in declared:
        key = (d["group"], d["resource"], d["verb"])
        declared_keys.add(key)
        text = open(os.path.join(SOURCE_ROOT, d["file"])).read()
        if d["needle"] not in text:
            failures.append(f"rbac-not-exercised.yaml: {key}: {d['file']} no longer has "
                            f"{d['needle']!r}: drop the grant and the entry")
        if key in observed_cluster:
            failures.append(f"rbac-not-exercised.yaml: {key} was exercised after all: drop the entry")
    more = sorted(cluster_grants - observed_cluster - declared_keys)
    if more:
        failures.append(f"the ClusterRole grants calls the operator never makes: {more}")
    more_role = sorted(role_grants - observed_role)
    if more_role:
        failures.append(f"the leader-election Role grants calls never made: {more_role}")
    for f in failures:
        log("FAIL", f)
    assert not failures, f"{len(failures)} RBAC mismatch(es)"


if __name__ == "__main__":
    run(scenario)

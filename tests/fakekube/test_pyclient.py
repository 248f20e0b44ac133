#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""fakekube judged by a second client nobody here wrote: the official Kubernetes Python
client (Debian's python3-kubernetes), beside kubectl.

Usage: test_pyclient.py PATH/TO/fakekube

List, create, patch (strategic merge for built-ins, merge for custom resources, JSON patch),
scale, watch from a resourceVersion (the client sends watch=True), delete with propagation
(Foreground, Background, Orphan), 404s as ApiException, and a ServiceAccount token.
Exits 77 (skipped) when the client is not installed.
"""
import json
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Fakekube, expect, run_tests_then_stop, wait_for  # noqa: E402

try:
    import kubernetes  # noqa: F401
except ImportError:
    # Debian installs it for the system python3; a python3 from pyenv/venv does not see it.
    sys.path.append("/usr/lib/python3/dist-packages")
    try:
        import kubernetes  # noqa: F401
    except ImportError:
        print("skip: the Kubernetes Python client is not installed (apt-get install python3-kubernetes)")
        sys.exit(77)
from kubernetes import client, config, watch  # noqa: E402
from kubernetes.client.rest import ApiException  # noqa: E402

EXE = sys.argv[1]
FK = None
API = None  # kubernetes.client.ApiClient configured from fakekube's kubeconfig
NS = "default"


def core():
    return client.CoreV1Api(API)


def apps():
    return client.AppsV1Api(API)


def deployment(name, replicas=1):
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name, labels={"app": name}),
        spec=client.V1DeploymentSpec(
            replicas=replicas,
            selector=client.V1LabelSelector(match_labels={"app": name}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": name}),
                spec=client.V1PodSpec(containers=[client.V1Container(
                    name="app", image="nginx:1.25",
                    env=[client.V1EnvVar(name="A", value="1")])]))))


def status_of(exc):
    return json.loads(exc.body) if exc.body else {}


def test_list_and_create():
    names = [n.metadata.name for n in core().list_namespace().items]
    expect("default" in names and "kube-system" in names, names)
    cm = core().create_namespaced_config_map(NS, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="py-cm", labels={"by": "python"}), data={"k": "v"}))
    expect(cm.metadata.uid and cm.metadata.resource_version and cm.data == {"k": "v"}, cm)
    listed = core().list_namespaced_config_map(NS, label_selector="by=python")
    expect([i.metadata.name for i in listed.items] == ["py-cm"], listed)
    expect(listed.metadata.resource_version, "a list carries its resourceVersion")
    # AlreadyExists is an ApiException with a metav1.Status body.
    try:
        core().create_namespaced_config_map(NS, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="py-cm")))
        expect(False, "a second create succeeded")
    except ApiException as e:
        expect(e.status == 409 and status_of(e)["reason"] == "AlreadyExists", e)
    # Paging with limit/continue.
    for i in range(5):
        core().create_namespaced_config_map(NS, client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="page-%d" % i, labels={"page": "1"})))
    seen, token = [], None
    for _ in range(10):
        page = core().list_namespaced_config_map(NS, label_selector="page=1", limit=2, _continue=token)
        seen += [i.metadata.name for i in page.items]
        token = page.metadata._continue
        if not token:
            break
    expect(sorted(seen) == ["page-%d" % i for i in range(5)], seen)


def test_not_found():
    for call in (lambda: core().read_namespaced_config_map("nope", NS),
                 lambda: apps().read_namespaced_deployment("nope", NS),
                 lambda: core().delete_namespaced_secret("nope", NS),
                 lambda: core().read_namespace("nowhere")):
        try:
            call()
            expect(False, "no 404")
        except ApiException as e:
            body = status_of(e)
            expect(e.status == 404 and body["kind"] == "Status" and body["reason"] == "NotFound", (e.status, body))


def test_patch():
    apps().create_namespaced_deployment(NS, deployment("py-web"))
    # A dict body: the client sends a strategic merge patch; env merges by name.
    d = apps().patch_namespaced_deployment("py-web", NS, {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "env": [{"name": "B", "value": "2"}]}]}}}})
    env = {e.name: e.value for e in d.spec.template.spec.containers[0].env}
    expect(env == {"A": "1", "B": "2"}, env)
    expect(d.metadata.generation == 2, d.metadata.generation)
    # A list body: a JSON patch.
    d = apps().patch_namespaced_deployment("py-web", NS, [
        {"op": "replace", "path": "/metadata/labels/app", "value": "patched"}])
    expect(d.metadata.labels["app"] == "patched", d.metadata.labels)
    # Custom resources get merge patches from CustomObjectsApi.
    client.ApiextensionsV1Api(API).create_custom_resource_definition({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
                 "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                     "type": "object", "properties": {"spec": {"type": "object", "properties": {
                         "size": {"type": "integer"}, "color": {"type": "string"}}}}}}}]}})
    objects = client.CustomObjectsApi(API)
    wait_for("the CRD served", lambda: _try(lambda: objects.list_namespaced_custom_object(
        "example.com", "v1", NS, "gadgets")))
    objects.create_namespaced_custom_object("example.com", "v1", NS, "gadgets", {
        "apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g1"},
        "spec": {"size": 1, "color": "red"}})
    g = objects.patch_namespaced_custom_object("example.com", "v1", NS, "gadgets", "g1", {"spec": {"size": 2}})
    expect(g["spec"] == {"size": 2, "color": "red"}, g)
    try:
        objects.patch_namespaced_custom_object("example.com", "v1", NS, "gadgets", "g1", {"spec": {"size": "big"}})
        expect(False, "a schema violation was accepted")
    except ApiException as e:
        expect(e.status == 422 and status_of(e)["reason"] == "Invalid", (e.status, e.body))


def _try(fn):
    try:
        fn()
        return True
    except ApiException:
        return False


def test_scale():
    s = apps().read_namespaced_deployment_scale("py-web", NS)
    expect(s.spec.replicas == 1 and s.kind == "Scale", s)
    s = apps().patch_namespaced_deployment_scale("py-web", NS, {"spec": {"replicas": 3}})
    expect(s.spec.replicas == 3, s)
    expect(apps().read_namespaced_deployment("py-web", NS).spec.replicas == 3)
    s.spec.replicas = 2
    s = apps().replace_namespaced_deployment_scale("py-web", NS, s)
    expect(apps().read_namespaced_deployment("py-web", NS).spec.replicas == 2)


def test_watch_from_resource_version():
    start = core().list_namespaced_config_map(NS).metadata.resource_version
    core().create_namespaced_config_map(NS, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="w1", labels={"w": "py"})))
    core().patch_namespaced_config_map("w1", NS, {"data": {"k": "2"}})
    core().delete_namespaced_config_map("w1", NS)
    # Replayed from the resourceVersion before the changes, in order ...
    w = watch.Watch()
    got = []
    for ev in w.stream(core().list_namespaced_config_map, NS, label_selector="w=py",
                       resource_version=start, timeout_seconds=5):
        got.append((ev["type"], ev["object"].metadata.name))
        if len(got) == 3:
            w.stop()
    expect(got == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")], got)
    # ... and live: a change made while the watch is open arrives.
    now = core().list_namespaced_config_map(NS).metadata.resource_version
    live, w2 = [], watch.Watch()

    def consume():
        for ev in w2.stream(core().list_namespaced_config_map, NS, label_selector="w=py",
                            resource_version=now, timeout_seconds=10):
            live.append((ev["type"], ev["object"].metadata.name))
            w2.stop()
    t = threading.Thread(target=consume, daemon=True)
    t.start()
    # Whether or not the watch is connected yet, it starts at `now`: the event cannot be missed.
    core().create_namespaced_config_map(NS, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="w2", labels={"w": "py"})))
    t.join(timeout=15)
    expect(live == [("ADDED", "w2")], live)


def owned(name, owner, block=False):
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(
        name=name, owner_references=[client.V1OwnerReference(
            api_version="apps/v1", kind="Deployment", name=owner.metadata.name, uid=owner.metadata.uid,
            block_owner_deletion=block, controller=True)]))


def gone(read):
    try:
        read()
        return False
    except ApiException as e:
        return e.status == 404


def test_delete_propagation():
    for policy in ("Background", "Foreground", "Orphan"):
        name = "py-del-" + policy.lower()
        owner = apps().create_namespaced_deployment(NS, deployment(name))
        core().create_namespaced_config_map(NS, owned(name + "-dep", owner, block=True))
        apps().delete_namespaced_deployment(name, NS, body=client.V1DeleteOptions(propagation_policy=policy))
        read_owner = lambda: apps().read_namespaced_deployment(name, NS)  # noqa: E731
        read_dep = lambda: core().read_namespaced_config_map(name + "-dep", NS)  # noqa: E731
        if policy == "Foreground":
            # The owner waits (foregroundDeletion) until its blocking dependent is gone.
            o = read_owner()
            expect(o.metadata.deletion_timestamp and "foregroundDeletion" in (o.metadata.finalizers or []), o.metadata)
        wait_for("%s: owner deleted" % policy, lambda: gone(read_owner))
        if policy == "Orphan":
            dep = read_dep()
            expect(not dep.metadata.owner_references, dep.metadata)
            core().delete_namespaced_config_map(name + "-dep", NS)
        else:
            wait_for("%s: dependent deleted" % policy, lambda: gone(read_dep))
    # The propagationPolicy query parameter works as well as the body.
    owner = apps().create_namespaced_deployment(NS, deployment("py-del-query"))
    core().create_namespaced_config_map(NS, owned("py-del-query-dep", owner))
    apps().delete_namespaced_deployment("py-del-query", NS, propagation_policy="Orphan")
    wait_for("owner deleted", lambda: gone(lambda: apps().read_namespaced_deployment("py-del-query", NS)))
    expect(not core().read_namespaced_config_map("py-del-query-dep", NS).metadata.owner_references)


def test_service_account_token():
    core().create_namespaced_service_account(NS, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="py-sa")))
    tr = core().create_namespaced_service_account_token("py-sa", NS, client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=600)))
    expect(tr.status.token and tr.status.expiration_timestamp, tr.status)
    cfg = client.Configuration()
    cfg.host = API.configuration.host
    cfg.ssl_ca_cert = API.configuration.ssl_ca_cert
    cfg.api_key = {"authorization": "Bearer " + tr.status.token}
    as_sa = client.ApiClient(cfg)
    try:
        names = [n.metadata.name for n in client.CoreV1Api(as_sa).list_namespaced_service_account(NS).items]
        expect("py-sa" in names, names)
        cfg.api_key = {"authorization": "Bearer not-a-token"}
        try:
            client.CoreV1Api(client.ApiClient(cfg)).list_namespace()
            expect(False, "a bad token was accepted")
        except ApiException as e:
            expect(e.status == 401, e.status)
    finally:
        as_sa.close()


def main():
    global FK, API
    FK = Fakekube(EXE, "--no-controllers")
    API = config.new_client_from_config(config_file=FK.kubeconfig)
    try:
        return run_tests_then_stop(FK, [
            ("list_and_create", test_list_and_create),
            ("not_found", test_not_found),
            ("patch_strategic_merge_json", test_patch),
            ("scale", test_scale),
            ("watch_from_resource_version", test_watch_from_resource_version),
            ("delete_propagation", test_delete_propagation),
            ("service_account_token", test_service_account_token),
        ])
    finally:
        API.close()


if __name__ == "__main__":
    sys.exit(main())

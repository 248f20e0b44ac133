#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Conformance: the real kubectl against fakekube (with its simulated controllers).

Usage: test_kubectl.py PATH/TO/fakekube
"""
import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Fakekube, expect, run_tests_then_stop, wait_for  # noqa: E402

EXE = sys.argv[1]
POD_SERVER = sys.argv[2] if len(sys.argv) > 2 else None
FK = None

CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    - {name: Color, type: string, jsonPath: .spec.color}
    - {name: Ready, type: string, jsonPath: '.status.conditions[?(@.type=="Ready")].status'}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: integer, minimum: 1, maximum: 10}
              color: {type: string, enum: [red, blue], default: red}
          status:
            type: object
            x-kubernetes-preserve-unknown-fields: true
"""

WIDGET = """
apiVersion: example.com/v1
kind: Widget
metadata: {name: %s}
spec: {size: %d}
"""


def k(*args, **kw):
    return FK.kubectl(*args, **kw)


def header(out):
    return re.split(r"\s{2,}", out.splitlines()[0].strip())


def test_crd_and_custom_resources():
    k("apply", "-f", "-", input=CRD)
    k("wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=20s")
    k("apply", "-f", "-", input=WIDGET % ("w1", 3))
    out = k("get", "widgets").stdout
    expect(header(out) == ["NAME", "SIZE", "COLOR", "READY", "AGE"], out)
    expect(re.search(r"^w1\s+3\s+red\s+<none>\s+\d+s", out.splitlines()[1]), out)
    out = k("get", "wd", "w1", "-o", "yaml").stdout
    expect("color: red" in out and "size: 3" in out and "uid:" in out, out)
    out = k("describe", "widget", "w1").stdout
    expect("Name:         w1" in out and "Size:   3" in out, out)
    p = k("apply", "-f", "-", input=WIDGET % ("w2", 99), check=False)
    expect(p.returncode != 0 and "spec.size" in p.stderr, p.stderr)
    p = k("apply", "-f", "-", input="apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w3\nspec:\n  size: 1\n  shape: round\n",
          check=False)
    expect(p.returncode != 0 and "shape" in p.stderr, p.stderr)
    # Status through the subresource, then kubectl wait on a condition.
    k("patch", "widget", "w1", "--subresource=status", "--type=merge",
      "-p", '{"status":{"conditions":[{"type":"Ready","status":"True"}]}}')
    k("wait", "--for=condition=Ready", "widget/w1", "--timeout=20s")
    out = k("get", "widgets").stdout
    expect(re.search(r"^w1\s+3\s+red\s+True", out.splitlines()[1]), out)


def test_patch_and_edit():
    k("apply", "-f", "-", input=WIDGET % ("pw", 2))
    k("patch", "widget", "pw", "--type=merge", "-p", '{"spec":{"size":4}}')
    k("patch", "widget", "pw", "--type=json", "-p", '[{"op":"replace","path":"/spec/color","value":"blue"}]')
    out = k("get", "widget", "pw", "-o", "jsonpath={.spec.size} {.spec.color} {.metadata.generation}").stdout
    expect(out == "4 blue 3", out)
    k("create", "configmap", "edited", "--from-literal=a=1")
    editor = os.path.join(FK.dir, "editor.sh")
    with open(editor, "w") as f:
        f.write("#!/bin/sh\nsed -i 's/^  a: \"1\"/  a: \"2\"/' \"$1\"\n")
    os.chmod(editor, 0o755)
    k("edit", "configmap", "edited", env={"EDITOR": editor, "KUBE_EDITOR": editor})
    out = k("get", "configmap", "edited", "-o", "jsonpath={.data.a}").stdout
    expect(out == "2", out)


def test_deployment_rollout_scale():
    k("create", "deployment", "web", "--image=nginx:1.25", "--replicas=2", "--port=80")
    k("rollout", "status", "deployment/web", "--timeout=60s")
    out = k("get", "deployment", "web").stdout
    expect(header(out) == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"], out)
    expect(re.search(r"^web\s+2/2\s+2\s+2\s", out.splitlines()[1]), out)
    out = k("get", "pods", "-l", "app=web").stdout
    expect(header(out) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"], out)
    expect(len(out.splitlines()) == 3 and all("Running" in l for l in out.splitlines()[1:]), out)
    # Strategic merge patch (kubectl's default for built-ins), then a rolling update.
    k("patch", "deployment", "web", "-p",
      '{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.26"}]}}}}')
    k("rollout", "status", "deployment/web", "--timeout=60s")
    out = k("get", "deployment", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].ports[0].containerPort}").stdout
    expect(out == "nginx:1.26 80", out)
    k("scale", "deployment", "web", "--replicas=4")
    k("rollout", "status", "deployment/web", "--timeout=60s")
    k("wait", "--for=condition=Available", "deployment/web", "--timeout=30s")
    out = k("get", "rs", "-l", "app=web", "-o", "jsonpath={range .items[*]}{.spec.replicas} {end}").stdout
    expect(sorted(out.split()) == ["0", "4"], out)
    k("autoscale", "deployment", "web", "--min=2", "--max=5", "--cpu-percent=60")
    out = k("get", "hpa", "web").stdout
    expect(header(out) == ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"], out)
    expect(re.search(r"^web\s+Deployment/web\s+cpu: \S+/60%\s+2\s+5\s", out.splitlines()[1]), out)


def names(kind, selector):
    out = k("get", kind, "-l", selector, "-o", "name").stdout
    return [l for l in out.splitlines() if l]


def test_delete_cascade():
    for name in ("orphan", "fore", "back"):
        k("create", "deployment", name, "--image=busybox:1", "--replicas=1")
        k("rollout", "status", "deployment/" + name, "--timeout=60s")
    k("delete", "deployment", "orphan", "--cascade=orphan")
    expect(len(names("rs", "app=orphan")) == 1, "orphaned ReplicaSet kept")
    rs = k("get", "rs", "-l", "app=orphan", "-o", "jsonpath={.items[0].metadata.ownerReferences}").stdout
    expect(rs == "", rs)
    k("delete", "deployment", "fore", "--cascade=foreground", "--timeout=60s")
    # Foreground all the way down: pods and ReplicaSet are gone before the Deployment.
    expect(names("rs", "app=fore") == [] and names("deployment", "app=fore") == [])
    expect(names("pods", "app=fore") == [], "pods gone before the foreground-deleted owner")
    k("delete", "deployment", "back", "--cascade=background")
    wait_for("background dependents gone",
             lambda: names("rs", "app=back") == [] and names("pods", "app=back") == [], timeout=40)


def test_get_watch():
    env = dict(os.environ, KUBECONFIG=FK.kubeconfig, HOME=FK.dir)
    proc = subprocess.Popen(["kubectl", "get", "configmaps", "-w", "--request-timeout=0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines = []

    def reader():
        for line in proc.stdout:
            lines.append(line)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        wait_for("watch header", lambda: any(l.startswith("NAME") for l in lines), timeout=20)
        k("create", "configmap", "watched", "--from-literal=x=y")
        wait_for("watched configmap line", lambda: any(l.startswith("watched ") for l in lines), timeout=20)
        k("patch", "configmap", "watched", "--type=merge", "-p", '{"data":{"z":"w"}}')
        wait_for("second watch line", lambda: sum(l.startswith("watched ") for l in lines) >= 2, timeout=20)
        line = [l for l in lines if l.startswith("watched ")][-1]
        expect(re.match(r"watched\s+2\s+\d+s", line), line)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_server_side_apply_and_explain():
    doc = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  a: '1'\n"
    out = k("apply", "--server-side", "-f", "-", input=doc).stdout
    expect("serverside-applied" in out, out)
    k("apply", "--server-side", "-f", "-", input=doc.replace("a: '1'", "a: '3'"))
    expect(k("get", "cm", "ssa", "-o", "jsonpath={.data.a}").stdout == "3")
    out = k("explain", "deployment.spec.replicas").stdout
    expect("replicas" in out and "integer" in out, out)
    p = k("apply", "-f", "-", check=False, input="apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\nbogus: 1\n")
    expect(p.returncode != 0 and "bogus" in p.stderr, p.stderr)


def test_namespaces_nodes_misc():
    k("create", "namespace", "team-a")
    k("create", "secret", "generic", "s", "--from-literal=p=q", "-n", "team-a")
    out = k("get", "secret", "s", "-n", "team-a", "-o", "jsonpath={.data.p}").stdout
    expect(out == "cQ==", out)
    out = k("get", "nodes").stdout
    expect(header(out) == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"] and "Ready" in out, out)
    k("delete", "namespace", "team-a", "--timeout=60s")
    p = k("get", "namespace", "team-a", check=False)
    expect(p.returncode != 0 and "NotFound" in p.stderr, p.stderr)
    out = k("api-resources").stdout
    expect("deployments" in out and "widgets" in out, out)


def test_process_pods_logs():
    """The README's end-to-end example: a Deployment of real HTTP servers, then kubectl logs."""
    if not POD_SERVER:
        print("       (skipped: no fakekube-pod-server)")
        return
    fk = Fakekube(EXE, "--pods", "process", "--pod-command", "hello:1=" + POD_SERVER, "--pod-ready-delay", "200ms")
    try:
        fk.kubectl("create", "deployment", "hello", "--image=hello:1", "--replicas=2", "--port=8080",
                   "--", "fakekube-pod-server", "--listen", "$(POD_IP):8080")
        fk.kubectl("patch", "deployment", "hello", "--type=json", "-p",
                   '[{"op":"add","path":"/spec/template/spec/containers/0/env","value":[{"name":"POD_IP",'
                   '"valueFrom":{"fieldRef":{"fieldPath":"status.podIP"}}}]}]')
        p = fk.kubectl("rollout", "status", "deployment/hello", "--timeout=30s", check=False, timeout=90)
        if p.returncode != 0:
            print(fk.kubectl("get", "pods,rs", "-o", "wide").stdout)
            print(fk.kubectl("describe", "pods").stdout[-3000:])
            print(open(fk.log.name).read()[-3000:])
        expect(p.returncode == 0, p.stderr)
        fk.kubectl("expose", "deployment", "hello", "--port=80", "--target-port=8080")
        ips = wait_for("two endpoints", lambda: (fk.kubectl(
            "get", "endpoints", "hello", "-o", "jsonpath={.subsets[*].addresses[*].ip}").stdout.split() or None)
            if len(fk.kubectl("get", "endpoints", "hello", "-o",
                              "jsonpath={.subsets[*].addresses[*].ip}").stdout.split()) == 2 else None, timeout=30)
        import urllib.request
        for ip in ips:
            body = urllib.request.urlopen("http://%s:8080/" % ip, timeout=5).read().decode()
            expect(body.startswith("hello from hello-") and ip in body, body)
        pod = fk.kubectl("get", "pods", "-l", "app=hello", "-o", "jsonpath={.items[0].metadata.name}").stdout
        out = wait_for("pod log", lambda: fk.kubectl("logs", pod).stdout or None, timeout=10)
        expect("listening on" in out, out)
    finally:
        expect(fk.stop() == 0, "clean exit")


def test_drain_respects_pdb():
    k("create", "deployment", "drained", "--image=busybox:1", "--replicas=3")
    k("rollout", "status", "deployment/drained", "--timeout=60s")
    k("create", "pdb", "drained", "--selector=app=drained", "--min-available=2")
    wait_for("PDB status", lambda: k("get", "pdb", "drained", "-o", "jsonpath={.status.expectedPods}").stdout == "3")
    node = k("get", "pods", "-l", "app=drained", "-o", "jsonpath={.items[0].spec.nodeName}").stdout
    p = k("drain", node, "--ignore-daemonsets", "--timeout=90s", timeout=120)
    expect("drained" in p.stdout, p.stdout)
    out = k("get", "node", node).stdout
    expect("SchedulingDisabled" in out, out)
    wait_for("pods rescheduled away from the drained node", lambda: all(
        n and n != node for n in k("get", "pods", "-l", "app=drained", "-o",
                                   "jsonpath={.items[*].spec.nodeName}").stdout.split()) and
        len(k("get", "pods", "-l", "app=drained", "-o", "name").stdout.split()) == 3, timeout=60)
    k("uncordon", node)


def test_auth_failure():
    p = k("get", "pods", "--token=wrong-token", check=False)
    expect(p.returncode != 0 and "Unauthorized" in p.stderr, p.stderr)


def test_names_and_tokens():
    """Names a real API server refuses are refused, with its message; kubectl create token
    gives a ServiceAccount token the API accepts."""
    p = k("create", "service", "clusterip", "1shop.v2", "--tcp=80:8080", check=False)
    expect(p.returncode != 0 and 'Service "1shop.v2" is invalid: metadata.name: Invalid value: "1shop.v2": '
           "a DNS-1035 label must consist of lower case alphanumeric characters" in p.stderr, p.stderr)
    p = k("create", "namespace", "shop.v2", check=False)
    expect(p.returncode != 0 and "a lowercase RFC 1123 label must consist" in p.stderr, p.stderr)
    k("create", "configmap", "shop.v2")  # a subdomain is fine for a ConfigMap
    k("delete", "configmap", "shop.v2")
    k("create", "serviceaccount", "robot")
    token = k("create", "token", "robot").stdout.strip()
    expect(token.count(".") == 2, token)
    p = k("--token", token, "get", "serviceaccount", "robot", "-o", "name")
    expect(p.stdout.strip() == "serviceaccount/robot", p.stdout)
    p = k("create", "token", "robot", "--duration=1m", check=False)
    expect(p.returncode != 0 and "spec.expirationSeconds" in p.stderr, p.stderr)
    k("delete", "serviceaccount", "robot")
    p = k("--token", token, "get", "pods", check=False)
    expect(p.returncode != 0 and "Unauthorized" in p.stderr, p.stderr)


def main():
    global FK
    FK = Fakekube(EXE, "--pod-ready-delay", "200ms", "--nodes", "2")
    return run_tests_then_stop(FK, [
        ("crd_and_custom_resources", test_crd_and_custom_resources),
        ("patch_and_edit", test_patch_and_edit),
        ("deployment_rollout_scale", test_deployment_rollout_scale),
        ("delete_cascade", test_delete_cascade),
        ("get_watch", test_get_watch),
        ("server_side_apply_and_explain", test_server_side_apply_and_explain),
        ("namespaces_nodes_misc", test_namespaces_nodes_misc),
        ("drain_respects_pdb", test_drain_respects_pdb),
        ("auth_failure", test_auth_failure),
        ("names_and_tokens", test_names_and_tokens),
        ("process_pods_logs", test_process_pods_logs),
    ])


if __name__ == "__main__":
    sys.exit(main())

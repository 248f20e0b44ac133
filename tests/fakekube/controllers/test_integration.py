#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Integration tests of fakekube's simulated controllers, driven with the real kubectl.

usage: test_integration.py FAKEKUBE POD_SERVER SCENARIO
  SCENARIO: virtual | process | sandbox | libvirt

Each scenario starts its own fakekube on a free port (HTTPS, the kubeconfig it
writes) in a private temporary directory and stops it at the end.  Every wait
polls a condition with a deadline; nothing sleeps for synchronisation.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
FAILURES = []


class Fakekube:
    def __init__(self, binary, workdir, args):
        self.workdir = workdir
        self.kubeconfig = os.path.join(workdir, "kubeconfig")
        self.log_path = os.path.join(workdir, "fakekube.log")
        env = dict(os.environ, TMPDIR=workdir)
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [binary, "--listen", "127.0.0.1:0", "--kubeconfig-out", self.kubeconfig] + args,
            stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with open(self.log_path) as f:
                if '"ready"' in f.read():
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("fakekube did not become ready:\n" + open(self.log_path).read()[-3000:])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        # A clean stop exits 0 (a sanitizer build exits non-zero on leaks or errors).
        if self.proc.returncode != 0:
            print("FAIL fakekube exited with %d on SIGTERM" % self.proc.returncode, flush=True)
            FAILURES.append("fakekube exit status")

    def kubectl(self, *args, check=True, stdin=None):
        r = subprocess.run([KUBECTL, "--kubeconfig", self.kubeconfig] + list(args), input=stdin,
                           capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise RuntimeError("kubectl %s failed: %s%s" % (" ".join(args), r.stdout, r.stderr))
        return r.stdout

    def get(self, *args):
        return json.loads(self.kubectl("get", *args, "-o", "json"))

    def apply(self, manifest):
        self.kubectl("apply", "-f", "-", stdin=json.dumps(manifest))


def wait_for(what, condition, timeout=30.0, interval=0.1):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = condition()
            if last:
                return last
        except (RuntimeError, KeyError, IndexError, ValueError) as e:
            last = e
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


def check(name, fn):
    start = time.monotonic()
    try:
        fn()
        print("ok   %-55s %.1fs" % (name, time.monotonic() - start), flush=True)
    except Exception as e:  # report every failing check, then fail the test
        print("FAIL %-55s %s" % (name, e), flush=True)
        FAILURES.append(name)


def event_reasons(fk, name):
    return {e["reason"] for e in fk.get("events")["items"] if e["involvedObject"]["name"] == name}


def pods_of(fk, selector):
    return fk.get("pods", "-l", selector)["items"]


def ready(pod):
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in pod.get("status", {}).get("conditions", []))


def deployment(name, replicas, image, extra_spec=None, container=None):
    c = {"name": "main", "image": image}
    c.update(container or {})
    spec = {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [c]}}}
    spec.update(extra_spec or {})
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, "spec": spec}


def hpa(name, target, min_replicas, max_replicas, utilization, annotation=None, behavior=None):
    h = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
         "metadata": {"name": name},
         "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                  "minReplicas": min_replicas, "maxReplicas": max_replicas,
                  "metrics": [{"type": "Resource", "resource": {
                      "name": "cpu", "target": {"type": "Utilization", "averageUtilization": utilization}}}]}}
    if annotation is not None:
        h["metadata"]["annotations"] = {"fakekube.tripdeal.io/cpu-utilization": str(annotation)}
    if behavior:
        h["spec"]["behavior"] = behavior
    return h


# ---------------------------------------------------------------- virtual pods

def scenario_virtual(binary, pod_server, workdir):
    fk = Fakekube(binary, workdir, ["--nodes", "3", "--pod-ready-delay", "300ms", "--sync-period", "500ms"])
    try:
        def deployment_comes_up():
            fk.apply(deployment("web", 3, "nginx:1", container={"resources": {"requests": {"cpu": "100m"}}}))
            fk.kubectl("rollout", "status", "deployment/web", "--timeout=30s")
            d = fk.get("deployment", "web")
            assert d["status"]["readyReplicas"] == 3 and d["status"]["availableReplicas"] == 3, d["status"]
            conds = {c["type"]: c for c in d["status"]["conditions"]}
            assert conds["Available"]["status"] == "True", conds
            assert conds["Progressing"]["reason"] == "NewReplicaSetAvailable", conds
            rs = fk.get("replicasets", "-l", "app=web")["items"]
            assert len(rs) == 1, rs
            h = rs[0]["metadata"]["labels"]["pod-template-hash"]
            assert rs[0]["metadata"]["name"] == "web-" + h
            ref = rs[0]["metadata"]["ownerReferences"][0]
            assert ref["kind"] == "Deployment" and ref["uid"] == d["metadata"]["uid"]
            assert ref["controller"] and ref["blockOwnerDeletion"]
            pods = pods_of(fk, "app=web")
            assert len(pods) == 3
            ips = set()
            for p in pods:
                name = p["metadata"]["name"]
                assert name.startswith("web-" + h + "-") and len(name) == len("web-" + h + "-") + 5, name
                assert p["metadata"]["labels"]["pod-template-hash"] == h
                ref = p["metadata"]["ownerReferences"][0]
                assert ref["kind"] == "ReplicaSet" and ref["uid"] == rs[0]["metadata"]["uid"] and ref["controller"]
                assert p["status"]["phase"] == "Running" and ready(p)
                assert p["spec"]["nodeName"].startswith("node-")
                assert p["status"]["podIP"].startswith("127.0.")
                ips.add(p["status"]["podIP"])
            assert len(ips) == 3, "pod IPs must be unique"
            # spreading: 3 pods over 3 nodes
            assert len({p["spec"]["nodeName"] for p in pods}) == 3
            # the Events kubectl describe shows
            wait_for("controller events", lambda: "ScalingReplicaSet" in event_reasons(fk, "web") and
                     "SuccessfulCreate" in event_reasons(fk, rs[0]["metadata"]["name"]) and
                     "Scheduled" in event_reasons(fk, pods[0]["metadata"]["name"]))
        check("virtual: deployment -> replicaset -> 3 Ready pods", deployment_comes_up)

        def rolling_update_max_unavailable_zero():
            fk.kubectl("patch", "deployment", "web", "--type=merge", "-p", json.dumps(
                {"spec": {"strategy": {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}}}))
            fk.kubectl("set", "image", "deployment/web", "main=nginx:2")
            deadline = time.monotonic() + 40
            min_ready, max_total = 99, 0
            while time.monotonic() < deadline:
                pods = [p for p in pods_of(fk, "app=web") if "deletionTimestamp" not in p["metadata"]]
                min_ready = min(min_ready, sum(1 for p in pods if ready(p)))
                max_total = max(max_total, len(pods))
                d = fk.get("deployment", "web")
                st = d["status"]
                if (st.get("observedGeneration") == d["metadata"]["generation"] and st.get("updatedReplicas") == 3
                        and st.get("replicas") == 3 and st.get("availableReplicas") == 3):
                    break
                time.sleep(0.05)
            else:
                raise AssertionError("rollout did not finish")
            assert min_ready >= 3, "maxUnavailable 0 violated: only %d ready" % min_ready
            assert max_total <= 4, "maxSurge 1 violated: %d pods" % max_total
            images = {p["spec"]["containers"][0]["image"] for p in pods_of(fk, "app=web")
                      if "deletionTimestamp" not in p["metadata"]}
            assert images == {"nginx:2"}, images
            fk.kubectl("rollout", "status", "deployment/web", "--timeout=10s")
            assert "2" in fk.kubectl("rollout", "history", "deployment/web")
        check("virtual: rolling update honours maxUnavailable 0 / maxSurge 1", rolling_update_max_unavailable_zero)

        def rollout_undo_reuses_replicaset():
            fk.kubectl("rollout", "undo", "deployment/web")
            fk.kubectl("rollout", "status", "deployment/web", "--timeout=30s")
            rs = fk.get("replicasets", "-l", "app=web")["items"]
            assert len(rs) == 2, [r["metadata"]["name"] for r in rs]
            active = [r for r in rs if r["spec"]["replicas"] == 3]
            assert len(active) == 1 and active[0]["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1"
            assert active[0]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
        check("virtual: rollout undo scales the old ReplicaSet back up", rollout_undo_reuses_replicaset)

        def scale_subresource():
            fk.kubectl("scale", "deployment/web", "--replicas=5")
            scale = json.loads(fk.kubectl("get", "--raw", "/apis/apps/v1/namespaces/default/deployments/web/scale"))
            assert scale["spec"]["replicas"] == 5
            wait_for("5 ready pods", lambda: sum(1 for p in pods_of(fk, "app=web") if ready(p)) == 5)
            fk.kubectl("rollout", "status", "deployment/web", "--timeout=20s")
        check("virtual: scale subresource -> 5 Ready pods", scale_subresource)

        def endpoints_list_ready_pods():
            fk.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                      "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}})

            def five():
                ep = fk.get("endpoints", "web")
                subsets = ep.get("subsets", [])
                addresses = [a["ip"] for s in subsets for a in s.get("addresses", [])]
                ports = [p["port"] for s in subsets for p in s.get("ports", [])]
                return len(addresses) == 5 and ports == [8080]
            wait_for("5 endpoint addresses on port 8080", five)
            ips = sorted(p["status"]["podIP"] for p in pods_of(fk, "app=web") if "deletionTimestamp" not in p["metadata"])
            ep = fk.get("endpoints", "web")
            assert sorted(a["ip"] for a in ep["subsets"][0]["addresses"]) == ips
        check("virtual: Endpoints list the ready pod IPs and target port", endpoints_list_ready_pods)

        def hpa_scales_up_and_stabilizes():
            fk.apply(hpa("web", "web", 1, 8, 50, annotation=100,
                         behavior={"scaleDown": {"stabilizationWindowSeconds": 4}}))
            # 5 pods at 100 % against 50 %: ceil(5 * 2) = 10, clamped to maxReplicas 8
            wait_for("HPA scale-up to 8", lambda: fk.get("deployment", "web")["spec"]["replicas"] == 8, timeout=20)
            h = fk.get("hpa", "web")
            conds = {c["type"]: c for c in h["status"]["conditions"]}
            assert conds["ScalingActive"]["status"] == "True", conds
            assert h["status"]["currentMetrics"][0]["resource"]["current"]["averageUtilization"] == 100
            assert "lastScaleTime" in h["status"]
            fk.kubectl("annotate", "--overwrite", "hpa", "web", "fakekube.tripdeal.io/cpu-utilization=10")
            changed_at = time.monotonic()
            # the 4 s scale-down stabilization window keeps 8 for a while ...
            wait_for("ScaleDownStabilized", lambda: any(
                c.get("reason") == "ScaleDownStabilized" for c in fk.get("hpa", "web")["status"]["conditions"]),
                timeout=10)
            assert fk.get("deployment", "web")["spec"]["replicas"] == 8
            # ... then it scales down: ceil(8 * 10 / 50) = 2
            wait_for("HPA scale-down to 2", lambda: fk.get("deployment", "web")["spec"]["replicas"] == 2, timeout=20)
            assert time.monotonic() - changed_at >= 3.0, "scaled down inside the stabilization window"
            # a raised floor is its own reason, not the metric's (what `kubectl describe hpa` shows)
            fk.kubectl("patch", "hpa", "web", "--type=merge", "-p", '{"spec":{"minReplicas":3}}')
            wait_for("the floor of 3", lambda: fk.get("deployment", "web")["spec"]["replicas"] == 3, timeout=20)

            def rescale_messages():
                return [e["message"] for e in fk.get("events")["items"]
                        if e["involvedObject"]["name"] == "web" and e["reason"] == "SuccessfulRescale"]
            wait_for("the floor's SuccessfulRescale Event", lambda: any(
                m == "New size: 3; reason: Current number of replicas below Spec.MinReplicas"
                for m in rescale_messages()), timeout=10)
            assert "New size: 8; reason: cpu resource utilization (percentage of request) above target" \
                in rescale_messages(), rescale_messages()
            fk.kubectl("delete", "hpa", "web")
            fk.kubectl("scale", "deployment/web", "--replicas=2")  # as the checks below expect it
            wait_for("2 replicas again", lambda: len(pods_of(fk, "app=web")) == 2, timeout=20)
        check("virtual: HPA scales up on utilization and honours stabilization", hpa_scales_up_and_stabilizes)

        def unschedulable_pod_pending():
            fk.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "huge"},
                      "spec": {"containers": [{"name": "c", "image": "x",
                                               "resources": {"requests": {"cpu": "64"}}}]}})

            def pending():
                p = fk.get("pod", "huge")
                c = [c for c in p["status"].get("conditions", []) if c["type"] == "PodScheduled"]
                return p["status"].get("phase") == "Pending" and c and c[0]["status"] == "False" and \
                    "Insufficient cpu" in c[0]["message"] and c[0]["message"]
            message = wait_for("PodScheduled=False", pending)
            assert message.startswith("0/3 nodes are available"), message
            fk.kubectl("delete", "pod", "huge", "--wait=true", "--timeout=20s")
            # cordoned nodes take no new pods
            for n in ("node-1", "node-2", "node-3"):
                fk.kubectl("cordon", n)
            fk.kubectl("scale", "deployment/web", "--replicas=3")
            wait_for("a pending replica", lambda: any(
                not p["spec"].get("nodeName") for p in pods_of(fk, "app=web")))
            fk.kubectl("uncordon", "node-2")
            wait_for("3 ready again", lambda: sum(1 for p in pods_of(fk, "app=web") if ready(p)) == 3)
        check("virtual: scheduler leaves unfit pods Pending (PodScheduled=False)", unschedulable_pod_pending)
    finally:
        fk.stop()


# ---------------------------------------------------------------- process pods

def process_web(name, replicas, args, extra_container=None):
    c = {"args": args,
         "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                 {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                 {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                 {"name": "GREETING", "value": "hi-$(POD_NAME)"}],
         "ports": [{"containerPort": 8080, "name": "http"}],
         "resources": {"requests": {"cpu": "100m"}},
         "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 1,
                            "failureThreshold": 1},
         "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 1,
                           "failureThreshold": 2}}
    c.update(extra_container or {})
    return deployment(name, replicas, "demo/web:1", container=c,
                      extra_spec={"template": {"metadata": {"labels": {"app": name}},
                                               "spec": {"terminationGracePeriodSeconds": 5,
                                                        "containers": [dict({"name": "main", "image": "demo/web:1"}, **c)]}}})


def http_get(url, timeout=2):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode()


def pod_dir(workdir, pod):
    base = [d for d in os.listdir(workdir) if d.startswith("fakekube-controllers-")]
    assert len(base) == 1, base
    m = pod["metadata"]
    return os.path.join(workdir, base[0], "pods", "%s_%s_%s" % (m["namespace"], m["name"], m["uid"]))


def scenario_process(binary, pod_server, workdir):
    fk = Fakekube(binary, workdir, ["--nodes", "2", "--pods", "process", "--sync-period", "1s",
                                    "--pod-command", "demo/web=" + pod_server, "--pod-command", "demo/sh=/bin/sh"])
    try:
        def pods_serve_http():
            fk.apply(process_web("web", 2, ["--listen", "$(POD_IP):8080"]))
            fk.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                      "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]}})
            fk.kubectl("rollout", "status", "deployment/web", "--timeout=30s")
            pods = pods_of(fk, "app=web")
            assert len(pods) == 2
            for p in pods:
                ip = p["status"]["podIP"]
                status, body = http_get("http://%s:8080/" % ip)
                assert status == 200 and body.strip() == "hello from %s at %s:8080" % (p["metadata"]["name"], ip), body
                assert http_get("http://%s:8080/env/POD_NAMESPACE" % ip)[1] == "default"
                assert http_get("http://%s:8080/env/GREETING" % ip)[1] == "hi-" + p["metadata"]["name"]

            def endpoints():
                ep = fk.get("endpoints", "web")
                return sorted("%s:%d" % (a["ip"], s["ports"][0]["port"]) for s in ep.get("subsets", [])
                              for a in s.get("addresses", []))
            want = sorted("%s:8080" % p["status"]["podIP"] for p in pods)
            wait_for("endpoints = pod IP:8080", lambda: endpoints() == want)
            for target in endpoints():
                assert http_get("http://%s/" % target)[0] == 200
            # the server serves kubectl logs from the controllers' log files
            out = fk.kubectl("logs", pods[0]["metadata"]["name"])
            assert "listening on %s:8080" % pods[0]["status"]["podIP"] in out, out
        check("process: pods serve HTTP on their own IPs; Endpoints list them", pods_serve_http)

        def readiness_probe():
            p = pods_of(fk, "app=web")[0]
            d = pod_dir(workdir, p)
            open(os.path.join(d, "not-ready"), "w").close()
            name = p["metadata"]["name"]
            wait_for("pod not ready", lambda: not ready(fk.get("pod", name)), timeout=15)
            wait_for("in notReadyAddresses", lambda: any(
                a["ip"] == p["status"]["podIP"] for s in fk.get("endpoints", "web").get("subsets", [])
                for a in s.get("notReadyAddresses", [])), timeout=10)
            os.unlink(os.path.join(d, "not-ready"))
            wait_for("pod ready again", lambda: ready(fk.get("pod", name)), timeout=15)
        check("process: readiness probe drives Ready and Endpoints", readiness_probe)

        def liveness_probe_restarts():
            p = pods_of(fk, "app=web")[0]
            name = p["metadata"]["name"]
            d = pod_dir(workdir, p)
            before = p["status"]["containerStatuses"][0]["restartCount"]
            open(os.path.join(d, "unhealthy"), "w").close()
            try:
                wait_for("restartCount increment", lambda: fk.get("pod", name)["status"]["containerStatuses"][0]
                         ["restartCount"] > before, timeout=20)
            finally:
                os.unlink(os.path.join(d, "unhealthy"))
            wait_for("ready after restart", lambda: ready(fk.get("pod", name)), timeout=20)
            assert {"Started", "Unhealthy", "Killing"} <= event_reasons(fk, name), event_reasons(fk, name)
            with open(os.path.join(d, "main.log")) as f:
                text = f.read()
            assert text.count("listening on") >= 2
            assert "received SIGTERM" in text, "a liveness restart starts with SIGTERM"
        check("process: failed liveness probe restarts the process", liveness_probe_restarts)

        def delete_sends_sigterm():
            p = pods_of(fk, "app=web")[0]
            d = pod_dir(workdir, p)
            ip = p["status"]["podIP"]
            fk.kubectl("delete", "pod", p["metadata"]["name"], "--wait=true", "--timeout=30s")
            with open(os.path.join(d, "main.log")) as f:
                assert "received SIGTERM" in f.read()
            try:
                http_get("http://%s:8080/" % ip, timeout=1)
                raise AssertionError("the deleted pod's process still serves")
            except OSError:
                pass
            wait_for("replacement ready", lambda: sum(1 for p in pods_of(fk, "app=web") if ready(p)) == 2, timeout=30)
        check("process: deleting a pod SIGTERMs its process; RS replaces it", delete_sends_sigterm)

        def sigkill_after_grace_period():
            # A container that ignores SIGTERM, with a child: both die by SIGKILL after the 2 s grace.
            fk.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "stubborn"},
                      "spec": {"terminationGracePeriodSeconds": 2, "containers": [{
                          "name": "main", "image": "demo/sh",
                          "command": ["sh", "-c", "trap '' TERM; sleep 300 & echo pids $$$$ $!; wait; wait"]}]}})
            wait_for("stubborn running", lambda: fk.get("pod", "stubborn")["status"].get("phase") == "Running")
            log = os.path.join(pod_dir(workdir, fk.get("pod", "stubborn")), "main.log")
            pids = [int(x) for x in wait_for("pids", lambda: open(log).read().split()[1:3])]

            def dead(pid):
                try:
                    with open("/proc/%d/stat" % pid) as f:
                        return f.read().rsplit(")", 1)[1].split()[0] == "Z"
                except OSError:
                    return True
            start = time.monotonic()
            fk.kubectl("delete", "pod", "stubborn", "--wait=false")
            wait_for("shell and child killed", lambda: all(dead(p) for p in pids), timeout=15, interval=0.02)
            took = time.monotonic() - start
            # SIGTERM is ignored; SIGKILL comes after the 2 s grace period and takes the child too
            assert 1.5 <= took < 10, "processes died %.1fs after the delete, expected ~2 s" % took
        check("process: SIGKILL after terminationGracePeriodSeconds, children too", sigkill_after_grace_period)

        def startup_probe_gates_and_restarts():
            c = {"name": "main", "image": "demo/web:1", "args": ["--listen", "$(POD_IP):8080"],
                 "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
                 "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 1},
                 "startupProbe": {"httpGet": {"path": "/never", "port": 8080}, "periodSeconds": 1,
                                  "failureThreshold": 2}}
            fk.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "nostart"},
                      "spec": {"terminationGracePeriodSeconds": 1, "containers": [c]}})
            wait_for("restart by the startup probe", lambda: fk.get("pod", "nostart")["status"]
                     ["containerStatuses"][0]["restartCount"] >= 1, timeout=20)
            st = fk.get("pod", "nostart")["status"]
            assert not ready(fk.get("pod", "nostart")), "readiness ran before the startup probe passed"
            assert not st["containerStatuses"][0]["started"], st["containerStatuses"][0]
            assert "Unhealthy" in event_reasons(fk, "nostart")
            fk.kubectl("delete", "pod", "nostart", "--wait=true", "--timeout=30s")
        check("process: startupProbe gates the other probes and restarts on failure",
              startup_probe_gates_and_restarts)

        def init_containers_run_first():
            # The pod's directory is shared by its containers (like an emptyDir at the working directory).
            # The init container blocks until the test creates "go" in that directory (bounded: it gives
            # up after ~60 s), so "the pod waits for its init container" is checked while the init
            # container is provably still running, however loaded the machine is.
            fk.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "withinit"},
                      "spec": {"terminationGracePeriodSeconds": 1,
                               "initContainers": [{"name": "prepare", "image": "demo/sh", "command": [
                                   "sh", "-c", "i=0; while [ ! -e go ] && [ $i -lt 1200 ]; do sleep 0.05; "
                                   "i=$((i+1)); done; [ -e go ] && echo prepared > marker"]}],
                               "containers": [{"name": "main", "image": "demo/sh", "command": [
                                   "sh", "-c", "cat marker; exec sleep 300"]}]}})

            def init_running():
                pod = fk.get("pod", "withinit")
                inits = pod.get("status", {}).get("initContainerStatuses") or []
                return inits and "running" in inits[0]["state"] and pod
            p = wait_for("init container running", init_running)
            assert p["status"]["phase"] == "Pending", p["status"]
            assert [c["status"] for c in p["status"]["conditions"] if c["type"] == "Initialized"] == ["False"]
            assert all("running" not in c["state"] for c in p["status"].get("containerStatuses", [])), p["status"]
            open(os.path.join(pod_dir(workdir, p), "go"), "w").close()
            wait_for("main running", lambda: fk.get("pod", "withinit")["status"]["phase"] == "Running" and
                     ready(fk.get("pod", "withinit")), timeout=20)
            st = fk.get("pod", "withinit")["status"]
            init = st["initContainerStatuses"][0]
            assert init["state"]["terminated"]["reason"] == "Completed" and init["ready"], init
            # order from the recorded times (RFC 3339 UTC, same format: string order is time order)
            main_started = st["containerStatuses"][0]["state"]["running"]["startedAt"]
            assert init["state"]["terminated"]["finishedAt"] <= main_started, st
            log = os.path.join(pod_dir(workdir, fk.get("pod", "withinit")), "main.log")
            wait_for("main saw the init container's work", lambda: "prepared" in open(log).read(), timeout=5)
            fk.kubectl("delete", "pod", "withinit", "--wait=true", "--timeout=30s")
            # A failing init container with restartPolicy Never fails the pod; the main one never starts.
            fk.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "badinit"},
                      "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
                               "initContainers": [{"name": "prepare", "image": "demo/sh",
                                                   "command": ["sh", "-c", "exit 3"]}],
                               "containers": [{"name": "main", "image": "demo/sh",
                                               "command": ["sh", "-c", "sleep 300"]}]}})
            wait_for("pod Failed", lambda: fk.get("pod", "badinit")["status"].get("phase") == "Failed", timeout=20)
            st = fk.get("pod", "badinit")["status"]
            assert st["initContainerStatuses"][0]["state"]["terminated"]["exitCode"] == 3, st
            assert "running" not in st["containerStatuses"][0]["state"], st
            fk.kubectl("delete", "pod", "badinit", "--wait=true", "--timeout=30s")
        check("process: init containers run to completion first, in order", init_containers_run_first)

        def hpa_measures_process_cpu():
            fk.apply(process_web("burn", 1, ["--listen", "$(POD_IP):8080", "--burn"]))
            fk.kubectl("rollout", "status", "deployment/burn", "--timeout=30s")
            # one spinning thread against a 100m request: far above 50 % -> maxReplicas
            fk.apply(hpa("burn", "burn", 1, 2, 50))
            wait_for("HPA scale-up from /proc CPU", lambda: fk.get("deployment", "burn")["spec"]["replicas"] == 2,
                     timeout=40)
            h = fk.get("hpa", "burn")
            # (the utilization now depends on how busy the machine is; that it was measured is what counts)
            assert isinstance(h["status"]["currentMetrics"][0]["resource"]["current"]["averageUtilization"], int)
            assert "lastScaleTime" in h["status"], h["status"]
            fk.kubectl("delete", "hpa", "burn")
            fk.kubectl("delete", "deployment", "burn")
        check("process: HPA scales on CPU measured from /proc", hpa_measures_process_cpu)
    finally:
        ips = []
        try:
            ips = [p["status"]["podIP"] for p in pods_of(fk, "app=web")]
        except Exception:
            pass
        fk.stop()

    def stop_kills_processes():
        for ip in ips:
            try:
                http_get("http://%s:8080/" % ip, timeout=1)
                raise AssertionError("a process pod outlived fakekube")
            except OSError:
                pass
    check("process: stopping fakekube stops every process pod", stop_kills_processes)


# ---------------------------------------------------------------- the process pod sandbox

SANDBOX_SCRIPT = r"""
sa=/var/run/secrets/kubernetes.io/serviceaccount
echo "uid=$(id -u)"
echo "caps=$(sed -n 's/^CapEff:\t*//p' /proc/self/status)"
echo "gid=$(id -g)"
echo "groups=$(id -G)"
echo "secret=$(cat $MNT/sec/pw)"
echo "mode=$(stat -L -c %a $MNT/sec/pw)"
echo "owner=$(stat -L -c %u:%g $MNT/sec/pw)"
echo "config=$(cat $MNT/cfg/greeting)"
echo "downward=$(cat $MNT/info/labels)"
if [ -r $sa/token ]; then echo "token=$(cat $sa/token)"; else echo "token=none"; fi
if [ -r $sa/namespace ]; then echo "namespace=$(cat $sa/namespace)"; fi
if touch /fakekube-sandbox-probe 2>/dev/null; then echo "root=writable"; rm -f /fakekube-sandbox-probe; else echo "root=read-only"; fi
if touch $MNT/sec/x 2>/dev/null; then echo "secret-volume=writable"; else echo "secret-volume=read-only"; fi
if touch /tmp/scratch; then echo "tmp=writable"; fi
echo "report-done"
while true; do cat $MNT/cfg/greeting > /tmp/greeting-now; sleep 0.2; done
"""


def report_of(fk, pod):
    out = fk.kubectl("logs", pod, check=False)
    if "report-done" not in out:
        return None
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def scenario_sandbox(binary, pod_server, workdir):
    """Process pods as a kubelet runs them (root only): volumes, token, read-only root, runAsUser."""
    if os.geteuid() != 0:
        print("skip: process pod sandboxes (mount namespaces, runAsUser) need root")
        sys.exit(77)
    # Mount points are made on the host as a runtime makes them in an image: use our own.
    mnt = "/run/fakekube-sandbox-test-%d" % os.getpid()
    fk = Fakekube(binary, workdir, ["--nodes", "1", "--pods", "process", "--pod-command", "demo/sh=/bin/sh"])
    try:
        def pod(name, spec_extra=None, container_extra=None, volumes=True):
            c = {"name": "main", "image": "demo/sh:1", "args": ["-c", SANDBOX_SCRIPT],
                 "env": [{"name": "MNT", "value": mnt}]}
            spec = {"terminationGracePeriodSeconds": 1, "containers": [c]}
            if volumes:
                c["volumeMounts"] = [{"name": "tmp", "mountPath": "/tmp"},
                                     {"name": "sec", "mountPath": mnt + "/sec"},
                                     {"name": "cfg", "mountPath": mnt + "/cfg", "readOnly": True},
                                     {"name": "info", "mountPath": mnt + "/info"}]
                spec["volumes"] = [
                    {"name": "tmp", "emptyDir": {}},
                    {"name": "sec", "secret": {"secretName": "creds", "defaultMode": 0o400,
                                               "items": [{"key": "password", "path": "pw", "mode": 0o440}]}},
                    {"name": "cfg", "configMap": {"name": "settings"}},
                    {"name": "info", "downwardAPI": {"items": [{"path": "labels", "fieldRef": {
                        "fieldPath": "metadata.labels"}}]}}]
            spec.update(spec_extra or {})
            c.update(container_extra or {})
            return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
                    "spec": spec}

        restricted_pod = {"securityContext": {"runAsUser": 65532, "runAsGroup": 65532, "fsGroup": 2000,
                                               "runAsNonRoot": True}}
        restricted_container = {"securityContext": {"readOnlyRootFilesystem": True,
                                                    "allowPrivilegeEscalation": False,
                                                    "capabilities": {"drop": ["ALL"]}}}

        def volumes_token_identity():
            # The secret does not exist yet: the pod waits with FailedMount, then starts.
            fk.kubectl("create", "configmap", "settings", "--from-literal=greeting=hello")
            fk.apply(pod("restricted", restricted_pod, restricted_container))
            wait_for("FailedMount event", lambda: "FailedMount" in event_reasons(fk, "restricted"), timeout=20)
            state = fk.get("pod", "restricted")["status"]["containerStatuses"][0]["state"]
            assert state.get("waiting", {}).get("reason") == "ContainerCreating", state
            fk.kubectl("create", "secret", "generic", "creds", "--from-literal=password=hunter2")
            r = wait_for("the pod's report", lambda: report_of(fk, "restricted"), timeout=30)
            assert r["uid"] == "65532" and r["gid"] == "65532", r
            assert "2000" in r["groups"].split(), r  # fsGroup joins the supplementary groups
            assert r["secret"] == "hunter2" and r["mode"] == "440" and r["owner"] == "0:2000", r
            assert r["config"] == "hello", r
            assert r["downward"] == 'app="restricted"', r
            assert r["namespace"] == "default", r
            assert r["root"] == "read-only" and r["secret-volume"] == "read-only" and r["tmp"] == "writable", r
            # The projected token is the pod's ServiceAccount's, accepted by the API ...
            token = r["token"]
            assert token.count(".") == 2, token
            out = fk.kubectl("--token", token, "get", "pod", "restricted", "-o", "name")
            assert out.strip() == "pod/restricted", out
            assert fk.get("serviceaccount", "default")["metadata"]["name"] == "default"
            # ... and nothing of the pod's mounts is visible on the host.
            assert os.listdir(mnt + "/sec") == [], os.listdir(mnt + "/sec")
        check("sandbox: volumes at their mountPath, token, read-only root, runAsUser/fsGroup", volumes_token_identity)

        def configmap_update_reaches_the_pod():
            d = pod_dir(workdir, fk.get("pod", "restricted"))
            now = os.path.join(d, "volumes", "tmp", "greeting-now")
            wait_for("the pod reads the ConfigMap", lambda: os.path.exists(now) and open(now).read() == "hello")
            fk.kubectl("patch", "configmap", "settings", "-p", '{"data":{"greeting":"bonjour"}}')
            wait_for("the update in the pod's volume", lambda: open(now).read() == "bonjour", timeout=20)
            # A new key appears, a removed one disappears (no dangling name left behind).
            extra = os.path.join(d, "volumes", "cfg", "extra")
            fk.kubectl("patch", "configmap", "settings", "-p", '{"data":{"extra":"1"}}')
            wait_for("a new key", lambda: os.path.exists(extra) and open(extra).read() == "1", timeout=20)
            fk.kubectl("patch", "configmap", "settings", "--type=json", "-p", '[{"op":"remove","path":"/data/extra"}]')
            wait_for("a removed key", lambda: not os.path.lexists(extra), timeout=20)
        check("sandbox: ConfigMap updates (changed, added, removed keys) reach the mounted volume",
              configmap_update_reaches_the_pod)

        def no_token_when_automount_is_off():
            fk.apply(pod("no-token", {"automountServiceAccountToken": False}, volumes=False))
            r = wait_for("report", lambda: report_of(fk, "no-token"), timeout=30)
            assert r["token"] == "none" and r["uid"] == "0" and r["root"] == "writable", r
            # A root container keeps a runtime's default capabilities, not all of root's.
            assert r["caps"] == "00000000a80425fb", r
            fk.apply({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "quiet"},
                      "automountServiceAccountToken": False})
            fk.apply(pod("quiet", {"serviceAccountName": "quiet"}, volumes=False))
            r = wait_for("report", lambda: report_of(fk, "quiet"), timeout=30)
            assert r["token"] == "none", r
        check("sandbox: automountServiceAccountToken false (pod or ServiceAccount) mounts no token",
              no_token_when_automount_is_off)

        def capabilities_dropped():
            fk.apply(pod("caps", {"automountServiceAccountToken": False},
                         {"securityContext": {"capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}},
                         volumes=False))
            r = wait_for("report", lambda: report_of(fk, "caps"), timeout=30)
            assert r["uid"] == "0" and r["caps"] == "0000000000000400", r
            # The restricted pod (non-root, drop ALL) has none.
            assert report_of(fk, "restricted")["caps"] == "0000000000000000"
        check("sandbox: capabilities: runtime defaults, drop ALL, add NET_BIND_SERVICE", capabilities_dropped)

        def run_as_non_root_refused():
            fk.apply(pod("rooty", {"securityContext": {"runAsNonRoot": True}}, volumes=False))

            def refused():
                st = fk.get("pod", "rooty")["status"]["containerStatuses"][0]["state"].get("waiting", {})
                return st.get("reason") == "CreateContainerConfigError" and \
                    "runAsNonRoot and image will run as root" in st.get("message", "")
            wait_for("CreateContainerConfigError", refused, timeout=20)
        check("sandbox: runAsNonRoot without a runAsUser is refused", run_as_non_root_refused)

        def deleting_removes_volumes_and_token():
            p = fk.get("pod", "restricted")
            d = pod_dir(workdir, p)
            token = report_of(fk, "restricted")["token"]
            fk.kubectl("delete", "pod", "restricted", "--wait=true", "--timeout=30s")
            wait_for("volumes removed with the pod", lambda: not os.path.exists(os.path.join(d, "volumes")))
            r = subprocess.run([KUBECTL, "--kubeconfig", fk.kubeconfig, "--token", token, "get", "pods"],
                               capture_output=True, text=True, timeout=60)
            assert r.returncode != 0 and "Unauthorized" in r.stderr, (r.returncode, r.stderr)
        check("sandbox: deleting the pod removes its volumes and invalidates its token",
              deleting_removes_volumes_and_token)
    finally:
        fk.stop()
        shutil.rmtree(mnt, ignore_errors=True)

    # Not root: today's behaviour (no namespace, no volumes, no identity change), logged once.
    setpriv = shutil.which("setpriv")
    if not setpriv:
        print("skip  sandbox: not root (setpriv missing)", flush=True)
        return
    unprivileged = tempfile.mkdtemp(prefix="fakekube-nonroot-")
    os.chmod(unprivileged, 0o777)
    wrapper = os.path.join(unprivileged, "fakekube-as-nobody")
    with open(wrapper, "w") as f:
        f.write('#!/bin/sh\nexec %s --reuid=65534 --regid=65534 --clear-groups %s "$@"\n' % (setpriv, binary))
    os.chmod(wrapper, 0o755)
    nobody = None
    try:
        nobody = Fakekube(wrapper, unprivileged, ["--nodes", "1", "--pods", "process",
                                                  "--pod-command", "demo/sh=/bin/sh"])

        def not_root_falls_back():
            nobody.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "plain"}, "spec": {
                "securityContext": {"runAsUser": 1234},
                "volumes": [{"name": "tmp", "emptyDir": {}}],
                "containers": [{"name": "main", "image": "demo/sh:1", "args": [
                    "-c", "echo uid=$(id -u); test -e %s/token || echo token=none; echo report-done; "
                    "sleep 30" % "/var/run/secrets/kubernetes.io/serviceaccount"],
                    "volumeMounts": [{"name": "tmp", "mountPath": mnt + "/never"}]}]}})
            r = wait_for("report", lambda: report_of(nobody, "plain"), timeout=30)
            assert r["uid"] == "65534" and r["token"] == "none", r
            assert not os.path.exists(mnt + "/never"), "a mount point was made without a sandbox"
            with open(nobody.log_path) as f:
                assert f.read().count("no mount namespaces (not root)") == 1
        check("sandbox: not root, process pods run as before and it is logged once", not_root_falls_back)
    finally:
        if nobody:
            nobody.stop()
        shutil.rmtree(unprivileged, ignore_errors=True)
        shutil.rmtree(mnt, ignore_errors=True)


# ---------------------------------------------------------------- libvirt nodes

DOMAIN_XML = """<domain type='qemu'>
  <name>%s</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <metadata>
    <tripdeal:node xmlns:tripdeal="https://tripdeal.io/vmctl/1">
      <tripdeal:pool>test</tripdeal:pool>
      <tripdeal:owner>default/demo</tripdeal:owner>
    </tripdeal:node>
  </metadata>
  <devices></devices>
</domain>
"""


def virsh(uri, *args, check_rc=True):
    r = subprocess.run(["virsh", "-c", uri] + list(args), capture_output=True, text=True, timeout=60)
    if check_rc and r.returncode != 0:
        raise RuntimeError("virsh %s: %s" % (" ".join(args), r.stderr))
    return r.stdout


def scenario_libvirt(binary, pod_server, workdir):
    uri = os.environ.get("TRIPDEAL_TEST_QEMU_URI")
    if not uri or not shutil.which("virsh"):
        print("skip: TRIPDEAL_TEST_QEMU_URI is not set")
        sys.exit(77)
    name = "fakekube-test-%d" % os.getpid()
    xml = os.path.join(workdir, "domain.xml")
    with open(xml, "w") as f:
        f.write(DOMAIN_XML % name)
    virsh(uri, "define", xml)
    fk = None
    try:
        virsh(uri, "start", name)
        fk = Fakekube(binary, workdir, ["--nodes", "0", "--libvirt-uri", uri, "--node-boot-delay", "1s",
                                        "--pods", "process", "--pod-command", "demo/web=" + pod_server])

        def node_registers():
            n = wait_for("node for the domain", lambda: fk.get("nodes")["items"] and fk.get("node", name), timeout=30)
            wait_for("node Ready", lambda: any(c["type"] == "Ready" and c["status"] == "True"
                                               for c in fk.get("node", name)["status"]["conditions"]), timeout=30)
            n = fk.get("node", name)
            assert n["metadata"]["labels"]["tripdeal.io/pool"] == "test"
            assert n["metadata"]["annotations"]["tripdeal.io/owner"] == "default/demo"
        check("libvirt: a running TripDeal domain becomes a Ready Node", node_registers)

        def node_dies_and_pods_are_evicted():
            tol = [{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
                    "tolerationSeconds": 2}]
            fk.apply(deployment("app", 1, "demo/web:1", extra_spec={"template": {
                "metadata": {"labels": {"app": "app"}},
                "spec": {"tolerations": tol, "nodeSelector": {"kubernetes.io/hostname": name},
                         "containers": [{"name": "main", "image": "demo/web:1",
                                         "args": ["--listen", "$(POD_IP):8080"],
                                         "env": [{"name": "POD_IP", "valueFrom": {
                                             "fieldRef": {"fieldPath": "status.podIP"}}}]}]}}}))
            fk.kubectl("rollout", "status", "deployment/app", "--timeout=30s")
            first = pods_of(fk, "app=app")[0]
            assert first["spec"]["nodeName"] == name
            url = "http://%s:8080/" % first["status"]["podIP"]
            wait_for("the process pod serves", lambda: http_get(url)[0] == 200)
            virsh(uri, "destroy", name)

            def process_dead():
                try:
                    http_get(url, timeout=1)
                    return False
                except OSError:
                    return True
            # a dead host: the pod's process dies with the node, before any eviction
            wait_for("process killed with its node", process_dead, timeout=30)
            wait_for("pod marked not Ready", lambda: not ready(fk.get("pod", first["metadata"]["name"])), timeout=30)

            def unreachable():
                n = fk.get("node", name)
                ready_status = [c["status"] for c in n["status"]["conditions"] if c["type"] == "Ready"]
                taints = {(t["key"], t["effect"]) for t in n["spec"].get("taints", [])}
                return ready_status == ["Unknown"] and ("node.kubernetes.io/unreachable", "NoExecute") in taints
            wait_for("node NotReady with the unreachable taint", unreachable, timeout=30)
            # evicted after its 2 s toleration; the replacement has no node to go to
            wait_for("eviction", lambda: any(
                p["metadata"]["uid"] != first["metadata"]["uid"] for p in pods_of(fk, "app=app")), timeout=30)
            # the evicted pod stays Terminating: nobody can confirm its containers are gone ...
            old = fk.get("pod", first["metadata"]["name"])
            assert "deletionTimestamp" in old["metadata"], old["metadata"]
            virsh(uri, "undefine", name)
            wait_for("node deleted with its domain", lambda: not any(
                n["metadata"]["name"] == name for n in fk.get("nodes")["items"]), timeout=30)
            # ... until its node is deleted
            wait_for("terminating pod removed with its node", lambda: all(
                p["metadata"]["uid"] != first["metadata"]["uid"] for p in pods_of(fk, "app=app")), timeout=30)
        check("libvirt: a stopped domain's node goes NotReady, its process dies, pods are evicted, undefine deletes it",
              node_dies_and_pods_are_evicted)
    finally:
        if fk:
            fk.stop()
        virsh(uri, "destroy", name, check_rc=False)
        virsh(uri, "undefine", name, check_rc=False)


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    binary, pod_server, scenario = sys.argv[1:4]
    if not os.access(binary, os.X_OK):
        print("fakekube binary not found at %s (build it: meson compile -C BUILD)" % binary)
        return 1
    workdir = tempfile.mkdtemp(prefix="fakekube-ctl-test-")
    try:
        {"virtual": scenario_virtual, "process": scenario_process, "sandbox": scenario_sandbox,
         "libvirt": scenario_libvirt}[scenario](
            binary, pod_server, workdir)
    finally:
        if FAILURES:
            log = os.path.join(workdir, "fakekube.log")
            if os.path.exists(log):
                print("---- fakekube log (tail) ----")
                print(open(log).read()[-4000:])
        shutil.rmtree(workdir, ignore_errors=True)
    if FAILURES:
        print("%d check(s) failed: %s" % (len(FAILURES), ", ".join(FAILURES)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

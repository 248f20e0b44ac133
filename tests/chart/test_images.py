#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""pipelines/build-images, and proof each image boots though no container
runtime runs here: unpack the OCI archive (skopeo + umoci) and run its
entrypoint in a chroot of that root file system as user 65532 — `--version`;
the app answering /healthz; the operator connecting to fakekube, reconciling
a TripDeal, and loading its node-pool module (no /proc in the chroot: found
where the loader looks without it). Checks the image config (user 65532,
entrypoint, OCI labels) and that no shell or package manager is inside.
Skipped (77) where buildah cannot build: not root, or buildah/skopeo/umoci
missing. IMAGE_SIZES_OUT=FILE writes the sizes (bench/RESULTS.md uses them)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.environ["SOURCE_ROOT"]
BUILD_ROOT = os.environ["BUILD_ROOT"]
sys.path.insert(0, os.path.join(SOURCE_ROOT, "tests", "operator", "e2e"))
from harness import SECRET_AND_NS, Cluster, condition, free_port, log, tripdeal_yaml, wait_for  # noqa: E402

failures = []


def check(cond, what):
    log(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def sh(*argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=600, **kw)


def unpack(archive, name, work):
    oci = os.path.join(work, name + "-oci")
    bundle = os.path.join(work, name + "-bundle")
    sh("skopeo", "copy", "--quiet", f"oci-archive:{archive}", f"oci:{oci}:image")
    sh("umoci", "unpack", "--image", f"{oci}:image", bundle)
    config = json.loads(sh("skopeo", "inspect", "--config", f"oci-archive:{archive}").stdout)
    return bundle, os.path.join(bundle, "rootfs"), config["config"]


# The device nodes every OCI runtime gives a container (runtime-spec "default
# devices"); /proc is left out on purpose (the node-pool module must load
# without it).
DEVICES = ("null", "zero", "full", "random", "urandom")


def in_chroot(rootfs, *argv):
    """argv in a chroot of rootfs as 65532, with the default devices bound in
    a private mount namespace (gone with the process)."""
    os.makedirs(os.path.join(rootfs, "dev"), exist_ok=True)
    binds = []
    for d in DEVICES:
        target = os.path.join(rootfs, "dev", d)
        if not os.path.exists(target):
            open(target, "w").close()
        binds += ["mount", "--bind", "/dev/" + d, target, "&&"]
    script = " ".join(binds) + ' exec chroot --userspec=65532:65532 "$@"'
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, "sh", rootfs, *argv]


def http_status(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status
    except Exception:
        return None


def check_image(name, rootfs, config, entrypoint):
    check(config.get("User") == "65532:65532", f"{name}: runs as 65532 ({config.get('User')})")
    check(config.get("Entrypoint") == [entrypoint], f"{name}: entrypoint {config.get('Entrypoint')}")
    labels = config.get("Labels") or {}
    check(labels.get("org.opencontainers.image.version") == "0.1.0-test", f"{name}: --image-version became the version label")
    for key in ("source", "revision", "version"):
        check(labels.get("org.opencontainers.image." + key),
              f"{name}: label org.opencontainers.image.{key}={labels.get('org.opencontainers.image.' + key)}")
    for path in ("bin/sh", "usr/bin/sh", "bin/bash", "usr/bin/dpkg", "usr/bin/apt", "usr/bin/apt-get"):
        check(not os.path.lexists(os.path.join(rootfs, path)), f"{name}: no /{path}")
    passwd = open(os.path.join(rootfs, "etc/passwd")).read()
    check(":65532:65532:" in passwd, f"{name}: /etc/passwd has user 65532")
    check(os.path.exists(os.path.join(rootfs, "etc/ssl/certs/ca-certificates.crt")), f"{name}: CA certificates")
    r = subprocess.run(in_chroot(rootfs, entrypoint, "--version"), capture_output=True, text=True, timeout=30)
    check(r.returncode == 0 and r.stdout.startswith(os.path.basename(entrypoint) + " "),
          f"{name}: chroot {entrypoint} --version -> {r.stdout.strip()!r} {r.stderr.strip()}")


def boot_app(rootfs):
    port = free_port()
    proc = subprocess.Popen(in_chroot(rootfs, "/usr/local/bin/tripdeal-app", "--listen", f"127.0.0.1:{port}",
                                      "--db", "sqlite:/tmp/tripdeal.db"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        ok = wait_for("app /healthz in the chroot",
                      lambda: http_status(f"http://127.0.0.1:{port}/healthz") == 200 or proc.poll() is not None, 30)
        check(proc.poll() is None and http_status(f"http://127.0.0.1:{port}/healthz") == 200,
              "tripdeal-app image: the app in the chroot answers /healthz 200")
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0]
        check(proc.returncode == 0, f"tripdeal-app image: exits 0 on SIGTERM ({proc.returncode}) {out[-500:] if proc.returncode else ''}")


POOL = """
  nodePools:
  - name: burst
    libvirt: {uri: "test:///default", baseImage: /nonexistent/base.qcow2, storagePool: default-pool,
              network: default, vcpus: 1, memoryMiB: 64}
    min: 1
    max: 1
    joinSecretRef: {name: kubeadm-join}
"""


def boot_operator(rootfs):
    with Cluster() as cluster:
        cluster.install_crd()
        cluster.apply_yaml(SECRET_AND_NS % {"ns": "tripdeal"})
        cluster.kubectl("create", "secret", "generic", "kubeadm-join", "-n", "tripdeal",
                        "--from-literal=join=kubeadm join 10.0.0.1:6443 --token abc.def")
        shutil.copy(cluster.kubeconfig, os.path.join(rootfs, "tmp", "kubeconfig"))
        os.chmod(os.path.join(rootfs, "tmp", "kubeconfig"), 0o644)
        mport, hport = free_port(), free_port()
        log_path = os.path.join(cluster.workdir, "operator-chroot.log")
        with open(log_path, "w") as logf:
            proc = subprocess.Popen(in_chroot(rootfs, "/usr/local/bin/tripdeal-operator", "--kubeconfig",
                                              "/tmp/kubeconfig", "--metrics-addr", f"127.0.0.1:{mport}",
                                              "--health-addr", f"127.0.0.1:{hport}"),
                                    stdout=logf, stderr=subprocess.STDOUT)
        try:
            wait_for("operator /readyz in the chroot",
                     lambda: http_status(f"http://127.0.0.1:{hport}/readyz") == 200 or proc.poll() is not None, 30)
            check(proc.poll() is None, "tripdeal-operator image: connects to fakekube and turns ready")
            cluster.apply_yaml(tripdeal_yaml("shop", "tripdeal"))
            td = wait_for("TripDeal reconciled", lambda: (lambda t: t if t and t.get("status", {}).get(
                "observedGeneration") else None)(cluster.get("tripdeal", "shop", "tripdeal")), 30)
            check(cluster.get("deployment", "shop", "tripdeal") is not None and
                  td["status"].get("floorReplicas") == 2,
                  "tripdeal-operator image: reconciles a TripDeal (Deployment created, status written)")
            # Node pools: the module must load from LIBDIR/tripdeal (no /proc here).
            cluster.apply_yaml(tripdeal_yaml("pool", "tripdeal", min_replicas=1, max_replicas=1) + POOL)
            nodes = wait_for("NodesReady condition", lambda: condition(cluster.get("tripdeal", "pool", "tripdeal"),
                                                                       "NodesReady"), 30)
            check(nodes.get("reason") != "NodePoolSupportMissing",
                  f"tripdeal-operator image: node-pool module loaded (NodesReady {nodes.get('reason')}: "
                  f"{nodes.get('message', '')[:200]})")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            check(proc.returncode == 0, f"tripdeal-operator image: exits 0 on SIGTERM ({proc.returncode})")
            if failures:
                print(open(log_path).read()[-3000:])


def main():
    if os.geteuid() != 0:
        print("SKIP: building images with buildah (vfs) and chroot need root here")
        return 77
    missing = [t for t in ("buildah", "skopeo", "umoci") if not shutil.which(t)]
    if missing:
        print(f"SKIP: {', '.join(missing)} not installed (Debian: buildah skopeo umoci)")
        return 77
    work = tempfile.mkdtemp(prefix="tripdeal-images-")
    try:
        out = os.path.join(work, "out")
        script = os.path.join(SOURCE_ROOT, "pipelines", "build-images")
        for flag, want in (("--help", "--out DIR"), ("--version", "build-images ")):
            r = subprocess.run([script, flag], capture_output=True, text=True)
            check(r.returncode == 0 and want in r.stdout, f"build-images {flag}")
        started = time.monotonic()
        r = subprocess.run([script, "--out", out, "--build-dir", BUILD_ROOT, "--image-version", "0.1.0-test"], capture_output=True, text=True, timeout=900)
        check(r.returncode == 0, f"pipelines/build-images --out DIR: exit 0 ({r.stderr[-1500:]})")
        if r.returncode:
            return 1
        log(f"build-images took {time.monotonic() - started:.1f}s")
        sizes = {}
        for name, entry in (("tripdeal-app", "/usr/local/bin/tripdeal-app"),
                            ("tripdeal-operator", "/usr/local/bin/tripdeal-operator")):
            archive = os.path.join(out, name + ".tar")
            check(os.path.exists(archive), f"{archive} written")
            bundle, rootfs, config = unpack(archive, name, work)
            du = sh("du", "-sk", rootfs).stdout.split()[0]
            sizes[name] = (os.path.getsize(archive), int(du) * 1024)
            log(f"{name}: archive {sizes[name][0] / 1048576:.1f} MiB, root file system {sizes[name][1] / 1048576:.1f} MiB")
            check_image(name, rootfs, config, entry)
            if name == "tripdeal-app":
                boot_app(rootfs)
            else:
                boot_operator(rootfs)
        if os.environ.get("IMAGE_SIZES_OUT"):
            with open(os.environ["IMAGE_SIZES_OUT"], "w") as f:
                json.dump(sizes, f)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""fakekube's start-up as a new user meets it: --kubeconfig-out into a
directory that does not exist yet works (parents are created), and a start-up
failure is one line on stderr naming the file or address and the cause, with
exit status 1 (nothing on stdout pretends otherwise).

Usage: test_startup.py FAKEKUBE"""
import json
import os
import subprocess
import sys
import tempfile

FAKEKUBE = sys.argv[1]
failures = []


def check(what, ok, detail=""):
    print(("ok: " if ok else "FAIL: ") + what + ("" if ok else f"\n  {detail}"), flush=True)
    if not ok:
        failures.append(what)


def run_until_ready(argv, deadline_s=30):
    """Start fakekube, read stdout until the ready line (or exit), stop it."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ready = None
    try:
        for line in p.stdout:  # bounded: fakekube prints "ready" or exits
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if doc.get("msg") == "ready":
                ready = doc
                break
    finally:
        p.terminate()
        p.wait(timeout=deadline_s)
    return ready, p.returncode


with tempfile.TemporaryDirectory(prefix="fakekube-startup-") as tmp:
    nested = os.path.join(tmp, "new", "dirs", "kubeconfig")
    ready, _ = run_until_ready([FAKEKUBE, "--listen", "127.0.0.1:0", "--kubeconfig-out", nested])
    check("--kubeconfig-out into missing directories: ready", ready is not None)
    check("kubeconfig and CA written there", os.path.isfile(nested) and os.path.isfile(nested + ".ca.crt"))

    blocker = os.path.join(tmp, "file")
    open(blocker, "w").close()
    cases = [
        ("kubeconfig under a regular file",
         ["--listen", "127.0.0.1:0", "--kubeconfig-out", os.path.join(blocker, "kubeconfig")],
         [os.path.join(blocker, "kubeconfig"), "Not a directory"]),
        ("missing OpenAPI document",
         ["--listen", "127.0.0.1:0", "--kubeconfig-out", os.path.join(tmp, "k2"),
          "--openapi", os.path.join(tmp, "nonexistent.json")],
         ["nonexistent.json", "No such file or directory"]),
        ("OpenAPI document that is not JSON",
         ["--listen", "127.0.0.1:0", "--kubeconfig-out", os.path.join(tmp, "k3"), "--openapi", blocker],
         [blocker, "not a JSON document"]),
        ("address that is not ours",
         ["--listen", "192.0.2.1:1", "--kubeconfig-out", os.path.join(tmp, "k4")],
         ["192.0.2.1:1", "Cannot assign requested address"]),
        ("state directory that cannot be made (TMPDIR missing)",
         ["--listen", "127.0.0.1:0", "--kubeconfig-out", os.path.join(tmp, "k5")],
         [os.path.join(tmp, "no-such-tmpdir"), "No such file or directory"]),
    ]
    for what, args, expected in cases:
        env = dict(os.environ)
        if "TMPDIR missing" in what:
            env["TMPDIR"] = os.path.join(tmp, "no-such-tmpdir")
        p = subprocess.run([FAKEKUBE] + args, capture_output=True, text=True, timeout=60, env=env)
        check(f"{what}: exit 1", p.returncode == 1, f"exit {p.returncode}")
        check(f"{what}: stderr names it and the cause",
              all(e in p.stderr for e in expected) and p.stderr.startswith("fakekube: "), repr(p.stderr))
        check(f"{what}: no error on stdout", "cannot" not in p.stdout, repr(p.stdout))

if failures:
    print(f"{len(failures)} failure(s)")
    sys.exit(1)

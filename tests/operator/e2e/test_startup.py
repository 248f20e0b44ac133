#!/usr/bin/env python3
"""The operator's start-up against an API server that refuses it.

For each way of being refused (a wrong token: 401; a CA that does not sign the
server's certificate; nothing listening), the operator is blocked in its wait
for the informer caches.  It must log each failed list with the real cause
(naming 401, the certificate check, the refused connection), and exit 0
promptly on SIGTERM instead of sitting out its 120 s sync timeout.

Then, with a server that accepts it: without --leader-elect the operator
never says "became the leader"; a SIGTERM after start-up still stops it in
order ("received SIGTERM; shutting down", exit 0)."""
import os
import re
import signal
import subprocess
import tempfile
import time

from harness import Cluster, Operator, log, run, wait_for

# Generous for a loaded 2-core machine, far below the 120 s it used to take.
EXIT_DEADLINE_S = 10


def other_ca_pem(workdir):
    """A self-signed CA that signed nothing fakekube serves."""
    key = os.path.join(workdir, "other-ca.key")
    crt = os.path.join(workdir, "other-ca.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", key, "-out", crt, "-days", "1", "-subj", "/CN=not-fakekube-ca"],
                   check=True, capture_output=True)
    return crt


def kubeconfig_variant(cluster, name, edit):
    with open(cluster.kubeconfig) as f:
        text = f.read()
    path = os.path.join(cluster.workdir, name)
    with open(path, "w") as f:
        f.write(edit(text))
    return path


def failed_lists(op):
    return [l for l in op.process.json_lines() if str(l.get("msg", "")).startswith("cannot list ")]


def refused_then_sigterm(cluster, what, kubeconfig, expect_in_message, expect_http_code=None):
    op = Operator(cluster, "--kubeconfig", kubeconfig, name=f"operator-{what}")
    with op:
        lines = wait_for(f"{what}: a failed list logged",
                         lambda: failed_lists(op) or (not op.process.alive() and op._died()), 20, interval=0.1)
        line = lines[0]
        log(f"{what}: {line.get('msg')}")
        assert re.search(expect_in_message, line["msg"], re.I), line
        if expect_http_code is not None:
            assert line.get("http_code") == expect_http_code, line
        assert line.get("level") in ("warn", "warning"), line
        assert op.process.alive()
        sent = time.monotonic()
        op.process.proc.send_signal(signal.SIGTERM)
        try:
            code = op.process.proc.wait(timeout=EXIT_DEADLINE_S)
        except subprocess.TimeoutExpired:
            op.process.dump()
            raise AssertionError(f"{what}: still running {EXIT_DEADLINE_S} s after SIGTERM")
        took = time.monotonic() - sent
        log(f"{what}: exited {code} {took:.2f}s after SIGTERM")
        assert code == 0, code
        msgs = [l.get("msg") for l in op.process.json_lines()]
        assert "received SIGTERM during start-up; exiting" in msgs, msgs[-5:]
        # Never the token, whatever the failure.
        with open(cluster.kubeconfig) as f:
            token = re.search(r"token: (\S+)", f.read()).group(1)
        assert token not in "\n".join(op.process.lines())


def scenario():
    with Cluster() as cluster:
        cluster.install_crd()

        wrong_token = kubeconfig_variant(cluster, "kubeconfig-401",
                                         lambda t: re.sub(r"token: \S+", "token: not-the-right-token", t))
        refused_then_sigterm(cluster, "401", wrong_token, r"cannot list [a-z.]+: unauthorized \(401\)", 401)

        ca = other_ca_pem(cluster.workdir)
        wrong_ca = kubeconfig_variant(cluster, "kubeconfig-ca", lambda t: re.sub(
            r"certificate-authority-data: \S+", f"certificate-authority: {ca}", t))
        refused_then_sigterm(cluster, "untrusted-ca", wrong_ca, r"TLS failure.*certificate", 0)

        with socket_nobody_listens() as port:
            nowhere = kubeconfig_variant(cluster, "kubeconfig-nowhere", lambda t: re.sub(
                r"server: https://127\.0\.0\.1:\d+", f"server: https://127.0.0.1:{port}", t))
            refused_then_sigterm(cluster, "refused", nowhere, r"cannot reach the API server.*(refused|connect)", 0)

        # A server that accepts connections and never answers: the operator's first
        # list hangs (up to its 30 s request timeout); SIGTERM must not wait for it.
        with socket_nobody_answers() as port:
            silent = kubeconfig_variant(cluster, "kubeconfig-silent", lambda t: re.sub(
                r"server: https://127\.0\.0\.1:\d+", f"server: https://127.0.0.1:{port}", t))
            op = Operator(cluster, "--kubeconfig", silent, name="operator-silent")
            with op:
                wait_for("operator health endpoint", lambda: op.http(op.health_port, "/healthz")[0] == 200 or
                         (not op.process.alive() and op._died()), 20, interval=0.1)
                sent = time.monotonic()
                op.process.proc.send_signal(signal.SIGTERM)
                try:
                    code = op.process.proc.wait(timeout=EXIT_DEADLINE_S)
                except subprocess.TimeoutExpired:
                    op.process.dump()
                    raise AssertionError(f"silent server: still running {EXIT_DEADLINE_S} s after SIGTERM")
                log(f"silent server: exited {code} {time.monotonic() - sent:.2f}s after SIGTERM")
                assert code == 0, code

        # Accepted: no leader election, so no "became the leader"; SIGTERM stops in order.
        op = Operator(cluster, name="operator-ok")
        with op:
            op.wait_ready()
            msgs = wait_for("reconciling line", lambda: [
                l.get("msg") for l in op.process.json_lines()
                if l.get("msg") == "reconciling every TripDeal"], 10)
            assert not any("leader" in str(l.get("msg")) for l in op.process.json_lines()), msgs
            assert op.stop(signal.SIGTERM) == 0
            msgs = [l.get("msg") for l in op.process.json_lines()]
            assert "received SIGTERM; shutting down" in msgs and "stopped" in msgs, msgs[-5:]


class socket_nobody_listens:
    """A loopback port that is bound but not listening (connections are refused)
    and stays reserved for the test, so nothing else can start listening on it."""

    def __enter__(self):
        import socket
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        return self.sock.getsockname()[1]

    def __exit__(self, *exc):
        self.sock.close()


class socket_nobody_answers:
    """A loopback port that accepts TCP connections (the kernel's backlog) and
    never answers a byte: a hung API server."""

    def __enter__(self):
        import socket
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        return self.sock.getsockname()[1]

    def __exit__(self, *exc):
        self.sock.close()


if __name__ == "__main__":
    run(scenario)

#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Database down -> pages 503, /readyz 503; database back -> recovers by itself.

Runs the app against a throw-away PostgreSQL cluster made in the test
(initdb + pg_ctl on a free port), which it stops and starts again.

usage: test_dbdown.py TRIPDEAL_APP
"""

import glob
import os
import pwd
import shutil
import subprocess

import tdtest
from tdtest import App, Session, check, log

RECOVER_DEADLINE = 30.0


def pg_bin(name):
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise tdtest.Skip(f"{name} not installed")
    return found[-1]


class Cluster:
    def __init__(self):
        self.dir = tdtest.temp_dir("tripdeal-pg-")
        self.data = os.path.join(self.dir, "data")
        self.port = tdtest.free_port()
        self.user = None
        if os.geteuid() == 0:  # initdb refuses root
            try:
                self.user = pwd.getpwnam("postgres")
            except KeyError:
                raise tdtest.Skip("running as root and there is no postgres user")
            os.chown(self.dir, self.user.pw_uid, self.user.pw_gid)
        self.run([pg_bin("initdb"), "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--locale=C.UTF-8"])
        tdtest.on_cleanup(self.destroy)

    def run(self, argv, check_result=True):
        if self.user:
            argv = ["runuser", "-u", "postgres", "--"] + argv
        result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        if check_result and result.returncode != 0:
            raise tdtest.TestFailure(f"{argv} failed: {result.stderr.strip()}")
        return result

    def start(self):
        self.run([pg_bin("pg_ctl"), "-D", self.data, "-l", os.path.join(self.dir, "pg.log"), "-w", "-t", "60",
                  "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off", "start"])

    def stop(self):
        self.run([pg_bin("pg_ctl"), "-D", self.data, "-m", "immediate", "-w", "stop"], check_result=False)

    def destroy(self):
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self.stop()

    @property
    def url(self):
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"


def run(argv):
    if len(argv) != 1:
        raise tdtest.TestFailure(__doc__)
    binary = argv[0]
    tdtest.pg_admin_url()  # PG tests skip as one when PostgreSQL is not configured
    if not shutil.which("runuser") and os.geteuid() == 0:
        raise tdtest.Skip("runuser missing")
    cluster = Cluster()
    cluster.start()
    app = App(binary, cluster.url).start()
    deal = tdtest.find_deal(app, "open")
    check(app.request("GET", "/")[0] == 200, "/ not 200 with the database up")

    log("stopping the database")
    cluster.stop()

    def down():
        readyz = app.request("GET", "/readyz", timeout=10)[0]
        return readyz == 503
    tdtest.poll(down, 30, interval=0.2, what="/readyz 503 with the database down")
    for path in ["/", "/sales", f"/deals/{deal['id']}", "/community", "/api/deals"]:
        status, _, body = app.request("GET", path, timeout=15)
        check(status == 503, f"GET {path} with the database down -> {status}, want 503")
        check(len(body.strip()) > 0, f"GET {path} 503 has no reason in the body")
    session = Session(app).start()  # sessions need no database
    status, _, body = session.claim(deal["id"])
    check(status == 503, f"claim with the database down -> {status}, want 503: {body[:200]!r}")
    check(app.request("GET", "/healthz", timeout=10)[0] == 200, "/healthz must stay 200 (alive) with the DB down")
    check(app.alive(), "app died when the database went away")

    log("starting the database again")
    cluster.start()

    def recovered():
        return (app.request("GET", "/readyz", timeout=10)[0] == 200
                and app.request("GET", "/sales", timeout=10)[0] == 200)
    tdtest.poll(recovered, RECOVER_DEADLINE, interval=0.2, what="recovery after the database returned")
    for path in ["/", f"/deals/{deal['id']}", "/community", "/api/deals"]:
        status, _, _ = app.request("GET", path)
        check(status == 200, f"GET {path} after recovery -> {status}")
    session = Session(app).start()
    status, _, body = session.claim(deal["id"])
    check(status == 201, f"claim after recovery -> {status}: {body[:200]!r}")


if __name__ == "__main__":
    tdtest.main(run)

#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A tiny canned API server for lib/kube's transport tests (not Kubernetes!).

It answers a fixed set of paths with canned metav1.Status documents, a paged
list and chunked watch streams, so the client's HTTP handling, error mapping
and stream decoding can be tested without fakekube.  Every request is
recorded and can be read back with GET /_requests.

Usage: stub-apiserver.py --port-file PATH [--cert PEM --key PEM] [--token T]
Listens on 127.0.0.1, a free port chosen by the kernel, written to PATH.
"""
import argparse
import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REQUESTS = []
LOCK = threading.Lock()


def status(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def cm(name, rv):
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": str(rv)},
            "data": {"k": "v"}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    token = None

    def log_message(self, *args):
        pass

    def send_json(self, code, doc):
        body = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_raw(self, code, body, ctype="text/plain"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        path = self.path
        if path == "/_requests":
            with LOCK:
                self.send_json(200, REQUESTS)
            return
        with LOCK:
            REQUESTS.append({"method": self.command, "path": path,
                             "content_type": self.headers.get("Content-Type"),
                             "authorization": self.headers.get("Authorization"),
                             "body": body})
        if self.token and self.headers.get("Authorization") != "Bearer " + self.token:
            self.send_json(401, status(401, "Unauthorized", "Unauthorized"))
            return
        base, _, query = path.partition("?")
        params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)

        if base == "/api/v1/namespaces/ns/configmaps/missing":
            self.send_json(404, status(404, "NotFound", 'configmaps "missing" not found'))
        elif base == "/api/v1/namespaces/ns/configmaps/exists" and self.command == "POST":
            self.send_json(409, status(409, "AlreadyExists", "already exists"))
        elif base == "/api/v1/namespaces/ns/configmaps" and self.command == "POST":
            doc = json.loads(body)
            if doc["metadata"]["name"] == "exists":
                self.send_json(409, status(409, "AlreadyExists",
                                           'configmaps "exists" already exists'))
            elif doc["metadata"]["name"] == "invalid":
                self.send_json(422, status(422, "Invalid", "metadata.name: Invalid value"))
            else:
                doc["metadata"]["resourceVersion"] = "10"
                self.send_json(201, doc)
        elif base == "/api/v1/namespaces/ns/configmaps/stale" and self.command == "PUT":
            self.send_json(409, status(409, "Conflict", "the object has been modified"))
        elif base == "/api/v1/namespaces/ns/configmaps/garbage":
            self.send_raw(200, b"<html>not json</html>")
        elif base == "/api/v1/namespaces/ns/configmaps/html-error":
            self.send_raw(502, b"<html>bad gateway</html>", "text/html")
        elif base == "/api/v1/namespaces/ns/configmaps/throttled":
            self.send_json(429, status(429, "TooManyRequests", "slow down"))
        elif base == "/api/v1/namespaces/ns/configmaps/slow":
            time.sleep(3)
            self.send_json(200, cm("slow", 1))
        elif base == "/api/v1/namespaces/ns/configmaps" and params.get("watch") == "true":
            self.watch(params)
        elif base == "/api/v1/namespaces/ns/configmaps":
            # Two pages: the continue token "page2" gives the rest.
            if params.get("continue") == "page2":
                self.send_json(200, {"kind": "ConfigMapList", "apiVersion": "v1",
                                     "metadata": {"resourceVersion": "99"},
                                     "items": [cm("c", 3)]})
            elif params.get("continue") == "expired":
                self.send_json(410, status(410, "Expired", "continue token expired"))
            else:
                self.send_json(200, {"kind": "ConfigMapList", "apiVersion": "v1",
                                     "metadata": {"resourceVersion": "42", "continue": "page2"},
                                     "items": [cm("a", 1), cm("b", 2)]})
        elif base == "/api/v1/namespaces/ns/pods/p1/eviction":
            self.send_json(429, status(429, "TooManyRequests",
                                       "Cannot evict pod as it would violate the pod's "
                                       "disruption budget."))
        else:
            doc = {"metadata": {"name": base.rsplit("/", 1)[-1], "namespace": "ns",
                                "resourceVersion": "5"}}
            self.send_json(200, doc)

    def watch(self, params):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        rv = params.get("resourceVersion", "")
        if rv == "old":
            self.chunk(json.dumps({"type": "ERROR", "object": status(
                410, "Expired", "too old resource version: old (100)")}).encode() + b"\n")
        elif rv == "hang":
            # Stay open without data (at most 60 s) until the client goes away.
            time.sleep(60)
            return
        else:
            events = [{"type": "ADDED", "object": cm("a", 11)},
                      {"type": "MODIFIED", "object": cm("a", 12)},
                      {"type": "BOOKMARK", "object": {"kind": "ConfigMap",
                                                      "metadata": {"resourceVersion": "15"}}},
                      {"type": "DELETED", "object": cm("a", 16)}]
            data = b"".join(json.dumps(e).encode() + b"\n" for e in events)
            # Chunks of 7 bytes: event lines straddle chunk boundaries.
            for i in range(0, len(data), 7):
                self.chunk(data[i:i + 7])
                if i % 70 == 0:
                    time.sleep(0.01)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--token")
    args = ap.parse_args()
    Handler.token = args.token
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    import os
    os.rename(tmp, args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()

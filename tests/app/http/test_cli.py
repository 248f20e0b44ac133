#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The pinned command line: --help; bad flags or a bad --db give a one-line
error and exit 2 (without starting a server).

usage: test_cli.py TRIPDEAL_APP
"""

import subprocess

import tdtest
from tdtest import check, log


def run_app(binary, args):
    return subprocess.run([binary] + args, capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)


def run(argv):
    binary = argv[0]
    result = run_app(binary, ["--help"])
    check(result.returncode == 0, f"--help exited {result.returncode}")
    text = result.stdout + result.stderr
    for word in ("--listen", "--db", "--seed-demo", "--log-level"):
        check(word in text, f"--help does not mention {word}")

    result = run_app(binary, ["--version"])
    check(result.returncode == 0, f"--version exited {result.returncode}")
    check(result.stdout.startswith("tripdeal-app ") and " (git " in result.stdout,
          f"--version printed {result.stdout!r}")

    port = tdtest.free_port()
    sqlite = "sqlite:" + tdtest.temp_dir() + "/x.db"
    cases = [
        ["--no-such-flag"],
        ["--listen", f"127.0.0.1:{port}", "--db", "mysql://nope"],
        ["--listen", f"127.0.0.1:{port}", "--db", "sqlite:"],
        ["--listen", f"127.0.0.1:{port}", "--db", "bogus"],
        ["--listen", "not-an-address", "--db", sqlite],
        ["--listen", "127.0.0.1:99999", "--db", sqlite],
        ["--listen", f"127.0.0.1:{port}", "--db", sqlite, "--log-level", "loud"],
        ["--listen", f"127.0.0.1:{port}", "--db"],
    ]
    for args in cases:
        try:
            result = run_app(binary, args)
        except subprocess.TimeoutExpired:
            raise tdtest.TestFailure(f"{args}: still running after 20 s (should refuse at once)")
        lines = [l for l in result.stderr.splitlines() if l.strip()]
        log(f"{args} -> exit {result.returncode}: {lines}")
        check(result.returncode == 2, f"{args}: exit {result.returncode}, want 2")
        check(len(lines) == 1, f"{args}: want exactly one error line on stderr, got {lines}")


if __name__ == "__main__":
    tdtest.main(run)

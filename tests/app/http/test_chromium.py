#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Headless Chromium loads / and /sales: rendered DOM checked, PNG screenshots
saved under BUILD_DIR/screenshots/{home,sales}.png.

usage: test_chromium.py TRIPDEAL_APP BUILD_DIR
"""

import html as html_lib
import os
import re
import shutil
import struct
import subprocess

import tdtest
from tdtest import App, check, log

HANGUL = re.compile(r"[\uac00-\ud7a3]")


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise tdtest.Skip("chromium not installed")


def chromium_args(profile):
    args = ["--headless", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars",
            f"--user-data-dir={profile}"]
    if os.geteuid() == 0:
        args.append("--no-sandbox")
    return args


def run_chromium(argv, timeout=90):
    result = subprocess.run(argv, capture_output=True, timeout=timeout, start_new_session=True)
    if result.returncode != 0:
        raise tdtest.TestFailure(f"chromium exited {result.returncode}: {result.stderr.decode()[-2000:]}")
    return result.stdout.decode("utf-8", "replace")


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    check(head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG")
    return struct.unpack(">II", head[16:24])


def run(argv):
    if len(argv) != 2:
        raise tdtest.TestFailure(__doc__)
    binary, build_dir = argv
    browser = chromium()
    if shutil.which("fc-list"):
        fonts = subprocess.run(["fc-list", ":lang=ko"], capture_output=True, text=True).stdout
        if not fonts.strip():
            log("WARNING: no Korean font installed (Debian package fonts-nanum): Hangul renders as boxes")
    app = App(binary, tdtest.database_url("sqlite")).start()
    deals = tdtest.list_deals(app)
    open_deal = tdtest.find_deal(app, "open")
    shots = os.path.join(build_dir, "screenshots")
    os.makedirs(shots, exist_ok=True)

    # --dump-dom gives the DOM after scripts ran (countdown filled in, etc.).
    home = run_chromium([browser] + chromium_args(tdtest.temp_dir("chromium-")) +
                        ["--virtual-time-budget=3000", "--dump-dom", app.base + "/"])
    check("<body" in home, "dumped DOM of / has no body")
    check(HANGUL.search(home), "rendered / shows no Korean text")
    check(re.search(r"/deals/\d+|/sales", home), "rendered / has no link to deals or sales")

    sales = run_chromium([browser] + chromium_args(tdtest.temp_dir("chromium-")) +
                         ["--virtual-time-budget=3000", "--dump-dom", app.base + "/sales"])
    for deal in deals:
        if tdtest.deal_state(deal) == "open":
            title = deal["title"]
            check(title in sales or html_lib.escape(title) in sales, f"rendered /sales lacks {title!r}")
    check(str(open_deal["stock_left"]) in sales, f"rendered /sales does not show stock {open_deal['stock_left']}")
    check(re.search(r"countdown|data-ends|data-end", sales, re.I), "rendered /sales has no countdown element")
    # The countdown shows a time (digits with colons, or units), not an empty element.
    check(re.search(r"\d+\s*:\s*\d\d|\d+\s*(?:h|m|s|시간|분|초)\b", sales), "rendered /sales shows no countdown time")

    for name, path in [("home", "/"), ("sales", "/sales")]:
        target = os.path.join(shots, f"{name}.png")
        if os.path.exists(target):
            os.unlink(target)
        run_chromium([browser] + chromium_args(tdtest.temp_dir("chromium-")) +
                     ["--virtual-time-budget=3000", f"--screenshot={target}", "--window-size=1280,900",
                      app.base + path])
        check(os.path.exists(target), f"no screenshot {target}")
        width, height = png_size(target)
        size = os.path.getsize(target)
        check((width, height) == (1280, 900), f"{target} is {width}x{height}, want 1280x900")
        # A blank page compresses to a few KB; a real page is far larger.
        check(size > 10000, f"{target} is only {size} bytes: page looks blank")
        log(f"saved {target} ({size} bytes)")
    check(app.alive(), "app died")


if __name__ == "__main__":
    tdtest.main(run)

#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Pages, API, CSRF, XSS, 404s, paging, claim outcomes, request limits.

usage: test_site.py TRIPDEAL_APP sqlite|postgres pages|api|limits|idle
"""

import html as html_lib
import json
import re
import socket
import sys
import time
import urllib.parse
import uuid

import tdtest
from tdtest import App, Session, check, log

HANGUL = re.compile(r"[\uac00-\ud7a3]")


def text_of(body, headers, what):
    content_type = headers.get("content-type", "")
    check("text/html" in content_type, f"{what}: content-type {content_type!r}, want text/html")
    check("utf-8" in content_type.lower(), f"{what}: content-type {content_type!r} lacks charset=utf-8")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise tdtest.TestFailure(f"{what}: body is not valid UTF-8: {error}")


def page(app, path, status=200, session=None):
    if session:
        code, headers, body = session.get(path)
    else:
        code, headers, body = app.request("GET", path)
    check(code == status, f"GET {path} -> {code}, want {status}: {body[:300]!r}")
    return text_of(body, headers, f"GET {path}")


def check_no_external_assets(text, path):
    for url in re.findall(r"(?:src|href)\s*=\s*[\"']((?:https?:)?//[^\"']+)", text, re.I):
        check(re.match(r"(?:https?:)?//(127\.|localhost|\[::1\])", url),
              f"{path} loads an external asset {url!r} (no external assets allowed)")


def escaped(text):
    return html_lib.escape(text, quote=False)


def contains_text(page_text, text):
    """The page shows `text` (HTML-escaped either way)."""
    return text in page_text or escaped(text) in page_text or html_lib.escape(text) in page_text


# ---------------------------------------------------------------- pages
def scenario_pages(app):
    deals = tdtest.list_deals(app)
    open_deal = tdtest.find_deal(app, "open")

    check(app.request("GET", "/healthz")[0] == 200, "/healthz not 200")

    home = page(app, "/")
    check(re.search(r"<html", home, re.I) and re.search(r"<title>", home, re.I), "/ is not an HTML page")
    check(HANGUL.search(home), "/ shows no Korean text (featured products have Korean names)")
    check(re.search(r"<link[^>]+stylesheet", home, re.I) or "<style" in home, "/ has no CSS")
    check_no_external_assets(home, "/")
    css = re.search(r"<link[^>]+href\s*=\s*[\"']([^\"']+\.css[^\"']*)", home, re.I)
    if css:
        code, headers, body = app.request("GET", css.group(1))
        check(code == 200 and "text/css" in headers.get("content-type", ""),
              f"stylesheet {css.group(1)} -> {code} {headers.get('content-type')}")
        check(len(body) > 200, f"stylesheet {css.group(1)} is nearly empty")

    sales = page(app, "/sales")
    check_no_external_assets(sales, "/sales")
    for deal in deals:
        if tdtest.deal_state(deal) == "ended":
            continue
        check(contains_text(sales, deal["title"]), f"/sales lacks deal title {deal['title']!r}")
        check(re.search(rf"/deals/{deal['id']}\b", sales), f"/sales has no link to /deals/{deal['id']}")
    check(str(open_deal["stock_left"]) in sales, f"/sales does not show stock {open_deal['stock_left']}")
    check(re.search(r"countdown|data-ends|data-end|remaining|남은", sales, re.I),
          "/sales has no countdown element")

    deal_page = page(app, f"/deals/{open_deal['id']}")
    check(contains_text(deal_page, open_deal["title"]), "deal page lacks its title")
    check(str(open_deal["stock_left"]) in deal_page, "deal page does not show stock_left")
    check(re.search(rf"<form[^>]+action\s*=\s*[\"']/deals/{open_deal['id']}/claim[\"']", deal_page, re.I),
          "deal page has no claim form posting to /deals/{id}/claim")
    check(re.search(r"method\s*=\s*[\"']?post", deal_page, re.I), "claim form is not POST")
    tdtest.csrf_field(deal_page)

    # 404s: HTML and JSON, with a reason in the body.
    for path in ["/no-such-page", "/deals/999999999", "/deals/abc", "/community/posts/999999999",
                 "/community/posts/xyz"]:
        code, headers, body = app.request("GET", path)
        check(code in (404, 400), f"GET {path} -> {code}, want 404")
        check(len(body.strip()) > 0, f"GET {path}: empty error body")
    code, headers, body = app.request("GET", "/api/no-such-thing")
    check(code == 404, f"GET /api/no-such-thing -> {code}, want 404")
    # Wrong method: 405 with Allow; HEAD like GET without a body.
    code, headers, body = app.request("DELETE", "/sales")
    check(code == 405, f"DELETE /sales -> {code}, want 405")
    check("GET" in headers.get("allow", ""), f"405 without an Allow header naming GET: {headers}")
    code, headers, body = app.request("HEAD", "/")
    check(code == 200 and body == b"", f"HEAD / -> {code} with {len(body)} body bytes")

    # Community: list, post view, new form.
    community = page(app, "/community")
    check(HANGUL.search(community), "/community shows no Korean review")
    post_ids = [int(x) for x in re.findall(r"/community/posts/(\d+)", community)]
    check(post_ids, "/community links to no posts")
    post = page(app, f"/community/posts/{post_ids[0]}")
    check(len(post) > 200, "post page nearly empty")

    session = Session(app).start()
    new_form = page(app, "/community/new", session=session)
    csrf_name, csrf_value = tdtest.csrf_field(new_form)
    fields = [n for n in tdtest.form_field_names(new_form) if n != csrf_name]
    log(f"community form fields: {fields} (csrf field {csrf_name})")

    def post_fields(title, body, token):
        values = {csrf_name: token}
        for name in fields:
            lower = name.lower()
            if "title" in lower:
                values[name] = title
            elif "body" in lower or "content" in lower or "text" in lower:
                values[name] = body
            elif "rating" in lower or "score" in lower or "star" in lower:
                values[name] = "5"
            elif "author" in lower or "name" in lower or "nick" in lower:
                values[name] = "테스터 tester"
            elif name not in values:
                values[name] = "x"
        return values

    # A Korean post round-trips in UTF-8.
    marker = uuid.uuid4().hex[:8]
    korean_title = f"제주도 여행 후기 {marker}"
    code, headers, body = session.post_form("/community/posts",
                                            post_fields(korean_title, "바다가 정말 예뻤어요. Great trip!", csrf_value))
    check(code in (200, 201, 302, 303), f"POST /community/posts (valid) -> {code}: {body[:300]!r}")
    listing = page(app, "/community")
    check(korean_title in listing, "new Korean post not listed first on /community (newest first)")

    # CSRF: missing token and wrong token -> 403, nothing stored.
    for label, token in [("missing", None), ("wrong", "0" * len(csrf_value or "x" * 32))]:
        title = f"csrf-{label}-{marker}"
        values = post_fields(title, "should not be stored", token or "")
        if token is None:
            values.pop(csrf_name)
        code, _, body = session.post_form("/community/posts", values)
        check(code == 403, f"POST /community/posts with {label} CSRF -> {code}, want 403")
        check(len(body.strip()) > 0, "CSRF rejection body is empty")
        check(title not in page(app, "/community"), f"post with {label} CSRF token was stored")
    # A token from another session is also wrong.
    other = Session(app).start()
    code, _, _ = session.post_form("/community/posts", post_fields(f"csrf-foreign-{marker}", "x", other.csrf))
    check(code == 403, f"POST /community/posts with another session's token -> {code}, want 403")

    # Validation: empty title -> 4xx with reason, nothing stored.
    code, _, body = session.post_form("/community/posts", post_fields("", "", csrf_value))
    check(400 <= code < 500, f"POST /community/posts with empty fields -> {code}, want 4xx")

    # XSS: the payload is shown escaped, never as markup.
    payload_title = f"<script>alert('xss-{marker}')</script>"
    payload_body = f"<img src=x onerror=alert(1)> \"quoted\" & <b>bold-{marker}</b>"
    code, headers, body = session.post_form("/community/posts", post_fields(payload_title, payload_body, csrf_value))
    check(code in (200, 201, 302, 303), f"POST XSS post -> {code}: {body[:300]!r}")
    listing = page(app, "/community")
    check(f"<script>alert('xss-{marker}')" not in listing, "/community renders the <script> payload raw")
    check("&lt;script&gt;" in listing, "/community does not show the escaped payload")
    match = re.search(r"/community/posts/(\d+)", listing)
    xss_page = page(app, f"/community/posts/{match.group(1)}")
    check(f"xss-{marker}" in xss_page, "newest post page is not the XSS post")
    check("<script>alert(" not in xss_page, "post page renders the <script> payload raw")
    check("<img src=x" not in xss_page, "post page renders the <img onerror> payload raw")
    check(f"<b>bold-{marker}</b>" not in xss_page, "post page renders <b> raw")
    check("&lt;img" in xss_page and "&amp;" in xss_page, "post page does not escape < and &")

    # Paging: add posts until there are at least two pages, then walk them.
    for i in range(25):
        session.post_form("/community/posts", post_fields(f"paging {marker} #{i:02d}", "page filler", csrf_value))
    first = page(app, "/community")
    second = page(app, "/community?page=2")
    first_ids = re.findall(r"/community/posts/(\d+)", first)
    second_ids = re.findall(r"/community/posts/(\d+)", second)
    check(first_ids and second_ids, "page 2 of /community has no posts after 27 new ones")
    check(not set(first_ids) & set(second_ids), "pages 1 and 2 of /community share posts")
    check(max(map(int, second_ids)) < min(map(int, first_ids)), "page 2 is not older than page 1")
    check(re.search(r"page=2", first), "page 1 has no link to page 2")
    check(f"paging {marker} #24" in first, "newest post is not on page 1")
    for bad in ["/community?page=0", "/community?page=-1", "/community?page=abc", "/community?page=99999999"]:
        code, _, body = app.request("GET", bad)
        check(code in (200, 400, 404), f"GET {bad} -> {code}, want 200/400/404")
        check(len(body) > 0, f"GET {bad}: empty body")

    # HTML claim form: wrong token -> 403, right token -> success.
    buyer = Session(app).start()
    deal_page = page(app, f"/deals/{open_deal['id']}", session=buyer)
    name, value = tdtest.csrf_field(deal_page)
    code, _, _ = buyer.post_form(f"/deals/{open_deal['id']}/claim", {name: "f" * max(len(value), 16)})
    check(code == 403, f"form claim with wrong CSRF -> {code}, want 403")
    code, _, _ = buyer.post_form(f"/deals/{open_deal['id']}/claim", {})
    check(code == 403, f"form claim without CSRF -> {code}, want 403")
    before = tdtest.get_deal(app, open_deal["id"])["stock_left"]
    code, headers, body = buyer.post_form(f"/deals/{open_deal['id']}/claim", {name: value})
    check(code in (200, 201, 302, 303), f"form claim with valid CSRF -> {code}: {body[:300]!r}")
    after = tdtest.get_deal(app, open_deal["id"])["stock_left"]
    check(after == before - 1, f"form claim: stock {before} -> {after}, want -1")
    code, headers, body = buyer.post_form(f"/deals/{open_deal['id']}/claim", {name: value})
    check(code in (409, 200, 303, 302), f"second form claim -> {code}")
    check(tdtest.get_deal(app, open_deal["id"])["stock_left"] == after, "second form claim took stock again")


# ---------------------------------------------------------------- API
def error_reason(body, what):
    try:
        document = json.loads(body)
    except ValueError:
        raise tdtest.TestFailure(f"{what}: error body is not JSON: {body[:200]!r}")
    check(isinstance(document, dict) and any(isinstance(v, str) and v for v in document.values()),
          f"{what}: error body gives no reason: {document!r}")
    return json.dumps(document).lower()


def scenario_api(app):
    session = Session(app).start()
    deals = tdtest.list_deals(app)
    check(len(deals) >= 3, f"seed-demo made {len(deals)} deals, want >= 3")
    for deal in deals:
        for key, kind in [("id", int), ("title", str), ("price", (int, float)), ("stock_total", int),
                          ("stock_left", int)]:
            check(isinstance(deal.get(key), kind), f"/api/deals: {key} of {deal} is not {kind}")
        tdtest.parse_time(deal["starts_at"])
        tdtest.parse_time(deal["ends_at"])
        check(0 <= deal["stock_left"] <= deal["stock_total"], f"stock out of range: {deal}")
    states = {tdtest.deal_state(d) for d in deals}
    check(states >= {"open", "upcoming", "ended"}, f"seed-demo deal states {states}, want open/upcoming/ended")
    open_deal = tdtest.find_deal(app, "open")
    check(open_deal["stock_total"] >= 50, f"open deal stock {open_deal['stock_total']} < 50")

    # A new session gets a new user and a new token.
    other = Session(app).start()
    check(other.user != session.user and other.csrf != session.csrf, "two sessions share user or token")
    # Reusing the cookie keeps the user.
    code, headers, body = app.request("GET", "/api/session", headers=session.headers())
    check(code == 200 and json.loads(body)["user"] == session.user, "session cookie not recognised")
    # A tampered cookie is not accepted as that user.
    tampered = {k: (v[:-2] + ("AA" if not v.endswith("AA") else "BB")) for k, v in session.jar.items()}
    code, headers, body = app.request("GET", "/api/session",
                                      headers={"Cookie": tdtest.cookie_header(tampered)})
    check(code in (200, 400, 403), f"tampered cookie -> {code}")
    if code == 200:
        check(json.loads(body)["user"] != session.user, "tampered (unsigned) cookie accepted as the same user")

    deal_id = open_deal["id"]
    path = f"/api/deals/{deal_id}/claims"

    code, _, body = session.claim(deal_id, csrf="")
    check(code == 403, f"claim without X-CSRF-Token -> {code}, want 403")
    error_reason(body, "403 missing csrf")
    code, _, body = session.claim(deal_id, csrf="x" * len(session.csrf))
    check(code == 403, f"claim with wrong X-CSRF-Token -> {code}, want 403")
    error_reason(body, "403 wrong csrf")
    code, _, body = session.claim(deal_id, csrf=other.csrf)
    check(code == 403, f"claim with another session's token -> {code}, want 403")
    code, _, body = app.request("POST", path, body=b"", headers={"X-CSRF-Token": session.csrf,
                                                                   "Content-Length": "0"})
    check(code in (401, 403), f"claim without cookie -> {code}, want 403")
    check(tdtest.get_deal(app, deal_id)["stock_left"] == open_deal["stock_left"], "rejected claims took stock")

    code, headers, body = session.claim(deal_id)
    check(code == 201, f"first claim -> {code}, want 201: {body[:200]!r}")
    check(headers.get("content-type", "").startswith("application/json"), "201 body is not JSON")
    json.loads(body)
    check(tdtest.get_deal(app, deal_id)["stock_left"] == open_deal["stock_left"] - 1, "201 did not take one stock")
    code, _, body = session.claim(deal_id)
    check(code == 409, f"second claim by same user -> {code}, want 409")
    check("already" in error_reason(body, "409 already"), f"409 body does not say already claimed: {body!r}")

    code, _, body = session.claim(999999999)
    check(code == 404, f"claim unknown deal -> {code}, want 404")
    error_reason(body, "404 deal")
    code, _, body = app.request("POST", "/api/deals/abc/claims", body=b"",
                                headers=session.headers({"X-CSRF-Token": session.csrf}))
    check(code in (400, 404), f"claim /api/deals/abc -> {code}, want 404/400")
    for state in ("upcoming", "ended"):
        deal = tdtest.find_deal(app, state)
        code, _, body = session.claim(deal["id"])
        check(code == 422, f"claim {state} deal -> {code}, want 422")
        error_reason(body, f"422 {state}")
        check(tdtest.get_deal(app, deal["id"])["stock_left"] == deal["stock_left"], f"{state} claim took stock")

    code, _, _ = app.request("GET", path)
    check(code in (404, 405), f"GET {path} -> {code}, want 405")

    # Sell out: claim with fresh users until stock is 0, then 409 sold out.
    left = tdtest.get_deal(app, deal_id)["stock_left"]
    check(left <= 5000, "open deal stock too big to sell out in a test")
    for i in range(left):
        code, _, body = Session(app).start().claim(deal_id)
        check(code == 201, f"claim {i + 1}/{left} -> {code}: {body[:200]!r}")
    check(tdtest.get_deal(app, deal_id)["stock_left"] == 0, "stock not 0 after selling out")
    code, _, body = Session(app).start().claim(deal_id)
    check(code == 409, f"claim on sold-out deal -> {code}, want 409")
    check(re.search(r"sold|stock", error_reason(body, "409 sold out")), f"409 body does not say sold out: {body!r}")
    check(tdtest.get_deal(app, deal_id)["stock_left"] == 0, "stock went below 0")
    deal_page = page(app, f"/deals/{deal_id}")
    check(re.search(r"sold out|매진|품절", deal_page, re.I), "sold-out deal page does not say sold out")


# ---------------------------------------------------------------- limits
def still_serving(app, after):
    code, _, _ = app.request("GET", "/healthz")
    check(code == 200, f"/healthz -> {code} after {after}")
    check(app.alive(), f"app died after {after}")


def scenario_limits(app):
    port = app.port
    # Oversize header (1 MiB in one header line).
    big = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n"
    reply = tdtest.raw_exchange(port, big, timeout=10, read_all=False)
    status = tdtest.status_of(reply)
    check(status in (431, 400, 413), f"1 MiB header -> {status} ({reply[:100]!r}), want 431/400")
    still_serving(app, "oversize header")
    # Just over the documented default limit (8 KiB of request line + headers).
    over = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 16384 + b"\r\n\r\n"
    status = tdtest.status_of(tdtest.raw_exchange(port, over, timeout=10, read_all=False))
    check(status in (431, 400), f"16 KiB header -> {status}, want 431 (limit is 8 KiB)")
    still_serving(app, "16 KiB header")
    # Under it is fine.
    under = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Ok: " + b"a" * 4000 + b"\r\n\r\n"
    status = tdtest.status_of(tdtest.raw_exchange(port, under, timeout=10, read_all=False))
    check(status == 200, f"4 KB header -> {status}, want 200")
    # Many headers (10000 small ones).
    many = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(10000)) + b"\r\n"
    status = tdtest.status_of(tdtest.raw_exchange(port, many, timeout=10, read_all=False))
    check(status in (431, 400, 413), f"10000 headers -> {status}, want 431/400")
    still_serving(app, "many headers")

    # Oversize body announced (the server must not wait for / buffer it).
    session = Session(app).start()
    request = (b"POST /community/posts HTTP/1.1\r\nHost: x\r\nCookie: " + tdtest.cookie_header(session.jar).encode()
               + b"\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 104857600\r\n\r\n"
               + b"title=" + b"a" * 65536)
    reply = tdtest.raw_exchange(port, request, timeout=10, read_all=False)
    status = tdtest.status_of(reply)
    check(status in (413, 400), f"100 MiB body -> {status} ({reply[:100]!r}), want 413")
    still_serving(app, "oversize body")
    # Just over the documented default body limit (64 KiB), really sent, on the form route.
    form_page = session.get("/community/new")[2].decode()
    fields = tdtest.hidden_inputs(form_page)
    body = (urllib.parse.urlencode(fields) + "&title=big&rating=5&body=" + "x" * 70000).encode()
    code, _, _ = app.request("POST", "/community/posts", body=body, headers=session.headers(
        {"Content-Type": "application/x-www-form-urlencoded"}))
    check(code == 413, f"70 KB form body -> {code}, want 413 (limit is 64 KiB)")
    still_serving(app, "70 KB body")
    # Oversize body really sent on the API (2 MiB).
    body = b"x" * (2 << 20)
    request = (b"POST /api/deals/1/claims HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
    status = tdtest.status_of(tdtest.raw_exchange(port, request, timeout=10, read_all=False))
    check(status in (413, 400), f"2 MiB API body -> {status}, want 413")
    still_serving(app, "oversize API body")

    # Malformed request lines.
    for raw in [b"GARBAGE\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
                b"GET / HTTP/1.1\r\nNoColonHeader\r\n\r\n", b"\x00\x01\x02\x03\r\n\r\n",
                b"POST /community/posts HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
                b"POST /community/posts HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"]:
        reply = tdtest.raw_exchange(port, raw, timeout=10, read_all=False)
        status = tdtest.status_of(reply)
        check(status in (400, 505, 501, 411, 413, 405) or reply == b"",
              f"malformed request {raw[:40]!r} -> {reply[:80]!r}, want 400")
        check(status != 200 and (status is None or status < 500 or status in (501, 505)),
              f"malformed request {raw[:40]!r} -> {status}")
        still_serving(app, f"malformed {raw[:20]!r}")
    # Bad percent-encoding and an over-long URL.
    status = tdtest.status_of(tdtest.raw_exchange(port, b"GET /deals/%zz HTTP/1.1\r\nHost: x\r\n\r\n",
                                                  read_all=False))
    check(status in (400, 404), f"bad percent-encoding -> {status}")
    status = tdtest.status_of(tdtest.raw_exchange(
        port, b"GET /" + b"a" * 200000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", read_all=False))
    check(status in (414, 431, 400, 404), f"200 KB URL -> {status}")
    # Form with invalid UTF-8 / huge fields -> 4xx, nothing crashes.
    form = tdtest.hidden_inputs(session.get("/community/new")[2].decode())
    for extra in [b"&title=%FF%FE&body=bad+utf8&rating=5", b"&title=ok&body=" + b"x" * 300000 + b"&rating=5",
                  b"&title=ok&body=ok&rating=99", b"&title=%ZZ&body=ok&rating=5"]:
        raw_body = urllib.parse.urlencode(form).encode() + extra
        code, _, _ = app.request("POST", "/community/posts", body=raw_body, headers=session.headers(
            {"Content-Type": "application/x-www-form-urlencoded"}))
        check(code in (400, 413, 422), f"bad form {extra[:40]!r} -> {code}, want 4xx")
    still_serving(app, "bad forms")
    # POST without Content-Length (curl -X POST, wrk): answered at once, and
    # the connection either serves the next request or is closed — never hangs.
    claimer = Session(app).start()
    deal_id = tdtest.find_deal(app, "open")["id"]
    bodiless = (f"POST /api/deals/{deal_id}/claims HTTP/1.1\r\nHost: x\r\nCookie: "
                f"{tdtest.cookie_header(claimer.jar)}\r\nX-CSRF-Token: {claimer.csrf}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(bodiless)
        first = b""
        while b"\r\n\r\n" not in first:
            chunk = s.recv(65536)
            check(chunk, "connection closed before answering a POST without Content-Length")
            first += chunk
        check(tdtest.status_of(first) == 201, f"POST without Content-Length -> {first[:60]!r}, want 201")
        served = closed = False
        try:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            rest = b""
            end = time.monotonic() + 5
            while time.monotonic() < end and not served:
                chunk = s.recv(65536)
                if not chunk:
                    closed = True
                    break
                rest += chunk
                served = b"HTTP/1.1 200" in rest
        except (BrokenPipeError, ConnectionResetError):
            closed = True
        except socket.timeout:
            pass
        check(served or closed, "connection hung after a POST without Content-Length")
    # Keep-alive still works after all of that.
    conn = app.connection()
    for _ in range(3):
        conn.request("GET", "/healthz")
        response = conn.getresponse()
        response.read()
        check(response.status == 200, "keep-alive request failed")
    conn.close()


IDLE_TIMEOUT = 3  # --idle-timeout and --request-timeout given to the app in the idle scenario


def scenario_idle(app):
    """Idle, slow-loris and idle keep-alive connections are closed by the server."""
    bound = IDLE_TIMEOUT + 10.0
    sockets = {
        "fresh-idle": socket.create_connection(("127.0.0.1", app.port), timeout=bound),
        "slow-loris": socket.create_connection(("127.0.0.1", app.port), timeout=bound),
        "keep-alive-idle": socket.create_connection(("127.0.0.1", app.port), timeout=bound),
    }
    sockets["slow-loris"].sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # headers never finish
    keep = sockets["keep-alive-idle"]
    keep.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    reply = b""
    while b"\r\n\r\n" not in reply:
        chunk = keep.recv(4096)
        check(chunk, "keep-alive connection closed right after its first response")
        reply += chunk
    check(tdtest.status_of(reply) == 200, f"/healthz on the keep-alive connection: {reply[:60]!r}")
    start = time.monotonic()
    closed = {}

    def poll_closed(name, sock):
        sock.settimeout(0.2)
        try:
            data = sock.recv(4096)
            # A 408 (or 400) before closing is fine; EOF is the close.
            if data == b"":
                closed[name] = time.monotonic() - start
        except socket.timeout:
            pass
        except ConnectionResetError:
            closed[name] = time.monotonic() - start

    def all_closed():
        for name, sock in sockets.items():
            if name not in closed:
                poll_closed(name, sock)
        check(app.request("GET", "/healthz")[0] == 200, "app stopped serving while connections idle")
        return len(closed) == len(sockets)

    tdtest.poll(all_closed, bound, interval=0.05, what="server to close idle, slow and keep-alive connections")
    log(f"server closed connections after: { {k: round(v, 2) for k, v in closed.items()} }")
    for sock in sockets.values():
        sock.close()


def run(argv):
    if len(argv) != 3:
        raise tdtest.TestFailure(__doc__)
    binary, backend, scenario = argv
    extra = (["--idle-timeout", f"{IDLE_TIMEOUT}s", "--request-timeout", f"{IDLE_TIMEOUT}s"]
             if scenario == "idle" else [])
    app = App(binary, tdtest.database_url(backend), extra_args=extra).start()
    {"pages": scenario_pages, "api": scenario_api, "limits": scenario_limits,
     "idle": scenario_idle}[scenario](app)
    check(app.alive(), "app died during the test")
    # The request id a client sees is the one in the server's log line.
    _, headers, _ = app.request("GET", "/sales")
    request_id = headers.get("x-request-id")
    check(request_id, "response has no X-Request-Id header")
    tdtest.poll(lambda: request_id in app.log_text(), 5, what=f"request id {request_id} in the app log")
    # Every request produced a JSON log line with a request id.
    lines = [l for l in app.log_text().splitlines() if l.strip()]
    check(lines, "app wrote no log lines")
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            raise tdtest.TestFailure(f"log line is not JSON: {line[:200]!r}")
    check(any(any("request" in k.lower() and "id" in k.lower() for k in doc) for doc in parsed),
          "no log line carries a request id")


if __name__ == "__main__":
    tdtest.main(run)

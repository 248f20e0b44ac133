#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""200 concurrent claimers on a deal with stock 50: exactly 50 claims, no oversell.

usage: test_concurrency.py TRIPDEAL_APP sqlite|pg3|pgkill

  sqlite  one app process on SQLite
  pg3     three app processes sharing one PostgreSQL database
  pgkill  as pg3, one process SIGKILLed mid-burst: stock_left + claims
          recorded == stock_total, never negative; errors only from the killed one
"""

import http.client
import os
import shutil
import signal
import subprocess
import threading
import time

import tdtest
from tdtest import App, Session, check, log

CLAIMERS = 200
STOCK = 50


def claims_in_database(db_url, deal_id):
    """Count claim rows for the deal straight from the database (None if the
    schema has no recognisable claims table)."""
    if db_url.startswith("sqlite:"):
        if not shutil.which("sqlite3"):
            log("sqlite3 CLI not installed: checking through the API only")
            return None
        path = db_url[len("sqlite:"):]
        def sql(query):
            result = subprocess.run(["sqlite3", path, query], capture_output=True, text=True, timeout=30)
            return result.stdout.strip() if result.returncode == 0 else ""
        tables = sql("SELECT name FROM sqlite_master WHERE type='table' AND name LIKE '%claim%'").split()
        for table in tables:
            columns = [line.split("|")[1] for line in sql(f"PRAGMA table_info({table})").splitlines()]
            deal_column = next((c for c in columns if "deal" in c), None)
            if deal_column:
                return int(sql(f"SELECT count(*) FROM {table} WHERE {deal_column} = {int(deal_id)}") or -1)
        return None
    rows = tdtest.psql(db_url, "SELECT table_name, column_name FROM information_schema.columns "
                       "WHERE table_schema = 'public' AND table_name LIKE '%claim%' AND column_name LIKE '%deal%'")
    for row in rows.splitlines():
        table, column = row.split("|")
        return int(tdtest.psql(db_url, f'SELECT count(*) FROM "{table}" WHERE "{column}" = {int(deal_id)}'))
    return None


def bring_stock_to(apps, deal_id, target):
    """Claim with throw-away users until stock_left == target (uses only the API)."""
    left = tdtest.get_deal(apps[0], deal_id)["stock_left"]
    check(left >= target, f"open demo deal has stock {left} < {target}")
    check(left - target <= 20000, f"open demo deal stock {left} is too large to trim")
    for i in range(left - target):
        app = apps[i % len(apps)]
        code, _, body = Session(app).start().claim(deal_id)
        check(code == 201, f"trimming stock: claim -> {code}: {body[:200]!r}")
    check(tdtest.get_deal(apps[0], deal_id)["stock_left"] == target, "stock not at target after trimming")
    return left - target


def burst(apps, deal_id, kill_app=None):
    """CLAIMERS users, spread over apps, each claiming once; a quarter of them
    also send a duplicate at the same instant.  Returns a list of
    (user, app_index, status or exception text)."""
    # Each user's session comes from another replica than the one it claims
    # on (as behind a load balancer): replicas share the signing secret.
    sessions = [(i % len(apps), Session(apps[(i + 1) % len(apps)]).start()) for i in range(CLAIMERS)]
    jobs = [(index, session) for index, session in sessions] + \
           [(index, session) for index, session in sessions[: CLAIMERS // 4]]
    barrier = threading.Barrier(len(jobs) + 1)
    results = [None] * len(jobs)
    # The kill comes once the process to be killed has answered a few claims:
    # it is in the middle of its share of the burst.
    killed_index = apps.index(kill_app) if kill_app is not None else None
    killed_answers = threading.Semaphore(0)

    def claimer(slot, app_index, session):
        app = apps[app_index]
        conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=30)
        try:
            conn.connect()
            barrier.wait(timeout=60)
            conn.request("POST", f"/api/deals/{deal_id}/claims", body=b"",
                         headers=session.headers({"X-CSRF-Token": session.csrf}))
            response = conn.getresponse()
            response.read()
            results[slot] = (session.user, app_index, response.status)
        except Exception as error:  # connection errors are results here
            results[slot] = (session.user, app_index, f"{type(error).__name__}: {error}")
        finally:
            if app_index == killed_index:
                killed_answers.release()
            conn.close()

    threads = [threading.Thread(target=claimer, args=(slot, index, session), daemon=True)
               for slot, (index, session) in enumerate(jobs)]
    for thread in threads:
        thread.start()
    barrier.wait(timeout=60)
    if kill_app is not None:
        for _ in range(3):
            killed_answers.acquire(timeout=30)
        os.kill(kill_app.process.pid, signal.SIGKILL)
        log("SIGKILLed one app process mid-burst (after its first 3 answers)")
    for thread in threads:
        thread.join(timeout=60)
    check(all(r is not None for r in results), "some claimers never finished")
    return results


def run(argv):
    if len(argv) != 2:
        raise tdtest.TestFailure(__doc__)
    binary, mode = argv
    backend = "sqlite" if mode == "sqlite" else "postgres"
    db_url = tdtest.database_url(backend)
    secret = tdtest.shared_secret_env()
    first = App(binary, db_url, seed_demo=True, name="app0", env=secret).start()
    apps = [first]
    if mode != "sqlite":
        for n in (1, 2):
            apps.append(App(binary, db_url, seed_demo=False, name=f"app{n}", env=secret).start())

    deal = tdtest.find_deal(first, "open")
    deal_id = deal["id"]
    trimmed = bring_stock_to(apps, deal_id, STOCK)
    killed = apps[2] if mode == "pgkill" else None
    start = time.monotonic()
    results = burst(apps, deal_id, kill_app=killed)
    log(f"burst of {len(results)} requests on {len(apps)} process(es) took {time.monotonic() - start:.2f}s")

    survivors = [app for app in apps if app is not killed]
    statuses = {}
    wins_by_user = {}
    for user, app_index, status in results:
        statuses[status] = statuses.get(status, 0) + 1
        if status == 201:
            wins_by_user[user] = wins_by_user.get(user, 0) + 1
        if apps[app_index] is not killed:
            check(status in (201, 409), f"surviving app {app_index} answered {status!r} (want 201 or 409)")
    log(f"outcomes: {statuses}")
    twice = [user for user, wins in wins_by_user.items() if wins > 1]
    check(not twice, f"users with two successful claims: {twice[:5]}")

    state = tdtest.get_deal(survivors[0], deal_id)
    check(state["stock_left"] >= 0, f"stock_left negative: {state}")
    won = statuses.get(201, 0)
    recorded = claims_in_database(db_url, deal_id)
    log(f"stock_left={state['stock_left']} stock_total={state['stock_total']} 201s={won} "
        f"claims in db={recorded} trimmed={trimmed}")
    if recorded is not None:
        check(state["stock_left"] + recorded == state["stock_total"],
              f"stock_left {state['stock_left']} + claims recorded {recorded} != stock_total {state['stock_total']}")

    if killed is None:
        check(won == STOCK, f"{won} claims succeeded, want exactly {STOCK}")
        check(statuses.get(409, 0) == len(results) - STOCK, f"non-201 answers are not all 409: {statuses}")
        for app in apps:
            check(tdtest.get_deal(app, deal_id)["stock_left"] == 0, "stock_left is not 0 after the burst")
    else:
        # Responses lost with the killed process may hide committed claims, never invent them.
        consumed = STOCK - state["stock_left"]
        check(won <= consumed, f"{won} answers said 201 but only {consumed} stock was taken")
        check(consumed <= STOCK, "oversold")
        # The survivors sell whatever is left, exactly, then refuse.
        remaining = state["stock_left"]
        extra = 0
        for i in range(remaining + 5):
            app = survivors[i % len(survivors)]
            code, _, body = Session(app).start().claim(deal_id)
            check(code in (201, 409), f"follow-up claim -> {code}: {body[:200]!r}")
            extra += code == 201
        check(extra == remaining, f"follow-up sold {extra}, want the {remaining} left")
        for app in survivors:
            check(tdtest.get_deal(app, deal_id)["stock_left"] == 0, "stock_left is not 0 at the end")
        recorded = claims_in_database(db_url, deal_id)
        if recorded is not None:
            check(recorded == deal["stock_total"], f"claims recorded {recorded} != stock_total {deal['stock_total']}")
    for app in survivors:
        check(app.alive(), f"{app.name} died")


if __name__ == "__main__":
    tdtest.main(run)

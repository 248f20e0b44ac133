# SPDX-License-Identifier: Apache-2.0
"""Sessions across replicas (issue 13, the app's side): two tripdeal-app
processes on one PostgreSQL database.

usage: test_replicas.py TRIPDEAL_APP

- Sharing one --secret-file (as the operator's Secret volume gives every pod):
  sessions made on A claim through B -> 201, and B's sessions through A; the
  claims in the database are exactly those answered 201; stock_left agrees.
- With different secrets (what replicas had before the shared Secret): a
  session from A is refused by B with 403 no_session, and nothing is stored.
- The secret file with a trailing newline (as `kubectl create secret
  --from-file` of an `echo`ed file holds it) is the same secret.

Skips (77) without TRIPDEAL_TEST_PG_URL.
"""

import json
import os
import secrets
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tdtest  # noqa: E402
from tdtest import App, Session, check, log  # noqa: E402


def write_secret(directory, name, value):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(value)
    os.chmod(path, 0o600)
    return path


def claims_in_database(db_url, deal_id):
    return int(tdtest.psql(db_url, f"SELECT count(*) FROM claims WHERE deal_id = {int(deal_id)}"))


def run(argv):
    if len(argv) != 1:
        raise tdtest.TestFailure(__doc__)
    binary = argv[0]
    db_url = tdtest.create_pg_database()
    directory = tdtest.temp_dir()
    shared = secrets.token_hex(32)
    secret_a = write_secret(directory, "a", shared)
    secret_b = write_secret(directory, "b", shared + "\n")
    other = write_secret(directory, "other", secrets.token_hex(32))

    app_a = App(binary, db_url, name="replica-a", extra_args=["--secret-file", secret_a]).start()
    app_b = App(binary, db_url, name="replica-b", seed_demo=False,
                extra_args=["--secret-file", secret_b]).start()
    deal = tdtest.find_deal(app_a, "open")
    deal_id = deal["id"]
    before = claims_in_database(db_url, deal_id)
    stock_before = tdtest.get_deal(app_a, deal_id)["stock_left"]

    created = 0
    for i in range(6):
        home, away = (app_a, app_b) if i % 2 == 0 else (app_b, app_a)
        session = Session(home).start()
        status, _, body = session.claim(deal_id, app=away)
        check(status == 201, f"session from {home.name} claiming through {away.name} -> {status}: "
                             f"{body[:200]!r}")
        document = json.loads(body)
        check(document.get("claimed") is True and document.get("user") == session.user,
              f"201 body {document}")
        created += 1
        # The same user again, through the first replica: already claimed.
        status, _, body = session.claim(deal_id, app=home)
        check(status == 409 and b"already_claimed" in body, f"second claim -> {status}: {body[:200]!r}")
    log(f"{created} sessions claimed through the other replica: 201 each, then 409 already_claimed")

    after = claims_in_database(db_url, deal_id)
    check(after - before == created, f"database has {after - before} new claims, {created} answered 201")

    def stock_agrees():
        return (tdtest.get_deal(app_a, deal_id)["stock_left"] == stock_before - created
                and tdtest.get_deal(app_b, deal_id)["stock_left"] == stock_before - created)
    tdtest.poll(stock_agrees, 10, what="both replicas to show the new stock")
    log(f"claims in the database: +{after - before}; stock_left {stock_before} -> {stock_before - created} on both")

    # Replicas with different secrets refuse each other's sessions.
    app_c = App(binary, db_url, name="replica-other-secret", seed_demo=False,
                extra_args=["--secret-file", other]).start()
    session = Session(app_a).start()
    status, _, body = session.claim(deal_id, app=app_c)
    check(status == 403 and b"no_session" in body,
          f"session from A claiming through a replica with another secret -> {status}: {body[:200]!r}")
    check(claims_in_database(db_url, deal_id) == after, "a refused claim was stored")
    log("different secret: 403 no_session, nothing stored")


if __name__ == "__main__":
    tdtest.main(run)

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PostgreSQL backend (libpq), for replicas sharing one database.
 *
 * Every statement is a named prepared statement (PQprepare once per
 * connection, then PQexecPrepared with text parameters); no SQL is built
 * from input.  The claim is one round trip: a plpgsql function created by
 * the first migration does decrement / insert / undo inside the server, in
 * the single transaction of the call.
 *
 * Lost connections (server restart, pg_terminate_backend, failover): before
 * each call we notice a connection the server has closed and reconnect once;
 * reads that fail because the connection died under them are retried once.
 * Writes are not retried blindly, since the server may have committed them
 * before the connection dropped: they return -EIO and the caller decides.
 */
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store-internal.h"

enum statement {
        STMT_PING,
        STMT_SEED_PRODUCT,
        STMT_SEED_DEAL,
        STMT_SEED_POST,
        STMT_LIST_PRODUCTS,
        STMT_LIST_DEALS,
        STMT_GET_DEAL,
        STMT_CLAIM,
        STMT_CLAIM_BATCH,
        STMT_LIST_POSTS,
        STMT_GET_POST,
        STMT_CREATE_POST,
        STMT_CREATE_PRODUCT,
        STMT_CREATE_DEAL,
        STMT_COUNT_CLAIMS,
        _STMT_MAX,
};

static const struct {
        const char *name;
        const char *sql;
} statements[_STMT_MAX] = {
        [STMT_PING] = {"tripdeal_ping", "SELECT 1"},
        [STMT_SEED_PRODUCT] = {"tripdeal_seed_product",
                               "INSERT INTO products (seed_key, title, destination, summary, "
                               "price, featured) VALUES ($1, $2, $3, $4, $5, $6) "
                               "ON CONFLICT (seed_key) DO NOTHING"},
        [STMT_SEED_DEAL] = {"tripdeal_seed_deal",
                            "INSERT INTO deals (seed_key, product_id, title, price, list_price,"
                            " stock_total, stock_left, starts_at, ends_at) "
                            "SELECT $1, p.id, $3, $4, $5, $6, $6, $7, $8 FROM products p "
                            "WHERE p.seed_key = $2 ON CONFLICT (seed_key) DO UPDATE SET "
                            "starts_at = excluded.starts_at, ends_at = excluded.ends_at "
                            "WHERE deals.stock_left = deals.stock_total OR deals.ends_at <= $9"},
        [STMT_SEED_POST] = {"tripdeal_seed_post",
                            "INSERT INTO posts (seed_key, author, title, body, rating, "
                            "created_at) VALUES ($1, $2, $3, $4, $5, $6) "
                            "ON CONFLICT (seed_key) DO NOTHING"},
        [STMT_LIST_PRODUCTS] = {"tripdeal_list_products",
                                "SELECT id, title, destination, summary, price, featured "
                                "FROM products WHERE NOT $1::boolean OR featured ORDER BY id"},
        [STMT_LIST_DEALS] = {"tripdeal_list_deals",
                             "SELECT " DEAL_COLUMNS " FROM deals ORDER BY starts_at, id"},
        [STMT_GET_DEAL] = {"tripdeal_get_deal", "SELECT " DEAL_COLUMNS " FROM deals WHERE id = $1"},
        [STMT_CLAIM] = {"tripdeal_claim", "SELECT outcome, stock FROM tripdeal_claim($1, $2, $3)"},
        [STMT_CLAIM_BATCH] = {"tripdeal_claim_batch",
                              "SELECT outcome, stock FROM tripdeal_claim_batch($1, $2, $3) "
                              "WITH ORDINALITY AS t (outcome, stock, n) ORDER BY n"},
        /* Total and page in one statement (one snapshot, one round trip);
         * the LEFT JOIN keeps the total when the page is past the end. */
        [STMT_LIST_POSTS] = {"tripdeal_list_posts",
                             "SELECT t.total, p.id, p.author, p.title, p.body, p.rating, "
                             "p.created_at FROM (SELECT count(*) AS total FROM posts) t "
                             "LEFT JOIN LATERAL (SELECT * FROM posts "
                             "ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2) p ON true "
                             "ORDER BY p.created_at DESC, p.id DESC"},
        [STMT_GET_POST] = {"tripdeal_get_post",
                           "SELECT 0, id, author, title, body, rating, created_at "
                           "FROM posts WHERE id = $1"},
        [STMT_CREATE_POST] = {"tripdeal_create_post",
                              "INSERT INTO posts (author, title, body, rating, created_at) "
                              "VALUES ($1, $2, $3, $4, $5) RETURNING id"},
        [STMT_CREATE_PRODUCT] = {"tripdeal_create_product",
                                 "INSERT INTO products (title, destination, summary, price, "
                                 "featured) VALUES ($1, $2, $3, $4, $5) RETURNING id"},
        [STMT_CREATE_DEAL] = {"tripdeal_create_deal",
                              "INSERT INTO deals (product_id, title, price, list_price, "
                              "stock_total, stock_left, starts_at, ends_at) "
                              "VALUES ($1, $2, $3, $4, $5, $5, $6, $7) RETURNING id"},
        [STMT_COUNT_CLAIMS] = {"tripdeal_count_claims",
                               "SELECT count(*) FROM claims WHERE deal_id = $1"},
};

/*
 * Schema, one entry per version, applied in order.  Never edit a released
 * entry: add a new one.  Times are seconds since the epoch (bigint), as in
 * the SQLite schema, so both backends compare the same numbers.
 */
static const char *const migrations[] = {
        /* 1: the site's tables and the claim function. */
        "CREATE TABLE products ("
        " id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
        " seed_key text UNIQUE,"
        " title text NOT NULL,"
        " destination text NOT NULL DEFAULT '',"
        " summary text NOT NULL DEFAULT '',"
        " price bigint NOT NULL CHECK (price >= 0),"
        " featured boolean NOT NULL DEFAULT false);"
        "CREATE TABLE deals ("
        " id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
        " seed_key text UNIQUE,"
        " product_id bigint NOT NULL REFERENCES products (id),"
        " title text NOT NULL,"
        " price bigint NOT NULL CHECK (price >= 0),"
        " list_price bigint NOT NULL CHECK (list_price >= 0),"
        " stock_total bigint NOT NULL CHECK (stock_total >= 0),"
        " stock_left bigint NOT NULL CHECK (stock_left >= 0 AND stock_left <= stock_total),"
        " starts_at bigint NOT NULL,"
        " ends_at bigint NOT NULL,"
        " CHECK (ends_at > starts_at));"
        "CREATE TABLE claims ("
        " id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
        " deal_id bigint NOT NULL REFERENCES deals (id),"
        " user_id text NOT NULL,"
        " claimed_at bigint NOT NULL,"
        " UNIQUE (deal_id, user_id));"
        "CREATE TABLE posts ("
        " id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
        " seed_key text UNIQUE,"
        " author text NOT NULL,"
        " title text NOT NULL,"
        " body text NOT NULL,"
        " rating integer NOT NULL CHECK (rating BETWEEN 1 AND 5),"
        " created_at bigint NOT NULL);"
        "CREATE INDEX posts_newest ON posts (created_at DESC, id DESC);"
        "CREATE INDEX deals_starts_at ON deals (starts_at, id);"
        /*
         * The claim, server-side, so it costs one round trip.  It runs in
         * the caller's single transaction: the conditional decrement takes
         * the deal's row lock, so claims on one deal queue there, and the
         * claim row and the decrement commit together or not at all.
         *   1. decrement if open, in stock, and this user holds no claim;
         *   2. insert the claim; a concurrent twin of this user loses on
         *      UNIQUE (deal_id, user_id) and gives the unit back;
         *   3. otherwise one read says why.
         */
        "CREATE FUNCTION tripdeal_claim(p_deal_id bigint, p_user_id text, p_now bigint,"
        "                               OUT outcome text, OUT stock bigint)"
        " LANGUAGE plpgsql AS $claim$\n"
        "DECLARE\n"
        "  d_starts_at bigint;\n"
        "  d_ends_at bigint;\n"
        "BEGIN\n"
        "  UPDATE deals d SET stock_left = d.stock_left - 1\n"
        "   WHERE d.id = p_deal_id AND d.stock_left > 0\n"
        "     AND d.starts_at <= p_now AND d.ends_at > p_now\n"
        "     AND NOT EXISTS (SELECT 1 FROM claims c\n"
        "                      WHERE c.deal_id = p_deal_id AND c.user_id = p_user_id)\n"
        "  RETURNING d.stock_left INTO stock;\n"
        "  IF FOUND THEN\n"
        "    INSERT INTO claims (deal_id, user_id, claimed_at)\n"
        "         VALUES (p_deal_id, p_user_id, p_now)\n"
        "    ON CONFLICT (deal_id, user_id) DO NOTHING;\n"
        "    IF FOUND THEN\n"
        "      outcome := 'ok';\n"
        "      RETURN;\n"
        "    END IF;\n"
        "    UPDATE deals d SET stock_left = d.stock_left + 1 WHERE d.id = p_deal_id\n"
        "    RETURNING d.stock_left INTO stock;\n"
        "    outcome := 'already_claimed';\n"
        "    RETURN;\n"
        "  END IF;\n"
        "  SELECT d.stock_left, d.starts_at, d.ends_at INTO stock, d_starts_at, d_ends_at\n"
        "    FROM deals d WHERE d.id = p_deal_id;\n"
        "  IF NOT FOUND THEN\n"
        "    outcome := 'no_such_deal';\n"
        "    stock := 0;\n"
        "  ELSIF p_now < d_starts_at OR p_now >= d_ends_at THEN\n"
        "    outcome := 'not_open';\n"
        "  ELSIF EXISTS (SELECT 1 FROM claims c\n"
        "                 WHERE c.deal_id = p_deal_id AND c.user_id = p_user_id) THEN\n"
        "    outcome := 'already_claimed';\n"
        "  ELSE\n"
        "    outcome := 'sold_out';\n"
        "  END IF;\n"
        "END\n"
        "$claim$;",
        /*
         * 2: several claims in one call and one transaction.  A deal's claims
         * queue on its row lock, and the lock is held until the commit is
         * flushed to disk, so one claim per transaction tops out at one claim
         * per WAL flush.  The app combines the claims that arrive together
         * in one process into one call (see claim_combiner below): one flush
         * for all of them.
         *
         * Per deal (ascending id, so two batches never take two deals' locks
         * in opposite orders): lock the row, read which of these users
         * already hold a claim, decide every request in arrival order exactly
         * as one-by-one claims would (not open > already claimed > sold out >
         * ok), then ONE conditional decrement by the number of winners and
         * ONE insert of their claims.  Updating the same row once per claim
         * would leave a chain of row versions that every later update in
         * the transaction walks again.  Every claim path takes the deal's
         * row lock first, so the decision cannot go stale before commit; the
         * CHECK and UNIQUE constraints still stand guard, and any error
         * aborts the whole batch (nothing half-written).
         *
         * tripdeal_claim becomes a batch of one, so the logic lives here only.
         */
        "CREATE FUNCTION tripdeal_claim_batch(p_deal_ids bigint[], p_user_ids text[],"
        "                                     p_now bigint[])"
        " RETURNS TABLE (outcome text, stock bigint)"
        " LANGUAGE plpgsql AS $batch$\n"
        "DECLARE\n"
        "  n integer := coalesce(array_length(p_deal_ids, 1), 0);\n"
        "  outcomes text[] := array_fill(NULL::text, ARRAY[n]);\n"
        "  stocks bigint[] := array_fill(NULL::bigint, ARRAY[n]);\n"
        "  v_deal bigint;\n"
        "  d_left bigint;\n"
        "  d_starts_at bigint;\n"
        "  d_ends_at bigint;\n"
        "  taken bigint;\n"
        "  held text[];\n"
        "  winners text[];\n"
        "  winners_now bigint[];\n"
        "BEGIN\n"
        "  FOR v_deal IN SELECT DISTINCT x FROM unnest(p_deal_ids) x ORDER BY x LOOP\n"
        "    SELECT d.stock_left, d.starts_at, d.ends_at INTO d_left, d_starts_at, d_ends_at\n"
        "      FROM deals d WHERE d.id = v_deal FOR UPDATE;\n"
        "    IF NOT FOUND THEN\n"
        "      FOR i IN 1 .. n LOOP\n"
        "        IF p_deal_ids[i] = v_deal THEN\n"
        "          outcomes[i] := 'no_such_deal';\n"
        "          stocks[i] := 0;\n"
        "        END IF;\n"
        "      END LOOP;\n"
        "      CONTINUE;\n"
        "    END IF;\n"
        "    SELECT coalesce(array_agg(c.user_id), '{}') INTO held FROM claims c\n"
        "     WHERE c.deal_id = v_deal AND c.user_id = ANY (p_user_ids);\n"
        "    taken := 0;\n"
        "    winners := '{}';\n"
        "    winners_now := '{}';\n"
        "    FOR i IN 1 .. n LOOP\n"
        "      CONTINUE WHEN p_deal_ids[i] <> v_deal;\n"
        "      IF p_now[i] < d_starts_at OR p_now[i] >= d_ends_at THEN\n"
        "        outcomes[i] := 'not_open';\n"
        "        stocks[i] := d_left - taken;\n"
        "      ELSIF p_user_ids[i] = ANY (held) THEN\n"
        "        outcomes[i] := 'already_claimed';\n"
        "        stocks[i] := d_left - taken;\n"
        "      ELSIF d_left - taken <= 0 THEN\n"
        "        outcomes[i] := 'sold_out';\n"
        "        stocks[i] := 0;\n"
        "      ELSE\n"
        "        taken := taken + 1;\n"
        "        outcomes[i] := 'ok';\n"
        "        stocks[i] := d_left - taken;\n"
        "        held := held || p_user_ids[i];\n"
        "        winners := winners || p_user_ids[i];\n"
        "        winners_now := winners_now || p_now[i];\n"
        "      END IF;\n"
        "    END LOOP;\n"
        "    IF taken > 0 THEN\n"
        "      UPDATE deals d SET stock_left = d.stock_left - taken\n"
        "       WHERE d.id = v_deal AND d.stock_left >= taken;\n"
        "      IF NOT FOUND THEN\n"
        "        RAISE EXCEPTION 'tripdeal_claim_batch: stock of deal % changed under its lock',"
        " v_deal;\n"
        "      END IF;\n"
        "      INSERT INTO claims (deal_id, user_id, claimed_at)\n"
        "      SELECT v_deal, w.user_id, w.claimed_at\n"
        "        FROM unnest(winners, winners_now) AS w (user_id, claimed_at);\n"
        "    END IF;\n"
        "  END LOOP;\n"
        "  RETURN QUERY SELECT outcomes[k], stocks[k] FROM generate_series(1, n) k ORDER BY k;\n"
        "END\n"
        "$batch$;"
        "CREATE OR REPLACE FUNCTION tripdeal_claim(p_deal_id bigint, p_user_id text,"
        "                                         p_now bigint,"
        "                                         OUT outcome text, OUT stock bigint)"
        " LANGUAGE sql AS $claim$\n"
        "  SELECT b.outcome, b.stock\n"
        "    FROM tripdeal_claim_batch(ARRAY[p_deal_id], ARRAY[p_user_id], ARRAY[p_now]) b\n"
        "$claim$;",
        /*
         * 3: the batch claim, set-based.  Migration 2 decided each request in
         * a plpgsql loop with array membership tests (= ANY over the users
         * already holding a claim, once per request): O(n^2) text
         * comparisons per batch, where PostgreSQL spent most of its time.
         * Same outcomes, now from a few joins and window functions:
         *   1. lock the batch's deals in ascending id order (LockRows runs
         *      above the sort), in a statement of its own, so the decision
         *      below takes its snapshot after the locks: it sees every claim
         *      and decrement committed by the previous lock holder;
         *   2. settle what does not depend on order: no such deal, not open
         *      (per request: each carries its own now), already claimed
         *      (one index probe of UNIQUE (deal_id, user_id) per request: a
         *      correlated scalar subquery, which the planner neither turns
         *      into a join nor hashes; a plain join was planned as a
         *      sequential scan of claims while the table was small, and that
         *      plan then read every claim of the table on each batch);
         *   3. the rest are candidates; a user's first candidate request on
         *      a deal competes for stock, in request order: it wins if its
         *      rank among first requests is <= stock_left.  A user's later
         *      requests are "already claimed" if the first one won, else
         *      "sold out" (stock only falls, so it is gone for them too);
         *   4. each answer's stock is stock_left minus the wins up to and
         *      including it (what one-by-one claims would report);
         *   5. one UPDATE per deal by its number of wins and one INSERT of
         *      the winners, in the same statement and transaction.  The CHECK
         *      (stock_left >= 0) and UNIQUE (deal_id, user_id) constraints
         *      still stand guard: any violation aborts the whole batch.
         * Precedence is unchanged: not open > already claimed > sold out.
         */
        "CREATE OR REPLACE FUNCTION tripdeal_claim_batch(p_deal_ids bigint[], p_user_ids text[],\n"
        "                                                p_now bigint[])\n"
        " RETURNS TABLE (outcome text, stock bigint)\n"
        " LANGUAGE plpgsql AS $batch$\n"
        "BEGIN\n"
        "  PERFORM 1 FROM deals d WHERE d.id = ANY (p_deal_ids) ORDER BY d.id FOR UPDATE;\n"
        "  RETURN QUERY\n"
        "  WITH request AS (\n"
        "    SELECT r.ord, r.deal_id, r.user_id, r.claimed_at, d.stock_left AS deal_left,\n"
        "           CASE WHEN d.id IS NULL THEN 'no_such_deal'\n"
        "                WHEN r.claimed_at < d.starts_at OR r.claimed_at >= d.ends_at THEN "
        "'not_open'\n"
        "                WHEN (SELECT true FROM claims c\n"
        "                       WHERE c.deal_id = r.deal_id AND c.user_id = r.user_id) THEN "
        "'already_claimed'\n"
        "           END AS settled\n"
        "      FROM unnest(p_deal_ids, p_user_ids, p_now) WITH ORDINALITY\n"
        "           AS r (deal_id, user_id, claimed_at, ord)\n"
        "      LEFT JOIN deals d ON d.id = r.deal_id\n"
        "  ), candidate AS (\n"
        "    SELECT q.ord, q.deal_id, q.user_id,\n"
        "           row_number() OVER (PARTITION BY q.deal_id, q.user_id ORDER BY q.ord) AS "
        "repeat\n"
        "      FROM request q WHERE q.settled IS NULL\n"
        "  ), ranked AS (\n"
        "    SELECT k.ord, k.deal_id, k.user_id, k.repeat,\n"
        "           count(*) FILTER (WHERE k.repeat = 1)\n"
        "             OVER (PARTITION BY k.deal_id ORDER BY k.ord) AS grant_rank\n"
        "      FROM candidate k\n"
        "  ), first_ranked AS (\n"
        "    SELECT g.ord, g.repeat, g.grant_rank,\n"
        "           min(g.grant_rank) OVER (PARTITION BY g.deal_id, g.user_id) AS "
        "first_grant_rank\n"
        "      FROM ranked g\n"
        "  ), decided AS (\n"
        "    SELECT q.ord, q.deal_id, q.user_id, q.claimed_at, q.deal_left,\n"
        "           coalesce(q.settled,\n"
        "                    CASE WHEN f.repeat = 1 AND f.grant_rank <= q.deal_left THEN 'ok'\n"
        "                         WHEN f.repeat > 1 AND f.first_grant_rank <= q.deal_left\n"
        "                           THEN 'already_claimed'\n"
        "                         ELSE 'sold_out'\n"
        "                    END) AS outcome\n"
        "      FROM request q LEFT JOIN first_ranked f ON f.ord = q.ord\n"
        "  ), answered AS (\n"
        "    SELECT e.ord, e.deal_id, e.user_id, e.claimed_at, e.outcome,\n"
        "           CASE WHEN e.outcome = 'no_such_deal' THEN 0::bigint\n"
        "                ELSE e.deal_left - count(*) FILTER (WHERE e.outcome = 'ok')\n"
        "                                     OVER (PARTITION BY e.deal_id ORDER BY e.ord)\n"
        "           END AS stock\n"
        "      FROM decided e\n"
        "  ), decrement AS (\n"
        "    UPDATE deals d SET stock_left = d.stock_left - w.taken\n"
        "      FROM (SELECT a.deal_id, count(*) AS taken FROM answered a\n"
        "             WHERE a.outcome = 'ok' GROUP BY a.deal_id) w\n"
        "     WHERE d.id = w.deal_id\n"
        "  ), recorded AS (\n"
        "    INSERT INTO claims (deal_id, user_id, claimed_at)\n"
        "    SELECT a.deal_id, a.user_id, a.claimed_at FROM answered a\n"
        "     WHERE a.outcome = 'ok' ORDER BY a.ord\n"
        "  )\n"
        "  SELECT a.outcome, a.stock FROM answered a ORDER BY a.ord;\n"
        "END\n"
        "$batch$;",
};

/* pg_advisory_xact_lock key that serialises migrations across processes
 * ("TripDeal" in ASCII, as a number nobody else will pick by accident). */
#define MIGRATION_LOCK_KEY "5747712375766623340"

struct claim_combiner;

struct pg_store {
        PGconn *conn;
        bool prepared[_STMT_MAX];
        struct claim_combiner *combiner; /* shared, process lifetime; NULL: unbatched */
        bool server_closing;             /* the server sent FATAL: reconnect before use */
};

static struct claim_combiner *combiner_for(const char *url);

static PGconn *conn_of(struct store *store)
{
        return ((struct pg_store *)store->impl)->conn;
}

/*
 * Notices and errors the server sends outside a query.  libpq prints them on
 * stderr by default; library code must not.  One matters: a server that
 * ends our session (shutdown, pg_terminate_backend) sends a FATAL error and
 * then closes the socket a moment later.  Remember it, so that the next call
 * reconnects first instead of sending its query into a closing socket.
 */
static void notice_receiver(void *arg, const PGresult *result)
{
        struct pg_store *impl = arg;
        const char *severity = PQresultErrorField(result, PG_DIAG_SEVERITY_NONLOCALIZED);
        if (severity && (strcmp(severity, "FATAL") == 0 || strcmp(severity, "PANIC") == 0))
                impl->server_closing = true;
}

/* A failed connection attempt: unreachable or refusing -> -ECONNREFUSED,
 * anything else (authentication, no such database) -> -EIO. */
static int connect_failure(struct store *store)
{
        const char *message = PQerrorMessage(conn_of(store));
        store_set_error(store, "postgresql: %s", message);
        static const char *const unreachable[] = {
                "Connection refused",
                "No such file or directory",
                "timeout expired",
                "could not connect",
                "Network is unreachable",
                "No route to host",
                "the database system is starting up",
                "the database system is shutting down",
                "could not translate host name",
        };
        for (size_t i = 0; i < ARRAY_SIZE(unreachable); i++)
                if (strstr(message, unreachable[i]))
                        return -ECONNREFUSED;
        return -EIO;
}

/*
 * Has the server closed this idle connection?  An idle connection has
 * nothing to read unless the server is going away (it sends a FATAL error
 * and closes), so readable means: consume, and see whether libpq now
 * reports the connection bad.
 */
static bool connection_lost(struct pg_store *impl)
{
        PGconn *conn = impl->conn;
        if (PQstatus(conn) == CONNECTION_BAD || impl->server_closing)
                return true;
        for (int i = 0; i < 4; i++) {
                struct pollfd fd = {.fd = PQsocket(conn), .events = POLLIN};
                if (fd.fd < 0)
                        return true;
                if (poll(&fd, 1, 0) <= 0)
                        return false;
                if (!PQconsumeInput(conn))
                        return true;
                PGnotify *notify;
                while ((notify = PQnotifies(conn))) /* also parses what arrived */
                        PQfreemem(notify);
                if (PQstatus(conn) == CONNECTION_BAD || impl->server_closing)
                        return true;
        }
        return PQstatus(conn) == CONNECTION_BAD || impl->server_closing;
}

/* Make sure we hold a working connection, reconnecting once if not. */
static int ensure_connected(struct store *store)
{
        struct pg_store *impl = store->impl;
        if (!connection_lost(impl))
                return 0;
        /* Same parameters as the first connect; prepared statements die
         * with the old session. */
        PQreset(impl->conn);
        impl->server_closing = false;
        memset(impl->prepared, 0, sizeof(impl->prepared));
        PQsetNoticeReceiver(impl->conn, notice_receiver, impl);
        if (PQstatus(impl->conn) != CONNECTION_OK)
                return connect_failure(store);
        return 0;
}

/* A failed statement -> -errno, recording the server's message. */
static int statement_failure(struct store *store, const PGresult *result, const char *what)
{
        PGconn *conn = conn_of(store);
        const char *message = result ? PQresultErrorMessage(result) : "";
        if (!message || !message[0])
                message = PQerrorMessage(conn);
        store_set_error(store, "postgresql: %s: %s", what, message);
        if (PQstatus(conn) == CONNECTION_BAD)
                return -EIO;
        const char *sqlstate = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : NULL;
        /* Class 23: integrity constraint violation (bad argument, e.g. an
         * unknown product); class 22: data exception (e.g. invalid UTF-8). */
        if (sqlstate && (strncmp(sqlstate, "23", 2) == 0 || strncmp(sqlstate, "22", 2) == 0))
                return -EINVAL;
        return -EIO;
}

static int prepare(struct store *store, enum statement id)
{
        struct pg_store *impl = store->impl;
        if (impl->prepared[id])
                return 0;
        PGresult *result = PQprepare(impl->conn, statements[id].name, statements[id].sql, 0, NULL);
        int r = PQresultStatus(result) == PGRES_COMMAND_OK
                        ? 0
                        : statement_failure(store, result, statements[id].name);
        PQclear(result);
        if (r == 0)
                impl->prepared[id] = true;
        return r;
}

/*
 * Run a prepared statement.  `retry`: safe to run again when the connection
 * died under it (reads, and writes that are idempotent).
 */
static int query(struct store *store, enum statement id, int n_values, const char *const *values,
                 bool retry, PGresult **ret_result)
{
        for (int attempt = 0;; attempt++) {
                int r = ensure_connected(store);
                if (r < 0)
                        return r;
                r = prepare(store, id);
                PGresult *result = NULL;
                if (r == 0) {
                        result = PQexecPrepared(conn_of(store), statements[id].name, n_values,
                                                values, NULL, NULL, 0);
                        ExecStatusType status = PQresultStatus(result);
                        if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) {
                                *ret_result = result;
                                return 0;
                        }
                        r = statement_failure(store, result, statements[id].name);
                        PQclear(result);
                }
                if (retry && attempt == 0 && PQstatus(conn_of(store)) == CONNECTION_BAD)
                        continue;
                return r;
        }
}

/* Run constant SQL (transaction control, migrations) with PQexec. */
static int exec_simple(struct store *store, const char *sql, const char *what)
{
        PGresult *result = PQexec(conn_of(store), sql);
        ExecStatusType status = PQresultStatus(result);
        int r = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK
                        ? 0
                        : statement_failure(store, result, what);
        PQclear(result);
        return r;
}

static void rollback(struct store *store)
{
        if (PQstatus(conn_of(store)) == CONNECTION_OK &&
            PQtransactionStatus(conn_of(store)) != PQTRANS_IDLE)
                PQclear(PQexec(conn_of(store), "ROLLBACK"));
}

static int64_t value_int64(const PGresult *result, int row, int column)
{
        return strtoll(PQgetvalue(result, row, column), NULL, 10);
}

static char *value_strdup(const PGresult *result, int row, int column)
{
        return strdup(PQgetvalue(result, row, column));
}

#define INT64_TEXT_SIZE 24

static const char *int64_text(char buffer[static INT64_TEXT_SIZE], int64_t value)
{
        snprintf(buffer, INT64_TEXT_SIZE, "%lld", (long long)value);
        return buffer;
}

static void postgresql_close(struct store *store)
{
        struct pg_store *impl = store->impl;
        PQfinish(impl->conn);
        free(impl);
        store->impl = NULL;
}

static int postgresql_open(struct store *store, const struct store_options *options,
                           const char *url)
{
        struct pg_store *impl = calloc(1, sizeof(*impl));
        if (!impl)
                return -ENOMEM;
        store->impl = impl;

        char timeout[16];
        snprintf(timeout, sizeof(timeout), "%d",
                 options->connect_timeout_seconds > 0 ? options->connect_timeout_seconds : 3);
        /*
         * Pairs before dbname are defaults the URL may override; the ones
         * after it are ours (text is UTF-8 on the wire, always).
         *   keepalives, tcp_user_timeout: when the database host dies
         *     without closing its sockets (power-off, network partition), a
         *     call fails within seconds instead of waiting out TCP
         *     retransmission for minutes, and the next call reconnects.
         *   statement / idle-in-transaction timeouts: no statement of ours
         *     runs for long, and a process frozen inside a transaction
         *     (seeding, migrating) must not hold row locks that stall every
         *     other replica's claims.
         */
        static const char *const keywords[] = {
                "connect_timeout",
                "fallback_application_name",
                "keepalives",
                "keepalives_idle",
                "keepalives_interval",
                "keepalives_count",
                "tcp_user_timeout",
                "options",
                "dbname",
                "client_encoding",
                NULL,
        };
        const char *const values[] = {
                timeout, "tripdeal-app",
                "1",     "10",
                "5",     "3",
                "15000", "-c statement_timeout=30000 -c idle_in_transaction_session_timeout=30000",
                url,     "UTF8",
                NULL,
        };
        impl->conn = PQconnectdbParams(keywords, values, 1);
        if (!impl->conn) {
                store_set_error(store, "postgresql: out of memory");
                postgresql_close(store);
                return -ENOMEM;
        }
        PQsetNoticeReceiver(impl->conn, notice_receiver, impl);
        if (PQstatus(impl->conn) != CONNECTION_OK) {
                int r = connect_failure(store);
                postgresql_close(store);
                return r;
        }
        if (!options->unbatched_claims) {
                impl->combiner = combiner_for(url);
                if (!impl->combiner) {
                        postgresql_close(store);
                        return -ENOMEM;
                }
        }
        return 0;
}

static int postgresql_migrate_once(struct store *store)
{
        int r = exec_simple(store, "BEGIN", "begin");
        if (r < 0)
                return r;
        /* Several processes starting at once: the first to take the lock
         * migrates, the others wait here and then find nothing to do. */
        r = exec_simple(store, "SELECT pg_advisory_xact_lock(" MIGRATION_LOCK_KEY ")",
                        "migration lock");
        if (r == 0)
                r = exec_simple(store,
                                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                " version integer PRIMARY KEY,"
                                " applied_at timestamptz NOT NULL DEFAULT now())",
                                "schema_migrations");
        if (r < 0)
                goto fail;

        PGresult *result =
                PQexec(conn_of(store), "SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
        if (PQresultStatus(result) != PGRES_TUPLES_OK) {
                r = statement_failure(store, result, "schema version");
                PQclear(result);
                goto fail;
        }
        int64_t version = value_int64(result, 0, 0);
        PQclear(result);

        for (size_t i = (size_t)version; i < ARRAY_SIZE(migrations); i++) {
                r = exec_simple(store, migrations[i], "migration");
                if (r < 0)
                        goto fail;
                char number[INT64_TEXT_SIZE];
                const char *values[] = {int64_text(number, (int64_t)i + 1)};
                result = PQexecParams(conn_of(store),
                                      "INSERT INTO schema_migrations (version) VALUES ($1)", 1,
                                      NULL, values, NULL, NULL, 0);
                if (PQresultStatus(result) != PGRES_COMMAND_OK) {
                        r = statement_failure(store, result, "record migration");
                        PQclear(result);
                        goto fail;
                }
                PQclear(result);
        }
        r = exec_simple(store, "COMMIT", "commit");
        if (r < 0)
                goto fail;
        return 0;
fail:
        rollback(store);
        return r;
}

/* A whole transaction is safe to repeat when the connection died in it:
 * nothing of it committed. */
static int retry_transaction(struct store *store, int (*body)(struct store *, time_t), time_t now)
{
        for (int attempt = 0;; attempt++) {
                int r = ensure_connected(store);
                if (r < 0)
                        return r;
                r = body(store, now);
                if (r < 0 && attempt == 0 && PQstatus(conn_of(store)) == CONNECTION_BAD)
                        continue;
                return r;
        }
}

static int migrate_body(struct store *store, time_t now)
{
        return postgresql_migrate_once(store);
}

static int postgresql_migrate(struct store *store)
{
        return retry_transaction(store, migrate_body, 0);
}

static int postgresql_ping(struct store *store)
{
        PGresult *result = NULL;
        int r = query(store, STMT_PING, 0, NULL, true, &result);
        if (r < 0)
                return r;
        PQclear(result);
        return 0;
}

static int exec_prepared_command(struct store *store, enum statement id, int n,
                                 const char *const *values)
{
        int r = prepare(store, id);
        if (r < 0)
                return r;
        PGresult *result =
                PQexecPrepared(conn_of(store), statements[id].name, n, values, NULL, NULL, 0);
        r = PQresultStatus(result) == PGRES_COMMAND_OK
                    ? 0
                    : statement_failure(store, result, statements[id].name);
        PQclear(result);
        return r;
}

static int seed_body(struct store *store, time_t now)
{
        int r = exec_simple(store, "BEGIN", "begin");
        if (r < 0)
                return r;
        char a[INT64_TEXT_SIZE], b[INT64_TEXT_SIZE], c[INT64_TEXT_SIZE], d[INT64_TEXT_SIZE],
                e[INT64_TEXT_SIZE], f[INT64_TEXT_SIZE];

        for (size_t i = 0; i < store_seed_products_count && r == 0; i++) {
                const struct seed_product *p = &store_seed_products[i];
                const char *values[] = {p->key,
                                        p->title,
                                        p->destination,
                                        p->summary,
                                        int64_text(a, p->price),
                                        p->featured ? "true" : "false"};
                r = exec_prepared_command(store, STMT_SEED_PRODUCT, 6, values);
        }
        for (size_t i = 0; i < store_seed_deals_count && r == 0; i++) {
                const struct seed_deal *s = &store_seed_deals[i];
                const char *values[] = {s->key,
                                        s->product_key,
                                        s->title,
                                        int64_text(a, s->price),
                                        int64_text(b, s->list_price),
                                        int64_text(c, s->stock_total),
                                        int64_text(d, (int64_t)now + s->starts_offset),
                                        int64_text(e, (int64_t)now + s->ends_offset),
                                        int64_text(f, (int64_t)now)};
                r = exec_prepared_command(store, STMT_SEED_DEAL, 9, values);
        }
        for (size_t i = 0; i < store_seed_posts_count && r == 0; i++) {
                const struct seed_post *p = &store_seed_posts[i];
                const char *values[] = {p->key,
                                        p->author,
                                        p->title,
                                        p->body,
                                        int64_text(a, p->rating),
                                        int64_text(b, (int64_t)now - p->age_seconds)};
                r = exec_prepared_command(store, STMT_SEED_POST, 6, values);
        }
        if (r == 0)
                r = exec_simple(store, "COMMIT", "commit");
        if (r < 0)
                rollback(store);
        return r;
}

static int postgresql_seed_demo(struct store *store, time_t now)
{
        return retry_transaction(store, seed_body, now);
}

static int postgresql_list_products(struct store *store, bool featured_only,
                                    struct product **ret_products, size_t *ret_count)
{
        const char *values[] = {featured_only ? "true" : "false"};
        PGresult *result = NULL;
        int r = query(store, STMT_LIST_PRODUCTS, 1, values, true, &result);
        if (r < 0)
                return r;
        int n = PQntuples(result);
        struct product *products = calloc(n > 0 ? (size_t)n : 1, sizeof(*products));
        if (!products) {
                PQclear(result);
                return -ENOMEM;
        }
        for (int i = 0; i < n; i++) {
                struct product *p = &products[i];
                p->id = value_int64(result, i, 0);
                p->title = value_strdup(result, i, 1);
                p->destination = value_strdup(result, i, 2);
                p->summary = value_strdup(result, i, 3);
                p->price = value_int64(result, i, 4);
                p->featured = PQgetvalue(result, i, 5)[0] == 't';
                if (!p->title || !p->destination || !p->summary) {
                        PQclear(result);
                        store_products_free(products, (size_t)n);
                        return -ENOMEM;
                }
        }
        PQclear(result);
        *ret_products = products;
        *ret_count = (size_t)n;
        return 0;
}

static int read_deal(const PGresult *result, int row, struct deal *d)
{
        d->id = value_int64(result, row, 0);
        d->product_id = value_int64(result, row, 1);
        d->title = value_strdup(result, row, 2);
        d->price = value_int64(result, row, 3);
        d->list_price = value_int64(result, row, 4);
        d->stock_total = value_int64(result, row, 5);
        d->stock_left = value_int64(result, row, 6);
        d->starts_at = (time_t)value_int64(result, row, 7);
        d->ends_at = (time_t)value_int64(result, row, 8);
        return d->title ? 0 : -ENOMEM;
}

static int postgresql_list_deals(struct store *store, struct deal **ret_deals, size_t *ret_count)
{
        PGresult *result = NULL;
        int r = query(store, STMT_LIST_DEALS, 0, NULL, true, &result);
        if (r < 0)
                return r;
        int n = PQntuples(result);
        struct deal *deals = calloc(n > 0 ? (size_t)n : 1, sizeof(*deals));
        if (!deals) {
                PQclear(result);
                return -ENOMEM;
        }
        for (int i = 0; i < n; i++)
                if (read_deal(result, i, &deals[i]) < 0) {
                        PQclear(result);
                        store_deals_free(deals, (size_t)n);
                        return -ENOMEM;
                }
        PQclear(result);
        *ret_deals = deals;
        *ret_count = (size_t)n;
        return 0;
}

static int postgresql_get_deal(struct store *store, int64_t id, struct deal *ret_deal)
{
        char text[INT64_TEXT_SIZE];
        const char *values[] = {int64_text(text, id)};
        PGresult *result = NULL;
        int r = query(store, STMT_GET_DEAL, 1, values, true, &result);
        if (r < 0)
                return r;
        if (PQntuples(result) == 0) {
                PQclear(result);
                store_set_error(store, "no deal %lld", (long long)id);
                return -ENOENT;
        }
        struct deal deal = {0};
        r = read_deal(result, 0, &deal);
        PQclear(result);
        if (r < 0) {
                store_deal_clear(&deal);
                return r;
        }
        *ret_deal = deal;
        return 0;
}

static int parse_outcome(const char *text, enum claim_outcome *ret_outcome)
{
        static const enum claim_outcome outcomes[] = {CLAIM_OK, CLAIM_SOLD_OUT,
                                                      CLAIM_ALREADY_CLAIMED, CLAIM_NOT_OPEN,
                                                      CLAIM_NO_SUCH_DEAL};
        for (size_t i = 0; i < ARRAY_SIZE(outcomes); i++)
                if (strcmp(text, claim_outcome_to_string(outcomes[i])) == 0) {
                        *ret_outcome = outcomes[i];
                        return 0;
                }
        return -EIO;
}

/* One claim, one call, one transaction. */
static int claim_one(struct store *store, int64_t deal_id, const char *user_id, time_t now,
                     enum claim_outcome *ret_outcome, int64_t *ret_stock_left)
{
        char deal_text[INT64_TEXT_SIZE], now_text[INT64_TEXT_SIZE];
        const char *values[] = {int64_text(deal_text, deal_id), user_id,
                                int64_text(now_text, (int64_t)now)};
        PGresult *result = NULL;
        /* Not retried after the call went out: it may have committed. */
        int r = query(store, STMT_CLAIM, 3, values, false, &result);
        if (r < 0)
                return r;
        enum claim_outcome outcome;
        if (PQntuples(result) != 1 || parse_outcome(PQgetvalue(result, 0, 0), &outcome) < 0) {
                PQclear(result);
                store_set_error(store, "postgresql: tripdeal_claim: unexpected result");
                return -EIO;
        }
        *ret_outcome = outcome;
        *ret_stock_left = value_int64(result, 0, 1);
        PQclear(result);
        return 0;
}

/*
 * The claim combiner.  Claims queue on their deal's row lock until the
 * holder's commit is on disk, so one claim per transaction tops out at one
 * claim per WAL flush (about 1,000/s here).  Within one process, claims that
 * arrive while another thread's batch is in flight wait for it to finish and
 * then go together: the first waiting thread becomes the leader, sends every
 * queued claim in one tripdeal_claim_batch call on its own connection (one
 * transaction, one flush) and hands each thread its own result.  Every claim
 * is still all-or-nothing, and the database still enforces stock and
 * uniqueness across processes; only the number of commits shrinks.
 *
 * One combiner per database URL, shared by every store of the process and
 * kept for the process's lifetime.
 */
#define CLAIM_BATCH_MAX 256

struct claim_request {
        int64_t deal_id;
        const char *user_id; /* borrowed from the waiting caller */
        time_t now;
        bool done;
        int result;
        enum claim_outcome outcome;
        int64_t stock_left;
        char error[256];
        pthread_cond_t wake; /* signalled when done, or when it is to lead */
        struct claim_request *next;
};

struct claim_combiner {
        char *url;
        pthread_mutex_t lock;
        struct claim_request *head, *tail;
        bool leader_active;
        struct claim_combiner *next;
};

static pthread_mutex_t combiners_lock = PTHREAD_MUTEX_INITIALIZER;
static struct claim_combiner *combiners;

/* A child of fork() has only the forking thread: no leader or queued
 * claim of the parent's other threads will ever finish there.  Start the
 * child's combiners empty (its stores are new connections anyway). */
static void combiners_lock_before_fork(void)
{
        pthread_mutex_lock(&combiners_lock);
}

static void combiners_unlock_in_parent(void)
{
        pthread_mutex_unlock(&combiners_lock);
}

static void combiners_reset_in_child(void)
{
        for (struct claim_combiner *c = combiners; c; c = c->next) {
                pthread_mutex_init(&c->lock, NULL);
                c->head = c->tail = NULL;
                c->leader_active = false;
        }
        pthread_mutex_init(&combiners_lock, NULL);
}

static void combiners_register_fork_handlers(void)
{
        pthread_atfork(combiners_lock_before_fork, combiners_unlock_in_parent,
                       combiners_reset_in_child);
}

static struct claim_combiner *combiner_for(const char *url)
{
        static pthread_once_t once = PTHREAD_ONCE_INIT;
        pthread_once(&once, combiners_register_fork_handlers);
        pthread_mutex_lock(&combiners_lock);
        struct claim_combiner *c;
        for (c = combiners; c; c = c->next)
                if (strcmp(c->url, url) == 0)
                        break;
        if (!c) {
                c = calloc(1, sizeof(*c));
                if (c && !(c->url = strdup(url))) {
                        free(c);
                        c = NULL;
                }
                if (c) {
                        pthread_mutex_init(&c->lock, NULL);
                        c->next = combiners;
                        combiners = c;
                }
        }
        pthread_mutex_unlock(&combiners_lock);
        return c;
}

/* PostgreSQL array literal element: double-quoted, \ and " escaped.  The
 * literal is a bound parameter value, never SQL text. */
static void write_array_text(FILE *f, const char *s)
{
        fputc('"', f);
        for (; *s; s++) {
                if (*s == '"' || *s == '\\')
                        fputc('\\', f);
                fputc(*s, f);
        }
        fputc('"', f);
}

/* Run `n` queued claims on this store's connection and fill their results. */
static void run_batch(struct store *store, struct claim_request **batch, size_t n)
{
        int r = 0;
        if (n == 1) {
                r = claim_one(store, batch[0]->deal_id, batch[0]->user_id, batch[0]->now,
                              &batch[0]->outcome, &batch[0]->stock_left);
                goto finish;
        }

        /* Arrival order; the function takes the deals' locks in ascending
         * id order itself. */
        char *arrays[3] = {NULL, NULL, NULL};
        size_t sizes[3];
        FILE *files[3];
        for (int k = 0; k < 3; k++) {
                files[k] = open_memstream(&arrays[k], &sizes[k]);
                if (!files[k]) {
                        for (int j = 0; j < k; j++) {
                                fclose(files[j]);
                                free(arrays[j]);
                        }
                        store_set_error(store, "postgresql: out of memory");
                        r = -ENOMEM;
                        goto finish;
                }
                fputc('{', files[k]);
        }
        for (size_t i = 0; i < n; i++) {
                const char *separator = i ? "," : "";
                fprintf(files[0], "%s%lld", separator, (long long)batch[i]->deal_id);
                fputs(separator, files[1]);
                write_array_text(files[1], batch[i]->user_id);
                fprintf(files[2], "%s%lld", separator, (long long)batch[i]->now);
        }
        bool written = true;
        for (int k = 0; k < 3; k++) {
                fputc('}', files[k]);
                written &= fclose(files[k]) == 0;
        }
        PGresult *result = NULL;
        if (!written) {
                store_set_error(store, "postgresql: out of memory");
                r = -ENOMEM;
        } else {
                const char *values[] = {arrays[0], arrays[1], arrays[2]};
                r = query(store, STMT_CLAIM_BATCH, 3, values, false, &result);
        }
        for (int k = 0; k < 3; k++)
                free(arrays[k]);
        if (r < 0)
                goto finish;
        if ((size_t)PQntuples(result) != n) {
                store_set_error(store, "postgresql: tripdeal_claim_batch: unexpected result");
                r = -EIO;
        }
        for (size_t i = 0; r == 0 && i < n; i++) {
                if (parse_outcome(PQgetvalue(result, (int)i, 0), &batch[i]->outcome) < 0) {
                        store_set_error(store, "postgresql: tripdeal_claim_batch: bad outcome");
                        r = -EIO;
                        break;
                }
                batch[i]->stock_left = value_int64(result, (int)i, 1);
        }
        PQclear(result);
finish:
        for (size_t i = 0; i < n; i++) {
                batch[i]->result = r;
                if (r < 0)
                        snprintf(batch[i]->error, sizeof(batch[i]->error), "%s",
                                 store_call_error_message(store));
        }
}

static int postgresql_claim(struct store *store, int64_t deal_id, const char *user_id, time_t now,
                            enum claim_outcome *ret_outcome, int64_t *ret_stock_left)
{
        struct pg_store *impl = store->impl;
        struct claim_combiner *c = impl->combiner;
        if (!c)
                return claim_one(store, deal_id, user_id, now, ret_outcome, ret_stock_left);

        struct claim_request request = {.deal_id = deal_id, .user_id = user_id, .now = now};
        pthread_cond_init(&request.wake, NULL);
        pthread_mutex_lock(&c->lock);
        if (c->tail)
                c->tail->next = &request;
        else
                c->head = &request;
        c->tail = &request;

        while (!request.done) {
                if (c->leader_active) {
                        /* Woken when our batch is done, or when we are first
                         * in line and the leader has finished. */
                        pthread_cond_wait(&request.wake, &c->lock);
                        continue;
                }
                /* Lead: take what is queued (our own request is among it
                 * unless the queue is longer than one batch). */
                c->leader_active = true;
                struct claim_request *batch[CLAIM_BATCH_MAX];
                size_t n = 0;
                while (c->head && n < CLAIM_BATCH_MAX) {
                        batch[n++] = c->head;
                        c->head = c->head->next;
                }
                if (!c->head)
                        c->tail = NULL;
                pthread_mutex_unlock(&c->lock);

                run_batch(store, batch, n);

                /* Wake exactly the threads that have an answer, and the next
                 * in line to lead; signalled under the lock, so a request's
                 * condition variable is never used after its owner leaves. */
                pthread_mutex_lock(&c->lock);
                for (size_t i = 0; i < n; i++) {
                        batch[i]->done = true;
                        pthread_cond_signal(&batch[i]->wake);
                }
                c->leader_active = false;
                if (c->head)
                        pthread_cond_signal(&c->head->wake);
        }
        pthread_mutex_unlock(&c->lock);
        pthread_cond_destroy(&request.wake);

        if (request.result < 0) {
                store_set_error(store, "%s", request.error);
                return request.result;
        }
        *ret_outcome = request.outcome;
        *ret_stock_left = request.stock_left;
        return 0;
}

/* Columns: ignored, id, author, title, body, rating, created_at. */
static int read_post(const PGresult *result, int row, struct post *p)
{
        p->id = value_int64(result, row, 1);
        p->author = value_strdup(result, row, 2);
        p->title = value_strdup(result, row, 3);
        p->body = value_strdup(result, row, 4);
        p->rating = (int)value_int64(result, row, 5);
        p->created_at = (time_t)value_int64(result, row, 6);
        return p->author && p->title && p->body ? 0 : -ENOMEM;
}

static int postgresql_list_posts(struct store *store, int page, int per_page,
                                 struct post **ret_posts, size_t *ret_count, int64_t *ret_total)
{
        char limit[INT64_TEXT_SIZE], offset[INT64_TEXT_SIZE];
        const char *values[] = {int64_text(limit, per_page),
                                int64_text(offset, (int64_t)(page - 1) * per_page)};
        PGresult *result = NULL;
        int r = query(store, STMT_LIST_POSTS, 2, values, true, &result);
        if (r < 0)
                return r;
        int rows = PQntuples(result);
        if (rows < 1) {
                PQclear(result);
                store_set_error(store, "postgresql: list posts returned no row");
                return -EIO;
        }
        int64_t total = value_int64(result, 0, 0);
        /* Past the last page: one row with the total and NULLs. */
        size_t n = PQgetisnull(result, 0, 1) ? 0 : (size_t)rows;
        struct post *posts = calloc(n > 0 ? n : 1, sizeof(*posts));
        if (!posts) {
                PQclear(result);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++)
                if (read_post(result, (int)i, &posts[i]) < 0) {
                        PQclear(result);
                        store_posts_free(posts, n);
                        return -ENOMEM;
                }
        PQclear(result);
        *ret_posts = posts;
        *ret_count = n;
        *ret_total = total;
        return 0;
}

static int postgresql_get_post(struct store *store, int64_t id, struct post *ret_post)
{
        char text[INT64_TEXT_SIZE];
        const char *values[] = {int64_text(text, id)};
        PGresult *result = NULL;
        int r = query(store, STMT_GET_POST, 1, values, true, &result);
        if (r < 0)
                return r;
        if (PQntuples(result) == 0) {
                PQclear(result);
                store_set_error(store, "no post %lld", (long long)id);
                return -ENOENT;
        }
        struct post post = {0};
        r = read_post(result, 0, &post);
        PQclear(result);
        if (r < 0) {
                store_post_clear(&post);
                return r;
        }
        *ret_post = post;
        return 0;
}

/* Run an INSERT ... RETURNING id (not retried: it may have committed). */
static int insert_returning_id(struct store *store, enum statement id, int n,
                               const char *const *values, int64_t *ret_id)
{
        PGresult *result = NULL;
        int r = query(store, id, n, values, false, &result);
        if (r < 0)
                return r;
        if (PQntuples(result) != 1) {
                PQclear(result);
                store_set_error(store, "postgresql: %s returned no id", statements[id].name);
                return -EIO;
        }
        *ret_id = value_int64(result, 0, 0);
        PQclear(result);
        return 0;
}

static int postgresql_create_post(struct store *store, const char *author, const char *title,
                                  const char *body, int rating, time_t now, int64_t *ret_id)
{
        char rating_text[INT64_TEXT_SIZE], now_text[INT64_TEXT_SIZE];
        const char *values[] = {author, title, body, int64_text(rating_text, rating),
                                int64_text(now_text, (int64_t)now)};
        return insert_returning_id(store, STMT_CREATE_POST, 5, values, ret_id);
}

static int postgresql_create_product(struct store *store, const struct new_product *product,
                                     int64_t *ret_id)
{
        char price[INT64_TEXT_SIZE];
        const char *values[] = {product->title, product->destination ? product->destination : "",
                                product->summary ? product->summary : "",
                                int64_text(price, product->price),
                                product->featured ? "true" : "false"};
        return insert_returning_id(store, STMT_CREATE_PRODUCT, 5, values, ret_id);
}

static int postgresql_create_deal(struct store *store, const struct new_deal *deal, int64_t *ret_id)
{
        char product[INT64_TEXT_SIZE], price[INT64_TEXT_SIZE], list_price[INT64_TEXT_SIZE],
                stock[INT64_TEXT_SIZE], starts[INT64_TEXT_SIZE], ends[INT64_TEXT_SIZE];
        const char *values[] = {int64_text(product, deal->product_id),
                                deal->title,
                                int64_text(price, deal->price),
                                int64_text(list_price, deal->list_price),
                                int64_text(stock, deal->stock_total),
                                int64_text(starts, (int64_t)deal->starts_at),
                                int64_text(ends, (int64_t)deal->ends_at)};
        return insert_returning_id(store, STMT_CREATE_DEAL, 7, values, ret_id);
}

static int postgresql_count_claims(struct store *store, int64_t deal_id, int64_t *ret_count)
{
        char text[INT64_TEXT_SIZE];
        const char *values[] = {int64_text(text, deal_id)};
        PGresult *result = NULL;
        int r = query(store, STMT_COUNT_CLAIMS, 1, values, true, &result);
        if (r < 0)
                return r;
        *ret_count = value_int64(result, 0, 0);
        PQclear(result);
        return 0;
}

const struct store_backend store_backend_postgresql = {
        .name = "postgresql",
        .open = postgresql_open,
        .close = postgresql_close,
        .migrate = postgresql_migrate,
        .ping = postgresql_ping,
        .seed_demo = postgresql_seed_demo,
        .list_products = postgresql_list_products,
        .list_deals = postgresql_list_deals,
        .get_deal = postgresql_get_deal,
        .claim = postgresql_claim,
        .list_posts = postgresql_list_posts,
        .get_post = postgresql_get_post,
        .create_post = postgresql_create_post,
        .create_product = postgresql_create_product,
        .create_deal = postgresql_create_deal,
        .count_claims = postgresql_count_claims,
};

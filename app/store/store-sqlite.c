/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SQLite backend: one file, WAL mode so readers never wait for the writer,
 * busy_timeout so writers from several connections (threads or processes)
 * queue instead of failing.  Every statement is prepared once per
 * connection with bound parameters; no SQL is ever built from input.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store-internal.h"

enum statement {
        STMT_BEGIN_IMMEDIATE,
        STMT_COMMIT,
        STMT_ROLLBACK,
        STMT_PING,
        STMT_MIGRATION_VERSION,
        STMT_MIGRATION_RECORD,
        STMT_SEED_PRODUCT,
        STMT_SEED_DEAL,
        STMT_SEED_POST,
        STMT_LIST_PRODUCTS,
        STMT_LIST_DEALS,
        STMT_GET_DEAL,
        STMT_CLAIM_DECREMENT,
        STMT_CLAIM_INSERT,
        STMT_CLAIM_EXPLAIN,
        STMT_COUNT_POSTS,
        STMT_LIST_POSTS,
        STMT_GET_POST,
        STMT_CREATE_POST,
        STMT_CREATE_PRODUCT,
        STMT_CREATE_DEAL,
        STMT_COUNT_CLAIMS,
        _STMT_MAX,
};

#define POST_COLUMNS "id, author, title, body, rating, created_at"

static const char *const statement_sql[_STMT_MAX] = {
        [STMT_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
        [STMT_COMMIT] = "COMMIT",
        [STMT_ROLLBACK] = "ROLLBACK",
        [STMT_PING] = "SELECT 1",
        [STMT_MIGRATION_VERSION] = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [STMT_MIGRATION_RECORD] =
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
        [STMT_SEED_PRODUCT] =
                "INSERT INTO products (seed_key, title, destination, summary, price, featured) "
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (seed_key) DO NOTHING",
        [STMT_SEED_DEAL] =
                "INSERT INTO deals (seed_key, product_id, title, price, list_price, stock_total,"
                " stock_left, starts_at, ends_at) "
                "SELECT ?1, p.id, ?3, ?4, ?5, ?6, ?6, ?7, ?8 FROM products p WHERE p.seed_key = ?2 "
                "ON CONFLICT (seed_key) DO UPDATE SET starts_at = excluded.starts_at, "
                "ends_at = excluded.ends_at "
                "WHERE deals.stock_left = deals.stock_total OR deals.ends_at <= ?9",
        [STMT_SEED_POST] = "INSERT INTO posts (seed_key, author, title, body, rating, created_at) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (seed_key) DO NOTHING",
        [STMT_LIST_PRODUCTS] = "SELECT id, title, destination, summary, price, featured "
                               "FROM products WHERE ?1 = 0 OR featured = 1 ORDER BY id",
        [STMT_LIST_DEALS] = "SELECT " DEAL_COLUMNS " FROM deals ORDER BY starts_at, id",
        [STMT_GET_DEAL] = "SELECT " DEAL_COLUMNS " FROM deals WHERE id = ?1",
        /* The one atomic conditional decrement: it can only succeed while
         * stock is left and the deal is open, whatever else runs. */
        [STMT_CLAIM_DECREMENT] = "UPDATE deals SET stock_left = stock_left - 1 "
                                 "WHERE id = ?1 AND stock_left > 0 AND starts_at <= ?2 "
                                 "AND ends_at > ?2 RETURNING stock_left",
        [STMT_CLAIM_INSERT] = "INSERT INTO claims (deal_id, user_id, claimed_at) "
                              "VALUES (?1, ?2, ?3) ON CONFLICT (deal_id, user_id) DO NOTHING",
        [STMT_CLAIM_EXPLAIN] =
                "SELECT stock_left, starts_at, ends_at, "
                "EXISTS (SELECT 1 FROM claims c WHERE c.deal_id = d.id AND c.user_id = ?2) "
                "FROM deals d WHERE d.id = ?1",
        [STMT_COUNT_POSTS] = "SELECT COUNT(*) FROM posts",
        [STMT_LIST_POSTS] = "SELECT " POST_COLUMNS " FROM posts "
                            "ORDER BY created_at DESC, id DESC LIMIT ?1 OFFSET ?2",
        [STMT_GET_POST] = "SELECT " POST_COLUMNS " FROM posts WHERE id = ?1",
        [STMT_CREATE_POST] = "INSERT INTO posts (author, title, body, rating, created_at) "
                             "VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
        [STMT_CREATE_PRODUCT] = "INSERT INTO products (title, destination, summary, price, "
                                "featured) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
        [STMT_CREATE_DEAL] = "INSERT INTO deals (product_id, title, price, list_price, "
                             "stock_total, stock_left, starts_at, ends_at) "
                             "VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7) RETURNING id",
        [STMT_COUNT_CLAIMS] = "SELECT COUNT(*) FROM claims WHERE deal_id = ?1",
};

/*
 * Schema, one entry per version, applied in order.  Never edit a released
 * entry: add a new one.  STRICT tables make SQLite enforce the column types.
 */
static const char *const migrations[] = {
        /* 1: the site's tables. */
        "CREATE TABLE products ("
        " id INTEGER PRIMARY KEY,"
        " seed_key TEXT UNIQUE,"
        " title TEXT NOT NULL,"
        " destination TEXT NOT NULL DEFAULT '',"
        " summary TEXT NOT NULL DEFAULT '',"
        " price INTEGER NOT NULL CHECK (price >= 0),"
        " featured INTEGER NOT NULL DEFAULT 0 CHECK (featured IN (0, 1))"
        ") STRICT;"
        "CREATE TABLE deals ("
        " id INTEGER PRIMARY KEY,"
        " seed_key TEXT UNIQUE,"
        " product_id INTEGER NOT NULL REFERENCES products (id),"
        " title TEXT NOT NULL,"
        " price INTEGER NOT NULL CHECK (price >= 0),"
        " list_price INTEGER NOT NULL CHECK (list_price >= 0),"
        " stock_total INTEGER NOT NULL CHECK (stock_total >= 0),"
        " stock_left INTEGER NOT NULL CHECK (stock_left >= 0 AND stock_left <= stock_total),"
        " starts_at INTEGER NOT NULL,"
        " ends_at INTEGER NOT NULL,"
        " CHECK (ends_at > starts_at)"
        ") STRICT;"
        "CREATE TABLE claims ("
        " id INTEGER PRIMARY KEY,"
        " deal_id INTEGER NOT NULL REFERENCES deals (id),"
        " user_id TEXT NOT NULL,"
        " claimed_at INTEGER NOT NULL,"
        " UNIQUE (deal_id, user_id)"
        ") STRICT;"
        "CREATE TABLE posts ("
        " id INTEGER PRIMARY KEY,"
        " seed_key TEXT UNIQUE,"
        " author TEXT NOT NULL,"
        " title TEXT NOT NULL,"
        " body TEXT NOT NULL,"
        " rating INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),"
        " created_at INTEGER NOT NULL"
        ") STRICT;"
        "CREATE INDEX posts_newest ON posts (created_at DESC, id DESC);"
        "CREATE INDEX deals_starts_at ON deals (starts_at, id);",
};

struct sqlite_store {
        sqlite3 *db;
        sqlite3_stmt *statements[_STMT_MAX];
};

static sqlite3 *db_of(struct store *store)
{
        return ((struct sqlite_store *)store->impl)->db;
}

/* SQLite result code -> -errno, recording the message. */
static int fail(struct store *store, int rc, const char *what)
{
        sqlite3 *db = db_of(store);
        store_set_error(store, "sqlite: %s: %s", what,
                        db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        switch (rc & 0xff) {
        case SQLITE_NOMEM:
                return -ENOMEM;
        case SQLITE_CONSTRAINT:
                return -EINVAL;
        default:
                return -EIO;
        }
}

/* The cached prepared statement, reset and with no bindings. */
static int statement(struct store *store, enum statement id, sqlite3_stmt **ret_stmt)
{
        struct sqlite_store *impl = store->impl;
        if (!impl->statements[id]) {
                int rc = sqlite3_prepare_v3(impl->db, statement_sql[id], -1,
                                            SQLITE_PREPARE_PERSISTENT, &impl->statements[id], NULL);
                if (rc != SQLITE_OK)
                        return fail(store, rc, "prepare");
        }
        *ret_stmt = impl->statements[id];
        return 0;
}

static void statement_done(sqlite3_stmt *stmt)
{
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
}

/* Run a statement that returns no rows (or whose rows we ignore). */
static int run(struct store *store, enum statement id)
{
        sqlite3_stmt *stmt;
        int r = statement(store, id, &stmt);
        if (r < 0)
                return r;
        int rc;
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
                ;
        statement_done(stmt);
        return rc == SQLITE_DONE ? 0 : fail(store, rc, statement_sql[id]);
}

static void rollback(struct store *store)
{
        /* Harmless if SQLite already rolled back on its own. */
        if (sqlite3_get_autocommit(db_of(store)) == 0)
                (void)run(store, STMT_ROLLBACK);
}

static int bind_text(sqlite3_stmt *stmt, int index, const char *text)
{
        return sqlite3_bind_text(stmt, index, text ? text : "", -1, SQLITE_TRANSIENT);
}

static char *column_strdup(sqlite3_stmt *stmt, int column)
{
        const unsigned char *text = sqlite3_column_text(stmt, column);
        return strdup(text ? (const char *)text : "");
}

static int exec_script(struct store *store, const char *sql)
{
        char *message = NULL;
        int rc = sqlite3_exec(db_of(store), sql, NULL, NULL, &message);
        if (rc != SQLITE_OK) {
                store_set_error(store, "sqlite: %s", message ? message : sqlite3_errstr(rc));
                sqlite3_free(message);
                return rc == SQLITE_NOMEM ? -ENOMEM : -EIO;
        }
        return 0;
}

static void sqlite_close(struct store *store)
{
        struct sqlite_store *impl = store->impl;
        for (size_t i = 0; i < _STMT_MAX; i++)
                sqlite3_finalize(impl->statements[i]);
        sqlite3_close(impl->db);
        free(impl);
        store->impl = NULL;
}

/*
 * Switching a new file to WAL needs an exclusive lock, and SQLite answers
 * SQLITE_BUSY at once (without the busy handler) when another connection is
 * doing the same: several processes starting on a fresh file.  Retry until
 * the busy timeout.  Once the file is in WAL mode this is a no-op.
 */
static int set_wal_mode(struct store *store, int timeout_ms)
{
        struct timespec start;
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (unsigned attempt = 0;; attempt++) {
                sqlite3_stmt *stmt = NULL;
                int rc = sqlite3_prepare_v2(db_of(store), "PRAGMA journal_mode = WAL", -1, &stmt,
                                            NULL);
                if (rc == SQLITE_OK)
                        rc = sqlite3_step(stmt);
                bool wal = rc == SQLITE_ROW &&
                           sqlite3_stricmp((const char *)sqlite3_column_text(stmt, 0), "wal") == 0;
                sqlite3_finalize(stmt);
                if (wal)
                        return 0;
                if (rc == SQLITE_ROW) {
                        store_set_error(store, "sqlite: cannot switch to WAL journal mode");
                        return -EIO;
                }
                if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED)
                        return fail(store, rc, "PRAGMA journal_mode");

                struct timespec now;
                clock_gettime(CLOCK_MONOTONIC, &now);
                int64_t elapsed_ms = (int64_t)(now.tv_sec - start.tv_sec) * 1000 +
                                     (now.tv_nsec - start.tv_nsec) / 1000000;
                if (elapsed_ms >= timeout_ms)
                        return fail(store, rc, "PRAGMA journal_mode");
                /* Back off 1, 2, 4 .. 32 ms. */
                sqlite3_sleep(1 << (attempt < 5 ? attempt : 5));
        }
}

static int sqlite_open(struct store *store, const struct store_options *options, const char *path)
{
        struct sqlite_store *impl = calloc(1, sizeof(*impl));
        if (!impl)
                return -ENOMEM;
        store->impl = impl;

        int rc = sqlite3_open_v2(path, &impl->db,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                 NULL);
        if (rc != SQLITE_OK) {
                store_set_error(store, "sqlite: cannot open database: %s",
                                impl->db ? sqlite3_errmsg(impl->db) : sqlite3_errstr(rc));
                sqlite_close(store);
                return rc == SQLITE_NOMEM ? -ENOMEM : -EIO;
        }
        sqlite3_extended_result_codes(impl->db, 1);
        sqlite3_busy_timeout(impl->db,
                             options->busy_timeout_ms > 0 ? options->busy_timeout_ms : 5000);

        /*
         * WAL: readers and the one writer do not block each other.
         * synchronous=NORMAL is durable against a killed process (the WAL is
         * written before COMMIT returns); only an OS crash can lose the last
         * commits, never corrupt or half-apply one.  foreign_keys is off by
         * default in SQLite.
         */
        int r = set_wal_mode(store, options->busy_timeout_ms > 0 ? options->busy_timeout_ms : 5000);
        if (r == 0)
                r = exec_script(store, "PRAGMA synchronous = NORMAL;"
                                       "PRAGMA foreign_keys = ON;");
        if (r < 0) {
                sqlite_close(store);
                return r;
        }
        return 0;
}

static int sqlite_migrate(struct store *store)
{
        /* The table itself is created outside the numbered migrations;
         * IF NOT EXISTS makes that safe to repeat. */
        int r = exec_script(store, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                   " version INTEGER PRIMARY KEY,"
                                   " applied_at INTEGER NOT NULL) STRICT");
        if (r < 0)
                return r;

        /* BEGIN IMMEDIATE takes the write lock before reading the version,
         * so two processes starting together apply each migration once: the
         * second waits (busy_timeout), then sees the new version. */
        r = run(store, STMT_BEGIN_IMMEDIATE);
        if (r < 0)
                return r;

        sqlite3_stmt *stmt;
        r = statement(store, STMT_MIGRATION_VERSION, &stmt);
        if (r < 0)
                goto fail;
        int rc = sqlite3_step(stmt);
        int64_t version = rc == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : -1;
        statement_done(stmt);
        if (rc != SQLITE_ROW) {
                r = fail(store, rc, "read schema version");
                goto fail;
        }

        for (size_t i = (size_t)version; i < ARRAY_SIZE(migrations); i++) {
                r = exec_script(store, migrations[i]);
                if (r < 0)
                        goto fail;
                r = statement(store, STMT_MIGRATION_RECORD, &stmt);
                if (r < 0)
                        goto fail;
                sqlite3_bind_int64(stmt, 1, (int64_t)i + 1);
                sqlite3_bind_int64(stmt, 2, (int64_t)time(NULL));
                rc = sqlite3_step(stmt);
                statement_done(stmt);
                if (rc != SQLITE_DONE) {
                        r = fail(store, rc, "record migration");
                        goto fail;
                }
        }
        r = run(store, STMT_COMMIT);
        if (r < 0)
                goto fail;
        return 0;
fail:
        rollback(store);
        return r;
}

static int sqlite_ping(struct store *store)
{
        /* A file database has no connection to lose; this still proves the
         * file is readable. */
        return run(store, STMT_PING);
}

static int step_done(struct store *store, sqlite3_stmt *stmt, const char *what)
{
        int rc = sqlite3_step(stmt);
        statement_done(stmt);
        return rc == SQLITE_DONE ? 0 : fail(store, rc, what);
}

static int sqlite_seed_demo(struct store *store, time_t now)
{
        int r = run(store, STMT_BEGIN_IMMEDIATE);
        if (r < 0)
                return r;
        sqlite3_stmt *stmt;

        for (size_t i = 0; i < store_seed_products_count; i++) {
                const struct seed_product *p = &store_seed_products[i];
                r = statement(store, STMT_SEED_PRODUCT, &stmt);
                if (r < 0)
                        goto fail;
                bind_text(stmt, 1, p->key);
                bind_text(stmt, 2, p->title);
                bind_text(stmt, 3, p->destination);
                bind_text(stmt, 4, p->summary);
                sqlite3_bind_int64(stmt, 5, p->price);
                sqlite3_bind_int(stmt, 6, p->featured);
                r = step_done(store, stmt, "seed product");
                if (r < 0)
                        goto fail;
        }
        for (size_t i = 0; i < store_seed_deals_count; i++) {
                const struct seed_deal *d = &store_seed_deals[i];
                r = statement(store, STMT_SEED_DEAL, &stmt);
                if (r < 0)
                        goto fail;
                bind_text(stmt, 1, d->key);
                bind_text(stmt, 2, d->product_key);
                bind_text(stmt, 3, d->title);
                sqlite3_bind_int64(stmt, 4, d->price);
                sqlite3_bind_int64(stmt, 5, d->list_price);
                sqlite3_bind_int64(stmt, 6, d->stock_total);
                sqlite3_bind_int64(stmt, 7, (int64_t)now + d->starts_offset);
                sqlite3_bind_int64(stmt, 8, (int64_t)now + d->ends_offset);
                sqlite3_bind_int64(stmt, 9, (int64_t)now);
                r = step_done(store, stmt, "seed deal");
                if (r < 0)
                        goto fail;
        }
        for (size_t i = 0; i < store_seed_posts_count; i++) {
                const struct seed_post *p = &store_seed_posts[i];
                r = statement(store, STMT_SEED_POST, &stmt);
                if (r < 0)
                        goto fail;
                bind_text(stmt, 1, p->key);
                bind_text(stmt, 2, p->author);
                bind_text(stmt, 3, p->title);
                bind_text(stmt, 4, p->body);
                sqlite3_bind_int(stmt, 5, p->rating);
                sqlite3_bind_int64(stmt, 6, (int64_t)now - p->age_seconds);
                r = step_done(store, stmt, "seed post");
                if (r < 0)
                        goto fail;
        }
        r = run(store, STMT_COMMIT);
        if (r < 0)
                goto fail;
        return 0;
fail:
        rollback(store);
        return r;
}

/* Grow *array (of element size `size`) to hold at least n + 1 elements. */
static int grow(void **array, size_t *capacity, size_t n, size_t size)
{
        if (n < *capacity)
                return 0;
        size_t new_capacity = *capacity ? *capacity * 2 : 16;
        void *p = reallocarray(*array, new_capacity, size);
        if (!p)
                return -ENOMEM;
        memset((char *)p + *capacity * size, 0, (new_capacity - *capacity) * size);
        *array = p;
        *capacity = new_capacity;
        return 0;
}

static int sqlite_list_products(struct store *store, bool featured_only,
                                struct product **ret_products, size_t *ret_count)
{
        sqlite3_stmt *stmt;
        int r = statement(store, STMT_LIST_PRODUCTS, &stmt);
        if (r < 0)
                return r;
        sqlite3_bind_int(stmt, 1, featured_only);

        struct product *products = NULL;
        size_t n = 0, capacity = 0;
        int rc;
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
                r = grow((void **)&products, &capacity, n, sizeof(*products));
                if (r < 0)
                        goto fail;
                struct product *p = &products[n++];
                p->id = sqlite3_column_int64(stmt, 0);
                p->title = column_strdup(stmt, 1);
                p->destination = column_strdup(stmt, 2);
                p->summary = column_strdup(stmt, 3);
                p->price = sqlite3_column_int64(stmt, 4);
                p->featured = sqlite3_column_int(stmt, 5) != 0;
                if (!p->title || !p->destination || !p->summary) {
                        r = -ENOMEM;
                        goto fail;
                }
        }
        if (rc != SQLITE_DONE) {
                r = fail(store, rc, "list products");
                goto fail;
        }
        statement_done(stmt);
        *ret_products = products;
        *ret_count = n;
        return 0;
fail:
        statement_done(stmt);
        store_products_free(products, n);
        return r;
}

static int read_deal(sqlite3_stmt *stmt, struct deal *d)
{
        d->id = sqlite3_column_int64(stmt, 0);
        d->product_id = sqlite3_column_int64(stmt, 1);
        d->title = column_strdup(stmt, 2);
        d->price = sqlite3_column_int64(stmt, 3);
        d->list_price = sqlite3_column_int64(stmt, 4);
        d->stock_total = sqlite3_column_int64(stmt, 5);
        d->stock_left = sqlite3_column_int64(stmt, 6);
        d->starts_at = (time_t)sqlite3_column_int64(stmt, 7);
        d->ends_at = (time_t)sqlite3_column_int64(stmt, 8);
        return d->title ? 0 : -ENOMEM;
}

static int sqlite_list_deals(struct store *store, struct deal **ret_deals, size_t *ret_count)
{
        sqlite3_stmt *stmt;
        int r = statement(store, STMT_LIST_DEALS, &stmt);
        if (r < 0)
                return r;
        struct deal *deals = NULL;
        size_t n = 0, capacity = 0;
        int rc;
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
                r = grow((void **)&deals, &capacity, n, sizeof(*deals));
                if (r < 0)
                        goto fail;
                r = read_deal(stmt, &deals[n++]);
                if (r < 0)
                        goto fail;
        }
        if (rc != SQLITE_DONE) {
                r = fail(store, rc, "list deals");
                goto fail;
        }
        statement_done(stmt);
        *ret_deals = deals;
        *ret_count = n;
        return 0;
fail:
        statement_done(stmt);
        store_deals_free(deals, n);
        return r;
}

/* Run a by-id lookup: 0 with *ret_stmt on its row (caller calls
 * statement_done), -ENOENT when there is none, or the error. */
static int step_by_id(struct store *store, enum statement which, int64_t id, const char *what,
                      sqlite3_stmt **ret_stmt)
{
        sqlite3_stmt *stmt;
        int r = statement(store, which, &stmt);
        if (r < 0)
                return r;
        sqlite3_bind_int64(stmt, 1, id);
        int rc = sqlite3_step(stmt);
        if (rc == SQLITE_ROW) {
                *ret_stmt = stmt;
                return 0;
        }
        if (rc == SQLITE_DONE) {
                store_set_error(store, "no %s %lld", what, (long long)id);
                r = -ENOENT;
        } else {
                r = fail(store, rc, what);
        }
        statement_done(stmt);
        return r;
}

static int sqlite_get_deal(struct store *store, int64_t id, struct deal *ret_deal)
{
        sqlite3_stmt *stmt;
        int r = step_by_id(store, STMT_GET_DEAL, id, "deal", &stmt);
        if (r < 0)
                return r;
        struct deal deal = {0};
        r = read_deal(stmt, &deal);
        statement_done(stmt);
        if (r < 0) {
                store_deal_clear(&deal);
                return r;
        }
        *ret_deal = deal;
        return 0;
}

/*
 * The claim, in one IMMEDIATE transaction (the write lock is held from the
 * start, so no other connection's claim interleaves):
 *   1. the conditional decrement; if it touched a row,
 *   2. insert the claim; UNIQUE (deal_id, user_id) refuses a second one, in
 *      which case we roll the decrement back.
 * If the decrement touched nothing, one read says why.  A process killed at
 * any point leaves either the whole transaction or nothing.
 */
static int sqlite_claim(struct store *store, int64_t deal_id, const char *user_id, time_t now,
                        enum claim_outcome *ret_outcome, int64_t *ret_stock_left)
{
        sqlite3_stmt *stmt;
        int rc;
        int r = run(store, STMT_BEGIN_IMMEDIATE);
        if (r < 0)
                return r;

        r = statement(store, STMT_CLAIM_DECREMENT, &stmt);
        if (r < 0)
                goto fail;
        sqlite3_bind_int64(stmt, 1, deal_id);
        sqlite3_bind_int64(stmt, 2, (int64_t)now);
        rc = sqlite3_step(stmt);
        bool decremented = rc == SQLITE_ROW;
        int64_t left = decremented ? sqlite3_column_int64(stmt, 0) : 0;
        if (decremented)
                rc = sqlite3_step(stmt); /* exactly one row: id is the key */
        statement_done(stmt);
        if (rc != SQLITE_DONE) {
                r = fail(store, rc, "claim");
                goto fail;
        }

        if (decremented) {
                r = statement(store, STMT_CLAIM_INSERT, &stmt);
                if (r < 0)
                        goto fail;
                sqlite3_bind_int64(stmt, 1, deal_id);
                bind_text(stmt, 2, user_id);
                sqlite3_bind_int64(stmt, 3, (int64_t)now);
                r = step_done(store, stmt, "record claim");
                if (r < 0)
                        goto fail;
                if (sqlite3_changes(db_of(store)) == 0) {
                        /* Already holds one: give the unit back. */
                        rollback(store);
                        *ret_outcome = CLAIM_ALREADY_CLAIMED;
                        *ret_stock_left = left + 1;
                        return 0;
                }
                r = run(store, STMT_COMMIT);
                if (r < 0)
                        goto fail;
                *ret_outcome = CLAIM_OK;
                *ret_stock_left = left;
                return 0;
        }

        r = statement(store, STMT_CLAIM_EXPLAIN, &stmt);
        if (r < 0)
                goto fail;
        sqlite3_bind_int64(stmt, 1, deal_id);
        bind_text(stmt, 2, user_id);
        rc = sqlite3_step(stmt);
        enum claim_outcome outcome;
        if (rc == SQLITE_ROW) {
                left = sqlite3_column_int64(stmt, 0);
                int64_t starts_at = sqlite3_column_int64(stmt, 1);
                int64_t ends_at = sqlite3_column_int64(stmt, 2);
                bool claimed = sqlite3_column_int(stmt, 3) != 0;
                if ((int64_t)now < starts_at || (int64_t)now >= ends_at)
                        outcome = CLAIM_NOT_OPEN;
                else if (claimed)
                        outcome = CLAIM_ALREADY_CLAIMED;
                else
                        outcome = CLAIM_SOLD_OUT;
        } else if (rc == SQLITE_DONE) {
                outcome = CLAIM_NO_SUCH_DEAL;
                left = 0;
        } else {
                r = fail(store, rc, "claim");
                statement_done(stmt);
                goto fail;
        }
        statement_done(stmt);
        rollback(store); /* nothing was written */
        *ret_outcome = outcome;
        *ret_stock_left = left;
        return 0;
fail:
        rollback(store);
        return r;
}

static int read_post(sqlite3_stmt *stmt, struct post *p)
{
        p->id = sqlite3_column_int64(stmt, 0);
        p->author = column_strdup(stmt, 1);
        p->title = column_strdup(stmt, 2);
        p->body = column_strdup(stmt, 3);
        p->rating = sqlite3_column_int(stmt, 4);
        p->created_at = (time_t)sqlite3_column_int64(stmt, 5);
        return p->author && p->title && p->body ? 0 : -ENOMEM;
}

static int count_rows(struct store *store, enum statement id, int64_t key, bool bind_key,
                      int64_t *ret_count)
{
        sqlite3_stmt *stmt;
        int r = statement(store, id, &stmt);
        if (r < 0)
                return r;
        if (bind_key)
                sqlite3_bind_int64(stmt, 1, key);
        int rc = sqlite3_step(stmt);
        if (rc != SQLITE_ROW) {
                r = fail(store, rc, "count");
                statement_done(stmt);
                return r;
        }
        *ret_count = sqlite3_column_int64(stmt, 0);
        statement_done(stmt);
        return 0;
}

static int sqlite_list_posts(struct store *store, int page, int per_page, struct post **ret_posts,
                             size_t *ret_count, int64_t *ret_total)
{
        /* Total and page from one snapshot, so they agree. */
        int r = exec_script(store, "BEGIN");
        if (r < 0)
                return r;
        int64_t total;
        r = count_rows(store, STMT_COUNT_POSTS, 0, false, &total);
        if (r < 0) {
                rollback(store);
                return r;
        }

        sqlite3_stmt *stmt;
        r = statement(store, STMT_LIST_POSTS, &stmt);
        if (r < 0) {
                rollback(store);
                return r;
        }
        sqlite3_bind_int64(stmt, 1, per_page);
        sqlite3_bind_int64(stmt, 2, (int64_t)(page - 1) * per_page);
        struct post *posts = NULL;
        size_t n = 0, capacity = 0;
        int rc;
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
                r = grow((void **)&posts, &capacity, n, sizeof(*posts));
                if (r < 0)
                        goto fail;
                r = read_post(stmt, &posts[n++]);
                if (r < 0)
                        goto fail;
        }
        if (rc != SQLITE_DONE) {
                r = fail(store, rc, "list posts");
                goto fail;
        }
        statement_done(stmt);
        rollback(store);
        *ret_posts = posts;
        *ret_count = n;
        *ret_total = total;
        return 0;
fail:
        statement_done(stmt);
        rollback(store);
        store_posts_free(posts, n);
        return r;
}

static int sqlite_get_post(struct store *store, int64_t id, struct post *ret_post)
{
        sqlite3_stmt *stmt;
        int r = step_by_id(store, STMT_GET_POST, id, "post", &stmt);
        if (r < 0)
                return r;
        struct post post = {0};
        r = read_post(stmt, &post);
        statement_done(stmt);
        if (r < 0) {
                store_post_clear(&post);
                return r;
        }
        *ret_post = post;
        return 0;
}

/* Run an INSERT ... RETURNING id that has its parameters bound. */
static int insert_returning_id(struct store *store, sqlite3_stmt *stmt, const char *what,
                               int64_t *ret_id)
{
        int rc = sqlite3_step(stmt);
        if (rc != SQLITE_ROW) {
                int r = fail(store, rc, what);
                statement_done(stmt);
                return r;
        }
        int64_t id = sqlite3_column_int64(stmt, 0);
        rc = sqlite3_step(stmt);
        statement_done(stmt);
        if (rc != SQLITE_DONE)
                return fail(store, rc, what);
        *ret_id = id;
        return 0;
}

static int sqlite_create_post(struct store *store, const char *author, const char *title,
                              const char *body, int rating, time_t now, int64_t *ret_id)
{
        sqlite3_stmt *stmt;
        int r = statement(store, STMT_CREATE_POST, &stmt);
        if (r < 0)
                return r;
        bind_text(stmt, 1, author);
        bind_text(stmt, 2, title);
        bind_text(stmt, 3, body);
        sqlite3_bind_int(stmt, 4, rating);
        sqlite3_bind_int64(stmt, 5, (int64_t)now);
        return insert_returning_id(store, stmt, "create post", ret_id);
}

static int sqlite_create_product(struct store *store, const struct new_product *product,
                                 int64_t *ret_id)
{
        sqlite3_stmt *stmt;
        int r = statement(store, STMT_CREATE_PRODUCT, &stmt);
        if (r < 0)
                return r;
        bind_text(stmt, 1, product->title);
        bind_text(stmt, 2, product->destination);
        bind_text(stmt, 3, product->summary);
        sqlite3_bind_int64(stmt, 4, product->price);
        sqlite3_bind_int(stmt, 5, product->featured);
        return insert_returning_id(store, stmt, "create product", ret_id);
}

static int sqlite_create_deal(struct store *store, const struct new_deal *deal, int64_t *ret_id)
{
        sqlite3_stmt *stmt;
        int r = statement(store, STMT_CREATE_DEAL, &stmt);
        if (r < 0)
                return r;
        sqlite3_bind_int64(stmt, 1, deal->product_id);
        bind_text(stmt, 2, deal->title);
        sqlite3_bind_int64(stmt, 3, deal->price);
        sqlite3_bind_int64(stmt, 4, deal->list_price);
        sqlite3_bind_int64(stmt, 5, deal->stock_total);
        sqlite3_bind_int64(stmt, 6, (int64_t)deal->starts_at);
        sqlite3_bind_int64(stmt, 7, (int64_t)deal->ends_at);
        return insert_returning_id(store, stmt, "create deal", ret_id);
}

static int sqlite_count_claims(struct store *store, int64_t deal_id, int64_t *ret_count)
{
        return count_rows(store, STMT_COUNT_CLAIMS, deal_id, true, ret_count);
}

const struct store_backend store_backend_sqlite = {
        .name = "sqlite",
        .open = sqlite_open,
        .close = sqlite_close,
        .migrate = sqlite_migrate,
        .ping = sqlite_ping,
        .seed_demo = sqlite_seed_demo,
        .list_products = sqlite_list_products,
        .list_deals = sqlite_list_deals,
        .get_deal = sqlite_get_deal,
        .claim = sqlite_claim,
        .list_posts = sqlite_list_posts,
        .get_post = sqlite_get_post,
        .create_post = sqlite_create_post,
        .create_product = sqlite_create_product,
        .create_deal = sqlite_create_deal,
        .count_claims = sqlite_count_claims,
};

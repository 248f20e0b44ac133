/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The storage contract, run against one backend per invocation:
 *   test-app-store sqlite       a fresh SQLite file in a temporary directory
 *   test-app-store postgresql   a fresh database on $TRIPDEAL_TEST_PG_URL
 *                               (exit 77 = skipped when it is unset)
 * Same tests, same expectations: the site must not be able to tell which
 * backend it runs on.
 */
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h> /* cmocka needs these three first */

#include <cmocka.h>

#include "store.h"

#define HOUR 3600

static struct {
        bool postgresql;
        char url[1024];       /* what the tests open */
        char admin_url[1024]; /* PostgreSQL: the server's maintenance database */
        char database[64];    /* PostgreSQL: our throw-away database */
        char directory[256];  /* SQLite: our temporary directory */
        char path[300];       /* SQLite: the database file */
} fixture;

/* ---- helpers ----------------------------------------------------------- */

static int64_t monotonic_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * store_open, retried until a deadline: the PostgreSQL test server is shared
 * with other suites running beside us, and a burst of connections can meet
 * "too many clients" or a slow accept.  Only opening is retried, never a
 * call whose outcome a test checks.
 */
static int open_with_retry(const struct store_options *options, struct store **ret_store,
                           struct tripdeal_error *ret_error)
{
        int64_t deadline = monotonic_ms() + 60000;
        for (unsigned attempt = 0;; attempt++) {
                int r = store_open(options, ret_store, ret_error);
                if (r == 0 || r == -EINVAL || monotonic_ms() > deadline)
                        return r;
                usleep(10000u << (attempt < 5 ? attempt : 5));
        }
}

/* A raw libpq connection for checks behind the store's back, with the same
 * retry for a busy shared server. */
static PGconn *connect_raw(const char *url)
{
        int64_t deadline = monotonic_ms() + 60000;
        for (unsigned attempt = 0;; attempt++) {
                PGconn *conn = PQconnectdb(url);
                if (PQstatus(conn) == CONNECTION_OK || monotonic_ms() > deadline)
                        return conn;
                PQfinish(conn);
                usleep(10000u << (attempt < 5 ? attempt : 5));
        }
}

static struct store *open_store(void)
{
        struct store *store = NULL;
        struct store_options options = {
                .url = fixture.url, .busy_timeout_ms = 60000, .connect_timeout_seconds = 30};
        struct tripdeal_error error = {0};
        int r = open_with_retry(&options, &store, &error);
        if (r < 0)
                fail_msg("store_open: %s (%s)", strerror(-r), error.message);
        r = store_migrate(store, &error);
        if (r < 0)
                fail_msg("store_migrate: %s (%s)", strerror(-r), error.message);
        return store;
}

/*
 * One number from the database, read behind the store's back (so the test
 * does not trust the code under test to report on itself).  `sql` uses $1
 * for PostgreSQL; for SQLite every "$1" is accepted too (a named parameter).
 */
static int64_t raw_query(const char *sql, int64_t parameter)
{
        char text[32];
        snprintf(text, sizeof(text), "%lld", (long long)parameter);
        if (fixture.postgresql) {
                PGconn *conn = connect_raw(fixture.url);
                assert_int_equal(PQstatus(conn), CONNECTION_OK);
                const char *values[] = {text};
                PGresult *result = PQexecParams(conn, sql, strstr(sql, "$1") ? 1 : 0, NULL, values,
                                                NULL, NULL, 0);
                if (PQresultStatus(result) != PGRES_TUPLES_OK)
                        fail_msg("%s: %s", sql, PQerrorMessage(conn));
                int64_t value = strtoll(PQgetvalue(result, 0, 0), NULL, 10);
                PQclear(result);
                PQfinish(conn);
                return value;
        }
        sqlite3 *db;
        assert_int_equal(sqlite3_open_v2(fixture.path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        sqlite3_stmt *stmt;
        if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
                fail_msg("%s: %s", sql, sqlite3_errmsg(db));
        if (sqlite3_bind_parameter_count(stmt) > 0)
                sqlite3_bind_int64(stmt, 1, parameter);
        assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
        int64_t value = sqlite3_column_int64(stmt, 0);
        sqlite3_finalize(stmt);
        sqlite3_close(db);
        return value;
}

/* Run one administrative statement on the maintenance database (PostgreSQL). */
static void admin_exec(const char *sql, const char *parameter)
{
        PGconn *conn = connect_raw(fixture.admin_url);
        if (PQstatus(conn) != CONNECTION_OK)
                fail_msg("admin connect: %s", PQerrorMessage(conn));
        const char *values[] = {parameter};
        PGresult *result = PQexecParams(conn, sql, parameter ? 1 : 0, NULL, values, NULL, NULL, 0);
        ExecStatusType status = PQresultStatus(result);
        if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
                fail_msg("%s: %s", sql, PQerrorMessage(conn));
        PQclear(result);
        PQfinish(conn);
}

static int64_t make_product(struct store *store, const char *title)
{
        int64_t id = 0;
        struct new_product product = {
                .title = title, .destination = "테스트 Test", .summary = "", .price = 100000};
        assert_int_equal(store_create_product(store, &product, &id, NULL), 0);
        assert_true(id > 0);
        return id;
}

static int64_t make_deal(struct store *store, int64_t stock, time_t starts_at, time_t ends_at)
{
        int64_t product_id = make_product(store, "딜 상품 deal product");
        struct new_deal deal = {
                .product_id = product_id,
                .title = "테스트 딜 test deal",
                .price = 50000,
                .list_price = 100000,
                .stock_total = stock,
                .starts_at = starts_at,
                .ends_at = ends_at,
        };
        int64_t id = 0;
        assert_int_equal(store_create_deal(store, &deal, &id, NULL), 0);
        assert_true(id > 0);
        return id;
}

static void get_deal(struct store *store, int64_t id, struct deal *ret_deal)
{
        struct tripdeal_error error = {0};
        int r = store_get_deal(store, id, ret_deal, &error);
        if (r < 0)
                fail_msg("store_get_deal: %s (%s)", strerror(-r), error.message);
}

/* ---- URL and connection errors ---------------------------------------- */

static void test_url_check(void **state)
{
        assert_int_equal(store_url_check("sqlite:/var/lib/tripdeal/site.db"), 0);
        assert_int_equal(store_url_check("sqlite:site.db"), 0);
        assert_int_equal(store_url_check("sqlite:///tmp/site.db"), 0);
        assert_int_equal(store_url_check("postgresql://u:p@db.example:5432/site"), 0);
        assert_int_equal(store_url_check("postgres://db/site?sslmode=require"), 0);
        assert_int_equal(store_url_check("sqlite:"), -EINVAL);
        assert_int_equal(store_url_check("sqlite::memory:"), -EINVAL);
        assert_int_equal(store_url_check("mysql://db/site"), -EINVAL);
        assert_int_equal(store_url_check("/tmp/site.db"), -EINVAL);
        assert_int_equal(store_url_check(""), -EINVAL);
        assert_int_equal(store_url_check(NULL), -EINVAL);
        assert_int_equal(store_url_check("postgresql://db/site?nosuchoption=1"), -EINVAL);

        struct store *store = NULL;
        struct store_options options = {.url = "redis://localhost"};
        struct tripdeal_error error = {0};
        assert_int_equal(store_open(&options, &store, &error), -EINVAL);
        assert_null(store);
        assert_int_equal(error.code, -EINVAL);
        assert_non_null(strstr(error.message, "database URL"));
}

/* A port nobody listens on: bind port 0, read it back, close. */
static int unused_port(void)
{
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fd >= 0);
        struct sockaddr_in address = {.sin_family = AF_INET,
                                      .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        assert_int_equal(bind(fd, (struct sockaddr *)&address, sizeof(address)), 0);
        socklen_t length = sizeof(address);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&address, &length), 0);
        close(fd);
        return ntohs(address.sin_port);
}

static void test_open_errors(void **state)
{
        struct store *store = NULL;
        struct tripdeal_error error = {0};
        char url[1024];

        /* Nobody listening: refused, and the password never shows. */
        snprintf(url, sizeof(url), "postgresql://tripdeal:Sup3rS3cret@127.0.0.1:%d/site",
                 unused_port());
        struct store_options options = {.url = url, .connect_timeout_seconds = 2};
        assert_int_equal(store_open(&options, &store, &error), -ECONNREFUSED);
        assert_null(store);
        assert_int_equal(error.code, -ECONNREFUSED);
        assert_true(strlen(error.message) > 0);
        assert_null(strstr(error.message, "Sup3rS3cret"));

        /* SQLite file in a directory that does not exist. */
        snprintf(url, sizeof(url), "sqlite:%s/no/such/dir/site.db",
                 fixture.directory[0] ? fixture.directory : "/nonexistent");
        options = (struct store_options){.url = url};
        error = (struct tripdeal_error){0};
        assert_int_equal(store_open(&options, &store, &error), -EIO);
        assert_null(store);
        assert_int_equal(error.code, -EIO);
        assert_true(strlen(error.message) > 0);

        if (!fixture.postgresql)
                return;
        /* A server that answers but refuses us: -EIO, password scrubbed even
         * where the server echoes it back (here inside the database name). */
        char database[128];
        snprintf(database, sizeof(database), "no_such_database_Sup3rS3cret");
        const char *at = strrchr(fixture.admin_url, '@');
        const char *host = at ? at + 1 : fixture.admin_url + strlen("postgresql://");
        char hostport[200];
        snprintf(hostport, sizeof(hostport), "%.*s", (int)strcspn(host, "/?") & 127, host);
        snprintf(url, sizeof(url), "postgresql://postgres:Sup3rS3cret@%s/%s", hostport, database);
        options = (struct store_options){.url = url};
        assert_int_equal(store_open(&options, &store, &error), -EIO);
        assert_non_null(strstr(error.message, "no_such_database"));
        assert_null(strstr(error.message, "Sup3rS3cret"));
}

/* ---- migrations --------------------------------------------------------- */

struct migrate_thread {
        pthread_barrier_t *barrier;
        int result;
};

static void *migrate_thread(void *userdata)
{
        struct migrate_thread *t = userdata;
        struct store *store = NULL;
        struct store_options options = {.url = fixture.url, .busy_timeout_ms = 60000};
        pthread_barrier_wait(t->barrier);
        struct tripdeal_error error = {0};
        t->result = open_with_retry(&options, &store, &error);
        if (t->result < 0)
                fprintf(stderr, "store_open: %s\n", error.message);
        if (t->result == 0) {
                t->result = store_migrate(store, &error);
                if (t->result < 0)
                        fprintf(stderr, "store_migrate: %s\n", error.message);
        }
        store_close(store);
        return NULL;
}

static void test_migrations_concurrent_and_idempotent(void **state)
{
        /* Eight "processes" start against the empty database at once. */
        enum { N = 8 };
        pthread_barrier_t barrier;
        pthread_barrier_init(&barrier, NULL, N);
        pthread_t threads[N];
        struct migrate_thread data[N];
        for (int i = 0; i < N; i++) {
                data[i] = (struct migrate_thread){.barrier = &barrier};
                assert_int_equal(pthread_create(&threads[i], NULL, migrate_thread, &data[i]), 0);
        }
        for (int i = 0; i < N; i++) {
                pthread_join(threads[i], NULL);
                assert_int_equal(data[i].result, 0);
        }
        pthread_barrier_destroy(&barrier);

        int64_t versions = raw_query("SELECT COUNT(*) FROM schema_migrations", 0);
        assert_true(versions >= 1);
        assert_int_equal(raw_query("SELECT COUNT(DISTINCT version) FROM schema_migrations", 0),
                         versions);

        /* Again: nothing changes. */
        struct store *store = open_store();
        assert_int_equal(store_migrate(store, NULL), 0);
        assert_int_equal(store_migrate(store, NULL), 0);
        assert_int_equal(raw_query("SELECT COUNT(*) FROM schema_migrations", 0), versions);
        assert_int_equal(store_ping(store, NULL), 0);
        if (!fixture.postgresql) {
                /* WAL mode: the write-ahead log file sits beside the database. */
                char wal[400];
                snprintf(wal, sizeof(wal), "%s-wal", fixture.path);
                assert_int_equal(access(wal, F_OK), 0);
        }
        store_close(store);
}

/* ---- seed ------------------------------------------------------------- */

static void test_seed_idempotent(void **state)
{
        struct store *store = open_store();
        time_t now = time(NULL);
        assert_int_equal(store_seed_demo(store, now, NULL), 0);

        struct product *products = NULL;
        size_t n_products = 0;
        assert_int_equal(store_list_products(store, false, &products, &n_products, NULL), 0);
        struct deal *deals = NULL;
        size_t n_deals = 0;
        assert_int_equal(store_list_deals(store, &deals, &n_deals, NULL), 0);
        int64_t posts_total = raw_query("SELECT COUNT(*) FROM posts", 0);

        assert_true(n_products >= 3);
        assert_true(n_deals >= 3);
        assert_true(posts_total >= 21); /* >= 3 pages at 10 per page */

        /* One open now with stock >= 50, one upcoming, one ended. */
        bool open_now = false, upcoming = false, ended = false;
        for (size_t i = 0; i < n_deals; i++) {
                const struct deal *d = &deals[i];
                assert_true(d->stock_left >= 0 && d->stock_left <= d->stock_total);
                if (d->starts_at <= now && now < d->ends_at && d->stock_left >= 50)
                        open_now = true;
                if (d->starts_at > now)
                        upcoming = true;
                if (d->ends_at <= now)
                        ended = true;
        }
        assert_true(open_now);
        assert_true(upcoming);
        assert_true(ended);

        /* Korean and English in the titles. */
        bool hangul = false, jeju = false;
        for (size_t i = 0; i < n_products; i++) {
                if (strstr(products[i].title, "제주도"))
                        hangul = true;
                if (strstr(products[i].title, "Jeju"))
                        jeju = true;
        }
        assert_true(hangul);
        assert_true(jeju);

        /* Featured ones, and the filter returns only those. */
        struct product *featured = NULL;
        size_t n_featured = 0;
        assert_int_equal(store_list_products(store, true, &featured, &n_featured, NULL), 0);
        assert_true(n_featured >= 1 && n_featured < n_products);
        for (size_t i = 0; i < n_featured; i++)
                assert_true(featured[i].featured);
        store_products_free(featured, n_featured);

        /* Second run (even a later one) adds nothing. */
        assert_int_equal(store_seed_demo(store, now + 60, NULL), 0);
        assert_int_equal(store_seed_demo(store, now, NULL), 0);
        struct product *products2 = NULL;
        size_t n_products2 = 0;
        assert_int_equal(store_list_products(store, false, &products2, &n_products2, NULL), 0);
        struct deal *deals2 = NULL;
        size_t n_deals2 = 0;
        assert_int_equal(store_list_deals(store, &deals2, &n_deals2, NULL), 0);
        assert_int_equal(n_products2, n_products);
        assert_int_equal(n_deals2, n_deals);
        assert_int_equal(raw_query("SELECT COUNT(*) FROM posts", 0), posts_total);

        /* Two days later on the same database: still nothing added, and the
         * untouched demo sale is open again (windows moved to the new now). */
        time_t later = now + 2 * 24 * HOUR;
        assert_int_equal(store_seed_demo(store, later, NULL), 0);
        struct deal *deals3 = NULL;
        size_t n_deals3 = 0;
        assert_int_equal(store_list_deals(store, &deals3, &n_deals3, NULL), 0);
        assert_int_equal(n_deals3, n_deals);
        bool open_later = false, upcoming_later = false;
        for (size_t i = 0; i < n_deals3; i++) {
                open_later |= deals3[i].starts_at <= later && later < deals3[i].ends_at &&
                              deals3[i].stock_left >= 50;
                upcoming_later |= deals3[i].starts_at > later;
        }
        assert_true(open_later);
        assert_true(upcoming_later);
        store_deals_free(deals3, n_deals3);
        assert_int_equal(store_seed_demo(store, now, NULL), 0); /* back, for the tests after us */

        store_products_free(products, n_products);
        store_products_free(products2, n_products2);
        store_deals_free(deals, n_deals);
        store_deals_free(deals2, n_deals2);
        store_close(store);
}

/* ---- reading ---------------------------------------------------------- */

static void test_deals_list_and_get(void **state)
{
        struct store *store = open_store();
        time_t now = time(NULL);
        int64_t id = make_deal(store, 7, now - HOUR, now + HOUR);

        struct deal deal;
        get_deal(store, id, &deal);
        assert_int_equal(deal.id, id);
        assert_string_equal(deal.title, "테스트 딜 test deal");
        assert_int_equal(deal.price, 50000);
        assert_int_equal(deal.list_price, 100000);
        assert_int_equal(deal.stock_total, 7);
        assert_int_equal(deal.stock_left, 7);
        assert_int_equal(deal.starts_at, now - HOUR);
        assert_int_equal(deal.ends_at, now + HOUR);
        store_deal_clear(&deal);
        store_deal_clear(NULL);

        struct deal *deals = NULL;
        size_t n = 0;
        assert_int_equal(store_list_deals(store, &deals, &n, NULL), 0);
        bool found = false;
        for (size_t i = 0; i < n; i++)
                found |= deals[i].id == id && deals[i].stock_left == 7;
        assert_true(found);
        store_deals_free(deals, n);
        store_deals_free(NULL, 0);

        struct deal untouched = {.id = 42};
        assert_int_equal(store_get_deal(store, 987654321, &untouched, NULL), -ENOENT);
        assert_int_equal(untouched.id, 42);

        /* Bad arguments are refused, not stored. */
        struct new_deal bad = {.product_id = 987654321,
                               .title = "x",
                               .stock_total = 1,
                               .starts_at = now,
                               .ends_at = now + 1};
        assert_int_equal(store_create_deal(store, &bad, NULL, NULL), -EINVAL); /* no product */
        bad.product_id = make_product(store, "p");
        bad.stock_total = -1;
        assert_int_equal(store_create_deal(store, &bad, NULL, NULL), -EINVAL);
        bad.stock_total = 1;
        bad.ends_at = now;
        assert_int_equal(store_create_deal(store, &bad, NULL, NULL), -EINVAL);
        store_close(store);
}

/* Every call's struct tripdeal_error: filled on failure only, code == the
 * value returned, a message naming what is wrong; nothing carries over from
 * one call to the next. */
static void test_call_errors(void **state)
{
        struct store *store = open_store();
        time_t now = time(NULL);

        struct tripdeal_error error = {0};
        struct deal deal = {0};
        assert_int_equal(store_get_deal(store, 987654321, &deal, &error), -ENOENT);
        assert_int_equal(error.code, -ENOENT);
        assert_non_null(strstr(error.message, "987654321"));

        /* Refused arguments say which. */
        error = (struct tripdeal_error){0};
        struct post *posts = NULL;
        size_t n = 0;
        int64_t total = 0;
        assert_int_equal(store_list_posts(store, 0, 10, &posts, &n, &total, &error), -EINVAL);
        assert_int_equal(error.code, -EINVAL);
        assert_non_null(strstr(error.message, "page"));
        error = (struct tripdeal_error){0};
        assert_int_equal(store_create_post(store, "a", "t", "b", 9, now, NULL, &error), -EINVAL);
        assert_int_equal(error.code, -EINVAL);
        assert_non_null(strstr(error.message, "rating"));

        /* The database refuses (no such product): its own text, code -EINVAL. */
        error = (struct tripdeal_error){0};
        struct new_deal orphan = {.product_id = 987654321,
                                  .title = "x",
                                  .stock_total = 1,
                                  .starts_at = now,
                                  .ends_at = now + 1};
        assert_int_equal(store_create_deal(store, &orphan, NULL, &error), -EINVAL);
        assert_int_equal(error.code, -EINVAL);
        assert_true(strlen(error.message) > 0);

        /* A success after those failures leaves the caller's error untouched:
         * no last error survives a call. */
        struct tripdeal_error untouched = {.code = 7, .message = "sentinel"};
        assert_int_equal(store_ping(store, &untouched), 0);
        assert_int_equal(store_list_posts(store, 1, 10, &posts, &n, &total, &untouched), 0);
        store_posts_free(posts, n);
        assert_int_equal(untouched.code, 7);
        assert_string_equal(untouched.message, "sentinel");

        /* NULL is allowed everywhere. */
        assert_int_equal(store_get_deal(store, 987654321, &deal, NULL), -ENOENT);
        assert_int_equal(store_get_deal(NULL, 1, &deal, &error), -EINVAL);
        assert_int_equal(error.code, -EINVAL);
        store_close(store);
}

static void test_posts_paging(void **state)
{
        struct store *store = open_store();
        assert_int_equal(store_seed_demo(store, time(NULL), NULL), 0);

        struct post *page1 = NULL, *page2 = NULL, *last = NULL;
        size_t n1 = 0, n2 = 0, n_last = 0;
        int64_t total = 0, total2 = 0;
        assert_int_equal(store_list_posts(store, 1, 10, &page1, &n1, &total, NULL), 0);
        assert_true(total >= 21);
        assert_int_equal(n1, 10);
        assert_int_equal(store_list_posts(store, 2, 10, &page2, &n2, &total2, NULL), 0);
        assert_int_equal(n2, 10);
        assert_int_equal(total2, total);

        /* Newest first, across the page boundary too, and no overlap. */
        for (size_t i = 1; i < n1; i++)
                assert_true(page1[i - 1].created_at >= page1[i].created_at);
        assert_true(page1[n1 - 1].created_at >= page2[0].created_at);
        for (size_t i = 0; i < n1; i++)
                for (size_t j = 0; j < n2; j++)
                        assert_true(page1[i].id != page2[j].id);

        int last_page = (int)((total + 9) / 10);
        assert_int_equal(store_list_posts(store, last_page, 10, &last, &n_last, &total2, NULL), 0);
        assert_int_equal(n_last, (size_t)(total - (int64_t)(last_page - 1) * 10));
        store_posts_free(last, n_last);
        assert_int_equal(store_list_posts(store, last_page + 1, 10, &last, &n_last, &total2, NULL),
                         0);
        assert_int_equal(n_last, 0);
        store_posts_free(last, n_last);

        struct post post;
        assert_int_equal(store_get_post(store, page1[0].id, &post, NULL), 0);
        assert_int_equal(post.id, page1[0].id);
        assert_string_equal(post.title, page1[0].title);
        assert_string_equal(post.body, page1[0].body);
        assert_string_equal(post.author, page1[0].author);
        assert_int_equal(post.rating, page1[0].rating);
        assert_true(post.rating >= 1 && post.rating <= 5);
        store_post_clear(&post);
        assert_int_equal(store_get_post(store, 987654321, &post, NULL), -ENOENT);

        struct post *none = NULL;
        size_t n_none = 0;
        assert_int_equal(store_list_posts(store, 0, 10, &none, &n_none, &total2, NULL), -EINVAL);
        assert_int_equal(store_list_posts(store, 1, 0, &none, &n_none, &total2, NULL), -EINVAL);
        assert_int_equal(store_create_post(store, "a", "t", "b", 6, time(NULL), NULL, NULL),
                         -EINVAL);
        assert_int_equal(store_create_post(store, "a", "t", "b", 0, time(NULL), NULL, NULL),
                         -EINVAL);

        /* A new post is first on page 1. */
        int64_t id = 0;
        assert_int_equal(store_create_post(store, "테스터", "새 글 new post", "본문 body", 3,
                                           time(NULL) + 10 * HOUR, &id, NULL),
                         0);
        struct post *fresh = NULL;
        size_t n_fresh = 0;
        assert_int_equal(store_list_posts(store, 1, 10, &fresh, &n_fresh, &total2, NULL), 0);
        assert_int_equal(total2, total + 1);
        assert_int_equal(fresh[0].id, id);
        store_posts_free(fresh, n_fresh);

        store_posts_free(page1, n1);
        store_posts_free(page2, n2);
        store_posts_free(NULL, 0);
        store_close(store);
}

static void test_utf8_round_trip(void **state)
{
        struct store *store = open_store();
        /* Hangul, decomposed jamo, a 4-byte emoji, CJK, RTL, quotes, markup,
         * backslashes, a newline and a tab: stored and read back byte for byte. */
        const char *author = "김민지 Kim Min-ji";
        const char *title =
                "제주도 3박 4일 Jeju Island 4 days ✈️🏝️ 東京 مرحبا";
        const char *body = "한글 \xe1\x84\x92\xe1\x85\xa1\xe1\x86\xab (jamo)\n"
                           "<script>alert('x')</script> \"quoted\" \\ back\\slash\t"
                           "' OR 1=1; DROP TABLE posts; -- 😀";
        int64_t id = 0;
        assert_int_equal(store_create_post(store, author, title, body, 5, time(NULL), &id, NULL),
                         0);
        struct post post;
        assert_int_equal(store_get_post(store, id, &post, NULL), 0);
        assert_string_equal(post.author, author);
        assert_string_equal(post.title, title);
        assert_string_equal(post.body, body);
        assert_int_equal(strlen(post.body), strlen(body));
        store_post_clear(&post);

        /* The injection attempt above was data: the table is still there. */
        assert_true(raw_query("SELECT COUNT(*) FROM posts", 0) >= 1);

        struct new_product product = {.title = title,
                                      .destination = "서귀포 Seogwipo",
                                      .summary = body,
                                      .price = 1,
                                      .featured = true};
        int64_t product_id = 0;
        assert_int_equal(store_create_product(store, &product, &product_id, NULL), 0);
        struct product *products = NULL;
        size_t n = 0;
        assert_int_equal(store_list_products(store, true, &products, &n, NULL), 0);
        bool found = false;
        for (size_t i = 0; i < n; i++)
                if (products[i].id == product_id) {
                        assert_string_equal(products[i].title, title);
                        assert_string_equal(products[i].destination, "서귀포 Seogwipo");
                        assert_string_equal(products[i].summary, body);
                        assert_true(products[i].featured);
                        found = true;
                }
        assert_true(found);
        store_products_free(products, n);
        store_products_free(NULL, 0);

        /* Broken UTF-8 is refused the same way on both backends, and
         * nothing is written. */
        int64_t before = raw_query("SELECT COUNT(*) FROM posts", 0);
        const char *broken[] = {"\xff", "abc\xc3", "\xc0\xaf" /* overlong '/' */,
                                "\xed\xa0\x80" /* surrogate */, "\xf4\x90\x80\x80"};
        for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
                assert_int_equal(store_create_post(store, "a", broken[i], "b", 3, 0, NULL, NULL),
                                 -EINVAL);
                assert_int_equal(store_create_post(store, broken[i], "t", "b", 3, 0, NULL, NULL),
                                 -EINVAL);
                enum claim_outcome outcome;
                int64_t left;
                assert_int_equal(store_claim(store, 1, broken[i], 0, &outcome, &left, NULL),
                                 -EINVAL);
        }
        assert_int_equal(raw_query("SELECT COUNT(*) FROM posts", 0), before);
        store_close(store);
}

/* ---- the claim -------------------------------------------------------- */

static void claim(struct store *store, int64_t deal_id, const char *user, time_t now,
                  enum claim_outcome want_outcome, int64_t want_left)
{
        enum claim_outcome outcome = 99;
        int64_t left = -99;
        struct tripdeal_error error = {0};
        int r = store_claim(store, deal_id, user, now, &outcome, &left, &error);
        if (r < 0)
                fail_msg("store_claim: %s (%s)", strerror(-r), error.message);
        if (outcome != want_outcome || left != want_left)
                fail_msg("claim deal %lld by %s: got %s/%lld, want %s/%lld", (long long)deal_id,
                         user, claim_outcome_to_string(outcome), (long long)left,
                         claim_outcome_to_string(want_outcome), (long long)want_left);
}

static void test_claim_outcomes(void **state)
{
        struct store *store = open_store();
        time_t now = time(NULL);
        int64_t deal = make_deal(store, 2, now - HOUR, now + HOUR);

        claim(store, deal, "alice", now, CLAIM_OK, 1);
        claim(store, deal, "alice", now, CLAIM_ALREADY_CLAIMED, 1);
        claim(store, deal, "bob", now, CLAIM_OK, 0);
        claim(store, deal, "carol", now, CLAIM_SOLD_OUT, 0);
        /* Sold out and already holding one: the more precise answer wins. */
        claim(store, deal, "alice", now, CLAIM_ALREADY_CLAIMED, 0);

        int64_t count = -1;
        assert_int_equal(store_count_claims(store, deal, &count, NULL), 0);
        assert_int_equal(count, 2);
        assert_int_equal(raw_query("SELECT stock_left FROM deals WHERE id = $1", deal), 0);

        /* The window is [starts_at, ends_at). */
        int64_t window = make_deal(store, 5, now + HOUR, now + 2 * HOUR);
        claim(store, window, "alice", now, CLAIM_NOT_OPEN, 5);
        claim(store, window, "alice", now + HOUR - 1, CLAIM_NOT_OPEN, 5);
        claim(store, window, "alice", now + HOUR, CLAIM_OK, 4);
        claim(store, window, "bob", now + 2 * HOUR - 1, CLAIM_OK, 3);
        claim(store, window, "carol", now + 2 * HOUR, CLAIM_NOT_OPEN, 3);
        claim(store, window, "alice", now + 3 * HOUR, CLAIM_NOT_OPEN, 3);

        claim(store, 987654321, "alice", now, CLAIM_NO_SUCH_DEAL, 0);
        assert_int_equal(store_count_claims(store, 987654321, &count, NULL), 0);
        assert_int_equal(count, 0);

        /* A user id is bytes, compared exactly: case and Unicode matter. */
        int64_t users = make_deal(store, 10, now - HOUR, now + HOUR);
        claim(store, users, "Alice", now, CLAIM_OK, 9);
        claim(store, users, "alice", now, CLAIM_OK, 8);
        claim(store, users, "앨리스", now, CLAIM_OK, 7);
        claim(store, users, "앨리스", now, CLAIM_ALREADY_CLAIMED, 7);

        /* Stock zero from the start. */
        int64_t empty = make_deal(store, 0, now - HOUR, now + HOUR);
        claim(store, empty, "alice", now, CLAIM_SOLD_OUT, 0);

        enum claim_outcome outcome = CLAIM_OK;
        int64_t left = 5;
        assert_int_equal(store_claim(store, deal, "", now, &outcome, &left, NULL), -EINVAL);
        assert_int_equal(store_claim(store, deal, NULL, now, &outcome, &left, NULL), -EINVAL);
        assert_int_equal(left, 5);

        assert_string_equal(claim_outcome_to_string(CLAIM_OK), "ok");
        assert_string_equal(claim_outcome_to_string(CLAIM_SOLD_OUT), "sold_out");
        assert_string_equal(claim_outcome_to_string(CLAIM_ALREADY_CLAIMED), "already_claimed");
        assert_string_equal(claim_outcome_to_string(CLAIM_NOT_OPEN), "not_open");
        assert_string_equal(claim_outcome_to_string(CLAIM_NO_SUCH_DEAL), "no_such_deal");
        store_close(store);
}

static void test_claim_seeded_deal(void **state)
{
        struct store *store = open_store();
        time_t now = time(NULL);
        assert_int_equal(store_seed_demo(store, now, NULL), 0);
        struct deal *deals = NULL;
        size_t n = 0;
        assert_int_equal(store_list_deals(store, &deals, &n, NULL), 0);
        for (size_t i = 0; i < n; i++) {
                const struct deal *d = &deals[i];
                enum claim_outcome outcome;
                int64_t left;
                assert_int_equal(
                        store_claim(store, d->id, "seed-visitor", now, &outcome, &left, NULL), 0);
                if (d->starts_at > now || d->ends_at <= now)
                        assert_int_equal(outcome, CLAIM_NOT_OPEN);
                else if (d->stock_left > 0)
                        assert_int_equal(outcome, CLAIM_OK);
        }
        store_deals_free(deals, n);
        store_close(store);
}

/* 200 threads, each its own connection, on a deal with stock 50. */
enum { CLAIMERS = 200, CONCURRENT_STOCK = 50, DISTINCT_USERS = 150 };

struct claimer {
        pthread_barrier_t *barrier;
        bool unbatched;
        int64_t deal_id;
        time_t now;
        char user[64];
        int result;
        enum claim_outcome outcome;
        int64_t left;
        char error[256];
};

static void *claimer_thread(void *userdata)
{
        struct claimer *c = userdata;
        struct store *store = NULL;
        struct store_options options = {.url = fixture.url,
                                        .busy_timeout_ms = 60000,
                                        .connect_timeout_seconds = 30,
                                        .unbatched_claims = c->unbatched};
        struct tripdeal_error error = {0};
        c->result = open_with_retry(&options, &store, &error);
        if (c->result < 0)
                snprintf(c->error, sizeof(c->error), "%.255s", error.message);
        /* Everyone connects first, then all claim at once. */
        pthread_barrier_wait(c->barrier);
        if (c->result == 0) {
                c->result = store_claim(store, c->deal_id, c->user, c->now, &c->outcome, &c->left,
                                        &error);
                if (c->result < 0)
                        snprintf(c->error, sizeof(c->error), "%.255s", error.message);
        }
        store_close(store);
        return NULL;
}

/* User ids with characters that need quoting anywhere they travel. */
static void claimer_user(int user, char *buffer, size_t size)
{
        snprintf(buffer, size, "사용자 \"{%03d}\", \\ 'x'", user);
}

static void claim_concurrent_threads(bool unbatched)
{
        struct store *store = open_store();
        time_t now = time(NULL);
        int64_t deal = make_deal(store, CONCURRENT_STOCK, now - HOUR, now + HOUR);

        static struct claimer claimers[CLAIMERS];
        pthread_t threads[CLAIMERS];
        pthread_barrier_t barrier;
        pthread_barrier_init(&barrier, NULL, CLAIMERS);
        for (int i = 0; i < CLAIMERS; i++) {
                /* 50 users try twice, from two threads at the same moment. */
                claimers[i] = (struct claimer){
                        .barrier = &barrier, .unbatched = unbatched, .deal_id = deal, .now = now};
                claimer_user(i % DISTINCT_USERS, claimers[i].user, sizeof(claimers[i].user));
                assert_int_equal(pthread_create(&threads[i], NULL, claimer_thread, &claimers[i]),
                                 0);
        }
        for (int i = 0; i < CLAIMERS; i++)
                pthread_join(threads[i], NULL);
        pthread_barrier_destroy(&barrier);

        int ok = 0, sold_out = 0, already = 0;
        int ok_per_user[DISTINCT_USERS] = {0};
        bool left_seen[CONCURRENT_STOCK] = {false};
        for (int i = 0; i < CLAIMERS; i++) {
                const struct claimer *c = &claimers[i];
                if (c->result < 0)
                        fail_msg("claimer %d: %s (%s)", i, strerror(-c->result), c->error);
                switch (c->outcome) {
                case CLAIM_OK:
                        ok++;
                        ok_per_user[i % DISTINCT_USERS]++;
                        /* Every OK saw a different stock after its claim. */
                        assert_true(c->left >= 0 && c->left < CONCURRENT_STOCK);
                        assert_false(left_seen[c->left]);
                        left_seen[c->left] = true;
                        break;
                case CLAIM_SOLD_OUT:
                        sold_out++;
                        break;
                case CLAIM_ALREADY_CLAIMED:
                        already++;
                        break;
                default:
                        fail_msg("claimer %d: unexpected %s", i,
                                 claim_outcome_to_string(c->outcome));
                }
        }
        assert_int_equal(ok, CONCURRENT_STOCK);
        assert_int_equal(ok + sold_out + already, CLAIMERS);
        for (int u = 0; u < DISTINCT_USERS; u++)
                assert_true(ok_per_user[u] <= 1);

        struct deal d;
        get_deal(store, deal, &d);
        assert_int_equal(d.stock_left, 0);
        store_deal_clear(&d);
        int64_t count = 0;
        assert_int_equal(store_count_claims(store, deal, &count, NULL), 0);
        assert_int_equal(count, CONCURRENT_STOCK);
        assert_int_equal(
                raw_query("SELECT COUNT(DISTINCT user_id) FROM claims WHERE deal_id = $1", deal),
                CONCURRENT_STOCK);

        /* The ids were stored exactly: each winner is recognised again. */
        for (int u = 0; u < DISTINCT_USERS; u++) {
                char user[64];
                claimer_user(u, user, sizeof(user));
                claim(store, deal, user, now,
                      ok_per_user[u] ? CLAIM_ALREADY_CLAIMED : CLAIM_SOLD_OUT, 0);
        }
        store_close(store);
}

/* Each thread's claims combined with the others' (the default). */
static void test_claim_concurrent_threads(void **state)
{
        claim_concurrent_threads(false);
}

/* Every claim its own transaction: 200 connections fight in the database. */
static void test_claim_concurrent_threads_unbatched(void **state)
{
        claim_concurrent_threads(true);
}

/*
 * Several processes (own connections) claim the same deal; one is SIGKILLed
 * in the middle of its burst.  Whatever it was doing either committed whole
 * or not at all: stock_left + claims == stock_total, never below zero.
 */
enum {
        PROCESSES = 4,
        ATTEMPTS_PER_PROCESS = 160, /* split over THREADS_PER_PROCESS */
        VICTIM_ATTEMPTS = 1000000,  /* the victim never finishes on its own */
        PROCESS_STOCK = 200,
        KILL_AFTER = 15,
};

/* Each process claims from several threads, each with its own connection
 * (on PostgreSQL their claims are combined into shared transactions, so the
 * SIGKILL also lands in the middle of batches). */
enum { THREADS_PER_PROCESS = 4 };

struct process_thread {
        int process, thread;
        int64_t deal_id;
        time_t now;
        int attempts;
        int report_fd;
        struct store *store;
        int status;
};

static void *process_thread_main(void *userdata)
{
        struct process_thread *t = userdata;
        for (int i = 0; i < t->attempts; i++) {
                char user[64];
                snprintf(user, sizeof(user), "process-%d-thread-%d-user-%d", t->process, t->thread,
                         i);
                enum claim_outcome outcome;
                int64_t left;
                if (store_claim(t->store, t->deal_id, user, t->now, &outcome, &left, NULL) < 0) {
                        t->status = 5;
                        return NULL;
                }
                /* One byte per attempt ('o' for a claim, '-' for anything
                 * else); a one-byte write to a pipe is atomic. */
                char byte = outcome == CLAIM_OK ? 'o' : '-';
                if (write(t->report_fd, &byte, 1) != 1) {
                        t->status = 6;
                        return NULL;
                }
        }
        return NULL;
}

static void claim_process(int index, int64_t deal_id, time_t now, int go_fd, int report_fd)
{
        struct process_thread threads[THREADS_PER_PROCESS];
        pthread_t ids[THREADS_PER_PROCESS];
        struct store_options options = {
                .url = fixture.url, .busy_timeout_ms = 60000, .connect_timeout_seconds = 30};
        for (int t = 0; t < THREADS_PER_PROCESS; t++) {
                threads[t] = (struct process_thread){
                        .process = index,
                        .thread = t,
                        .deal_id = deal_id,
                        .now = now,
                        .attempts = index == 0 ? VICTIM_ATTEMPTS
                                               : ATTEMPTS_PER_PROCESS / THREADS_PER_PROCESS,
                        .report_fd = report_fd,
                };
                if (open_with_retry(&options, &threads[t].store, NULL) < 0)
                        _exit(3);
        }
        char go;
        if (read(go_fd, &go, 1) < 0)
                _exit(4);
        for (int t = 0; t < THREADS_PER_PROCESS; t++)
                if (pthread_create(&ids[t], NULL, process_thread_main, &threads[t]) != 0)
                        _exit(7);
        int status = 0;
        for (int t = 0; t < THREADS_PER_PROCESS; t++) {
                pthread_join(ids[t], NULL);
                if (threads[t].status)
                        status = threads[t].status;
                store_close(threads[t].store);
        }
        _exit(status);
}

static void test_claim_processes_with_kill(void **state)
{
        struct store *store = open_store();
        time_t now = time(NULL);
        int64_t deal = make_deal(store, PROCESS_STOCK, now - HOUR, now + HOUR);

        /* The children open their own connections; the parent's must not
         * live on in them (SQLite forbids using a connection across fork). */
        store_close(store);
        store = NULL;

        int go[2];
        assert_int_equal(pipe(go), 0);
        int reports[PROCESSES][2];
        pid_t pids[PROCESSES];
        for (int i = 0; i < PROCESSES; i++) {
                assert_int_equal(pipe(reports[i]), 0);
                pids[i] = fork();
                assert_true(pids[i] >= 0);
                if (pids[i] == 0) {
                        close(go[1]);
                        close(reports[i][0]);
                        claim_process(i, deal, now, go[0], reports[i][1]);
                }
                close(reports[i][1]);
        }
        close(go[0]);
        close(go[1]); /* EOF on `go`: everyone starts */

        /* Read every report; kill process 0 once it has made KILL_AFTER
         * attempts, so it dies in the middle of its burst. */
        int64_t ok_reported = 0;
        int attempts[PROCESSES] = {0};
        bool open_pipes[PROCESSES];
        int open_count = PROCESSES;
        for (int i = 0; i < PROCESSES; i++)
                open_pipes[i] = true;
        bool killed = false;
        int64_t deadline = monotonic_ms() + 90000;
        while (open_count > 0 && monotonic_ms() < deadline) {
                struct pollfd fds[PROCESSES];
                for (int i = 0; i < PROCESSES; i++)
                        fds[i] = (struct pollfd){.fd = open_pipes[i] ? reports[i][0] : -1,
                                                 .events = POLLIN};
                if (poll(fds, PROCESSES, 1000) <= 0)
                        continue;
                for (int i = 0; i < PROCESSES; i++) {
                        if (!(fds[i].revents & (POLLIN | POLLHUP)))
                                continue;
                        char buffer[256];
                        ssize_t n = read(reports[i][0], buffer, sizeof(buffer));
                        if (n <= 0) {
                                open_pipes[i] = false;
                                open_count--;
                                continue;
                        }
                        for (ssize_t k = 0; k < n; k++) {
                                attempts[i]++;
                                ok_reported += buffer[k] == 'o';
                        }
                        if (i == 0 && !killed && attempts[0] >= KILL_AFTER) {
                                kill(pids[0], SIGKILL);
                                killed = true;
                        }
                }
        }
        assert_int_equal(open_count, 0);
        assert_true(killed);

        for (int i = 0; i < PROCESSES; i++) {
                close(reports[i][0]);
                int status;
                assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
                if (i == 0) {
                        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
                } else {
                        assert_true(WIFEXITED(status));
                        assert_int_equal(WEXITSTATUS(status), 0);
                        assert_int_equal(attempts[i], ATTEMPTS_PER_PROCESS);
                }
        }
        assert_true(attempts[0] >= KILL_AFTER && attempts[0] < VICTIM_ATTEMPTS);

        store = open_store();
        struct deal d;
        get_deal(store, deal, &d);
        int64_t count = 0;
        assert_int_equal(store_count_claims(store, deal, &count, NULL), 0);
        assert_true(d.stock_left >= 0);
        assert_int_equal(d.stock_left + count, PROCESS_STOCK);
        /* The survivors alone tried more than the stock: it sold out. */
        assert_int_equal(d.stock_left, 0);
        /* Every reported claim is recorded; at most the ones the victim's
         * threads were in the middle of committed without being reported. */
        assert_true(count >= ok_reported && count <= ok_reported + THREADS_PER_PROCESS);
        assert_int_equal(
                raw_query("SELECT COUNT(DISTINCT user_id) FROM claims WHERE deal_id = $1", deal),
                count);
        store_deal_clear(&d);
        store_close(store);
}

/*
 * PostgreSQL combines concurrent claims into one tripdeal_claim_batch call.
 * Which claims share a batch depends on timing, so check the function
 * itself: one batch must answer exactly what the same claims one by one
 * would, whatever the mix of deals, repeats and outcomes.
 */
static void test_postgresql_claim_batch(void **state)
{
        if (!fixture.postgresql)
                skip();
        struct store *store = open_store();
        time_t now = time(NULL);
        int64_t open_deal = make_deal(store, 2, now - HOUR, now + HOUR);
        int64_t later_deal = make_deal(store, 5, now + HOUR, now + 2 * HOUR);
        int64_t other_deal = make_deal(store, 1, now - HOUR, now + HOUR);
        store_close(store);

        struct {
                int64_t deal;
                const char *user;
                const char *outcome;
                int64_t stock;
        } want[] = {
                {other_deal, "u1", "ok", 0},
                {open_deal, "u1", "ok", 1},
                {later_deal, "u1", "not_open", 5},
                {open_deal, "u2", "ok", 0},
                {open_deal, "u1", "already_claimed", 0},
                {987654321, "u1", "no_such_deal", 0},
                {open_deal, "u3", "sold_out", 0},
                {open_deal, "u3", "sold_out", 0},
                {other_deal, "u\"2\\", "sold_out", 0},
                {other_deal, "u1", "already_claimed", 0},
        };
        char deals[512] = "{", users[512] = "{", nows[512] = "{";
        for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
                const char *separator = i ? "," : "";
                char quoted[64];
                size_t q = 0;
                quoted[q++] = '"';
                for (const char *c = want[i].user; *c; c++) {
                        if (*c == '"' || *c == '\\')
                                quoted[q++] = '\\';
                        quoted[q++] = *c;
                }
                quoted[q++] = '"';
                quoted[q] = '\0';
                snprintf(deals + strlen(deals), sizeof(deals) - strlen(deals), "%s%lld", separator,
                         (long long)want[i].deal);
                snprintf(users + strlen(users), sizeof(users) - strlen(users), "%s%s", separator,
                         quoted);
                snprintf(nows + strlen(nows), sizeof(nows) - strlen(nows), "%s%lld", separator,
                         (long long)now);
        }
        strcat(deals, "}");
        strcat(users, "}");
        strcat(nows, "}");

        PGconn *conn = connect_raw(fixture.url);
        assert_int_equal(PQstatus(conn), CONNECTION_OK);
        const char *values[] = {deals, users, nows};
        PGresult *result = PQexecParams(conn,
                                        "SELECT outcome, stock FROM tripdeal_claim_batch($1, $2, "
                                        "$3) WITH ORDINALITY AS t (outcome, stock, n) ORDER BY n",
                                        3, NULL, values, NULL, NULL, 0);
        if (PQresultStatus(result) != PGRES_TUPLES_OK)
                fail_msg("batch: %s", PQerrorMessage(conn));
        assert_int_equal(PQntuples(result), sizeof(want) / sizeof(want[0]));
        for (int i = 0; i < PQntuples(result); i++) {
                if (strcmp(PQgetvalue(result, i, 0), want[i].outcome) != 0 ||
                    strtoll(PQgetvalue(result, i, 1), NULL, 10) != want[i].stock)
                        fail_msg("element %d: got %s/%s, want %s/%lld", i, PQgetvalue(result, i, 0),
                                 PQgetvalue(result, i, 1), want[i].outcome,
                                 (long long)want[i].stock);
        }
        PQclear(result);
        PQfinish(conn);

        assert_int_equal(raw_query("SELECT stock_left FROM deals WHERE id = $1", open_deal), 0);
        assert_int_equal(raw_query("SELECT COUNT(*) FROM claims WHERE deal_id = $1", open_deal), 2);
        assert_int_equal(raw_query("SELECT stock_left FROM deals WHERE id = $1", other_deal), 0);
        assert_int_equal(raw_query("SELECT COUNT(*) FROM claims WHERE deal_id = $1", later_deal),
                         0);
}

/* ---- losing the database ---------------------------------------------- */

static void terminate_sessions_now(void)
{
        admin_exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                   "WHERE datname = $1 AND pid <> pg_backend_pid()",
                   fixture.database);
}

/* Terminate every session on our database except the caller's, and wait
 * until they are gone. */
static void terminate_sessions(void)
{
        terminate_sessions_now();
        int64_t deadline = monotonic_ms() + 10000;
        for (;;) {
                PGconn *conn = connect_raw(fixture.admin_url);
                const char *values[] = {fixture.database};
                PGresult *result = PQexecParams(
                        conn, "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = $1", 1, NULL,
                        values, NULL, NULL, 0);
                long left = PQresultStatus(result) == PGRES_TUPLES_OK
                                    ? strtol(PQgetvalue(result, 0, 0), NULL, 10)
                                    : -1;
                PQclear(result);
                PQfinish(conn);
                if (left == 0)
                        return;
                if (monotonic_ms() > deadline)
                        fail_msg("sessions still there: %ld", left);
                usleep(20000); /* polling a condition, with a deadline */
        }
}

static void test_postgresql_recovers(void **state)
{
        if (!fixture.postgresql)
                skip();
        struct store *store = open_store();
        time_t now = time(NULL);
        int64_t deal = make_deal(store, 10, now - HOUR, now + HOUR);

        /* The server drops our session (as on a restart): the next call
         * notices, reconnects once and succeeds. */
        terminate_sessions();
        struct deal *deals = NULL;
        size_t n = 0;
        struct tripdeal_error error = {0};
        int r = store_list_deals(store, &deals, &n, &error);
        if (r < 0)
                fail_msg("after terminate: %s (%s)", strerror(-r), error.message);
        store_deals_free(deals, n);
        terminate_sessions();
        claim(store, deal, "after-restart", now, CLAIM_OK, 9);
        terminate_sessions();
        assert_int_equal(store_ping(store, NULL), 0);

        /* The database is down (refuses connections): every call fails with
         * -ECONNREFUSED or -EIO and says why. */
        admin_exec("SELECT 1 FROM pg_database WHERE datname = $1", fixture.database);
        char sql[256];
        snprintf(sql, sizeof(sql), "ALTER DATABASE \"%s\" ALLOW_CONNECTIONS false",
                 fixture.database);
        admin_exec(sql, NULL);
        terminate_sessions();
        error = (struct tripdeal_error){0};
        r = store_ping(store, &error);
        assert_true(r == -ECONNREFUSED || r == -EIO);
        assert_int_equal(error.code, r);
        assert_true(strlen(error.message) > 0);
        enum claim_outcome outcome;
        int64_t left;
        r = store_claim(store, deal, "while-down", now, &outcome, &left, NULL);
        assert_true(r == -ECONNREFUSED || r == -EIO);
        r = store_list_deals(store, &deals, &n, NULL);
        assert_true(r == -ECONNREFUSED || r == -EIO);
        r = store_get_deal(store, deal, &(struct deal){0}, NULL);
        assert_true(r == -ECONNREFUSED || r == -EIO);

        /* Back up: the same store works again by itself. */
        snprintf(sql, sizeof(sql), "ALTER DATABASE \"%s\" ALLOW_CONNECTIONS true",
                 fixture.database);
        admin_exec(sql, NULL);
        assert_int_equal(store_ping(store, NULL), 0);
        claim(store, deal, "while-down", now, CLAIM_OK, 8);
        assert_int_equal(store_count_claims(store, deal, &left, NULL), 0);
        assert_int_equal(left, 2);
        store_close(store);
}

/*
 * The server drops every session (a restart or failover) in the middle of a
 * burst of combined claims.  Calls in flight may fail (-EIO), but nothing is
 * half-done: stock_left + claims == stock_total, every OK is recorded, and
 * the same stores go on claiming afterwards.
 */
enum { BURST_THREADS = 16, BURST_ATTEMPTS = 60, BURST_STOCK = 2000 };

struct burst_thread {
        int index;
        int64_t deal_id;
        time_t now;
        int ok, failed, attempts;
        int ok_after_last_drop;
        const int *drops; /* how many drops the main thread has done */
};

static void *burst_thread_main(void *userdata)
{
        struct burst_thread *t = userdata;
        struct store *store = NULL;
        struct store_options options = {.url = fixture.url, .connect_timeout_seconds = 30};
        if (open_with_retry(&options, &store, NULL) < 0)
                return NULL;
        for (int i = 0; i < BURST_ATTEMPTS * 100 && t->attempts < BURST_ATTEMPTS; i++) {
                char user[48];
                snprintf(user, sizeof(user), "burst-%d-%d", t->index, t->attempts);
                int drops_before = __atomic_load_n(t->drops, __ATOMIC_ACQUIRE);
                enum claim_outcome outcome;
                int64_t left;
                int r = store_claim(store, t->deal_id, user, t->now, &outcome, &left, NULL);
                t->attempts++;
                if (r < 0) {
                        t->failed++;
                        continue;
                }
                if (outcome == CLAIM_OK) {
                        t->ok++;
                        if (drops_before == 3)
                                t->ok_after_last_drop++;
                }
                /* Keep the burst going until the main thread is done. */
                if (t->attempts == BURST_ATTEMPTS - 1 &&
                    __atomic_load_n(t->drops, __ATOMIC_ACQUIRE) < 3 && i < BURST_ATTEMPTS * 50)
                        t->attempts = BURST_ATTEMPTS / 2;
        }
        store_close(store);
        return NULL;
}

static void test_postgresql_restart_mid_burst(void **state)
{
        if (!fixture.postgresql)
                skip();
        struct store *store = open_store();
        time_t now = time(NULL);
        int64_t deal = make_deal(store, BURST_STOCK, now - HOUR, now + HOUR);
        store_close(store);

        int drops = 0;
        struct burst_thread threads[BURST_THREADS];
        pthread_t ids[BURST_THREADS];
        for (int i = 0; i < BURST_THREADS; i++) {
                threads[i] = (struct burst_thread){
                        .index = i, .deal_id = deal, .now = now, .drops = &drops};
                assert_int_equal(pthread_create(&ids[i], NULL, burst_thread_main, &threads[i]), 0);
        }
        /* Drop every session three times while they claim. */
        for (int d = 0; d < 3; d++) {
                int64_t deadline = monotonic_ms() + 20000;
                while (raw_query("SELECT COUNT(*) FROM claims WHERE deal_id = $1", deal) <
                               (d + 1) * 20 &&
                       monotonic_ms() < deadline)
                        usleep(5000); /* polling a condition, with a deadline */
                /* Do not wait for zero sessions: the claimers reconnect at once. */
                terminate_sessions_now();
                __atomic_store_n(&drops, d + 1, __ATOMIC_RELEASE);
        }
        int ok = 0, failed = 0, ok_after = 0;
        for (int i = 0; i < BURST_THREADS; i++) {
                pthread_join(ids[i], NULL);
                ok += threads[i].ok;
                failed += threads[i].failed;
                ok_after += threads[i].ok_after_last_drop;
        }

        int64_t claims = raw_query("SELECT COUNT(*) FROM claims WHERE deal_id = $1", deal);
        int64_t left = raw_query("SELECT stock_left FROM deals WHERE id = $1", deal);
        print_message("burst: %d ok, %d failed calls, %d ok after the last drop, %lld claims\n", ok,
                      failed, ok_after, (long long)claims);
        assert_true(left >= 0);
        assert_int_equal(left + claims, BURST_STOCK);
        /* Every OK answer is a recorded claim; a failed call may or may not
         * have committed before its connection went. */
        assert_true(claims >= ok);
        assert_true(claims <= ok + failed);
        /* Recovered by themselves after the last drop. */
        assert_true(ok_after > 0);
}

/* ---- fixture ------------------------------------------------------------ */

/* admin_url with its database replaced by `database`. */
static int url_with_database(const char *url, const char *database, char *out, size_t size)
{
        const char *scheme_end = strstr(url, "://");
        if (!scheme_end)
                return -EINVAL;
        const char *authority = scheme_end + 3;
        size_t authority_length = strcspn(authority, "/?");
        const char *query = strchr(authority + authority_length, '?');
        int n = snprintf(out, size, "%.*s/%s%s", (int)(authority - url + authority_length), url,
                         database, query ? query : "");
        return n > 0 && (size_t)n < size ? 0 : -ENAMETOOLONG;
}

static int setup_fixture(const char *backend)
{
        if (strcmp(backend, "postgresql") == 0) {
                const char *url = getenv("TRIPDEAL_TEST_PG_URL");
                if (!url || !url[0]) {
                        fprintf(stderr, "TRIPDEAL_TEST_PG_URL unset: skipping\n");
                        exit(77);
                }
                fixture.postgresql = true;
                snprintf(fixture.admin_url, sizeof(fixture.admin_url), "%s", url);
                snprintf(fixture.database, sizeof(fixture.database), "tripdeal_store_%d_%lld",
                         (int)getpid(), (long long)monotonic_ms());
                if (url_with_database(url, fixture.database, fixture.url, sizeof(fixture.url)) < 0)
                        return -EINVAL;
                /* A database name cannot be a bound parameter; ours is made of
                 * digits and letters we chose above. */
                char sql[128];
                snprintf(sql, sizeof(sql), "CREATE DATABASE \"%s\"", fixture.database);
                PGconn *conn = connect_raw(fixture.admin_url);
                if (PQstatus(conn) != CONNECTION_OK) {
                        fprintf(stderr, "cannot connect to %s: %s", "TRIPDEAL_TEST_PG_URL",
                                PQerrorMessage(conn));
                        PQfinish(conn);
                        return -EIO;
                }
                PGresult *result = PQexec(conn, sql);
                bool ok = PQresultStatus(result) == PGRES_COMMAND_OK;
                if (!ok)
                        fprintf(stderr, "%s: %s", sql, PQerrorMessage(conn));
                PQclear(result);
                PQfinish(conn);
                return ok ? 0 : -EIO;
        }
        if (strcmp(backend, "sqlite") != 0)
                return -EINVAL;
        const char *tmp = getenv("TMPDIR");
        snprintf(fixture.directory, sizeof(fixture.directory), "%s/tripdeal-store-XXXXXX",
                 tmp && tmp[0] ? tmp : "/tmp");
        if (!mkdtemp(fixture.directory))
                return -errno;
        snprintf(fixture.path, sizeof(fixture.path), "%s/site.db", fixture.directory);
        snprintf(fixture.url, sizeof(fixture.url), "sqlite:%s", fixture.path);
        return 0;
}

static void teardown_fixture(void)
{
        if (fixture.postgresql) {
                char sql[128];
                snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)",
                         fixture.database);
                PGconn *conn = connect_raw(fixture.admin_url);
                PQclear(PQexec(conn, sql));
                PQfinish(conn);
                return;
        }
        const char *suffixes[] = {"", "-wal", "-shm", "-journal"};
        for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
                char file[400];
                snprintf(file, sizeof(file), "%s%s", fixture.path, suffixes[i]);
                unlink(file);
        }
        rmdir(fixture.directory);
}

int main(int argc, char **argv)
{
        if (argc != 2) {
                fprintf(stderr, "usage: %s sqlite|postgresql\n", argv[0]);
                return 2;
        }
        int r = setup_fixture(argv[1]);
        if (r < 0) {
                fprintf(stderr, "fixture: %s\n", strerror(-r));
                return 1;
        }
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_url_check),
                cmocka_unit_test(test_open_errors),
                cmocka_unit_test(test_migrations_concurrent_and_idempotent),
                cmocka_unit_test(test_seed_idempotent),
                cmocka_unit_test(test_deals_list_and_get),
                cmocka_unit_test(test_call_errors),
                cmocka_unit_test(test_posts_paging),
                cmocka_unit_test(test_utf8_round_trip),
                cmocka_unit_test(test_claim_outcomes),
                cmocka_unit_test(test_claim_seeded_deal),
                cmocka_unit_test(test_claim_concurrent_threads),
                cmocka_unit_test(test_claim_concurrent_threads_unbatched),
                cmocka_unit_test(test_claim_processes_with_kill),
                cmocka_unit_test(test_postgresql_claim_batch),
                cmocka_unit_test(test_postgresql_recovers),
                cmocka_unit_test(test_postgresql_restart_mid_burst),
        };
        char name[64];
        snprintf(name, sizeof(name), "store-%s", argv[1]);
        r = _cmocka_run_group_tests(name, tests, sizeof(tests) / sizeof(tests[0]), NULL, NULL);
        teardown_fixture();
        return r;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The site's storage: one interface, two backends (SQLite for the embedded
 * single-node default, PostgreSQL when replicas share one database).
 *
 * Threading: a `struct store` is one database connection and is used by one
 * thread at a time.  Each HTTP worker thread opens its own.
 *
 * Ownership: every `ret_*` output is written only on success and then belongs
 * to the caller, who frees it with the matching *_free / *_list_free function
 * (all accept NULL).  Inputs are borrowed for the duration of the call.
 *
 * Errors: 0 on success, negative errno otherwise:
 *   -EINVAL     bad URL or argument
 *   -ENOENT     no such row
 *   -ECONNREFUSED / -EIO   database unreachable or failed (callers answer 503)
 * Every call that can fail takes a `struct tripdeal_error *ret_error` last
 * (lib/common/error.h; NULL allowed), filled on failure only: code == the
 * value returned, message == the backend's text or what is wrong with the
 * arguments.  For the caller to log, once; it never contains the password
 * of the URL.  There is no per-connection "last error".
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "error.h"

struct store;

/* All times are UTC seconds since the epoch. */
struct product {
        int64_t id;
        char *title;       /* UTF-8 */
        char *destination; /* UTF-8, e.g. "제주 Jeju" */
        char *summary;
        int64_t price; /* in the smallest currency unit (KRW has none: won) */
        bool featured;
};

struct deal {
        int64_t id;
        int64_t product_id;
        char *title;
        int64_t price;      /* sale price */
        int64_t list_price; /* price before the sale */
        int64_t stock_total;
        int64_t stock_left;
        time_t starts_at;
        time_t ends_at;
};

struct post {
        int64_t id;
        char *author;
        char *title;
        char *body;
        int rating; /* 1..5 */
        time_t created_at;
};

enum claim_outcome {
        CLAIM_OK,              /* stock decremented, claim recorded */
        CLAIM_SOLD_OUT,        /* stock_left was 0 */
        CLAIM_ALREADY_CLAIMED, /* this user already holds a claim on this deal */
        CLAIM_NOT_OPEN,        /* now is outside [starts_at, ends_at) */
        CLAIM_NO_SUCH_DEAL,
};

struct store_options {
        const char *url;             /* "sqlite:PATH" or "postgresql://..." / "postgres://..." */
        int busy_timeout_ms;         /* SQLite lock wait; default 5000 when 0 */
        int connect_timeout_seconds; /* PostgreSQL; default 3 when 0 */
        /* PostgreSQL: by default, claims that several threads of this
         * process make at the same moment go to the server together in one
         * transaction (one disk flush instead of one each; same outcomes).
         * true: every claim in its own transaction. */
        bool unbatched_claims;
};

/* Parse only: 0 if url names a backend we support, -EINVAL otherwise. */
int store_url_check(const char *url);

/* Connect. Does not migrate.  *ret_error (may be NULL) says why it failed. */
int store_open(const struct store_options *options, struct store **ret_store,
               struct tripdeal_error *ret_error);
void store_close(struct store *store);

/* Apply every pending schema migration in one transaction (idempotent,
 * safe when several processes start at once). */
int store_migrate(struct store *store, struct tripdeal_error *ret_error);

/* Cheap round trip; reconnects once if the connection was lost. */
int store_ping(struct store *store, struct tripdeal_error *ret_error);

/* Demo data relative to `now`: products, >= 3 deals (one open now with
 * stock >= 50, one upcoming, one ended), community posts in Korean and
 * English.  Idempotent: a second run adds nothing.  It only moves the sale
 * windows of demo deals that nobody has claimed yet or that have ended, to
 * the new `now`, so a demo database still has a sale on the next day. */
int store_seed_demo(struct store *store, time_t now, struct tripdeal_error *ret_error);

int store_list_products(struct store *store, bool featured_only, struct product **ret_products,
                        size_t *ret_count, struct tripdeal_error *ret_error);
void store_products_free(struct product *products, size_t count);

int store_list_deals(struct store *store, struct deal **ret_deals, size_t *ret_count,
                     struct tripdeal_error *ret_error);
int store_get_deal(struct store *store, int64_t id, struct deal *ret_deal,
                   struct tripdeal_error *ret_error);
void store_deal_clear(struct deal *deal); /* frees the strings inside one deal */
void store_deals_free(struct deal *deals, size_t count);

/*
 * The claim.  One atomic operation: the user's claim is recorded and
 * stock_left decremented together, or neither happens.  Stock never goes
 * below zero and a user never holds two claims on one deal, under any
 * concurrency and across processes sharing the database.  On CLAIM_OK,
 * *ret_stock_left is the stock after this claim; otherwise the current stock
 * (0 for CLAIM_NO_SUCH_DEAL).
 */
int store_claim(struct store *store, int64_t deal_id, const char *user_id, time_t now,
                enum claim_outcome *ret_outcome, int64_t *ret_stock_left,
                struct tripdeal_error *ret_error);

/* Newest first; page is 1-based.  *ret_total is the number of posts in all. */
int store_list_posts(struct store *store, int page, int per_page, struct post **ret_posts,
                     size_t *ret_count, int64_t *ret_total, struct tripdeal_error *ret_error);
int store_get_post(struct store *store, int64_t id, struct post *ret_post,
                   struct tripdeal_error *ret_error);
void store_post_clear(struct post *post);
void store_posts_free(struct post *posts, size_t count);

/* Validated by the caller (lengths, rating 1..5); stored as given.
 * Every text argument of this interface must be valid UTF-8 (-EINVAL). */
int store_create_post(struct store *store, const char *author, const char *title, const char *body,
                      int rating, time_t now, int64_t *ret_id, struct tripdeal_error *ret_error);

/*
 * Additions beyond the first interface (used by tests, the admin path and
 * /metrics).  Inputs borrowed; strings copied into the database.
 */
struct new_product {
        const char *title;
        const char *destination;
        const char *summary;
        int64_t price;
        bool featured;
};

struct new_deal {
        int64_t product_id; /* must exist */
        const char *title;
        int64_t price;
        int64_t list_price;
        int64_t stock_total; /* stock_left starts equal to it */
        time_t starts_at;
        time_t ends_at; /* > starts_at */
};

/* -EINVAL for a bad argument (negative price or stock, ends_at <= starts_at,
 * unknown product). */
int store_create_product(struct store *store, const struct new_product *product, int64_t *ret_id,
                         struct tripdeal_error *ret_error);
int store_create_deal(struct store *store, const struct new_deal *deal, int64_t *ret_id,
                      struct tripdeal_error *ret_error);

/* Number of claims recorded for one deal (0 for an unknown deal). */
int store_count_claims(struct store *store, int64_t deal_id, int64_t *ret_count,
                       struct tripdeal_error *ret_error);

/* "sqlite" or "postgresql".  Static string. */
const char *store_backend_name(const struct store *store);

/* "ok", "sold_out", "already_claimed", "not_open", "no_such_deal": stable
 * names for logs and metric labels.  Static string ("unknown" if out of range). */
const char *claim_outcome_to_string(enum claim_outcome outcome);

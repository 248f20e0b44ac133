/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to app/store: the backend table behind `struct store` and the demo
 * data both backends seed.  Not installed, not included outside app/store.
 */
#pragma once

#include <stdarg.h>

#include "macros.h"
#include "store.h"

/* The deals table's columns in the order both backends' read_deal() expects. */
#define DEAL_COLUMNS \
        "id, product_id, title, price, list_price, stock_total, stock_left, starts_at, ends_at"

struct store_backend {
        const char *name;
        /* target: the URL without the scheme prefix for SQLite, the whole
         * URL for PostgreSQL.  On failure the backend leaves store->impl NULL. */
        int (*open)(struct store *store, const struct store_options *options, const char *url);
        void (*close)(struct store *store);
        int (*migrate)(struct store *store);
        int (*ping)(struct store *store);
        int (*seed_demo)(struct store *store, time_t now);
        int (*list_products)(struct store *store, bool featured_only, struct product **ret_products,
                             size_t *ret_count);
        int (*list_deals)(struct store *store, struct deal **ret_deals, size_t *ret_count);
        int (*get_deal)(struct store *store, int64_t id, struct deal *ret_deal);
        int (*claim)(struct store *store, int64_t deal_id, const char *user_id, time_t now,
                     enum claim_outcome *ret_outcome, int64_t *ret_stock_left);
        int (*list_posts)(struct store *store, int page, int per_page, struct post **ret_posts,
                          size_t *ret_count, int64_t *ret_total);
        int (*get_post)(struct store *store, int64_t id, struct post *ret_post);
        int (*create_post)(struct store *store, const char *author, const char *title,
                           const char *body, int rating, time_t now, int64_t *ret_id);
        int (*create_product)(struct store *store, const struct new_product *product,
                              int64_t *ret_id);
        int (*create_deal)(struct store *store, const struct new_deal *deal, int64_t *ret_id);
        int (*count_claims)(struct store *store, int64_t deal_id, int64_t *ret_count);
};

struct store {
        const struct store_backend *backend;
        void *impl; /* backend-owned connection state */
        /* Secret to scrub from every error text (the URL's password), or NULL. */
        char *password;
        /* The running call's error (a local of the store.c entry point),
         * written by store_set_error(); NULL between calls.  There is no
         * error state that outlives a call. */
        struct tripdeal_error *call_error;
};

extern const struct store_backend store_backend_sqlite;
extern const struct store_backend store_backend_postgresql;

/* Write the running call's error message (printf-style, one line, the
 * password scrubbed); the entry point sets its code to the value returned. */
void store_set_error(struct store *store, const char *fmt, ...) _printf_(2, 3);
/* The running call's message so far ("" if none).  Borrowed, for this call. */
const char *store_call_error_message(const struct store *store);

/* Demo data: keyed by seed_key so a second seeding inserts nothing. */
struct seed_product {
        const char *key;
        const char *title;
        const char *destination;
        const char *summary;
        int64_t price;
        bool featured;
};

struct seed_deal {
        const char *key;
        const char *product_key;
        const char *title;
        int64_t price;
        int64_t list_price;
        int64_t stock_total;
        int64_t starts_offset; /* seconds relative to `now` */
        int64_t ends_offset;
};

struct seed_post {
        const char *key;
        const char *author;
        const char *title;
        const char *body;
        int rating;
        int64_t age_seconds; /* created_at = now - age_seconds */
};

extern const struct seed_product store_seed_products[];
extern const size_t store_seed_products_count;
extern const struct seed_deal store_seed_deals[];
extern const size_t store_seed_deals_count;
extern const struct seed_post store_seed_posts[];
extern const size_t store_seed_posts_count;

/* Argument checks shared by both backends. */
int store_check_new_product(const struct new_product *product);
int store_check_new_deal(const struct new_deal *deal);

/* Upper bound on posts per page, so one request cannot ask for everything. */
#define STORE_MAX_PER_PAGE 1000

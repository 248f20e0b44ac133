/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The live stock feed: the process-wide table of every deal's remaining
 * stock, kept current two ways:
 *   - claims made by this process write their result in at once
 *     (stock_feed_set), and
 *   - one poller thread re-reads all deals every poll interval, which picks
 *     up claims made by other replicas sharing the database, and doubles as
 *     the database health check behind /readyz.
 * Whenever the table changes its version goes up and the `changed` callback
 * runs (on whichever thread changed it), so the server can wake its
 * WebSocket writers.  Browsers never poll.
 *
 * Thread-safe.  Ownership: stock_feed_new() returns an object freed with
 * stock_feed_free() (which stops the poller).  Strings returned are new
 * allocations for the caller to free().
 */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "metrics.h"
#include "store.h"

struct stock_feed;

/*
 * What the pages show besides live stock: every deal and the featured
 * products, read together by the poller (its own database connection) on
 * every poll and published as one read-only snapshot, so request handlers on
 * the event loops only read memory.  Shared between threads and reference
 * counted: stock_feed_catalog() hands out a reference, stock_catalog_unref()
 * drops it; the last reference frees it.  Nothing in it may be modified.
 */
struct stock_catalog {
        uint64_t generation; /* distinct for every catalog the feed publishes */
        int64_t loaded_ms;   /* monotonic time of the read */
        struct deal *deals;  /* stock_left as read; the live value is stock_feed_get()'s */
        size_t n_deals;
        struct product *products; /* featured products only */
        size_t n_products;
        atomic_int references;
};

struct stock_feed_options {
        const char *database_url; /* borrowed; must outlive the feed */
        int poll_interval_ms;     /* default 500 when 0 */
        void (*changed)(void *userdata);
        void *userdata;
};

int stock_feed_new(const struct stock_feed_options *options, struct stock_feed **ret_feed);
/* Start the poller thread.  The first poll runs at once and this waits for it
 * (bounded), so the first catalog exists before the server takes requests. */
int stock_feed_start(struct stock_feed *feed);
/* The poller thread runs (stock_feed_start succeeded). */
bool stock_feed_polling(struct stock_feed *feed);
/* One poll now with the caller's connection (no poller, e.g. in-process tests):
 * reads stock, deals and featured products and publishes a new catalog.
 * *ret_error (NULL allowed) says why it failed. */
int stock_feed_reload(struct stock_feed *feed, struct store *store,
                      struct tripdeal_error *ret_error);
/* The latest catalog (a new reference; NULL before the first good poll). */
struct stock_catalog *stock_feed_catalog(struct stock_feed *feed);
void stock_catalog_unref(struct stock_catalog *catalog);
void stock_feed_free(struct stock_feed *feed);

/* Record a stock value this process just learned (a claim); notifies on change. */
void stock_feed_set(struct stock_feed *feed, int64_t deal_id, int64_t stock_total,
                    int64_t stock_left);

/* Last poll reached the database (and no request saw it fail since). */
bool stock_feed_database_ok(struct stock_feed *feed);
/* A request saw the database fail: /readyz goes false until the next good poll. */
void stock_feed_database_failed(struct stock_feed *feed);

uint64_t stock_feed_version(struct stock_feed *feed);

/* The latest known stock of one deal; false when the feed has not seen it yet. */
bool stock_feed_get(struct stock_feed *feed, int64_t deal_id, int64_t *ret_stock_left);

/* {"type":"stock","version":N,"now":"RFC3339","deals":[{"id":..,"stock_left":..,"stock_total":..}]}
 */
int stock_feed_snapshot_json(struct stock_feed *feed, uint64_t *ret_version, char **ret_json);
int stock_feed_samples(struct stock_feed *feed, struct deal_stock_sample **ret_samples,
                       size_t *ret_count);

/* SPDX-License-Identifier: Apache-2.0 */
#include "stock.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "macros.h"
#include "store.h"

struct stock_entry {
        int64_t deal_id;
        int64_t stock_total;
        int64_t stock_left;
        int64_t local_update_ms; /* monotonic time of the last stock_feed_set, 0 if none */
};

struct stock_feed {
        struct stock_feed_options options;
        pthread_mutex_t lock;
        struct stock_entry *entries;
        size_t n_entries;
        uint64_t version;
        atomic_bool database_ok;

        struct stock_catalog *catalog; /* under lock; the feed holds one reference */
        uint64_t catalog_generation;

        pthread_t thread;
        atomic_bool thread_started;
        bool stopping;
        bool first_poll_done;
        pthread_cond_t wake;
        pthread_cond_t first_poll; /* signalled once the first poll has run */
};

void stock_catalog_unref(struct stock_catalog *catalog)
{
        if (!catalog || atomic_fetch_sub(&catalog->references, 1) != 1)
                return;
        store_deals_free(catalog->deals, catalog->n_deals);
        store_products_free(catalog->products, catalog->n_products);
        free(catalog);
}

struct stock_catalog *stock_feed_catalog(struct stock_feed *feed)
{
        pthread_mutex_lock(&feed->lock);
        struct stock_catalog *catalog = feed->catalog;
        if (catalog)
                atomic_fetch_add(&catalog->references, 1);
        pthread_mutex_unlock(&feed->lock);
        return catalog;
}

bool stock_feed_polling(struct stock_feed *feed)
{
        return atomic_load(&feed->thread_started);
}

int stock_feed_new(const struct stock_feed_options *options, struct stock_feed **ret_feed)
{
        struct stock_feed *feed = calloc(1, sizeof(*feed));
        if (!feed)
                return -ENOMEM;
        feed->options = *options;
        if (feed->options.poll_interval_ms <= 0)
                feed->options.poll_interval_ms = 500;
        pthread_mutex_init(&feed->lock, NULL);
        pthread_condattr_t attributes;
        pthread_condattr_init(&attributes);
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
        pthread_cond_init(&feed->wake, &attributes);
        pthread_cond_init(&feed->first_poll, &attributes);
        pthread_condattr_destroy(&attributes);
        feed->version = 1;
        atomic_store(&feed->database_ok, true);
        *ret_feed = feed;
        return 0;
}

void stock_feed_free(struct stock_feed *feed)
{
        if (!feed)
                return;
        if (feed->thread_started) {
                pthread_mutex_lock(&feed->lock);
                feed->stopping = true;
                pthread_cond_signal(&feed->wake);
                pthread_mutex_unlock(&feed->lock);
                pthread_join(feed->thread, NULL);
        }
        pthread_cond_destroy(&feed->wake);
        pthread_cond_destroy(&feed->first_poll);
        pthread_mutex_destroy(&feed->lock);
        stock_catalog_unref(feed->catalog);
        free(feed->entries);
        free(feed);
}

/* Caller holds the lock.  Returns the entry, adding it if new (NULL on ENOMEM). */
static struct stock_entry *entry_for(struct stock_feed *feed, int64_t deal_id)
{
        for (size_t i = 0; i < feed->n_entries; i++)
                if (feed->entries[i].deal_id == deal_id)
                        return &feed->entries[i];
        struct stock_entry *entries =
                realloc(feed->entries, (feed->n_entries + 1) * sizeof(*entries));
        if (!entries)
                return NULL;
        feed->entries = entries;
        struct stock_entry *entry = &feed->entries[feed->n_entries++];
        *entry = (struct stock_entry){.deal_id = deal_id, .stock_left = -1, .stock_total = -1};
        return entry;
}

void stock_feed_set(struct stock_feed *feed, int64_t deal_id, int64_t stock_total,
                    int64_t stock_left)
{
        bool changed = false;
        pthread_mutex_lock(&feed->lock);
        struct stock_entry *entry = entry_for(feed, deal_id);
        if (entry) {
                entry->local_update_ms = clock_monotonic_ms();
                if (entry->stock_left != stock_left ||
                    (stock_total >= 0 && entry->stock_total != stock_total)) {
                        entry->stock_left = stock_left;
                        if (stock_total >= 0)
                                entry->stock_total = stock_total;
                        feed->version++;
                        changed = true;
                }
        }
        pthread_mutex_unlock(&feed->lock);
        if (changed && feed->options.changed)
                feed->options.changed(feed->options.userdata);
}

bool stock_feed_database_ok(struct stock_feed *feed)
{
        return atomic_load(&feed->database_ok);
}

void stock_feed_database_failed(struct stock_feed *feed)
{
        atomic_store(&feed->database_ok, false);
}

uint64_t stock_feed_version(struct stock_feed *feed)
{
        pthread_mutex_lock(&feed->lock);
        uint64_t version = feed->version;
        pthread_mutex_unlock(&feed->lock);
        return version;
}

bool stock_feed_get(struct stock_feed *feed, int64_t deal_id, int64_t *ret_stock_left)
{
        bool found = false;
        pthread_mutex_lock(&feed->lock);
        for (size_t i = 0; i < feed->n_entries; i++)
                if (feed->entries[i].deal_id == deal_id && feed->entries[i].stock_left >= 0) {
                        *ret_stock_left = feed->entries[i].stock_left;
                        found = true;
                        break;
                }
        pthread_mutex_unlock(&feed->lock);
        return found;
}

int stock_feed_snapshot_json(struct stock_feed *feed, uint64_t *ret_version, char **ret_json)
{
        char now[32];
        clock_format_rfc3339_ms(clock_realtime_ms(), now, sizeof(now));

        _cleanup_json_ json_t *deals = json_array();
        if (!deals)
                return -ENOMEM;
        pthread_mutex_lock(&feed->lock);
        uint64_t version = feed->version;
        for (size_t i = 0; i < feed->n_entries; i++) {
                const struct stock_entry *e = &feed->entries[i];
                if (e->stock_left < 0)
                        continue;
                json_array_append_new(
                        deals, json_pack("{s:I, s:I, s:I}", "id", (json_int_t)e->deal_id,
                                         "stock_left", (json_int_t)e->stock_left, "stock_total",
                                         (json_int_t)(e->stock_total < 0 ? 0 : e->stock_total)));
        }
        pthread_mutex_unlock(&feed->lock);

        _cleanup_json_ json_t *message =
                json_pack("{s:s, s:I, s:s, s:O}", "type", "stock", "version", (json_int_t)version,
                          "now", now, "deals", deals);
        if (!message)
                return -ENOMEM;
        char *text = json_dumps(message, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!text)
                return -ENOMEM;
        *ret_version = version;
        *ret_json = text;
        return 0;
}

int stock_feed_samples(struct stock_feed *feed, struct deal_stock_sample **ret_samples,
                       size_t *ret_count)
{
        pthread_mutex_lock(&feed->lock);
        size_t n = feed->n_entries;
        struct deal_stock_sample *samples = calloc(n ? n : 1, sizeof(*samples));
        size_t count = 0;
        if (samples)
                for (size_t i = 0; i < n; i++)
                        if (feed->entries[i].stock_left >= 0)
                                samples[count++] = (struct deal_stock_sample){
                                        .deal_id = feed->entries[i].deal_id,
                                        .stock_left = feed->entries[i].stock_left,
                                };
        pthread_mutex_unlock(&feed->lock);
        if (!samples)
                return -ENOMEM;
        *ret_samples = samples;
        *ret_count = count;
        return 0;
}

/*
 * One poll: read every deal and the featured products, fold the stock values
 * in and publish both as the new catalog.  Returns 0 or the store error.
 */
int stock_feed_reload(struct stock_feed *feed, struct store *store,
                      struct tripdeal_error *ret_error)
{
        int64_t started_ms = clock_monotonic_ms();
        struct deal *deals = NULL;
        size_t n = 0;
        struct product *products = NULL;
        size_t n_products = 0;
        int r = store_list_deals(store, &deals, &n, ret_error);
        if (r < 0)
                return r;
        r = store_list_products(store, true, &products, &n_products, ret_error);
        if (r < 0) {
                store_deals_free(deals, n);
                return r;
        }
        struct stock_catalog *catalog = calloc(1, sizeof(*catalog));
        if (!catalog) {
                store_deals_free(deals, n);
                store_products_free(products, n_products);
                return -ENOMEM;
        }
        *catalog = (struct stock_catalog){
                .loaded_ms = started_ms,
                .deals = deals,
                .n_deals = n,
                .products = products,
                .n_products = n_products,
        };
        atomic_init(&catalog->references, 1);

        bool changed = false;
        pthread_mutex_lock(&feed->lock);
        for (size_t i = 0; i < n; i++) {
                struct stock_entry *entry = entry_for(feed, deals[i].id);
                if (!entry)
                        break;
                /* A claim of ours landed after this read began: its value is newer. */
                if (entry->local_update_ms >= started_ms)
                        continue;
                if (entry->stock_left != deals[i].stock_left ||
                    entry->stock_total != deals[i].stock_total) {
                        entry->stock_left = deals[i].stock_left;
                        entry->stock_total = deals[i].stock_total;
                        changed = true;
                }
        }
        if (changed)
                feed->version++;
        /* Publish: handlers holding the old catalog keep it until they drop it. */
        struct stock_catalog *old = feed->catalog;
        catalog->generation = ++feed->catalog_generation;
        feed->catalog = catalog;
        pthread_mutex_unlock(&feed->lock);
        stock_catalog_unref(old);

        if (changed && feed->options.changed)
                feed->options.changed(feed->options.userdata);
        return 0;
}

static void *poller_main(void *userdata)
{
        struct stock_feed *feed = userdata;
        struct store *store = NULL;
        bool logged_down = false;

        for (;;) {
                struct tripdeal_error error = {.code = 0};
                int r = 0;
                if (!store)
                        r = store_open(&(struct store_options){.url = feed->options.database_url},
                                       &store, &error);
                if (r >= 0) {
                        r = stock_feed_reload(feed, store, &error);
                        /* One failure may be a dropped connection or a busy database:
                         * reconnect (store_ping does) and try once more before
                         * declaring the database down. */
                        if (r < 0 && store_ping(store, NULL) >= 0)
                                r = stock_feed_reload(feed, store, &error);
                }
                if (r < 0) {
                        if (!logged_down)
                                log_emit(LOG_LEVEL_ERROR,
                                         json_pack("{s:s, s:i}", "error",
                                                   tripdeal_error_message(&error), "errno", -r),
                                         "database unreachable from the stock poller");
                        logged_down = true;
                        atomic_store(&feed->database_ok, false);
                } else {
                        if (logged_down)
                                log_info("database reachable again");
                        logged_down = false;
                        atomic_store(&feed->database_ok, true);
                }

                pthread_mutex_lock(&feed->lock);
                if (!feed->first_poll_done) {
                        feed->first_poll_done = true;
                        pthread_cond_broadcast(&feed->first_poll);
                }
                struct timespec deadline;
                clock_gettime(CLOCK_MONOTONIC, &deadline);
                int64_t ns = deadline.tv_nsec + (int64_t)feed->options.poll_interval_ms * 1000000;
                deadline.tv_sec += ns / 1000000000;
                deadline.tv_nsec = ns % 1000000000;
                while (!feed->stopping &&
                       pthread_cond_timedwait(&feed->wake, &feed->lock, &deadline) == 0)
                        ;
                bool stop = feed->stopping;
                pthread_mutex_unlock(&feed->lock);
                if (stop)
                        break;
        }
        store_close(store);
        return NULL;
}

int stock_feed_start(struct stock_feed *feed)
{
        int r = pthread_create(&feed->thread, NULL, poller_main, feed);
        if (r != 0)
                return -r;
        atomic_store(&feed->thread_started, true);

        /* Pages are served from the catalog: wait (bounded; a database that
         * does not answer makes them 503 until a later poll succeeds) for the
         * first one before the server starts taking requests. */
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += 15;
        pthread_mutex_lock(&feed->lock);
        while (!feed->first_poll_done &&
               pthread_cond_timedwait(&feed->first_poll, &feed->lock, &deadline) == 0)
                ;
        pthread_mutex_unlock(&feed->lock);
        return 0;
}

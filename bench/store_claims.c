/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Claim throughput of the storage layer alone (no HTTP): N threads, each
 * with its own connection, claim one deal as fast as they can with distinct
 * users until every attempt is made.  Prints claims per second and checks
 * that nothing was oversold.
 *
 *   meson compile -C build bench-store-claims
 *   build/tests/app/store/bench-store-claims --db postgresql://... \
 *       [--threads 32] [--stock 20000] [--attempts 25000] [--unbatched]
 *
 * Not part of `meson test`.  Writes into the database it is given (one new
 * product and deal per run): point it at a scratch database.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store.h"

struct worker {
        const char *url;
        int64_t deal_id;
        int index;
        int attempts;
        time_t now;
        pthread_barrier_t *barrier;
        bool unbatched;
        int64_t ok, sold_out, other, errors;
};

static double seconds_now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *worker_main(void *userdata)
{
        struct worker *w = userdata;
        struct store *store = NULL;
        struct store_options options = {
                .url = w->url, .busy_timeout_ms = 60000, .unbatched_claims = w->unbatched};
        struct tripdeal_error error = {0};
        int r = store_open(&options, &store, &error);
        if (r < 0)
                fprintf(stderr, "worker %d: %s\n", w->index, error.message);
        pthread_barrier_wait(w->barrier);
        for (int i = 0; r == 0 && i < w->attempts; i++) {
                char user[64];
                snprintf(user, sizeof(user), "bench-%d-%d", w->index, i);
                enum claim_outcome outcome;
                int64_t left;
                if (store_claim(store, w->deal_id, user, w->now, &outcome, &left, NULL) < 0)
                        w->errors++;
                else if (outcome == CLAIM_OK)
                        w->ok++;
                else if (outcome == CLAIM_SOLD_OUT)
                        w->sold_out++;
                else
                        w->other++;
        }
        store_close(store);
        return NULL;
}

int main(int argc, char **argv)
{
        const char *url = NULL;
        int threads = 32;
        int64_t stock = 20000, attempts = 25000;
        bool unbatched = false;
        static const struct option long_options[] = {
                {"db", required_argument, NULL, 'd'},
                {"threads", required_argument, NULL, 't'},
                {"stock", required_argument, NULL, 's'},
                {"attempts", required_argument, NULL, 'a'},
                {"unbatched", no_argument, NULL, 'u'},
                {"help", no_argument, NULL, 'h'},
                {0},
        };
        int c;
        while ((c = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
                switch (c) {
                case 'd':
                        url = optarg;
                        break;
                case 't':
                        threads = atoi(optarg);
                        break;
                case 's':
                        stock = atoll(optarg);
                        break;
                case 'a':
                        attempts = atoll(optarg);
                        break;
                case 'u':
                        unbatched = true;
                        break;
                default:
                        fprintf(stderr,
                                "usage: %s --db URL [--threads N] [--stock N] "
                                "[--attempts N] [--unbatched]\n",
                                argv[0]);
                        return c == 'h' ? 0 : 2;
                }
        }
        if (!url || threads < 1 || threads > 1000 || stock < 0 || attempts < threads) {
                fprintf(stderr, "%s: need --db URL, 1..1000 threads, attempts >= threads\n",
                        argv[0]);
                return 2;
        }

        struct store *store = NULL;
        struct store_options options = {.url = url};
        struct tripdeal_error error = {0};
        if (store_open(&options, &store, &error) < 0 || store_migrate(store, &error) < 0) {
                fprintf(stderr, "%s: %s\n", argv[0], tripdeal_error_message(&error));
                store_close(store);
                return 1;
        }
        time_t now = time(NULL);
        int64_t product_id = 0, deal_id = 0;
        struct new_product product = {.title = "벤치마크 Benchmark", .price = 1};
        struct new_deal deal = {.title = "벤치마크 딜 Benchmark deal",
                                .price = 1,
                                .list_price = 2,
                                .stock_total = stock,
                                .starts_at = now - 3600,
                                .ends_at = now + 3600};
        if (store_create_product(store, &product, &product_id, &error) < 0 ||
            (deal.product_id = product_id, store_create_deal(store, &deal, &deal_id, &error)) < 0) {
                fprintf(stderr, "%s: %s\n", argv[0], tripdeal_error_message(&error));
                store_close(store);
                return 1;
        }

        struct worker *workers = calloc((size_t)threads, sizeof(*workers));
        pthread_t *ids = calloc((size_t)threads, sizeof(*ids));
        pthread_barrier_t barrier;
        pthread_barrier_init(&barrier, NULL, (unsigned)threads + 1);
        for (int i = 0; i < threads; i++) {
                workers[i] = (struct worker){
                        .url = url,
                        .deal_id = deal_id,
                        .index = i,
                        .attempts = (int)(attempts / threads + (i < attempts % threads)),
                        .now = now,
                        .barrier = &barrier,
                        .unbatched = unbatched,
                };
                pthread_create(&ids[i], NULL, worker_main, &workers[i]);
        }
        pthread_barrier_wait(&barrier);
        double start = seconds_now();
        int64_t ok = 0, sold_out = 0, other = 0, errors = 0;
        for (int i = 0; i < threads; i++) {
                pthread_join(ids[i], NULL);
                ok += workers[i].ok;
                sold_out += workers[i].sold_out;
                other += workers[i].other;
                errors += workers[i].errors;
        }
        double elapsed = seconds_now() - start;

        struct deal after = {0};
        int64_t claims = 0;
        int status = 0;
        if (store_get_deal(store, deal_id, &after, &error) < 0 ||
            store_count_claims(store, deal_id, &claims, &error) < 0) {
                fprintf(stderr, "%s: %s\n", argv[0], tripdeal_error_message(&error));
                status = 1;
        }
        bool oversold = after.stock_left < 0 || after.stock_left + claims != stock || ok != claims;
        printf("backend=%s threads=%d%s stock=%lld attempts=%lld seconds=%.3f\n",
               store_backend_name(store), threads, unbatched ? " unbatched" : "", (long long)stock,
               (long long)attempts, elapsed);
        printf("ok=%lld sold_out=%lld other=%lld errors=%lld stock_left=%lld claims_rows=%lld\n",
               (long long)ok, (long long)sold_out, (long long)other, (long long)errors,
               (long long)after.stock_left, (long long)claims);
        printf("claims_per_second=%.0f attempts_per_second=%.0f oversold=%s\n",
               elapsed > 0 ? (double)ok / elapsed : 0.0,
               elapsed > 0 ? (double)(ok + sold_out + other) / elapsed : 0.0,
               oversold ? "YES" : "no");
        store_deal_clear(&after);
        pthread_barrier_destroy(&barrier);
        free(workers);
        free(ids);
        store_close(store);
        return status != 0 || oversold || errors > 0 ? 1 : 0;
}

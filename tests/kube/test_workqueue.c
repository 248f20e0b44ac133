/* SPDX-License-Identifier: Apache-2.0 */
/* Work queue: dedup, re-add while processing, backoff, delayed adds, shutdown, threads. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"
#include "kube-workqueue.h"
#include "kube.h"

static struct kube_workqueue *new_queue(int64_t base, int64_t max)
{
        struct kube_workqueue *q = NULL;
        assert_int_equal(kube_workqueue_new(&(struct kube_workqueue_options){.base_delay_ms = base,
                                                                             .max_delay_ms = max},
                                            &q),
                         0);
        return q;
}

static char *get_now(struct kube_workqueue *q)
{
        char *key = NULL;
        assert_int_equal(kube_workqueue_get(q, 0, &key), 0);
        return key;
}

static void test_dedup_and_fifo(void **state)
{
        struct kube_workqueue *q = new_queue(0, 0);
        assert_int_equal(kube_workqueue_add(q, "ns/a"), 0);
        assert_int_equal(kube_workqueue_add(q, "ns/b"), 0);
        assert_int_equal(kube_workqueue_add(q, "ns/a"), 0); /* merged */
        assert_int_equal(kube_workqueue_depth(q), 2);
        char *a = get_now(q), *b = get_now(q);
        assert_string_equal(a, "ns/a");
        assert_string_equal(b, "ns/b");
        char *none = NULL;
        assert_int_equal(kube_workqueue_get(q, 0, &none), -ETIMEDOUT);
        assert_null(none);
        kube_workqueue_done(q, a);
        kube_workqueue_done(q, b);
        free(a);
        free(b);
        assert_int_equal(kube_workqueue_depth(q), 0);
        kube_workqueue_free(q);
}

static void test_readd_while_processing(void **state)
{
        struct kube_workqueue *q = new_queue(0, 0);
        kube_workqueue_add(q, "k");
        char *k = get_now(q);
        /* Re-added twice while processing: not handed out to anyone else... */
        kube_workqueue_add(q, "k");
        kube_workqueue_add(q, "k");
        assert_int_equal(kube_workqueue_depth(q), 0);
        char *other = NULL;
        assert_int_equal(kube_workqueue_get(q, 0, &other), -ETIMEDOUT);
        /* ...but queued exactly once after done. */
        kube_workqueue_done(q, k);
        free(k);
        assert_int_equal(kube_workqueue_depth(q), 1);
        k = get_now(q);
        assert_string_equal(k, "k");
        kube_workqueue_done(q, k);
        free(k);
        assert_int_equal(kube_workqueue_get(q, 0, &other), -ETIMEDOUT);
        kube_workqueue_free(q);
}

static void test_rate_limited_backoff(void **state)
{
        struct kube_workqueue *q = new_queue(20, 160);
        int64_t expected[] = {20, 40, 80, 160, 160};
        for (size_t i = 0; i < 5; i++) {
                int64_t start = clock_monotonic_ms();
                assert_int_equal(kube_workqueue_add_rate_limited(q, "k"), 0);
                assert_int_equal(kube_workqueue_num_requeues(q, "k"), i + 1);
                char *k = NULL;
                assert_int_equal(kube_workqueue_get(q, 5000, &k), 0);
                int64_t waited = clock_monotonic_ms() - start;
                assert_true(waited >= expected[i] - 1);
                assert_true(waited < expected[i] + 500);
                kube_workqueue_done(q, k);
                free(k);
        }
        kube_workqueue_forget(q, "k");
        assert_int_equal(kube_workqueue_num_requeues(q, "k"), 0);
        int64_t start = clock_monotonic_ms();
        kube_workqueue_add_rate_limited(q, "k");
        char *k = NULL;
        assert_int_equal(kube_workqueue_get(q, 5000, &k), 0);
        assert_true(clock_monotonic_ms() - start < 20 + 500);
        kube_workqueue_done(q, k);
        free(k);
        kube_workqueue_free(q);

        /* Defaults: 5 ms base, capped at 1000 s. */
        q = new_queue(0, 0);
        for (int i = 0; i < 30; i++)
                kube_workqueue_add_rate_limited(q, "x");
        assert_int_equal(kube_workqueue_delayed(q), 1);
        kube_workqueue_free(q);
}

static void test_delayed_add(void **state)
{
        struct kube_workqueue *q = new_queue(0, 0);
        int64_t start = clock_monotonic_ms();
        assert_int_equal(kube_workqueue_add_after(q, "later", 300), 0);
        assert_int_equal(kube_workqueue_add_after(q, "soon", 100), 0);
        /* A second delayed add of the same key keeps the earliest time. */
        assert_int_equal(kube_workqueue_add_after(q, "later", 1000), 0);
        assert_int_equal(kube_workqueue_delayed(q), 2);
        assert_int_equal(kube_workqueue_depth(q), 0);
        char *k = NULL;
        assert_int_equal(kube_workqueue_get(q, 5000, &k), 0);
        assert_string_equal(k, "soon");
        assert_true(clock_monotonic_ms() - start >= 100);
        kube_workqueue_done(q, k);
        free(k);
        assert_int_equal(kube_workqueue_get(q, 5000, &k), 0);
        assert_string_equal(k, "later");
        int64_t waited = clock_monotonic_ms() - start;
        assert_true(waited >= 300);
        assert_true(waited < 900);
        kube_workqueue_done(q, k);
        free(k);

        /* add_at: an instant on the wall clock, hit within a few ms. */
        int64_t target = clock_realtime_ms() + 150;
        assert_int_equal(kube_workqueue_add_at(q, "boundary", target), 0);
        assert_int_equal(kube_workqueue_get(q, 5000, &k), 0);
        int64_t late = clock_realtime_ms() - target;
        assert_true(late >= 0);
        assert_true(late < 100);
        kube_workqueue_done(q, k);
        free(k);

        /* A delay in the past is an immediate add. */
        assert_int_equal(kube_workqueue_add_at(q, "past", clock_realtime_ms() - 1000), 0);
        assert_int_equal(kube_workqueue_depth(q), 1);
        kube_workqueue_free(q);
}

struct blocked_get {
        struct kube_workqueue *q;
        int result;
        char *key;
};

static void *blocked_get_thread(void *userdata)
{
        struct blocked_get *b = userdata;
        b->result = kube_workqueue_get(b->q, -1, &b->key);
        return NULL;
}

static void test_shutdown(void **state)
{
        struct kube_workqueue *q = new_queue(0, 0);
        /* A worker blocked in get() wakes on shutdown. */
        struct blocked_get b = {.q = q};
        pthread_t t;
        pthread_create(&t, NULL, blocked_get_thread, &b);
        kube_workqueue_add_after(q, "dropped", 60000);
        kube_workqueue_shutdown(q);
        pthread_join(t, NULL);
        assert_int_equal(b.result, KUBE_ERR_SHUTDOWN);
        assert_null(b.key);
        assert_int_equal(kube_workqueue_add(q, "x"), KUBE_ERR_SHUTDOWN);
        kube_workqueue_free(q);

        /* Queued keys are drained before get() reports shutdown. */
        q = new_queue(0, 0);
        kube_workqueue_add(q, "a");
        kube_workqueue_add(q, "b");
        kube_workqueue_shutdown(q);
        char *k = NULL;
        assert_int_equal(kube_workqueue_get(q, -1, &k), 0);
        kube_workqueue_done(q, k);
        free(k);
        assert_int_equal(kube_workqueue_get(q, -1, &k), 0);
        kube_workqueue_done(q, k);
        free(k);
        k = NULL;
        assert_int_equal(kube_workqueue_get(q, -1, &k), KUBE_ERR_SHUTDOWN);
        kube_workqueue_free(q);
        kube_workqueue_free(NULL);
}

/* ---- concurrency ---- */

#define KEYS      40
#define PRODUCERS 4
#define WORKERS   4
#define ADDS      2000

struct shared {
        struct kube_workqueue *q;
        atomic_int in_flight[KEYS];
        atomic_int processed[KEYS];
        atomic_int last_add_seen[KEYS]; /* generation processed after */
        atomic_int generation[KEYS];
        atomic_bool overlap;
};

static int key_index(const char *key)
{
        return atoi(key + 4);
}

static void *producer(void *userdata)
{
        struct shared *s = userdata;
        unsigned seed = (unsigned)(uintptr_t)pthread_self();
        for (int i = 0; i < ADDS; i++) {
                int k = (int)(rand_r(&seed) % KEYS);
                char key[16];
                snprintf(key, sizeof(key), "key-%d", k);
                atomic_fetch_add(&s->generation[k], 1);
                kube_workqueue_add(s->q, key);
        }
        return NULL;
}

static void *worker(void *userdata)
{
        struct shared *s = userdata;
        for (;;) {
                char *key = NULL;
                int r = kube_workqueue_get(s->q, -1, &key);
                if (r == KUBE_ERR_SHUTDOWN)
                        break;
                assert_int_equal(r, 0);
                int k = key_index(key);
                int gen = atomic_load(&s->generation[k]);
                if (atomic_fetch_add(&s->in_flight[k], 1) != 0)
                        atomic_store(&s->overlap, true);
                atomic_fetch_add(&s->processed[k], 1);
                atomic_store(&s->last_add_seen[k], gen);
                atomic_fetch_sub(&s->in_flight[k], 1);
                kube_workqueue_done(s->q, key);
                free(key);
        }
        return NULL;
}

static void test_concurrency(void **state)
{
        static struct shared s;
        memset(&s, 0, sizeof(s));
        s.q = new_queue(0, 0);
        pthread_t producers[PRODUCERS], workers[WORKERS];
        for (int i = 0; i < WORKERS; i++)
                pthread_create(&workers[i], NULL, worker, &s);
        for (int i = 0; i < PRODUCERS; i++)
                pthread_create(&producers[i], NULL, producer, &s);
        for (int i = 0; i < PRODUCERS; i++)
                pthread_join(producers[i], NULL);
        /* Wait (bounded) until every key's last add has been processed. */
        int64_t deadline = clock_monotonic_ms() + 10000;
        bool done = false;
        while (!done && clock_monotonic_ms() < deadline) {
                done = kube_workqueue_depth(s.q) == 0;
                for (int k = 0; done && k < KEYS; k++)
                        if (atomic_load(&s.generation[k]) > 0 &&
                            atomic_load(&s.last_add_seen[k]) != atomic_load(&s.generation[k]))
                                done = false;
                if (!done) {
                        struct timespec ts = {0, 1000000};
                        nanosleep(&ts, NULL);
                }
        }
        kube_workqueue_shutdown(s.q);
        for (int i = 0; i < WORKERS; i++)
                pthread_join(workers[i], NULL);
        assert_true(done);
        assert_false(atomic_load(&s.overlap)); /* never two workers on one key */
        int total = 0;
        for (int k = 0; k < KEYS; k++)
                total += atomic_load(&s.processed[k]);
        /* Deduplication merged many of the 8000 adds. */
        assert_true(total <= PRODUCERS * ADDS);
        assert_true(total >= KEYS / 2);
        kube_workqueue_free(s.q);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_dedup_and_fifo),
                cmocka_unit_test(test_readd_while_processing),
                cmocka_unit_test(test_rate_limited_backoff),
                cmocka_unit_test(test_delayed_add),
                cmocka_unit_test(test_shutdown),
                cmocka_unit_test(test_concurrency),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

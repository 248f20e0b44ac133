/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kube-private.h"
#include "kube-workqueue.h"
#include "macros.h"

struct delayed_key {
        char *key;
        int64_t at_us; /* CLOCK_MONOTONIC, microseconds */
};

struct kube_workqueue {
        pthread_mutex_t lock;
        pthread_cond_t cond; /* on CLOCK_MONOTONIC */
        int64_t base_delay_ms;
        int64_t max_delay_ms;
        /* Ready keys in FIFO order: ring of strdup'ed keys. */
        char **ready;
        size_t ready_head, ready_count, ready_capacity;
        /* Sets as jansson objects (hash tables keyed by string). */
        json_t *dirty;      /* keys that need processing (queued or re-added while processing) */
        json_t *processing; /* keys a worker holds */
        json_t *failures;   /* key -> integer */
        /* Delayed keys, unordered; one entry per key (the earliest time). */
        struct delayed_key *delayed;
        size_t delayed_count, delayed_capacity;
        bool shutting_down;
};

/* Microseconds: timers aimed at an instant must not fire even 1 ms early. */
static int64_t now_us(clockid_t id)
{
        struct timespec ts;
        clock_gettime(id, &ts);
        return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int kube_workqueue_new(const struct kube_workqueue_options *options,
                       struct kube_workqueue **ret_queue)
{
        struct kube_workqueue *q = calloc(1, sizeof(*q));
        if (!q)
                return -ENOMEM;
        q->base_delay_ms = options && options->base_delay_ms > 0 ? options->base_delay_ms : 5;
        q->max_delay_ms = options && options->max_delay_ms > 0 ? options->max_delay_ms : 1000000;
        q->dirty = json_object();
        q->processing = json_object();
        q->failures = json_object();
        pthread_condattr_t attr;
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&q->cond, &attr);
        pthread_condattr_destroy(&attr);
        pthread_mutex_init(&q->lock, NULL);
        if (!q->dirty || !q->processing || !q->failures) {
                kube_workqueue_free(q);
                return -ENOMEM;
        }
        *ret_queue = q;
        return 0;
}

void kube_workqueue_free(struct kube_workqueue *q)
{
        if (!q)
                return;
        for (size_t i = 0; i < q->ready_count; i++)
                free(q->ready[(q->ready_head + i) % q->ready_capacity]);
        free(q->ready);
        for (size_t i = 0; i < q->delayed_count; i++)
                free(q->delayed[i].key);
        free(q->delayed);
        json_decref(q->dirty);
        json_decref(q->processing);
        json_decref(q->failures);
        pthread_cond_destroy(&q->cond);
        pthread_mutex_destroy(&q->lock);
        free(q);
}

/* Locked. */
static int ready_push(struct kube_workqueue *q, const char *key)
{
        if (q->ready_count == q->ready_capacity) {
                size_t cap = q->ready_capacity ? q->ready_capacity * 2 : 64;
                char **n = malloc(cap * sizeof(char *));
                if (!n)
                        return -ENOMEM;
                for (size_t i = 0; i < q->ready_count; i++)
                        n[i] = q->ready[(q->ready_head + i) % q->ready_capacity];
                free(q->ready);
                q->ready = n;
                q->ready_head = 0;
                q->ready_capacity = cap;
        }
        char *copy = strdup(key);
        if (!copy)
                return -ENOMEM;
        q->ready[(q->ready_head + q->ready_count) % q->ready_capacity] = copy;
        q->ready_count++;
        pthread_cond_signal(&q->cond);
        return 0;
}

/* Locked. */
static int add_locked(struct kube_workqueue *q, const char *key)
{
        if (json_object_get(q->dirty, key))
                return 0; /* already waiting: merged */
        if (json_object_set_new(q->dirty, key, json_true()) < 0)
                return -ENOMEM;
        /* Being processed: done() queues it again, so that no two workers
         * ever hold the same key. */
        if (json_object_get(q->processing, key))
                return 0;
        int r = ready_push(q, key);
        if (r < 0)
                json_object_del(q->dirty, key);
        return r;
}

int kube_workqueue_add(struct kube_workqueue *q, const char *key)
{
        if (!q || !key)
                return -EINVAL;
        pthread_mutex_lock(&q->lock);
        int r = q->shutting_down ? KUBE_ERR_SHUTDOWN : add_locked(q, key);
        pthread_mutex_unlock(&q->lock);
        return r;
}

static int add_at_monotonic_us(struct kube_workqueue *q, const char *key, int64_t at)
{
        int r = 0;
        pthread_mutex_lock(&q->lock);
        if (q->shutting_down) {
                r = KUBE_ERR_SHUTDOWN;
                goto out;
        }
        for (size_t i = 0; i < q->delayed_count; i++)
                if (strcmp(q->delayed[i].key, key) == 0) {
                        if (at < q->delayed[i].at_us) {
                                q->delayed[i].at_us = at;
                                pthread_cond_broadcast(&q->cond);
                        }
                        goto out;
                }
        if (q->delayed_count == q->delayed_capacity) {
                size_t cap = q->delayed_capacity ? q->delayed_capacity * 2 : 16;
                struct delayed_key *n = realloc(q->delayed, cap * sizeof(*n));
                if (!n) {
                        r = -ENOMEM;
                        goto out;
                }
                q->delayed = n;
                q->delayed_capacity = cap;
        }
        char *copy = strdup(key);
        if (!copy) {
                r = -ENOMEM;
                goto out;
        }
        q->delayed[q->delayed_count++] = (struct delayed_key){copy, at};
        /* Wake waiting workers so they shorten their sleep to this instant. */
        pthread_cond_broadcast(&q->cond);
out:
        pthread_mutex_unlock(&q->lock);
        return r;
}

int kube_workqueue_add_after(struct kube_workqueue *q, const char *key, int64_t delay_ms)
{
        if (!q || !key)
                return -EINVAL;
        if (delay_ms <= 0)
                return kube_workqueue_add(q, key);
        return add_at_monotonic_us(q, key, now_us(CLOCK_MONOTONIC) + delay_ms * 1000);
}

int kube_workqueue_add_at(struct kube_workqueue *q, const char *key, int64_t realtime_ms)
{
        if (!q || !key)
                return -EINVAL;
        int64_t delay_us = realtime_ms * 1000 - now_us(CLOCK_REALTIME);
        if (delay_us <= 0)
                return kube_workqueue_add(q, key);
        return add_at_monotonic_us(q, key, now_us(CLOCK_MONOTONIC) + delay_us);
}

int kube_workqueue_add_rate_limited(struct kube_workqueue *q, const char *key)
{
        if (!q || !key)
                return -EINVAL;
        pthread_mutex_lock(&q->lock);
        json_int_t failures = json_integer_value(json_object_get(q->failures, key));
        json_object_set_new(q->failures, key, json_integer(failures + 1));
        pthread_mutex_unlock(&q->lock);
        int64_t delay = q->base_delay_ms;
        for (json_int_t i = 0; i < failures && delay < q->max_delay_ms; i++)
                delay *= 2;
        if (delay > q->max_delay_ms)
                delay = q->max_delay_ms;
        return kube_workqueue_add_after(q, key, delay);
}

void kube_workqueue_forget(struct kube_workqueue *q, const char *key)
{
        if (!q || !key)
                return;
        pthread_mutex_lock(&q->lock);
        json_object_del(q->failures, key);
        pthread_mutex_unlock(&q->lock);
}

unsigned kube_workqueue_num_requeues(struct kube_workqueue *q, const char *key)
{
        if (!q || !key)
                return 0;
        pthread_mutex_lock(&q->lock);
        unsigned n = (unsigned)json_integer_value(json_object_get(q->failures, key));
        pthread_mutex_unlock(&q->lock);
        return n;
}

/* Locked.  Move due delayed keys to the ready queue; return the earliest
 * remaining instant (INT64_MAX if none). */
static int64_t promote_delayed(struct kube_workqueue *q, int64_t now)
{
        int64_t next = INT64_MAX;
        for (size_t i = 0; i < q->delayed_count;) {
                if (q->delayed[i].at_us <= now) {
                        (void)add_locked(q, q->delayed[i].key);
                        free(q->delayed[i].key);
                        q->delayed[i] = q->delayed[--q->delayed_count];
                        continue;
                }
                if (q->delayed[i].at_us < next)
                        next = q->delayed[i].at_us;
                i++;
        }
        return next;
}

static void timespec_from_us(int64_t us, struct timespec *ts)
{
        ts->tv_sec = (time_t)(us / 1000000);
        ts->tv_nsec = (long)(us % 1000000) * 1000L;
}

int kube_workqueue_get(struct kube_workqueue *q, int64_t timeout_ms, char **ret_key)
{
        if (!q || !ret_key)
                return -EINVAL;
        int64_t deadline = timeout_ms < 0 ? INT64_MAX : now_us(CLOCK_MONOTONIC) + timeout_ms * 1000;
        int r = 0;
        pthread_mutex_lock(&q->lock);
        for (;;) {
                int64_t now = now_us(CLOCK_MONOTONIC);
                int64_t next = q->shutting_down ? INT64_MAX : promote_delayed(q, now);
                if (q->ready_count > 0)
                        break;
                if (q->shutting_down) {
                        r = KUBE_ERR_SHUTDOWN;
                        goto out;
                }
                if (now >= deadline) {
                        r = -ETIMEDOUT;
                        goto out;
                }
                int64_t wake = next < deadline ? next : deadline;
                if (wake == INT64_MAX) {
                        pthread_cond_wait(&q->cond, &q->lock);
                } else {
                        struct timespec ts;
                        timespec_from_us(wake, &ts);
                        pthread_cond_timedwait(&q->cond, &q->lock, &ts);
                }
        }
        char *key = q->ready[q->ready_head];
        q->ready_head = (q->ready_head + 1) % q->ready_capacity;
        q->ready_count--;
        if (json_object_set_new(q->processing, key, json_true()) < 0) {
                free(key);
                r = -ENOMEM;
                goto out;
        }
        json_object_del(q->dirty, key);
        *ret_key = key;
out:
        pthread_mutex_unlock(&q->lock);
        return r;
}

void kube_workqueue_done(struct kube_workqueue *q, const char *key)
{
        if (!q || !key)
                return;
        pthread_mutex_lock(&q->lock);
        json_object_del(q->processing, key);
        /* Re-added while it was processed: hand it out again now. */
        if (json_object_get(q->dirty, key) && ready_push(q, key) < 0)
                json_object_del(q->dirty, key);
        pthread_mutex_unlock(&q->lock);
}

void kube_workqueue_shutdown(struct kube_workqueue *q)
{
        if (!q)
                return;
        pthread_mutex_lock(&q->lock);
        q->shutting_down = true;
        pthread_cond_broadcast(&q->cond);
        pthread_mutex_unlock(&q->lock);
}

size_t kube_workqueue_depth(struct kube_workqueue *q)
{
        if (!q)
                return 0;
        pthread_mutex_lock(&q->lock);
        size_t n = q->ready_count;
        pthread_mutex_unlock(&q->lock);
        return n;
}

size_t kube_workqueue_delayed(struct kube_workqueue *q)
{
        if (!q)
                return 0;
        pthread_mutex_lock(&q->lock);
        size_t n = q->delayed_count;
        pthread_mutex_unlock(&q->lock);
        return n;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A work queue of string keys (usually "namespace/name") for controllers, in
 * the manner of client-go's rate-limited work queue:
 *
 *  - Deduplicating: a key added while it waits in the queue is merged with
 *    the waiting one.  A key added while a worker processes it is not handed
 *    to a second worker; it is queued again once the first calls done().
 *  - Per-key exponential backoff: add_rate_limited() waits base * 2^failures
 *    (capped at max) before the key comes back; forget() resets the count
 *    after a success.
 *  - Delayed adds: add_after() and add_at() for timers aimed at an instant
 *    (e.g. the next sale window boundary).  A key with several pending
 *    delayed adds fires once, at the earliest.
 *  - shutdown(): no more adds; get() drains what is queued, then returns
 *    KUBE_ERR_SHUTDOWN.  Delayed keys are dropped.
 *
 * Thread-safe: any number of producers and workers.
 * Ownership: keys passed in are copied; get() hands out a malloc'ed copy the
 * worker must free() after calling done().
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct kube_workqueue;

struct kube_workqueue_options {
        int64_t base_delay_ms; /* 0: 5 ms */
        int64_t max_delay_ms;  /* 0: 1000 s */
};

int kube_workqueue_new(const struct kube_workqueue_options *options,
                       struct kube_workqueue **ret_queue);
/* Accepts NULL.  No thread may be inside get() (call shutdown and join first). */
void kube_workqueue_free(struct kube_workqueue *queue);

/* 0, -ENOMEM, or KUBE_ERR_SHUTDOWN after shutdown. */
int kube_workqueue_add(struct kube_workqueue *queue, const char *key);
/* Add after delay_ms (<= 0: now). */
int kube_workqueue_add_after(struct kube_workqueue *queue, const char *key, int64_t delay_ms);
/* Add at an instant on the realtime clock (ms since the epoch). */
int kube_workqueue_add_at(struct kube_workqueue *queue, const char *key, int64_t realtime_ms);
/* Add after this key's backoff delay; each call doubles the next one. */
int kube_workqueue_add_rate_limited(struct kube_workqueue *queue, const char *key);
/* The key succeeded: reset its backoff. */
void kube_workqueue_forget(struct kube_workqueue *queue, const char *key);
/* How many rate-limited adds since the last forget. */
unsigned kube_workqueue_num_requeues(struct kube_workqueue *queue, const char *key);

/*
 * Block until a key is ready (or timeout_ms passes; < 0 waits forever).
 * 0 with *ret_key (caller frees), -ETIMEDOUT, or KUBE_ERR_SHUTDOWN once shut
 * down and drained.
 */
int kube_workqueue_get(struct kube_workqueue *queue, int64_t timeout_ms, char **ret_key);
/* The worker finished with key (whatever the outcome). */
void kube_workqueue_done(struct kube_workqueue *queue, const char *key);

void kube_workqueue_shutdown(struct kube_workqueue *queue);
/* Keys ready to be handed out now (not counting delayed or in-process ones). */
size_t kube_workqueue_depth(struct kube_workqueue *queue);
/* Keys waiting for a delayed add. */
size_t kube_workqueue_delayed(struct kube_workqueue *queue);

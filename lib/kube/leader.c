/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "kube-leader.h"
#include "kube-private.h"
#include "macros.h"

struct kube_leader_elector {
        struct kube_client *client;
        char *namespace;
        char *name;
        char *identity;
        int64_t lease_duration_ms;
        int64_t renew_deadline_ms;
        int64_t retry_period_ms;
        void (*on_started_leading)(void *userdata);
        void (*on_stopped_leading)(void *userdata);
        void (*on_new_leader)(const char *identity, void *userdata);
        void *userdata;

        pthread_t thread;
        bool started;
        pthread_mutex_t lock;
        pthread_cond_t cond; /* CLOCK_MONOTONIC */
        bool stopping;
        atomic_bool leader;

        /* What we last saw of the Lease and when (local monotonic clock). */
        char observed_resource_version[128];
        int64_t observed_at_ms;
        char last_leader[256];
};

int kube_leader_elector_new(struct kube_client *client, const struct kube_leader_options *options,
                            struct kube_leader_elector **ret_elector)
{
        if (!client || !options || !options->namespace || !options->name || !options->identity ||
            !options->identity[0] || !ret_elector)
                return -EINVAL;
        int64_t lease = options->lease_duration_ms > 0 ? options->lease_duration_ms : 15000;
        int64_t renew = options->renew_deadline_ms > 0 ? options->renew_deadline_ms : 10000;
        int64_t retry = options->retry_period_ms > 0 ? options->retry_period_ms : 2000;
        /* Same sanity rules as client-go: a leader must notice it failed to
         * renew before others may take over. */
        if (renew >= lease || retry >= renew || lease < 1000)
                return -EINVAL;
        struct kube_leader_elector *e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        e->client = client;
        e->namespace = strdup(options->namespace);
        e->name = strdup(options->name);
        e->identity = strdup(options->identity);
        e->lease_duration_ms = lease;
        e->renew_deadline_ms = renew;
        e->retry_period_ms = retry;
        e->on_started_leading = options->on_started_leading;
        e->on_stopped_leading = options->on_stopped_leading;
        e->on_new_leader = options->on_new_leader;
        e->userdata = options->userdata;
        pthread_mutex_init(&e->lock, NULL);
        pthread_condattr_t attr;
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&e->cond, &attr);
        pthread_condattr_destroy(&attr);
        if (!e->namespace || !e->name || !e->identity) {
                kube_leader_elector_free(e);
                return -ENOMEM;
        }
        *ret_elector = e;
        return 0;
}

void kube_leader_elector_free(struct kube_leader_elector *e)
{
        if (!e)
                return;
        kube_leader_elector_stop(e);
        free(e->namespace);
        free(e->name);
        free(e->identity);
        pthread_mutex_destroy(&e->lock);
        pthread_cond_destroy(&e->cond);
        free(e);
}

bool kube_leader_elector_is_leader(struct kube_leader_elector *e)
{
        return e && atomic_load(&e->leader);
}

static bool sleep_unless_stopped(struct kube_leader_elector *e, int64_t ms)
{
        int64_t deadline = clock_monotonic_ms() + ms;
        struct timespec ts = {.tv_sec = (time_t)(deadline / 1000),
                              .tv_nsec = (long)(deadline % 1000) * 1000000L};
        pthread_mutex_lock(&e->lock);
        while (!e->stopping && clock_monotonic_ms() < deadline)
                pthread_cond_timedwait(&e->cond, &e->lock, &ts);
        bool s = e->stopping;
        pthread_mutex_unlock(&e->lock);
        return s;
}

static bool is_stopping(struct kube_leader_elector *e)
{
        pthread_mutex_lock(&e->lock);
        bool s = e->stopping;
        pthread_mutex_unlock(&e->lock);
        return s;
}

/* Requests must end well within the renew deadline, or a hung call would
 * keep a stale leader believing it leads. */
static int64_t request_timeout(const struct kube_leader_elector *e)
{
        int64_t t = e->renew_deadline_ms / 2;
        return t < 500 ? 500 : t;
}

static int lease_request(struct kube_leader_elector *e, const char *method, bool named,
                         const json_t *body, json_t **ret)
{
        _cleanup_free_ char *path = NULL;
        int r = kube_build_path(&KUBE_LEASES, e->namespace, named ? e->name : NULL, NULL, &path);
        if (r < 0)
                return r;
        return kube_client_request(e->client,
                                   &(struct kube_request){.method = method,
                                                          .path = path,
                                                          .body = body,
                                                          .timeout_ms = request_timeout(e)},
                                   ret, NULL);
}

static void note_leader(struct kube_leader_elector *e, const char *holder)
{
        if (!holder || !holder[0] || strcmp(holder, e->last_leader) == 0)
                return;
        snprintf(e->last_leader, sizeof(e->last_leader), "%s", holder);
        if (e->on_new_leader)
                e->on_new_leader(holder, e->userdata);
}

static json_t *lease_spec(struct kube_leader_elector *e, const char *holder, int64_t duration_s,
                          const char *acquire_time, const char *renew_time, json_int_t transitions)
{
        return json_pack("{s:s, s:I, s:s, s:s, s:I}", "holderIdentity", holder,
                         "leaseDurationSeconds", (json_int_t)duration_s, "acquireTime",
                         acquire_time, "renewTime", renew_time, "leaseTransitions", transitions);
}

/* One attempt.  true when we hold the Lease afterwards. */
static bool try_acquire_or_renew(struct kube_leader_elector *e)
{
        char now[40];
        if (kube_format_micro_time(clock_realtime_ms(), now, sizeof(now)) < 0)
                return false;
        int64_t duration_s = (e->lease_duration_ms + 999) / 1000;
        _cleanup_json_ json_t *lease = NULL;
        int r = lease_request(e, "GET", true, NULL, &lease);
        if (r == KUBE_ERR_NOT_FOUND) {
                _cleanup_json_ json_t *fresh = json_pack(
                        "{s:s, s:s, s:{s:s, s:s}, s:o}", "apiVersion", "coordination.k8s.io/v1",
                        "kind", "Lease", "metadata", "name", e->name, "namespace", e->namespace,
                        "spec", lease_spec(e, e->identity, duration_s, now, now, 0));
                _cleanup_json_ json_t *created = NULL;
                if (!fresh || lease_request(e, "POST", false, fresh, &created) < 0)
                        return false;
                snprintf(e->observed_resource_version, sizeof(e->observed_resource_version), "%s",
                         kube_object_resource_version(created) ?: "");
                e->observed_at_ms = clock_monotonic_ms();
                note_leader(e, e->identity);
                return true;
        }
        if (r < 0)
                return false;

        const char *rv = kube_object_resource_version(lease);
        json_t *spec = json_object_get(lease, "spec");
        const char *holder = json_string_value(json_object_get(spec, "holderIdentity"));
        json_int_t held_for_s = json_integer_value(json_object_get(spec, "leaseDurationSeconds"));
        json_int_t transitions = json_integer_value(json_object_get(spec, "leaseTransitions"));
        const char *acquire_time = json_string_value(json_object_get(spec, "acquireTime"));
        if (rv && strcmp(rv, e->observed_resource_version) != 0) {
                snprintf(e->observed_resource_version, sizeof(e->observed_resource_version), "%s",
                         rv);
                e->observed_at_ms = clock_monotonic_ms();
        }
        bool ours = holder && strcmp(holder, e->identity) == 0;
        note_leader(e, holder);
        if (holder && holder[0] && !ours) {
                int64_t valid_ms = (held_for_s > 0 ? held_for_s * 1000 : e->lease_duration_ms);
                if (e->observed_at_ms + valid_ms > clock_monotonic_ms())
                        return false; /* held by someone else and not expired */
        }

        _cleanup_json_ json_t *update = json_deep_copy(lease);
        if (!update)
                return false;
        json_object_set_new(update, "spec",
                            lease_spec(e, e->identity, duration_s,
                                       ours && acquire_time ? acquire_time : now, now,
                                       ours ? transitions : transitions + 1));
        /* PUT with the resourceVersion we read: of two candidates racing for
         * an expired lease, one gets 409 Conflict. */
        _cleanup_json_ json_t *updated = NULL;
        if (lease_request(e, "PUT", true, update, &updated) < 0)
                return false;
        snprintf(e->observed_resource_version, sizeof(e->observed_resource_version), "%s",
                 kube_object_resource_version(updated) ?: "");
        e->observed_at_ms = clock_monotonic_ms();
        note_leader(e, e->identity);
        return true;
}

/* Give the Lease up so the next candidate need not wait for it to expire. */
static void release(struct kube_leader_elector *e)
{
        _cleanup_json_ json_t *lease = NULL;
        if (lease_request(e, "GET", true, NULL, &lease) < 0)
                return;
        json_t *spec = json_object_get(lease, "spec");
        const char *holder = json_string_value(json_object_get(spec, "holderIdentity"));
        if (!holder || strcmp(holder, e->identity) != 0)
                return;
        char now[40];
        if (kube_format_micro_time(clock_realtime_ms(), now, sizeof(now)) < 0)
                return;
        json_int_t transitions = json_integer_value(json_object_get(spec, "leaseTransitions"));
        json_object_set_new(lease, "spec", lease_spec(e, "", 1, now, now, transitions));
        _cleanup_json_ json_t *updated = NULL;
        (void)lease_request(e, "PUT", true, lease, &updated);
}

/* Retry period with up to 20% jitter, so candidates do not move in step. */
static int64_t jittered_retry(struct kube_leader_elector *e)
{
        int64_t extra = kube_backoff_ms(e->retry_period_ms / 5, e->retry_period_ms / 5, 0) -
                        e->retry_period_ms / 10;
        return e->retry_period_ms + (extra > 0 ? extra : 0);
}

static void *elector_thread(void *userdata)
{
        struct kube_leader_elector *e = userdata;
        while (!is_stopping(e)) {
                if (!try_acquire_or_renew(e)) {
                        if (sleep_unless_stopped(e, jittered_retry(e)))
                                break;
                        continue;
                }
                atomic_store(&e->leader, true);
                if (e->on_started_leading)
                        e->on_started_leading(e->userdata);
                int64_t last_renew = clock_monotonic_ms();
                bool lost = false;
                while (!sleep_unless_stopped(e, e->retry_period_ms)) {
                        if (try_acquire_or_renew(e)) {
                                last_renew = clock_monotonic_ms();
                                continue;
                        }
                        if (clock_monotonic_ms() - last_renew >= e->renew_deadline_ms) {
                                lost = true;
                                break;
                        }
                }
                atomic_store(&e->leader, false);
                if (!lost)
                        release(e);
                if (e->on_stopped_leading)
                        e->on_stopped_leading(e->userdata);
                e->last_leader[0] = '\0';
        }
        return NULL;
}

int kube_leader_elector_start(struct kube_leader_elector *e)
{
        if (!e)
                return -EINVAL;
        if (e->started)
                return -EALREADY;
        e->stopping = false;
        int r = pthread_create(&e->thread, NULL, elector_thread, e);
        if (r != 0)
                return -r;
        e->started = true;
        return 0;
}

void kube_leader_elector_stop(struct kube_leader_elector *e)
{
        if (!e || !e->started)
                return;
        pthread_mutex_lock(&e->lock);
        e->stopping = true;
        pthread_cond_broadcast(&e->cond);
        pthread_mutex_unlock(&e->lock);
        pthread_join(e->thread, NULL);
        e->started = false;
}

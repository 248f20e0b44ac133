/* SPDX-License-Identifier: Apache-2.0 */
#include "metrics.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "macros.h"
#include "prometheus.h"

/* Reconciles are API round trips: milliseconds to seconds. */
static const double duration_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                          0.1,   0.25,   0.5,   1,    2.5,   5};

static const char *const result_names[_RECONCILE_RESULT_MAX] = {
        [RECONCILE_RESULT_SUCCESS] = "success",
        [RECONCILE_RESULT_ERROR] = "error",
        [RECONCILE_RESULT_INVALID_SPEC] = "invalid_spec",
};

/* Creating a VM: a define and start, seconds to a minute (remote, TCG). */
static const double provision_buckets[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};

struct vm_series {
        char *namespace;
        char *name;
        char *pool;
        int64_t count;
};

static void vm_series_free(struct vm_series *series)
{
        free(series->namespace);
        free(series->name);
        free(series->pool);
}

static const char *const drill_verdicts[] = {"Passed", "Failed", "Aborted", "Refused", "Skipped"};
/* Drill recovery: seconds on fakekube, up to minutes for a node on a real cluster. */
static const double recovery_buckets[] = {0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600};

struct floor_series {
        char *namespace;
        char *name;
        int32_t floor;
        uint64_t changes;
        bool has_gauges;
        struct tripdeal_gauges gauges;
};

static struct {
        pthread_mutex_t lock;
        uint64_t reconciles[_RECONCILE_RESULT_MAX];
        uint64_t duration_counts[ARRAY_SIZE(duration_buckets)];
        uint64_t duration_count;
        double duration_sum;
        int64_t queue_depth;
        int leader;
        uint64_t drills[ARRAY_SIZE(drill_verdicts)];
        struct floor_series *floors;
        size_t floors_count;
        struct vm_series *vms;
        size_t vms_count;
        uint64_t provision_counts[ARRAY_SIZE(provision_buckets)];
        uint64_t recovery_counts[ARRAY_SIZE(recovery_buckets)];
        uint64_t recovery_count;
        double recovery_sum;
        uint64_t provision_count;
        double provision_sum;
} registry = {.lock = PTHREAD_MUTEX_INITIALIZER};

void metrics_reconcile_done(enum reconcile_result result, int64_t duration_us)
{
        if ((unsigned)result >= _RECONCILE_RESULT_MAX)
                return;
        double seconds = (double)duration_us / 1e6;
        pthread_mutex_lock(&registry.lock);
        registry.reconciles[result]++;
        for (size_t i = 0; i < ARRAY_SIZE(duration_buckets); i++)
                if (seconds <= duration_buckets[i])
                        registry.duration_counts[i]++;
        registry.duration_count++;
        registry.duration_sum += seconds;
        pthread_mutex_unlock(&registry.lock);
}

void metrics_set_queue_depth(int64_t depth)
{
        pthread_mutex_lock(&registry.lock);
        registry.queue_depth = depth;
        pthread_mutex_unlock(&registry.lock);
}

void metrics_set_leader(int is_leader)
{
        pthread_mutex_lock(&registry.lock);
        registry.leader = !!is_leader;
        pthread_mutex_unlock(&registry.lock);
}

static struct floor_series *floor_find(const char *namespace, const char *name)
{
        for (size_t i = 0; i < registry.floors_count; i++)
                if (strcmp(registry.floors[i].namespace, namespace) == 0 &&
                    strcmp(registry.floors[i].name, name) == 0)
                        return &registry.floors[i];
        return NULL;
}

/* The series of one TripDeal, created (floor 0) when missing; NULL when out of memory.
 * Called with the lock held. */
static struct floor_series *floor_find_or_add(const char *namespace, const char *name)
{
        struct floor_series *series = floor_find(namespace, name);
        if (series)
                return series;
        struct floor_series *grown =
                realloc(registry.floors, (registry.floors_count + 1) * sizeof(*registry.floors));
        if (!grown)
                return NULL;
        registry.floors = grown;
        char *ns_copy = strdup(namespace), *name_copy = strdup(name);
        if (!ns_copy || !name_copy) {
                /* Out of memory: lose one series, never the process. */
                free(ns_copy);
                free(name_copy);
                return NULL;
        }
        registry.floors[registry.floors_count] =
                (struct floor_series){.namespace = ns_copy, .name = name_copy};
        return &registry.floors[registry.floors_count++];
}

void metrics_set_floor(const char *namespace, const char *name, int32_t floor)
{
        pthread_mutex_lock(&registry.lock);
        bool known = floor_find(namespace, name) != NULL;
        struct floor_series *series = floor_find_or_add(namespace, name);
        if (series) {
                if (known && series->floor != floor)
                        series->changes++;
                series->floor = floor;
        }
        pthread_mutex_unlock(&registry.lock);
}

void metrics_set_tripdeal(const char *namespace, const char *name,
                          const struct tripdeal_gauges *gauges)
{
        pthread_mutex_lock(&registry.lock);
        struct floor_series *series = floor_find_or_add(namespace, name);
        if (series) {
                series->gauges = *gauges;
                series->has_gauges = true;
        }
        pthread_mutex_unlock(&registry.lock);
}

void metrics_forget(const char *namespace, const char *name)
{
        pthread_mutex_lock(&registry.lock);
        struct floor_series *series = floor_find(namespace, name);
        if (series) {
                free(series->namespace);
                free(series->name);
                *series = registry.floors[--registry.floors_count];
        }
        for (size_t i = 0; i < registry.vms_count;) {
                if (strcmp(registry.vms[i].namespace, namespace) == 0 &&
                    strcmp(registry.vms[i].name, name) == 0) {
                        vm_series_free(&registry.vms[i]);
                        registry.vms[i] = registry.vms[--registry.vms_count];
                } else {
                        i++;
                }
        }
        pthread_mutex_unlock(&registry.lock);
}

void metrics_set_vms(const char *namespace, const char *name, const char *pool, int64_t count)
{
        pthread_mutex_lock(&registry.lock);
        for (size_t i = 0; i < registry.vms_count; i++) {
                struct vm_series *s = &registry.vms[i];
                if (strcmp(s->namespace, namespace) == 0 && strcmp(s->name, name) == 0 &&
                    strcmp(s->pool, pool) == 0) {
                        s->count = count;
                        pthread_mutex_unlock(&registry.lock);
                        return;
                }
        }
        struct vm_series *grown =
                realloc(registry.vms, (registry.vms_count + 1) * sizeof(*registry.vms));
        struct vm_series series = {.namespace = strdup(namespace),
                                   .name = strdup(name),
                                   .pool = strdup(pool),
                                   .count = count};
        if (grown)
                registry.vms = grown;
        if (grown && series.namespace && series.name && series.pool)
                registry.vms[registry.vms_count++] = series;
        else
                vm_series_free(&series); /* out of memory: lose one series */
        pthread_mutex_unlock(&registry.lock);
}

void metrics_vm_provisioned(double seconds)
{
        pthread_mutex_lock(&registry.lock);
        for (size_t i = 0; i < ARRAY_SIZE(provision_buckets); i++)
                if (seconds <= provision_buckets[i])
                        registry.provision_counts[i]++;
        registry.provision_count++;
        registry.provision_sum += seconds;
        pthread_mutex_unlock(&registry.lock);
}

void metrics_drill_done(const char *verdict)
{
        pthread_mutex_lock(&registry.lock);
        for (size_t i = 0; i < ARRAY_SIZE(drill_verdicts); i++)
                if (verdict && strcmp(verdict, drill_verdicts[i]) == 0)
                        registry.drills[i]++;
        pthread_mutex_unlock(&registry.lock);
}

void metrics_drill_recovered(double seconds)
{
        pthread_mutex_lock(&registry.lock);
        for (size_t i = 0; i < ARRAY_SIZE(recovery_buckets); i++)
                if (seconds <= recovery_buckets[i])
                        registry.recovery_counts[i]++;
        registry.recovery_count++;
        registry.recovery_sum += seconds;
        pthread_mutex_unlock(&registry.lock);
}

static void write_floor_series(FILE *out, const char *metric, bool changes)
{
        for (size_t i = 0; i < registry.floors_count; i++) {
                fprintf(out, "%s{namespace=\"", metric);
                prometheus_write_label_value(out, registry.floors[i].namespace);
                fputs("\",name=\"", out);
                prometheus_write_label_value(out, registry.floors[i].name);
                fprintf(out, "\"} %llu\n",
                        changes ? (unsigned long long)registry.floors[i].changes
                                : (unsigned long long)registry.floors[i].floor);
        }
}

enum tripdeal_gauge {
        GAUGE_REPLICAS,
        GAUGE_READY_REPLICAS,
        GAUGE_MAX_REPLICAS,
        GAUGE_NODES_WANTED,
        GAUGE_NODES,
        GAUGE_NODES_READY,
        GAUGE_SALE_WINDOW_OPEN,
        GAUGE_SALE_RUNNING,
        GAUGE_NEXT_SALE_START,
        _GAUGE_MAX,
};

static const struct {
        const char *name;
        const char *help;
} gauge_info[_GAUGE_MAX] = {
        [GAUGE_REPLICAS] = {"tripdeal_operator_app_replicas",
                            "Replicas of the site's Deployment (status.replicas)."},
        [GAUGE_READY_REPLICAS] = {"tripdeal_operator_app_ready_replicas",
                                  "Ready replicas of the site's Deployment."},
        [GAUGE_MAX_REPLICAS] = {"tripdeal_operator_app_max_replicas",
                                "HPA ceiling (spec.app.replicas.max)."},
        [GAUGE_NODES_WANTED] = {"tripdeal_operator_nodes_wanted",
                                "KVM nodes the open sale windows ask for (prescale.nodes)."},
        [GAUGE_NODES] = {"tripdeal_operator_nodes", "KVM nodes in status.nodes."},
        [GAUGE_NODES_READY] = {"tripdeal_operator_nodes_ready", "KVM nodes whose Node is Ready."},
        [GAUGE_SALE_WINDOW_OPEN] = {"tripdeal_operator_sale_window_open",
                                    "1 from a sale's prescale start to its end + cooldown."},
        [GAUGE_SALE_RUNNING] = {"tripdeal_operator_sale_running",
                                "1 from a sale's start to its end."},
        [GAUGE_NEXT_SALE_START] = {"tripdeal_operator_next_sale_start_timestamp_seconds",
                                   "Unix time the next sale starts; 0 without sales."},
};

static int64_t gauge_value(const struct tripdeal_gauges *g, enum tripdeal_gauge which)
{
        switch (which) {
        case GAUGE_REPLICAS:
                return g->replicas;
        case GAUGE_READY_REPLICAS:
                return g->ready_replicas;
        case GAUGE_MAX_REPLICAS:
                return g->max_replicas;
        case GAUGE_NODES_WANTED:
                return g->nodes_wanted;
        case GAUGE_NODES:
                return g->nodes;
        case GAUGE_NODES_READY:
                return g->nodes_ready;
        case GAUGE_SALE_WINDOW_OPEN:
                return g->sale_window_open;
        case GAUGE_SALE_RUNNING:
                return g->sale_running;
        case GAUGE_NEXT_SALE_START:
                return g->next_sale_start_seconds;
        case _GAUGE_MAX:
                break;
        }
        return 0;
}

static void write_tripdeal_gauges(FILE *out)
{
        for (size_t which = 0; which < _GAUGE_MAX; which++) {
                fprintf(out, "# HELP %s %s\n# TYPE %s gauge\n", gauge_info[which].name,
                        gauge_info[which].help, gauge_info[which].name);
                for (size_t i = 0; i < registry.floors_count; i++) {
                        const struct floor_series *s = &registry.floors[i];
                        if (!s->has_gauges)
                                continue;
                        fprintf(out, "%s{namespace=\"", gauge_info[which].name);
                        prometheus_write_label_value(out, s->namespace);
                        fputs("\",name=\"", out);
                        prometheus_write_label_value(out, s->name);
                        fprintf(out, "\"} %lld\n",
                                (long long)gauge_value(&s->gauges, (enum tripdeal_gauge)which));
                }
        }
}

/* One histogram in the text format: HELP, TYPE, cumulative buckets, +Inf, sum, count. */
static void write_histogram(FILE *out, const char *name, const char *help, const double *bounds,
                            const uint64_t *counts, size_t n_buckets, uint64_t count, double sum)
{
        fprintf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
        for (size_t i = 0; i < n_buckets; i++)
                fprintf(out, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i],
                        (unsigned long long)counts[i]);
        fprintf(out, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name,
                (unsigned long long)count, name, sum, name, (unsigned long long)count);
}

int metrics_write(FILE *out)
{
        pthread_mutex_lock(&registry.lock);
        fputs("# HELP tripdeal_operator_reconcile_total Reconciles of TripDeals by result.\n"
              "# TYPE tripdeal_operator_reconcile_total counter\n",
              out);
        for (size_t i = 0; i < _RECONCILE_RESULT_MAX; i++)
                fprintf(out, "tripdeal_operator_reconcile_total{result=\"%s\"} %llu\n",
                        result_names[i], (unsigned long long)registry.reconciles[i]);

        write_histogram(out, "tripdeal_operator_reconcile_duration_seconds",
                        "Time one reconcile took.", duration_buckets, registry.duration_counts,
                        ARRAY_SIZE(duration_buckets), registry.duration_count,
                        registry.duration_sum);

        fprintf(out,
                "# HELP tripdeal_operator_workqueue_depth TripDeals waiting to be reconciled.\n"
                "# TYPE tripdeal_operator_workqueue_depth gauge\n"
                "tripdeal_operator_workqueue_depth %lld\n"
                "# HELP tripdeal_operator_is_leader 1 while this replica holds the lease.\n"
                "# TYPE tripdeal_operator_is_leader gauge\n"
                "tripdeal_operator_is_leader %d\n",
                (long long)registry.queue_depth, registry.leader);

        fputs("# HELP tripdeal_operator_floor_replicas HPA minReplicas the operator set.\n"
              "# TYPE tripdeal_operator_floor_replicas gauge\n",
              out);
        write_floor_series(out, "tripdeal_operator_floor_replicas", false);
        fputs("# HELP tripdeal_operator_floor_changes_total Times the HPA floor changed.\n"
              "# TYPE tripdeal_operator_floor_changes_total counter\n",
              out);
        write_floor_series(out, "tripdeal_operator_floor_changes_total", true);
        write_tripdeal_gauges(out);

        fputs("# HELP tripdeal_operator_drills_total Chaos drills by verdict.\n"
              "# TYPE tripdeal_operator_drills_total counter\n",
              out);
        for (size_t i = 0; i < ARRAY_SIZE(drill_verdicts); i++)
                fprintf(out, "tripdeal_operator_drills_total{verdict=\"%s\"} %llu\n",
                        drill_verdicts[i], (unsigned long long)registry.drills[i]);

        fputs("# HELP tripdeal_operator_vms KVM node VMs per node pool.\n"
              "# TYPE tripdeal_operator_vms gauge\n",
              out);
        for (size_t i = 0; i < registry.vms_count; i++) {
                fputs("tripdeal_operator_vms{namespace=\"", out);
                prometheus_write_label_value(out, registry.vms[i].namespace);
                fputs("\",name=\"", out);
                prometheus_write_label_value(out, registry.vms[i].name);
                fputs("\",pool=\"", out);
                prometheus_write_label_value(out, registry.vms[i].pool);
                fprintf(out, "\"} %lld\n", (long long)registry.vms[i].count);
        }
        write_histogram(out, "tripdeal_operator_vm_provision_seconds",
                        "Time to create and start one VM.", provision_buckets,
                        registry.provision_counts, ARRAY_SIZE(provision_buckets),
                        registry.provision_count, registry.provision_sum);
        write_histogram(out, "tripdeal_operator_drill_recovery_seconds",
                        "Time from a drill's injection to the site's recovery.", recovery_buckets,
                        registry.recovery_counts, ARRAY_SIZE(recovery_buckets),
                        registry.recovery_count, registry.recovery_sum);
        pthread_mutex_unlock(&registry.lock);
        return ferror(out) ? -EIO : 0;
}

void metrics_reset(void)
{
        pthread_mutex_lock(&registry.lock);
        for (size_t i = 0; i < registry.floors_count; i++) {
                free(registry.floors[i].namespace);
                free(registry.floors[i].name);
        }
        free(registry.floors);
        registry.floors = NULL;
        registry.floors_count = 0;
        for (size_t i = 0; i < registry.vms_count; i++)
                vm_series_free(&registry.vms[i]);
        free(registry.vms);
        registry.vms = NULL;
        registry.vms_count = 0;
        memset(registry.provision_counts, 0, sizeof(registry.provision_counts));
        registry.provision_count = 0;
        registry.provision_sum = 0;
        memset(registry.recovery_counts, 0, sizeof(registry.recovery_counts));
        registry.recovery_count = 0;
        registry.recovery_sum = 0;
        memset(registry.reconciles, 0, sizeof(registry.reconciles));
        memset(registry.duration_counts, 0, sizeof(registry.duration_counts));
        memset(registry.drills, 0, sizeof(registry.drills));
        registry.duration_count = 0;
        registry.duration_sum = 0;
        registry.queue_depth = 0;
        registry.leader = 0;
        pthread_mutex_unlock(&registry.lock);
}

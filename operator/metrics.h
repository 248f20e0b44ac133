/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The operator's Prometheus metrics (text exposition format 0.0.4):
 *
 *   tripdeal_operator_reconcile_total{result="success|error|invalid_spec"}   counter
 *   tripdeal_operator_reconcile_duration_seconds                             histogram
 *   tripdeal_operator_workqueue_depth                                        gauge
 *   tripdeal_operator_floor_changes_total{namespace,name}                    counter
 *   tripdeal_operator_floor_replicas{namespace,name}                         gauge
 *   tripdeal_operator_is_leader                                              gauge
 *   tripdeal_operator_drills_total{verdict}                                  counter
 *   tripdeal_operator_drill_recovery_seconds                                 histogram
 *   tripdeal_operator_vms{namespace,name,pool}                               gauge
 *   tripdeal_operator_vm_provision_seconds                                   histogram
 * Per TripDeal {namespace,name}, for dashboards and alerts where
 * kube-state-metrics does not run (set after each successful reconcile):
 *   tripdeal_operator_app_replicas, _app_ready_replicas (the Deployment's status),
 *   tripdeal_operator_app_max_replicas (the HPA ceiling, spec.app.replicas.max),
 *   tripdeal_operator_nodes_wanted, _nodes, _nodes_ready (KVM node pools),
 *   tripdeal_operator_sale_window_open (prescale start to end + cooldown),
 *   tripdeal_operator_sale_running (start to end),
 *   tripdeal_operator_next_sale_start_timestamp_seconds (0: no sale)        gauges
 *
 * Thread-safe: one mutex; the operator records a few events per reconcile,
 * far from where a lock would matter.  A single process-wide registry, since
 * a process is one operator.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum reconcile_result {
        RECONCILE_RESULT_SUCCESS,
        RECONCILE_RESULT_ERROR,
        RECONCILE_RESULT_INVALID_SPEC,
        _RECONCILE_RESULT_MAX,
};

void metrics_reconcile_done(enum reconcile_result result, int64_t duration_us);
void metrics_set_queue_depth(int64_t depth);
void metrics_set_leader(int is_leader);
/* A TripDeal's HPA floor is now `floor`; counts a change if it differs from the last one. */
void metrics_set_floor(const char *namespace, const char *name, int32_t floor);
/* What one reconcile saw and decided for a TripDeal (gauges above). */
struct tripdeal_gauges {
        int64_t replicas;
        int64_t ready_replicas;
        int64_t max_replicas;
        int64_t nodes_wanted;
        int64_t nodes;
        int64_t nodes_ready;
        bool sale_window_open;
        bool sale_running;
        int64_t next_sale_start_seconds; /* Unix time; 0: no sale */
};
void metrics_set_tripdeal(const char *namespace, const char *name,
                          const struct tripdeal_gauges *gauges);
/* Forget a deleted TripDeal's series. */
void metrics_forget(const char *namespace, const char *name);
/* verdict: "Passed" | "Failed" | "Aborted" | "Refused" | "Skipped". */
void metrics_drill_done(const char *verdict);
/* A drill's measured recovery (injection to recovered), in seconds. */
void metrics_drill_recovered(double seconds);

/* A TripDeal's node pool now has `count` VMs (node pools). */
void metrics_set_vms(const char *namespace, const char *name, const char *pool, int64_t count);
/* One VM was created and started in `seconds` (vmctl_create). */
void metrics_vm_provisioned(double seconds);

/* Write every metric to out.  0 or -errno. */
int metrics_write(FILE *out);
/* Drop everything (tests). */
void metrics_reset(void);

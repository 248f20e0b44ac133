/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HorizontalPodAutoscaler algorithm of kube-controller-manager
 * (pkg/controller/podautoscaler), as pure functions: the replica calculator
 * for a resource metric (usage ratio, 0.1 tolerance, missing and unready
 * pods), recommendation stabilization, and the behavior rate limits
 * (Pods/Percent policies over periodSeconds, selectPolicy Max/Min/Disabled),
 * with the legacy path (no spec.behavior) and Kubernetes' defaults.
 *
 * No I/O, no clock: "now" is an argument.  json_t arguments are borrowed.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HPA_TOLERANCE                     0.1
#define HPA_DEFAULT_DOWNSCALE_WINDOW_SECS 300
#define HPA_MAX_POLICIES                  8
#define HPA_MAX_HISTORY                   128

/* One pod's CPU sample (thousandths of a core). */
struct hpa_pod_metric {
        bool ignored;    /* terminating or Failed: left out entirely */
        bool ready;      /* false: "unready" (counted as 0 % when scaling up) */
        bool has_metric; /* false: "missing" */
        int64_t usage_milli;
        int64_t request_milli;
};

enum hpa_target_type {
        HPA_TARGET_UTILIZATION,   /* averageUtilization, percent of request */
        HPA_TARGET_AVERAGE_VALUE, /* averageValue, thousandths per pod */
};

struct hpa_metric_result {
        int32_t replicas;
        int32_t utilization;         /* percent (utilization targets) */
        int64_t average_usage_milli; /* raw average per pod */
};

/*
 * GetResourceReplicas / GetRawResourceReplicas.  -ENODATA when no ready pod
 * has a metric, -EINVAL when a pod lacks a request (utilization target).
 */
int hpa_resource_replicas(int32_t current_replicas, const struct hpa_pod_metric *pods,
                          size_t n_pods, enum hpa_target_type type, int64_t target,
                          struct hpa_metric_result *ret);

enum hpa_policy_type {
        HPA_POLICY_PODS,
        HPA_POLICY_PERCENT,
};

enum hpa_select_policy {
        HPA_SELECT_MAX,
        HPA_SELECT_MIN,
        HPA_SELECT_DISABLED,
};

struct hpa_policy {
        enum hpa_policy_type type;
        int32_t value;
        int32_t period_seconds;
};

struct hpa_rules {
        int32_t stabilization_window_seconds;
        enum hpa_select_policy select;
        struct hpa_policy policies[HPA_MAX_POLICIES];
        size_t n_policies;
};

struct hpa_behavior {
        struct hpa_rules scale_up;
        struct hpa_rules scale_down;
};

/* spec.behavior (may be NULL or partial) with Kubernetes' defaults filled in. -EINVAL on bad
 * values. */
int hpa_behavior_parse(const json_t *behavior, struct hpa_behavior *ret);

struct hpa_recommendation {
        int64_t at_ms;
        int32_t replicas;
};

struct hpa_scale_event {
        int64_t at_ms;
        int32_t change;
        bool outdated;
};

/* Per-HPA memory of the controller (kept in memory, as kube-controller-manager does). */
struct hpa_history {
        struct hpa_recommendation recommendations[HPA_MAX_HISTORY];
        size_t n_recommendations;
        struct hpa_scale_event up[HPA_MAX_HISTORY];
        size_t n_up;
        struct hpa_scale_event down[HPA_MAX_HISTORY];
        size_t n_down;
};

struct hpa_decision {
        int32_t desired;
        /* AbleToScale=True reason/message and ScalingLimited status/reason/message. */
        const char *able_reason;
        const char *able_message;
        bool limited;
        const char *limited_reason;
        const char *limited_message;
};

/*
 * From the metrics' recommendation to the replica count to set:
 * normalizeDesiredReplicas (behavior NULL: legacy 5-minute downscale
 * stabilization and max(2x, 4) scale-up limit) or
 * normalizeDesiredReplicasWithBehaviors.  Records the recommendation in h.
 */
void hpa_normalize(struct hpa_history *h, const struct hpa_behavior *behavior, int32_t current,
                   int32_t recommended, int32_t min_replicas, int32_t max_replicas, int64_t now_ms,
                   struct hpa_decision *ret);

/* After a rescale from old to new replicas (behavior path): remember the event. */
void hpa_record_scale(struct hpa_history *h, const struct hpa_behavior *behavior,
                      int32_t old_replicas, int32_t new_replicas, int64_t now_ms);

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HorizontalPodAutoscaler controller (autoscaling/v2), every
 * sync_period_ms per HPA: read the target's scale, measure CPU, run the
 * algorithm of hpa_algorithm.c, write the scale subresource and the HPA
 * status.
 *
 * CPU: process pods are measured from /proc (kubelet.c).  Virtual pods have
 * no CPU; set it per HPA with the annotation
 *   fakekube.tripdeal.io/cpu-utilization: "85"
 * (percent of each ready pod's CPU request; it also overrides process pods).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "log.h"
#include "macros.h"
#include "objects.h"

#define CPU_ANNOTATION "fakekube.tripdeal.io/cpu-utilization"

static struct hpa_state *state_for(struct controllers *c, const char *uid)
{
        for (size_t i = 0; i < c->n_hpas; i++)
                if (strcmp(c->hpas[i].uid, uid) == 0)
                        return &c->hpas[i];
        struct hpa_state *grown = realloc(c->hpas, (c->n_hpas + 1) * sizeof(*grown));
        if (!grown)
                return NULL;
        c->hpas = grown;
        struct hpa_state *st = &c->hpas[c->n_hpas++];
        memset(st, 0, sizeof(*st));
        snprintf(st->uid, sizeof(st->uid), "%s", uid);
        return st;
}

struct metric_outcome {
        bool valid;
        int32_t replicas;
        json_t *current; /* currentMetrics entry */
        char error[256];
};

static void compute_metric(struct sync *s, const json_t *hpa, const json_t *metric,
                           const json_t *selector, int32_t current_replicas,
                           struct metric_outcome *out)
{
        const char *type = json_string_value(json_object_get(metric, "type"));
        const json_t *resource = json_object_get(metric, "resource");
        const char *name = json_string_value(json_object_get(resource, "name"));
        if (!type || strcmp(type, "Resource") != 0 || !name || strcmp(name, "cpu") != 0) {
                snprintf(out->error, sizeof(out->error),
                         "fakekube supports only Resource metrics for cpu (got %s %s)",
                         type ? type : "?", name ? name : "");
                return;
        }
        const json_t *target = json_object_get(resource, "target");
        const char *target_type = json_string_value(json_object_get(target, "type"));
        enum hpa_target_type kind = HPA_TARGET_UTILIZATION;
        int64_t target_value = 0;
        if (target_type && strcmp(target_type, "AverageValue") == 0) {
                kind = HPA_TARGET_AVERAGE_VALUE;
                const char *q = json_string_value(json_object_get(target, "averageValue"));
                if (!q || quantity_parse_milli(q, &target_value) < 0) {
                        snprintf(out->error, sizeof(out->error), "invalid averageValue");
                        return;
                }
        } else {
                target_value = json_integer_value(json_object_get(target, "averageUtilization"));
        }
        if (target_value <= 0) {
                snprintf(out->error, sizeof(out->error), "invalid metric target");
                return;
        }
        const char *annotation = json_string_value(json_object_get(
                json_object_get(json_object_get(hpa, "metadata"), "annotations"), CPU_ANNOTATION));
        long annotated = annotation ? strtol(annotation, NULL, 10) : -1;
        const char *ns = object_namespace(hpa);
        size_t cap = json_object_size(s->objects[KIND_POD]) + 1;
        _cleanup_free_ struct hpa_pod_metric *pods = calloc(cap, sizeof(*pods));
        if (!pods)
                return;
        size_t n = 0;
        const char *key;
        json_t *pod;
        json_object_foreach (s->objects[KIND_POD], key, pod) {
                const char *pod_ns = object_namespace(pod);
                if (!pod_ns || strcmp(pod_ns, ns) != 0 ||
                    !label_selector_matches(
                            selector, json_object_get(json_object_get(pod, "metadata"), "labels")))
                        continue;
                struct hpa_pod_metric *m = &pods[n++];
                const char *phase =
                        json_string_value(json_object_get(json_object_get(pod, "status"), "phase"));
                m->ignored = object_terminating(pod) || (phase && strcmp(phase, "Failed") == 0) ||
                             (phase && strcmp(phase, "Succeeded") == 0);
                bool running = phase && strcmp(phase, "Running") == 0;
                m->ready = running && pod_ready(pod);
                m->request_milli = pod_request_milli(pod, "cpu");
                if (annotated >= 0) {
                        /* Virtual CPU: each running pod uses that share of its request (1 core when
                         * none). */
                        if (m->request_milli == 0 && kind == HPA_TARGET_UTILIZATION)
                                m->request_milli = 1000;
                        m->has_metric = running;
                        m->usage_milli =
                                (m->request_milli ? m->request_milli : 1000) * annotated / 100;
                } else {
                        int64_t usage = 0;
                        m->has_metric = running &&
                                        process_pod_cpu_milli(s->c, object_uid(pod), &usage) == 0;
                        m->usage_milli = usage;
                }
        }
        struct hpa_metric_result result;
        int r = hpa_resource_replicas(current_replicas, pods, n, kind, target_value, &result);
        if (r == -EINVAL) {
                snprintf(out->error, sizeof(out->error),
                         "failed to get cpu utilization: missing request for cpu");
                return;
        }
        if (r < 0) {
                snprintf(out->error, sizeof(out->error),
                         "unable to get metrics for resource cpu: no metrics returned from "
                         "resource metrics API");
                return;
        }
        char average[32];
        snprintf(average, sizeof(average), "%lldm", (long long)result.average_usage_milli);
        out->valid = true;
        out->replicas = result.replicas;
        out->current = kind == HPA_TARGET_UTILIZATION
                               ? json_pack("{ss s{ss s{si ss}}}", "type", "Resource", "resource",
                                           "name", "cpu", "current", "averageUtilization",
                                           result.utilization, "averageValue", average)
                               : json_pack("{ss s{ss s{ss}}}", "type", "Resource", "resource",
                                           "name", "cpu", "current", "averageValue", average);
}

static int write_scale(struct sync *s, const char *ns, const char *name, int32_t replicas)
{
        _cleanup_json_ json_t *scale =
                json_pack("{ss ss s{ss ss} s{si}}", "apiVersion", "autoscaling/v1", "kind", "Scale",
                          "metadata", "name", name, "namespace", ns, "spec", "replicas", replicas);
        char path[600];
        object_path(KIND_DEPLOYMENT, ns, name, "scale", path, sizeof(path));
        long status = 0;
        int r = kclient_request(s->client, "PUT", path, scale, NULL, &status, NULL);
        if (r == 0 && status >= 200 && status < 300)
                return 0;
        /* No scale subresource: spec.replicas directly. */
        _cleanup_json_ json_t *patch = json_pack("{s{si}}", "spec", "replicas", replicas);
        return api_merge_patch(s, KIND_DEPLOYMENT, ns, name, NULL, patch);
}

static void sync_hpa(struct sync *s, const json_t *hpa, struct hpa_state *st)
{
        const json_t *spec = json_object_get(hpa, "spec");
        const json_t *ref = json_object_get(spec, "scaleTargetRef");
        const char *ref_kind = json_string_value(json_object_get(ref, "kind"));
        const char *ref_name = json_string_value(json_object_get(ref, "name"));
        const char *ns = object_namespace(hpa);
        const json_t *old_status = json_object_get(hpa, "status");
        _cleanup_json_ json_t *status = json_deep_copy(old_status);
        if (!status)
                status = json_object();
        json_t *conditions = json_incref(json_object_get(status, "conditions"));
        const json_t *generation = json_object_get(json_object_get(hpa, "metadata"), "generation");
        if (json_is_integer(generation))
                json_object_set(status, "observedGeneration", (json_t *)generation);
        char key[600];
        snprintf(key, sizeof(key), "%s/%s", ns, ref_name ? ref_name : "");
        const json_t *target = ref_kind && strcmp(ref_kind, "Deployment") == 0
                                       ? json_object_get(s->objects[KIND_DEPLOYMENT], key)
                                       : NULL;
        json_t *next = NULL;
#define SET_CONDITION(type, cstatus, reason, message)                                          \
        do {                                                                                   \
                next = conditions_set(conditions, type, cstatus, reason, message, s->now_text, \
                                      false);                                                  \
                json_decref(conditions);                                                       \
                conditions = next;                                                             \
        } while (0)
        if (!target) {
                char message[700];
                snprintf(message, sizeof(message),
                         "the HPA controller was unable to get the target's current scale: %s "
                         "\"%s\" not found",
                         ref_kind ? ref_kind : "?", ref_name ? ref_name : "");
                SET_CONDITION("AbleToScale", "False", "FailedGetScale", message);
                goto write;
        }
        {
                const json_t *replicas_json =
                        json_object_get(json_object_get(target, "spec"), "replicas");
                int32_t current = json_is_integer(replicas_json)
                                          ? (int32_t)json_integer_value(replicas_json)
                                          : 1;
                const json_t *min_json = json_object_get(spec, "minReplicas");
                int32_t min_replicas =
                        json_is_integer(min_json) ? (int32_t)json_integer_value(min_json) : 1;
                int32_t max_replicas =
                        (int32_t)json_integer_value(json_object_get(spec, "maxReplicas"));
                const json_t *selector =
                        json_object_get(json_object_get(target, "spec"), "selector");
                struct hpa_behavior behavior;
                const json_t *behavior_json = json_object_get(spec, "behavior");
                bool has_behavior =
                        behavior_json && hpa_behavior_parse(behavior_json, &behavior) == 0;
                int32_t desired = current;
                bool rescale = true;
                /* The SuccessfulRescale Event's reason, as the HPA controller words it. */
                const char *rescale_reason = NULL;
                SET_CONDITION("AbleToScale", "True", "SucceededGetScale",
                              "the HPA controller was able to get the target's current scale");
                if (current == 0 && min_replicas != 0) {
                        rescale = false;
                        SET_CONDITION("ScalingActive", "False", "ScalingDisabled",
                                      "scaling is disabled since the replica count of the target "
                                      "is zero");
                } else if (current > max_replicas) {
                        desired = max_replicas;
                        rescale_reason = "Current number of replicas above Spec.MaxReplicas";
                        SET_CONDITION(
                                "ScalingLimited", "True", "TooManyReplicas",
                                "the desired replica count is more than the maximum replica count");
                } else if (current < min_replicas) {
                        desired = min_replicas;
                        rescale_reason = "Current number of replicas below Spec.MinReplicas";
                        SET_CONDITION(
                                "ScalingLimited", "True", "TooFewReplicas",
                                "the desired replica count is less than the minimum replica count");
                } else {
                        _cleanup_json_ json_t *default_metrics = json_pack(
                                "[{ss s{ss s{ss si}}}]", "type", "Resource", "resource", "name",
                                "cpu", "target", "type", "Utilization", "averageUtilization", 80);
                        const json_t *metrics = json_array_size(json_object_get(spec, "metrics"))
                                                        ? json_object_get(spec, "metrics")
                                                        : default_metrics;
                        json_t *current_metrics = json_array();
                        int32_t best = -1;
                        char error[256] = "";
                        size_t i;
                        json_t *metric;
                        json_array_foreach (metrics, i, metric) {
                                struct metric_outcome out = {0};
                                compute_metric(s, hpa, metric, selector, current, &out);
                                if (out.valid) {
                                        best = out.replicas > best ? out.replicas : best;
                                        json_array_append_new(current_metrics, out.current);
                                } else {
                                        snprintf(error, sizeof(error), "%s", out.error);
                                }
                        }
                        json_object_set_new(status, "currentMetrics", current_metrics);
                        if (best < 0) {
                                SET_CONDITION("ScalingActive", "False", "FailedGetResourceMetric",
                                              error);
                                json_object_set_new(status, "currentReplicas",
                                                    json_integer(current));
                                json_object_set_new(status, "desiredReplicas",
                                                    json_integer(current));
                                goto write;
                        }
                        SET_CONDITION("ScalingActive", "True", "ValidMetricFound",
                                      "the HPA was able to successfully calculate a replica count "
                                      "from cpu "
                                      "resource utilization (percentage of request)");
                        struct hpa_decision d;
                        hpa_normalize(&st->history, has_behavior ? &behavior : NULL, current, best,
                                      min_replicas, max_replicas, s->now_ms, &d);
                        desired = d.desired;
                        SET_CONDITION("AbleToScale", "True", d.able_reason, d.able_message);
                        SET_CONDITION("ScalingLimited", d.limited ? "True" : "False",
                                      d.limited_reason, d.limited_message);
                }
                if (rescale && desired != current) {
                        int r = write_scale(s, ns, ref_name, desired);
                        if (r < 0) {
                                SET_CONDITION(
                                        "AbleToScale", "False", "FailedUpdateScale",
                                        "the HPA controller was unable to update the target scale");
                        } else {
                                char message[128];
                                snprintf(message, sizeof(message),
                                         "the HPA controller was able to update the target scale "
                                         "to %d",
                                         desired);
                                SET_CONDITION("AbleToScale", "True", "SucceededRescale", message);
                                hpa_record_scale(&st->history, has_behavior ? &behavior : NULL,
                                                 current, desired, s->now_ms);
                                json_object_set_new(status, "lastScaleTime",
                                                    json_string(s->now_text));
                                log_emit(LOG_LEVEL_INFO,
                                         json_pack("{ss ss si si}", "hpa", object_name(hpa),
                                                   "namespace", ns, "from", current, "to", desired),
                                         "fakekube controllers: HPA rescaled its target");
                                emit_event(s, hpa, "HorizontalPodAutoscaler", "autoscaling/v2",
                                           "Normal", "SuccessfulRescale",
                                           "horizontal-pod-autoscaler", "New size: %d; reason: %s",
                                           desired,
                                           rescale_reason ? rescale_reason
                                           : desired > current
                                                   ? "cpu resource utilization (percentage of "
                                                     "request) above target"
                                                   : "All metrics below target");
                        }
                }
                json_object_set_new(status, "currentReplicas", json_integer(current));
                json_object_set_new(status, "desiredReplicas", json_integer(desired));
        }
write:
#undef SET_CONDITION
        if (conditions)
                json_object_set(status, "conditions", conditions);
        json_decref(conditions);
        if (json_equal(status, old_status))
                return;
        _cleanup_json_ json_t *copy = json_deep_copy(hpa);
        if (!copy)
                return;
        json_object_set(copy, "status", status);
        api_update(s, KIND_HPA, copy, "status");
}

void sync_hpas(struct sync *s)
{
        struct controllers *c = s->c;
        int64_t period = c->options.sync_period_ms > 0 ? c->options.sync_period_ms : 15000;
        for (size_t i = 0; i < c->n_hpas; i++)
                c->hpas[i].seen = false;
        const char *key;
        json_t *hpa;
        json_object_foreach (s->objects[KIND_HPA], key, hpa) {
                const char *uid = object_uid(hpa);
                if (!uid || object_terminating(hpa))
                        continue;
                struct hpa_state *st = state_for(c, uid);
                if (!st)
                        continue;
                st->seen = true;
                if (s->mono_ms < st->next_sync_ms)
                        continue;
                st->next_sync_ms = s->mono_ms + period;
                sync_hpa(s, hpa, st);
        }
        /* Forget deleted HPAs. */
        for (size_t i = 0; i < c->n_hpas;) {
                if (!c->hpas[i].seen)
                        c->hpas[i] = c->hpas[--c->n_hpas];
                else
                        i++;
        }
}

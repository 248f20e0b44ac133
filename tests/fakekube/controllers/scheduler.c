/* SPDX-License-Identifier: Apache-2.0 */
#include "scheduler.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macros.h"
#include "objects.h"

enum reject {
        REJECT_NOT_READY,
        REJECT_UNSCHEDULABLE,
        REJECT_TAINT,
        REJECT_SELECTOR,
        REJECT_CPU,
        REJECT_MEMORY,
        REJECT_PODS,
        REJECT_SPREAD,
        REJECT_COUNT,
};

static const char *const reject_text[REJECT_COUNT] = {
        [REJECT_NOT_READY] = "node(s) were not ready",
        [REJECT_UNSCHEDULABLE] = "node(s) were unschedulable",
        [REJECT_TAINT] = "node(s) had untolerated taint",
        [REJECT_SELECTOR] = "node(s) didn't match Pod's node affinity/selector",
        [REJECT_CPU] = "Insufficient cpu",
        [REJECT_MEMORY] = "Insufficient memory",
        [REJECT_PODS] = "Too many pods",
        [REJECT_SPREAD] = "node(s) didn't match pod topology spread constraints",
};

static int64_t allocatable(const json_t *node, const char *resource)
{
        const json_t *status = json_object_get(node, "status");
        const json_t *q = json_object_get(json_object_get(status, "allocatable"), resource);
        if (!q)
                q = json_object_get(json_object_get(status, "capacity"), resource);
        int64_t v = -1;
        if (json_is_string(q) && quantity_parse_milli(json_string_value(q), &v) < 0)
                v = -1;
        return v;
}

static bool counts_on_node(const json_t *other, const char *node_name)
{
        const char *n =
                json_string_value(json_object_get(json_object_get(other, "spec"), "nodeName"));
        if (!n || strcmp(n, node_name) != 0)
                return false;
        const char *phase =
                json_string_value(json_object_get(json_object_get(other, "status"), "phase"));
        return !phase || (strcmp(phase, "Succeeded") != 0 && strcmp(phase, "Failed") != 0);
}

static bool node_selector_matches(const json_t *pod, const json_t *node)
{
        const json_t *labels = json_object_get(json_object_get(node, "metadata"), "labels");
        const char *key;
        json_t *value;
        json_object_foreach (
                (json_t *)json_object_get(json_object_get(pod, "spec"), "nodeSelector"), key,
                value) {
                const char *have = json_string_value(json_object_get(labels, key));
                if (!have || !json_is_string(value) || strcmp(have, json_string_value(value)) != 0)
                        return false;
        }
        return true;
}

static const char *node_label(const json_t *node, const char *key)
{
        if (!key)
                return NULL;
        const char *v = json_string_value(
                json_object_get(json_object_get(json_object_get(node, "metadata"), "labels"), key));
        /* kubernetes.io/hostname is the node name even when the label is missing. */
        if (!v && strcmp(key, "kubernetes.io/hostname") == 0)
                v = json_string_value(json_object_get(json_object_get(node, "metadata"), "name"));
        return v;
}

/* Pods matching the constraint's selector in the pod's namespace, in the node's domain. */
static int64_t spread_count(const json_t *constraint, const json_t *pod, const json_t *nodes,
                            const json_t *pods, const char *domain)
{
        const char *topology_key = json_string_value(json_object_get(constraint, "topologyKey"));
        const json_t *selector = json_object_get(constraint, "labelSelector");
        const char *ns = object_namespace(pod);
        int64_t count = 0;
        const char *key;
        json_t *other;
        json_object_foreach ((json_t *)pods, key, other) {
                if (object_terminating(other))
                        continue;
                const char *other_ns = object_namespace(other);
                if (!ns || !other_ns || strcmp(ns, other_ns) != 0)
                        continue;
                if (!selector ||
                    !label_selector_matches(
                            selector,
                            json_object_get(json_object_get(other, "metadata"), "labels")))
                        continue;
                const char *n = json_string_value(
                        json_object_get(json_object_get(other, "spec"), "nodeName"));
                if (!n)
                        continue;
                const char *d = node_label(json_object_get(nodes, n), topology_key);
                if (d && strcmp(d, domain) == 0)
                        count++;
        }
        return count;
}

static bool pod_fits_basic(const json_t *pod, const json_t *node, const json_t *pods,
                           enum reject *why)
{
        const char *name = object_name(node);
        if (!node_ready(node)) {
                *why = REJECT_NOT_READY;
                return false;
        }
        if (json_is_true(json_object_get(json_object_get(node, "spec"), "unschedulable"))) {
                *why = REJECT_UNSCHEDULABLE;
                return false;
        }
        if (!pod_tolerates_node(pod, node)) {
                *why = REJECT_TAINT;
                return false;
        }
        if (!node_selector_matches(pod, node)) {
                *why = REJECT_SELECTOR;
                return false;
        }
        int64_t used_cpu = 0, used_mem = 0, used_pods = 0;
        const char *key;
        json_t *other;
        json_object_foreach ((json_t *)pods, key, other) {
                if (!counts_on_node(other, name))
                        continue;
                used_cpu += pod_request_milli(other, "cpu");
                used_mem += pod_request_milli(other, "memory");
                used_pods += 1000;
        }
        int64_t cpu = allocatable(node, "cpu"), mem = allocatable(node, "memory"),
                max_pods = allocatable(node, "pods");
        if (cpu >= 0 && used_cpu + pod_request_milli(pod, "cpu") > cpu) {
                *why = REJECT_CPU;
                return false;
        }
        if (mem >= 0 && used_mem + pod_request_milli(pod, "memory") > mem) {
                *why = REJECT_MEMORY;
                return false;
        }
        if (max_pods >= 0 && used_pods + 1000 > max_pods) {
                *why = REJECT_PODS;
                return false;
        }
        return true;
}

int schedule_pod(const json_t *pod, const json_t *nodes, const json_t *pods, char *ret_node,
                 size_t node_size, char *ret_message, size_t message_size)
{
        size_t n_nodes = json_object_size(nodes);
        int rejects[REJECT_COUNT] = {0};
        const json_t **candidates = calloc(n_nodes ? n_nodes : 1, sizeof(*candidates));
        if (!candidates)
                return -ENOMEM;
        size_t n_candidates = 0;
        const char *key;
        json_t *node;
        json_object_foreach ((json_t *)nodes, key, node) {
                enum reject why = REJECT_NOT_READY;
                if (pod_fits_basic(pod, node, pods, &why))
                        candidates[n_candidates++] = node;
                else
                        rejects[why]++;
        }
        const json_t *constraints =
                json_object_get(json_object_get(pod, "spec"), "topologySpreadConstraints");
        const char *owner = controller_owner_uid(pod);
        const json_t *best = NULL;
        int64_t best_score[3] = {0};
        /* minimum count per constraint over the candidate domains */
        size_t n_constraints = json_array_size(constraints);
        int64_t *minimum = calloc(n_constraints ? n_constraints : 1, sizeof(*minimum));
        if (!minimum) {
                free(candidates);
                return -ENOMEM;
        }
        for (size_t c = 0; c < n_constraints; c++) {
                const json_t *constraint = json_array_get(constraints, c);
                const char *topology_key =
                        json_string_value(json_object_get(constraint, "topologyKey"));
                minimum[c] = INT64_MAX;
                for (size_t i = 0; i < n_candidates; i++) {
                        const char *domain = node_label(candidates[i], topology_key);
                        if (!domain)
                                continue;
                        int64_t count = spread_count(constraint, pod, nodes, pods, domain);
                        if (count < minimum[c])
                                minimum[c] = count;
                }
        }
        for (size_t i = 0; i < n_candidates; i++) {
                const json_t *candidate = candidates[i];
                int64_t spread_score = 0;
                bool rejected = false;
                for (size_t c = 0; c < n_constraints && !rejected; c++) {
                        const json_t *constraint = json_array_get(constraints, c);
                        const char *topology_key =
                                json_string_value(json_object_get(constraint, "topologyKey"));
                        const char *when =
                                json_string_value(json_object_get(constraint, "whenUnsatisfiable"));
                        bool hard = !when || strcmp(when, "DoNotSchedule") == 0;
                        const char *domain = node_label(candidate, topology_key);
                        if (!domain) {
                                rejected = hard;
                                continue;
                        }
                        int64_t count = spread_count(constraint, pod, nodes, pods, domain);
                        int64_t max_skew =
                                json_integer_value(json_object_get(constraint, "maxSkew"));
                        if (max_skew <= 0)
                                max_skew = 1;
                        if (hard && count + 1 - minimum[c] > max_skew)
                                rejected = true;
                        spread_score += count;
                }
                if (rejected) {
                        rejects[REJECT_SPREAD]++;
                        continue;
                }
                int64_t same_owner = 0, all = 0;
                json_t *other;
                json_object_foreach ((json_t *)pods, key, other) {
                        if (!counts_on_node(other, object_name(candidate)))
                                continue;
                        all++;
                        const char *o = controller_owner_uid(other);
                        if (owner && o && strcmp(owner, o) == 0)
                                same_owner++;
                }
                int64_t score[3] = {spread_score, same_owner, all};
                bool better = !best;
                for (int s = 0; s < 3 && !better; s++) {
                        if (score[s] != best_score[s]) {
                                better = score[s] < best_score[s];
                                break;
                        }
                        if (s == 2)
                                better = strcmp(object_name(candidate), object_name(best)) < 0;
                }
                if (better) {
                        best = candidate;
                        memcpy(best_score, score, sizeof(score));
                }
        }
        free(minimum);
        free(candidates);
        if (best) {
                snprintf(ret_node, node_size, "%s", object_name(best));
                return 0;
        }
        /* "0/3 nodes are available: 1 node(s) were unschedulable, 2 Insufficient cpu." */
        int off = snprintf(ret_message, message_size, "0/%zu nodes are available", n_nodes);
        bool first = true;
        for (int r = 0; r < REJECT_COUNT; r++) {
                if (!rejects[r] || off < 0 || (size_t)off >= message_size)
                        continue;
                off += snprintf(ret_message + off, message_size - (size_t)off, "%s %d %s",
                                first ? ":" : ",", rejects[r], reject_text[r]);
                first = false;
        }
        if (off >= 0 && (size_t)off < message_size)
                snprintf(ret_message + off, message_size - (size_t)off, ".");
        return -ENOSPC;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pure helpers over Kubernetes objects as jansson values: label selectors,
 * resource quantities, int-or-percent, owner references, pod and node
 * conditions, taints and tolerations.  No I/O; every json_t argument is
 * borrowed.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "../label_selector.h"

/* metav1.LabelSelector matching: label_selector_matches(), shared with the server. */
/* A Service's plain map selector.  NULL or {} matches nothing (a Service without selector). */
bool map_selector_matches(const json_t *selector, const json_t *labels);

/* "500m", "2", "1.5", "128Mi", "1G", "1e3" -> value in thousandths.  -EINVAL on bad syntax. */
int quantity_parse_milli(const char *text, int64_t *ret_milli);

/*
 * IntOrString as in maxSurge/maxUnavailable: an integer, or "25%" of total,
 * rounded up or down.  -EINVAL on anything else.
 */
int int_or_percent(const json_t *value, int64_t total, bool round_up, int64_t *ret);

/* The uid of the controller owner reference (controller: true), or NULL. */
const char *controller_owner_uid(const json_t *object);
const char *object_uid(const json_t *object);
const char *object_name(const json_t *object);
const char *object_namespace(const json_t *object);
bool object_terminating(const json_t *object);
int64_t object_created_ms(const json_t *object);

/* status.conditions[type=type].status, or NULL. */
const char *condition_status(const json_t *object, const char *type);
const json_t *condition_get(const json_t *object, const char *type);
bool pod_ready(const json_t *pod);
/* Pod not terminating and not Succeeded/Failed. */
bool pod_active(const json_t *pod);
bool node_ready(const json_t *node);

/*
 * Build/merge a condition list: returns a new array equal to old (borrowed)
 * with condition type set to status/reason/message.  lastTransitionTime keeps
 * its old value unless status changed; now_text is an RFC 3339 stamp.
 * with_update_time adds lastUpdateTime (Deployments) and bumps it when
 * anything changed.
 */
json_t *conditions_set(const json_t *old, const char *type, const char *status, const char *reason,
                       const char *message, const char *now_text, bool with_update_time);

/* Does one toleration (borrowed) tolerate the taint? */
bool toleration_tolerates(const json_t *toleration, const json_t *taint);
/* Does the pod tolerate every NoSchedule/NoExecute taint of the node? */
bool pod_tolerates_node(const json_t *pod, const json_t *node);
/*
 * How long the pod tolerates the NoExecute taint (seconds): -1 forever,
 * 0 not at all... Kubernetes' DefaultTolerationSeconds gives pods without a
 * toleration for not-ready/unreachable 300 s, and so do we.
 */
int64_t pod_toleration_seconds(const json_t *pod, const json_t *taint);

/* Sum of the containers' resources.requests[resource] in thousandths. */
int64_t pod_request_milli(const json_t *pod, const char *resource);

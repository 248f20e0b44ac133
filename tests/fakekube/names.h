/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Object names as kube-apiserver validates them (names.c): each built-in
 * kind's rule (DNS-1123 subdomain for most, DNS-1035 label for Services,
 * DNS-1123 label for Namespaces, path segments for RBAC kinds, CronJobs at
 * most 52 characters) with apimachinery's messages.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>

enum name_rule {
        NAME_DNS1123_SUBDOMAIN,
        NAME_DNS1123_LABEL,
        NAME_DNS1035_LABEL,
        NAME_PATH_SEGMENT,
};

/* The rule for a resource (group "" for core; custom resources: a subdomain). */
enum name_rule name_rule_for(const char *group, const char *plural);

/*
 * What is wrong with name under the resource's rule: a new array of
 * kube-apiserver's messages (e.g. "must be no more than 63 characters",
 * "a DNS-1035 label must consist of ..."), empty when the name is valid;
 * NULL on allocation failure.
 */
json_t *name_problems(const char *group, const char *plural, const char *name);

/* The path-segment messages alone (names in URLs): empty when acceptable. */
json_t *path_segment_problems(const char *name);

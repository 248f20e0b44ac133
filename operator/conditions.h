/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metav1.Condition lists as the Kubernetes API conventions define them:
 * one entry per type; lastTransitionTime changes only when status changes;
 * reason is CamelCase; observedGeneration says which spec it describes.
 *
 * Ownership: `conditions` is a JSON array the caller owns and this code
 * edits in place.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

enum condition_status {
        CONDITION_FALSE,
        CONDITION_TRUE,
        CONDITION_UNKNOWN,
};

struct condition {
        const char *type;
        enum condition_status status;
        const char *reason;
        const char *message;
        int64_t observed_generation;
};

/* Set or replace the condition of c->type.  Returns 1 if anything changed,
 * 0 if it was already so, -errno on failure (-EINVAL on a NULL field). */
int conditions_set(json_t *conditions, const struct condition *c, time_t now);

/* Drop the condition of `type` (it no longer applies).  1 if one was there, else 0. */
int conditions_remove(json_t *conditions, const char *type);

/* The condition of `type`, or NULL.  Borrowed from `conditions`. */
json_t *conditions_find(const json_t *conditions, const char *type);
bool conditions_is_true(const json_t *conditions, const char *type);

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Drift between what the operator wants and what the server has, as one
 * JSON merge patch (RFC 7386), three-way like `kubectl apply`:
 *
 *   - a field the operator wants and the object lacks or holds otherwise
 *     (a hand edit) is set back;
 *   - a field the operator set last time (recorded in the annotation
 *     tripdeal.io/last-applied) and no longer wants is removed;
 *   - everything else is left alone: labels and annotations other people
 *     added, fields the API server defaulted, and fields another controller
 *     owns (the Deployment's spec.replicas, owned by the HPA) never appear in
 *     the patch.
 *
 * Values are compared as "desired is contained in observed": objects
 * member-wise, arrays element-wise with equal length, scalars equal.  So a
 * container list the server defaulted (imagePullPolicy, ...) is in sync.
 *
 * Ownership: inputs are borrowed; *ret_patch is a new reference (NULL when
 * nothing differs), written only on success.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#define TRIPDEAL_LAST_APPLIED_ANNOTATION "tripdeal.io/last-applied"

/* Does `observed` hold everything `desired` says?  NULLs never contain. */
bool json_contains(const json_t *observed, const json_t *desired);

/*
 * last_applied: what the operator applied last time (NULL when unknown);
 * desired: the object wanted now (with metadata); observed: the server's.
 * The patch also refreshes the last-applied annotation when it changed.
 */
int drift_patch(const json_t *last_applied, const json_t *desired, const json_t *observed,
                json_t **ret_patch);

/* The desired object with its last-applied annotation added (new reference). */
json_t *drift_with_last_applied(const json_t *desired);

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Deletion, finalizers, garbage collection, namespaces, PodDisruptionBudgets (lifecycle.c).
 * Functions taking a struct server * expect server->lock held (see fakekube.h);
 * ownership as noted per function ("borrowed" or "new reference").
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fakekube.h"

/*
 * Delete one object as DELETE does.  options: DeleteOptions JSON (may be NULL).
 * *ret_obj: new reference to the object as it is after the call (the last
 * state when removed).  *ret_removed: whether it is gone now.
 */
int lifecycle_delete(struct server *s, const struct resource_type *t, json_t *current,
                     json_t *options, bool dry_run, json_t **ret_obj, bool *ret_removed);
/* Called after an update stored obj: removes it when deleting and no finalizers remain. */
void lifecycle_after_update(struct server *s, const struct resource_type *t, json_t *obj);
/* One pass of GC, graceful deletion, namespace termination and PDB status. */
void lifecycle_pass(struct server *s);
/* PDB accounting for pod eviction: 0 when allowed, -EBUSY with *ret_message otherwise. */
int lifecycle_eviction_allowed(struct server *s, json_t *pod, char **ret_message);

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The object store: buckets, the global resourceVersion, watch history, persistence (store.c).
 * Functions taking a struct server * expect server->lock held (see fakekube.h);
 * ownership as noted per function ("borrowed" or "new reference").
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fakekube.h"

int db_init(struct server *s);
void db_free(struct server *s);
/* Borrowed. */
json_t *db_get(struct server *s, const struct resource_type *t, const char *ns, const char *name);
json_t *db_bucket(struct server *s, const char *storage_key);
/* Store obj (steals the reference), assigning a new resourceVersion; emits ADDED or MODIFIED. */
void db_put(struct server *s, const struct resource_type *t, json_t *obj, bool added);
/* Remove the object and emit DELETED (with a fresh resourceVersion). */
void db_remove(struct server *s, const struct resource_type *t, const char *ns, const char *name);
/* The storage key of an object in its bucket: "ns/name" or "/name" (malloc). */
char *db_object_key(const char *ns, const char *name);
int db_load(struct server *s);
int db_save(struct server *s);
/* Look an object up by uid (borrowed, or NULL), *ret_type set when ret_type is not NULL. */
json_t *db_find_uid(struct server *s, const char *uid, struct resource_type **ret_type);
/* The ref of a stored object, "STORAGE_KEY KEY" (malloc, NULL on OOM). */
char *db_ref_new(const char *storage_key, const char *key);
/* The object a ref names (borrowed, or NULL when gone), *ret_type set when not NULL. */
json_t *db_resolve_ref(struct server *s, const char *ref, struct resource_type **ret_type);
/* Take an index set (s->gc_candidates, ...) and leave an empty one in its place: the caller
 * iterates the old set while its actions fill the new one (new reference; NULL on OOM). */
json_t *db_take_set(json_t **set);

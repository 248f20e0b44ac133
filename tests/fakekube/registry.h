/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The resource registry: built-in kinds, CRD-defined kinds, discovery documents (resources.c).
 * Functions taking a struct server * expect server->lock held (see fakekube.h);
 * ownership as noted per function ("borrowed" or "new reference").
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fakekube.h"

int registry_init(struct server *s);
void registry_free(struct server *s);
/* Borrowed; NULL when no (served) type matches. */
struct resource_type *registry_find(struct server *s, const char *group, const char *version,
                                    const char *plural);
struct resource_type *registry_find_kind(struct server *s, const char *api_version,
                                         const char *kind);
/* (Re)register the versions a CRD object serves; unregister when crd is being removed. */
int registry_apply_crd(struct server *s, json_t *crd);
void registry_remove_crd(struct server *s, const char *crd_name);
/* Discovery documents (new references). */
json_t *registry_api_versions(struct server *s);
json_t *registry_group_list(struct server *s);
json_t *registry_group(struct server *s, const char *group);
json_t *registry_resource_list(struct server *s, const char *group, const char *version);
char *registry_api_version(const struct resource_type *t); /* "v1" or "apps/v1" (malloc) */

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Server-side Table output (table.c).
 * Functions taking a struct server * expect server->lock held (see fakekube.h);
 * ownership as noted per function ("borrowed" or "new reference").
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fakekube.h"

/* A meta.k8s.io/v1 Table for the objects (array), new reference. */
json_t *table_build(struct server *s, const struct resource_type *t, json_t *objects,
                    const char *include_object);
void format_age(int64_t seconds, char *buf, size_t size);

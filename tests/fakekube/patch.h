/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Merge, JSON and strategic merge patches; YAML input (patch.c).
 * Functions taking a struct server * expect server->lock held (see fakekube.h);
 * ownership as noted per function ("borrowed" or "new reference").
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fakekube.h"

json_t *patch_merge(json_t *target, json_t *patch); /* RFC 7386, new reference */
int patch_json(json_t *target, json_t *patch, json_t **ret, char **ret_error); /* RFC 6902 */
/* Strategic merge: definition is the swagger definition of target (may be NULL). */
json_t *patch_strategic(struct server *s, json_t *target, json_t *patch, const char *definition);
/* YAML (or JSON) text to JSON; NULL on a parse error. */
json_t *yaml_to_json(const char *text, size_t len);

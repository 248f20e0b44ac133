/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OpenAPI validation of built-in kinds and CRDs; OpenAPI v3 documents (schema.c).
 * Functions taking a struct server * expect server->lock held (see fakekube.h);
 * ownership as noted per function ("borrowed" or "new reference").
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fakekube.h"

enum field_validation { FIELD_VALIDATION_STRICT, FIELD_VALIDATION_WARN, FIELD_VALIDATION_IGNORE };
int schema_load(struct server *s);
/*
 * Validate obj (modified in place: unknown fields pruned unless Strict,
 * CRD defaults applied).  Returns 0 when valid.  *ret_causes: array of
 * {reason, message, field} (new reference, always set); *ret_warnings:
 * array of strings (new reference, always set).
 */
int schema_validate(struct server *s, const struct resource_type *t, json_t *obj,
                    enum field_validation mode, json_t **ret_causes, json_t **ret_warnings);
/* Swagger definition name by short name resolution: follows $ref (borrowed). */
json_t *schema_definition(struct server *s, const char *name);
json_t *schema_resolve(struct server *s, json_t *schema); /* follows $ref/allOf (borrowed) */
json_t *schema_openapi_v3_index(struct server *s);
json_t *schema_openapi_v3_doc(struct server *s, const char *group, const char *version);

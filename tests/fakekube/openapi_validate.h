/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One OpenAPI schema validator for the test tools: Kubernetes OpenAPI v2
 * definitions (swagger, "$ref": "#/definitions/...") and CRD structural
 * openAPIV3Schemas (defaults, pruning, list types).  Used by fakekube
 * (schema.c) and by the CRD lint (tests/cron/crd_check.c).  The validator
 * decides; each caller words the violations it is handed (fakekube as the
 * API server's causes, crd_check as its lint lines), always naming the field.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum openapi_dialect {
        OPENAPI_SWAGGER,    /* built-in kinds: no defaults, nulls skipped, formats not checked */
        OPENAPI_STRUCTURAL, /* CRDs: defaults, pruning, formats, list-type uniqueness */
};

enum openapi_problem {
        OPENAPI_WRONG_TYPE,         /* expected: "integer", ..., "int-or-string", "quantity" */
        OPENAPI_NULL,               /* null where not nullable (reject_nulls) */
        OPENAPI_REQUIRED,           /* field: the missing member */
        OPENAPI_UNKNOWN_FIELD,      /* field: the unknown member */
        OPENAPI_NOT_IN_ENUM,        /* schema "enum" lists the allowed values */
        OPENAPI_BELOW_MINIMUM,      /* limit, exclusive */
        OPENAPI_ABOVE_MAXIMUM,      /* limit, exclusive */
        OPENAPI_TOO_SHORT,          /* count_limit (characters) */
        OPENAPI_TOO_LONG,           /* count_limit (characters) */
        OPENAPI_PATTERN_MISMATCH,   /* text: the pattern */
        OPENAPI_BAD_PATTERN,        /* text: a pattern regcomp refuses */
        OPENAPI_BAD_DATE_TIME,      /* format date-time */
        OPENAPI_NOT_INT32,          /* format int32 */
        OPENAPI_TOO_FEW_ITEMS,      /* count, count_limit */
        OPENAPI_TOO_MANY_ITEMS,     /* count, count_limit */
        OPENAPI_DUPLICATE_ITEMS,    /* first, second, text: the list type */
        OPENAPI_TOO_FEW_PROPERTIES, /* count, count_limit */
        OPENAPI_ALL_OF,             /* first: the failing branch */
        OPENAPI_ANY_OF,
        OPENAPI_ONE_OF, /* count: how many branches match */
        OPENAPI_NOT,
        OPENAPI_TOO_DEEP,
        OPENAPI_UNRESOLVED_REF, /* text: the $ref */
};

struct openapi_violation {
        enum openapi_problem problem;
        enum openapi_dialect dialect; /* of the schema node that failed */
        const char *field;            /* "spec.sales[0].name"; "" is the root */
        const json_t *value;          /* the offending value; NULL for REQUIRED */
        const json_t *schema;         /* the schema node that failed */
        const char *expected;         /* WRONG_TYPE */
        const char *text;             /* pattern, $ref or list type */
        double limit;
        bool exclusive;
        long long count_limit;
        size_t count, first, second;
};

struct openapi_validator {
        const json_t *definitions; /* targets of "#/definitions/NAME", or NULL */
        bool drop_unknown;         /* remove unknown fields (after reporting them) */
        bool reject_nulls;         /* structural: report nulls rather than prune them */
        void (*report)(const struct openapi_violation *violation, void *userdata);
        void *userdata;
};

/*
 * Validate value (modified in place: structural defaults applied, nulls and,
 * with drop_unknown, unknown fields pruned) against schema, calling report
 * for each violation.  At the root (path "") of a structural schema,
 * apiVersion and kind are left alone and metadata is validated against
 * ObjectMeta when definitions are given, skipped otherwise.  Returns 0 when
 * valid, -EINVAL when something was reported.
 */
int openapi_validate(const struct openapi_validator *validator, enum openapi_dialect dialect,
                     json_t *value, const json_t *schema, const char *path);

/*
 * schema with "$ref": "#/definitions/NAME" (and the swagger idiom allOf:
 * [{$ref}]) followed, up to 8 hops (borrowed).  NULL when a reference does
 * not resolve; *ret_ref (optional) is the last reference followed.
 */
const json_t *openapi_resolve(const json_t *definitions, const json_t *schema,
                              const char **ret_ref);

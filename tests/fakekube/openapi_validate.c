/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The OpenAPI validator shared by fakekube and crd_check (see
 * openapi_validate.h): one walk over value and schema for both the
 * Kubernetes swagger definitions and CRD structural schemas.
 */
#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "macros.h"
#include "openapi_validate.h"

#define MAX_DEPTH   64
#define OBJECT_META "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
#define QUANTITY    "io.k8s.apimachinery.pkg.api.resource.Quantity"

struct walk {
        const struct openapi_validator *validator;
        bool branch; /* inside allOf/anyOf/oneOf/not: unknown fields are not our business */
        size_t violations;
};

static void report(struct walk *w, struct openapi_violation violation)
{
        w->violations++;
        if (w->validator->report)
                w->validator->report(&violation, w->validator->userdata);
}

#define REPORT(w, ...) report(w, (struct openapi_violation){__VA_ARGS__})

static char *child_path(const char *path, const char *key)
{
        char *p = NULL;
        return asprintf(&p, "%s%s%s", path, path[0] ? "." : "", key) < 0 ? NULL : p;
}

static char *index_path(const char *path, size_t i)
{
        char *p = NULL;
        return asprintf(&p, "%s[%zu]", path, i) < 0 ? NULL : p;
}

static bool type_matches(const char *type, const json_t *value)
{
        if (strcmp(type, "string") == 0)
                return json_is_string(value);
        if (strcmp(type, "integer") == 0) /* 2.0 is an integer, as encoding/json sees it */
                return json_is_integer(value) ||
                       (json_is_real(value) &&
                        floor(json_real_value(value)) == json_real_value(value));
        if (strcmp(type, "number") == 0)
                return json_is_number(value);
        if (strcmp(type, "boolean") == 0)
                return json_is_boolean(value);
        if (strcmp(type, "array") == 0)
                return json_is_array(value);
        if (strcmp(type, "object") == 0)
                return json_is_object(value);
        return true;
}

static size_t utf8_length(const char *s)
{
        size_t n = 0;
        for (; *s; s++)
                if (((unsigned char)*s & 0xc0) != 0x80)
                        n++;
        return n;
}

static void walk(struct walk *w, enum openapi_dialect dialect, json_t *value, const json_t *schema,
                 const char *path, int depth);

/* Does value satisfy schema?  Checked on a copy; unknown fields do not count. */
static bool branch_matches(struct walk *w, enum openapi_dialect dialect, const json_t *value,
                           const json_t *schema, int depth)
{
        struct openapi_validator quiet = *w->validator;
        quiet.report = NULL;
        quiet.drop_unknown = false;
        struct walk sub = {.validator = &quiet, .branch = true};
        _cleanup_json_ json_t *copy = json_deep_copy(value);
        walk(&sub, dialect, copy, schema, "", depth + 1);
        return sub.violations == 0;
}

const json_t *openapi_resolve(const json_t *definitions, const json_t *schema, const char **ret_ref)
{
        for (int hops = 0; schema && hops < 8; hops++) {
                const char *ref = json_string_value(json_object_get(schema, "$ref"));
                const json_t *all_of = json_object_get(schema, "allOf");
                if (ref) {
                        if (ret_ref)
                                *ret_ref = ref;
                        if (strncmp(ref, "#/definitions/", 14) != 0)
                                return NULL;
                        schema = json_object_get(definitions, ref + 14);
                } else if (json_array_size(all_of) == 1 &&
                           json_object_get(json_array_get(all_of, 0), "$ref")) {
                        schema = json_array_get(all_of, 0);
                } else {
                        return schema;
                }
        }
        return schema;
}

static void check_number(struct walk *w, enum openapi_dialect dialect, const json_t *value,
                         const json_t *schema, const char *path)
{
        double d = json_number_value(value);
        const json_t *min = json_object_get(schema, "minimum");
        const json_t *max = json_object_get(schema, "maximum");
        bool xmin = json_is_true(json_object_get(schema, "exclusiveMinimum"));
        bool xmax = json_is_true(json_object_get(schema, "exclusiveMaximum"));
        if (min && (xmin ? d <= json_number_value(min) : d < json_number_value(min)))
                REPORT(w, .problem = OPENAPI_BELOW_MINIMUM, .dialect = dialect, .field = path,
                       .value = value, .schema = schema, .limit = json_number_value(min),
                       .exclusive = xmin);
        if (max && (xmax ? d >= json_number_value(max) : d > json_number_value(max)))
                REPORT(w, .problem = OPENAPI_ABOVE_MAXIMUM, .dialect = dialect, .field = path,
                       .value = value, .schema = schema, .limit = json_number_value(max),
                       .exclusive = xmax);
        const char *format = json_string_value(json_object_get(schema, "format"));
        if (dialect == OPENAPI_STRUCTURAL && format && strcmp(format, "int32") == 0 &&
            json_is_integer(value) &&
            (json_integer_value(value) < INT32_MIN || json_integer_value(value) > INT32_MAX))
                REPORT(w, .problem = OPENAPI_NOT_INT32, .dialect = dialect, .field = path,
                       .value = value, .schema = schema);
}

static void check_string(struct walk *w, enum openapi_dialect dialect, const json_t *value,
                         const json_t *schema, const char *path)
{
        const char *s = json_string_value(value);
        size_t length = utf8_length(s);
        const json_t *limit;
        if ((limit = json_object_get(schema, "minLength")) &&
            (long long)length < json_integer_value(limit))
                REPORT(w, .problem = OPENAPI_TOO_SHORT, .dialect = dialect, .field = path,
                       .value = value, .schema = schema, .count = length,
                       .count_limit = json_integer_value(limit));
        if ((limit = json_object_get(schema, "maxLength")) &&
            (long long)length > json_integer_value(limit))
                REPORT(w, .problem = OPENAPI_TOO_LONG, .dialect = dialect, .field = path,
                       .value = value, .schema = schema, .count = length,
                       .count_limit = json_integer_value(limit));
        const char *pattern = json_string_value(json_object_get(schema, "pattern"));
        if (pattern) {
                regex_t re;
                if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0) {
                        REPORT(w, .problem = OPENAPI_BAD_PATTERN, .dialect = dialect, .field = path,
                               .value = value, .schema = schema, .text = pattern);
                } else {
                        if (regexec(&re, s, 0, NULL, 0) != 0)
                                REPORT(w, .problem = OPENAPI_PATTERN_MISMATCH, .dialect = dialect,
                                       .field = path, .value = value, .schema = schema,
                                       .text = pattern);
                        regfree(&re);
                }
        }
        const char *format = json_string_value(json_object_get(schema, "format"));
        time_t t;
        if (dialect == OPENAPI_STRUCTURAL && format && strcmp(format, "date-time") == 0 &&
            clock_parse_rfc3339(s, &t) < 0)
                REPORT(w, .problem = OPENAPI_BAD_DATE_TIME, .dialect = dialect, .field = path,
                       .value = value, .schema = schema);
}

/* x-kubernetes-list-type map/set: keys or members must be unique. */
static void check_list_type(struct walk *w, enum openapi_dialect dialect, const json_t *value,
                            const json_t *schema, const char *path)
{
        const char *list_type =
                json_string_value(json_object_get(schema, "x-kubernetes-list-type"));
        if (!list_type || (strcmp(list_type, "map") != 0 && strcmp(list_type, "set") != 0))
                return;
        const json_t *keys = json_object_get(schema, "x-kubernetes-list-map-keys");
        for (size_t a = 0; a < json_array_size(value); a++)
                for (size_t b = a + 1; b < json_array_size(value); b++) {
                        const json_t *x = json_array_get(value, a), *y = json_array_get(value, b);
                        bool same = true;
                        if (strcmp(list_type, "map") == 0) {
                                size_t k;
                                const json_t *key;
                                json_array_foreach (keys, k, key) {
                                        const char *name = json_string_value(key);
                                        if (!json_equal(json_object_get(x, name),
                                                        json_object_get(y, name)))
                                                same = false;
                                }
                        } else {
                                same = json_equal(x, y);
                        }
                        if (same)
                                REPORT(w, .problem = OPENAPI_DUPLICATE_ITEMS, .dialect = dialect,
                                       .field = path, .value = value, .schema = schema, .first = a,
                                       .second = b, .text = list_type);
                }
}

static void check_array(struct walk *w, enum openapi_dialect dialect, json_t *value,
                        const json_t *schema, const char *path, int depth)
{
        const json_t *limit;
        size_t n = json_array_size(value);
        if ((limit = json_object_get(schema, "minItems")) &&
            (long long)n < json_integer_value(limit))
                REPORT(w, .problem = OPENAPI_TOO_FEW_ITEMS, .dialect = dialect, .field = path,
                       .value = value, .schema = schema, .count = n,
                       .count_limit = json_integer_value(limit));
        if ((limit = json_object_get(schema, "maxItems")) &&
            (long long)n > json_integer_value(limit))
                REPORT(w, .problem = OPENAPI_TOO_MANY_ITEMS, .dialect = dialect, .field = path,
                       .value = value, .schema = schema, .count = n,
                       .count_limit = json_integer_value(limit));
        const json_t *items = json_object_get(schema, "items");
        size_t i;
        json_t *item;
        json_array_foreach (value, i, item) {
                _cleanup_free_ char *p = index_path(path, i);
                if (items)
                        walk(w, dialect, item, items, p ? p : path, depth + 1);
        }
        /* Built-in list types are the server's Go validation's business, not the schema's. */
        if (dialect == OPENAPI_STRUCTURAL)
                check_list_type(w, dialect, value, schema, path);
}

static void unknown_field(struct walk *w, enum openapi_dialect dialect, json_t *object,
                          const char *key, const char *path)
{
        if (w->branch)
                return;
        _cleanup_free_ char *p = child_path(path, key);
        REPORT(w, .problem = OPENAPI_UNKNOWN_FIELD, .dialect = dialect, .field = p ? p : key,
               .value = json_object_get(object, key));
        if (w->validator->drop_unknown)
                json_object_del(object, key);
}

static void check_object(struct walk *w, enum openapi_dialect dialect, json_t *value,
                         const json_t *schema, const char *path, int depth)
{
        const json_t *props = json_object_get(schema, "properties");
        const json_t *additional = json_object_get(schema, "additionalProperties");
        bool structural = dialect == OPENAPI_STRUCTURAL;
        bool root = structural && path[0] == '\0' && !w->branch;
        /* Swagger: no properties means any map.  Structural: pruned unless preserved. */
        bool preserve = structural ? json_is_true(json_object_get(
                                             schema, "x-kubernetes-preserve-unknown-fields")) ||
                                             json_is_true(additional) ||
                                             json_is_true(json_object_get(
                                                     schema, "x-kubernetes-embedded-resource"))
                                   : !props;
        const char *key;
        json_t *child;
        void *tmp;
        if (structural) { /* defaults first, as the API server applies them */
                json_t *ps;
                json_object_foreach ((json_t *)props, key, ps) {
                        const json_t *def = json_object_get(ps, "default");
                        json_t *have = json_object_get(value, key);
                        if (def && (!have || (json_is_null(have) &&
                                              !json_is_true(json_object_get(ps, "nullable")))))
                                json_object_set_new(value, key, json_deep_copy(def));
                }
        }
        json_object_foreach_safe (value, tmp, key, child) {
                if (root && (strcmp(key, "apiVersion") == 0 || strcmp(key, "kind") == 0))
                        continue;
                if (root && strcmp(key, "metadata") == 0) {
                        /* ObjectMeta: the API server's own schema, when we have it. */
                        const json_t *meta =
                                json_object_get(w->validator->definitions, OBJECT_META);
                        if (meta)
                                walk(w, OPENAPI_SWAGGER, child, meta, "metadata", depth + 1);
                        continue;
                }
                const json_t *ps = json_object_get(props, key);
                if (!ps && json_is_object(additional))
                        ps = additional;
                if (!ps) {
                        if (!preserve)
                                unknown_field(w, dialect, value, key, path);
                        continue;
                }
                if (json_is_null(child) && !json_is_true(json_object_get(ps, "nullable"))) {
                        if (!structural)
                                continue;
                        if (!w->validator->reject_nulls) {
                                json_object_del(value, key); /* real servers prune them */
                                continue;
                        }
                }
                _cleanup_free_ char *p = child_path(path, key);
                walk(w, dialect, child, ps, p ? p : key, depth + 1);
        }
        size_t i;
        const json_t *required;
        json_array_foreach (json_object_get(schema, "required"), i, required) {
                const char *name = json_string_value(required);
                const json_t *have = name ? json_object_get(value, name) : NULL;
                if (name && (!have || (!structural && json_is_null(have)))) {
                        _cleanup_free_ char *p = child_path(path, name);
                        REPORT(w, .problem = OPENAPI_REQUIRED, .dialect = dialect,
                               .field = p ? p : name, .schema = schema);
                }
        }
        const json_t *min_properties = json_object_get(schema, "minProperties");
        if (min_properties &&
            (long long)json_object_size(value) < json_integer_value(min_properties))
                REPORT(w, .problem = OPENAPI_TOO_FEW_PROPERTIES, .dialect = dialect, .field = path,
                       .value = value, .schema = schema, .count = json_object_size(value),
                       .count_limit = json_integer_value(min_properties));
}

static void check_combinations(struct walk *w, enum openapi_dialect dialect, json_t *value,
                               const json_t *schema, const char *path, int depth)
{
        size_t i;
        const json_t *branch;
        json_array_foreach (json_object_get(schema, "allOf"), i, branch) {
                if (!branch_matches(w, dialect, value, branch, depth))
                        REPORT(w, .problem = OPENAPI_ALL_OF, .dialect = dialect, .field = path,
                               .value = value, .schema = schema, .first = i);
        }
        const json_t *any_of = json_object_get(schema, "anyOf");
        if (json_array_size(any_of) &&
            !json_is_true(json_object_get(schema, "x-kubernetes-int-or-string"))) {
                bool matched = false;
                json_array_foreach (any_of, i, branch)
                        matched |= branch_matches(w, dialect, value, branch, depth);
                if (!matched)
                        REPORT(w, .problem = OPENAPI_ANY_OF, .dialect = dialect, .field = path,
                               .value = value, .schema = schema);
        }
        const json_t *one_of = json_object_get(schema, "oneOf");
        if (json_array_size(one_of)) {
                size_t matching = 0;
                json_array_foreach (one_of, i, branch)
                        matching += branch_matches(w, dialect, value, branch, depth);
                if (matching != 1)
                        REPORT(w, .problem = OPENAPI_ONE_OF, .dialect = dialect, .field = path,
                               .value = value, .schema = schema, .count = matching);
        }
        const json_t *not = json_object_get(schema, "not");
        if (not &&branch_matches(w, dialect, value, not, depth))
                REPORT(w, .problem = OPENAPI_NOT, .dialect = dialect, .field = path, .value = value,
                       .schema = schema);
}

static void walk(struct walk *w, enum openapi_dialect dialect, json_t *value, const json_t *schema,
                 const char *path, int depth)
{
        if (!schema)
                return;
        if (depth > MAX_DEPTH) {
                REPORT(w, .problem = OPENAPI_TOO_DEEP, .dialect = dialect, .field = path,
                       .value = value, .schema = schema);
                return;
        }
        const char *ref = NULL;
        const json_t *target = openapi_resolve(w->validator->definitions, schema, &ref);
        if (!target) {
                REPORT(w, .problem = OPENAPI_UNRESOLVED_REF, .dialect = dialect, .field = path,
                       .value = value, .schema = schema, .text = ref);
                return;
        }
        bool quantity = ref && strcmp(ref, "#/definitions/" QUANTITY) == 0;
        schema = target;
        bool structural = dialect == OPENAPI_STRUCTURAL;
        if (json_is_null(value)) {
                if (!structural || json_is_true(json_object_get(schema, "nullable")))
                        return;
                if (w->validator->reject_nulls) {
                        REPORT(w, .problem = OPENAPI_NULL, .dialect = dialect, .field = path,
                               .value = value, .schema = schema);
                        return;
                }
        }
        const char *type = json_string_value(json_object_get(schema, "type"));
        const char *format = json_string_value(json_object_get(schema, "format"));
        const char *expected = type;
        bool type_ok = !type || type_matches(type, value);
        if (json_is_true(json_object_get(schema, "x-kubernetes-int-or-string")) ||
            (format && strcmp(format, "int-or-string") == 0)) {
                expected = "int-or-string";
                type_ok = json_is_integer(value) || json_is_string(value);
        } else if (quantity) { /* YAML `cpu: 1` arrives as a number; the Go decoder accepts it */
                expected = "quantity";
                type_ok = json_is_string(value) || json_is_number(value);
        }
        if (!type_ok) {
                REPORT(w, .problem = OPENAPI_WRONG_TYPE, .dialect = dialect, .field = path,
                       .value = value, .schema = schema, .expected = expected);
                return;
        }
        const json_t *allowed = json_object_get(schema, "enum");
        if (json_is_array(allowed)) {
                bool found = false;
                size_t i;
                const json_t *option;
                json_array_foreach (allowed, i, option)
                        found |= json_equal(option, value);
                if (!found)
                        REPORT(w, .problem = OPENAPI_NOT_IN_ENUM, .dialect = dialect, .field = path,
                               .value = value, .schema = schema);
        }
        if (json_is_number(value))
                check_number(w, dialect, value, schema, path);
        else if (json_is_string(value))
                check_string(w, dialect, value, schema, path);
        else if (json_is_array(value))
                check_array(w, dialect, value, schema, path, depth);
        else if (json_is_object(value) && (structural || json_object_get(schema, "properties") ||
                                           json_object_get(schema, "additionalProperties")))
                check_object(w, dialect, value, schema, path, depth);
        check_combinations(w, dialect, value, schema, path, depth);
}

int openapi_validate(const struct openapi_validator *validator, enum openapi_dialect dialect,
                     json_t *value, const json_t *schema, const char *path)
{
        struct walk w = {.validator = validator};
        walk(&w, dialect, value, schema, path, 0);
        return w.violations ? -EINVAL : 0;
}

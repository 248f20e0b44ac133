/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Schema validation: built-in kinds against the Kubernetes OpenAPI v2
 * document (swagger), custom resources against their CRD's structural
 * openAPIV3Schema (with defaulting and pruning); and the OpenAPI v3
 * documents kubectl reads (/openapi/v3).
 */
#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakekube.h"
#include "macros.h"
#include "schema.h"

int schema_load(struct server *s)
{
        json_error_t error;
        s->swagger = json_load_file(s->options.openapi_file, 0, &error);
        if (!s->swagger)
                return -ENOENT;
        s->swagger_by_gvk = json_object();
        const char *name;
        json_t *def;
        json_object_foreach (json_object_get(s->swagger, "definitions"), name, def) {
                size_t i;
                json_t *gvk;
                json_array_foreach (json_object_get(def, "x-kubernetes-group-version-kind"), i,
                                    gvk) {
                        char key[512];
                        snprintf(key, sizeof(key), "%s/%s/%s",
                                 json_string_value(json_object_get(gvk, "group")) ?: "",
                                 json_string_value(json_object_get(gvk, "version")) ?: "",
                                 json_string_value(json_object_get(gvk, "kind")) ?: "");
                        json_object_set_new(s->swagger_by_gvk, key, json_string(name));
                }
        }
        for (size_t i = 0; i < s->n_types; i++) {
                struct resource_type *t = s->types[i];
                char key[512];
                snprintf(key, sizeof(key), "%s/%s/%s", t->group, t->version, t->kind);
                t->definition = json_string_value(json_object_get(s->swagger_by_gvk, key));
        }
        s->openapi_v2_text = json_dumps(s->swagger, JSON_COMPACT);
        return s->openapi_v2_text ? 0 : -ENOMEM;
}

json_t *schema_definition(struct server *s, const char *name)
{
        return json_object_get(json_object_get(s->swagger, "definitions"), name);
}

json_t *schema_resolve(struct server *s, json_t *schema)
{
        for (int hops = 0; schema && hops < 8; hops++) {
                const char *ref = json_string_value(json_object_get(schema, "$ref"));
                json_t *all_of = json_object_get(schema, "allOf");
                if (ref && strncmp(ref, "#/definitions/", 14) == 0)
                        schema = schema_definition(s, ref + 14);
                else if (json_array_size(all_of) == 1 &&
                         json_object_get(json_array_get(all_of, 0), "$ref"))
                        schema = json_array_get(all_of, 0);
                else
                        return schema;
        }
        return schema;
}

struct validation {
        struct server *s;
        enum field_validation mode;
        json_t *causes;
        json_t *warnings;
};

static void add_cause(struct validation *v, const char *reason, const char *field, const char *fmt,
                      ...) _printf_(4, 5);
static void add_cause(struct validation *v, const char *reason, const char *field, const char *fmt,
                      ...)
{
        va_list ap;
        va_start(ap, fmt);
        char *detail = NULL;
        if (vasprintf(&detail, fmt, ap) < 0)
                detail = NULL;
        va_end(ap);
        json_array_append_new(v->causes, json_pack("{s:s, s:s, s:s}", "reason", reason, "message",
                                                   detail ? detail : "", "field", field));
        free(detail);
}

static char *child_path(const char *path, const char *key)
{
        char *p = NULL;
        if (asprintf(&p, "%s%s%s", path, path[0] ? "." : "", key) < 0)
                return NULL;
        return p;
}

static char *index_path(const char *path, size_t i)
{
        char *p = NULL;
        if (asprintf(&p, "%s[%zu]", path, i) < 0)
                return NULL;
        return p;
}

static const char *json_type_name(json_t *v)
{
        switch (json_typeof(v)) {
        case JSON_OBJECT:
                return "object";
        case JSON_ARRAY:
                return "array";
        case JSON_STRING:
                return "string";
        case JSON_INTEGER:
                return "integer";
        case JSON_REAL:
                return "number";
        case JSON_TRUE:
        case JSON_FALSE:
                return "boolean";
        default:
                return "null";
        }
}

/* Unknown field handling shared by both validators: error, warn+drop or drop. */
static void unknown_field(struct validation *v, json_t *obj, const char *key, const char *path)
{
        _cleanup_free_ char *p = child_path(path, key);
        if (v->mode == FIELD_VALIDATION_STRICT) {
                add_cause(v, "FieldValueInvalid", p ? p : key, "unknown field \"%s\"", p ? p : key);
                return;
        }
        if (v->mode == FIELD_VALIDATION_WARN) {
                char *w = NULL;
                if (asprintf(&w, "unknown field \"%s\"", p ? p : key) >= 0) {
                        json_array_append_new(v->warnings, json_string(w));
                        free(w);
                }
        }
        json_object_del(obj, key);
}

static bool swagger_type_ok(json_t *value, const char *type)
{
        if (strcmp(type, "string") == 0)
                return json_is_string(value);
        if (strcmp(type, "integer") == 0)
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

static void validate_swagger(struct validation *v, json_t *value, json_t *schema, const char *path)
{
        schema = schema_resolve(v->s, schema);
        if (!schema || json_is_null(value))
                return;
        const char *type = json_string_value(json_object_get(schema, "type"));
        const char *format = json_string_value(json_object_get(schema, "format"));
        json_t *props = json_object_get(schema, "properties");
        json_t *additional = json_object_get(schema, "additionalProperties");
        if (format && strcmp(format, "int-or-string") == 0) {
                if (!json_is_string(value) && !json_is_integer(value))
                        add_cause(v, "FieldValueInvalid", path,
                                  "expected integer or string, got %s", json_type_name(value));
                return;
        }
        if (schema == schema_definition(v->s, "io.k8s.apimachinery.pkg.api.resource.Quantity")) {
                /* YAML `cpu: 1` arrives as a number; the Go decoder accepts it. */
                if (!json_is_string(value) && !json_is_number(value))
                        add_cause(v, "FieldValueInvalid", path, "expected quantity, got %s",
                                  json_type_name(value));
                return;
        }
        if (!type && !props)
                return; /* any JSON (RawExtension, JSON, ...) */
        if (type && !swagger_type_ok(value, type)) {
                add_cause(v, "FieldValueInvalid", path, "expected %s, got %s", type,
                          json_type_name(value));
                return;
        }
        if (json_is_object(value) && (props || additional)) {
                const char *key;
                json_t *child;
                void *tmp;
                json_object_foreach_safe (value, tmp, key, child) {
                        json_t *ps = json_object_get(props, key);
                        if (!ps && json_is_object(additional))
                                ps = additional;
                        if (!ps) {
                                if (props)
                                        unknown_field(v, value, key, path);
                                continue;
                        }
                        _cleanup_free_ char *p = child_path(path, key);
                        validate_swagger(v, child, ps, p ? p : key);
                }
                size_t i;
                json_t *req;
                json_array_foreach (json_object_get(schema, "required"), i, req) {
                        const char *r = json_string_value(req);
                        json_t *have = r ? json_object_get(value, r) : NULL;
                        if (r && (!have || json_is_null(have))) {
                                _cleanup_free_ char *p = child_path(path, r);
                                add_cause(v, "FieldValueRequired", p ? p : r, "Required value");
                        }
                }
        } else if (json_is_array(value)) {
                json_t *items = json_object_get(schema, "items");
                size_t i;
                json_t *child;
                json_array_foreach (value, i, child) {
                        _cleanup_free_ char *p = index_path(path, i);
                        validate_swagger(v, child, items, p ? p : path);
                }
        }
}

/* ---- CRD structural schemas ---- */

static void apply_defaults(json_t *value, json_t *schema)
{
        if (!schema)
                return;
        if (json_is_object(value)) {
                json_t *props = json_object_get(schema, "properties");
                const char *key;
                json_t *ps;
                json_object_foreach (props, key, ps) {
                        json_t *def = json_object_get(ps, "default");
                        json_t *have = json_object_get(value, key);
                        if (def && (!have || (json_is_null(have) &&
                                              !json_is_true(json_object_get(ps, "nullable")))))
                                json_object_set_new(value, key, json_deep_copy(def));
                }
                json_t *child;
                json_object_foreach (value, key, child) {
                        json_t *child_schema = json_object_get(props, key);
                        if (!child_schema &&
                            json_is_object(json_object_get(schema, "additionalProperties")))
                                child_schema = json_object_get(schema, "additionalProperties");
                        apply_defaults(child, child_schema);
                }
        } else if (json_is_array(value)) {
                size_t i;
                json_t *child;
                json_array_foreach (value, i, child) {
                        apply_defaults(child, json_object_get(schema, "items"));
                }
        }
}

static bool crd_type_ok(json_t *value, json_t *schema)
{
        if (json_is_true(json_object_get(schema, "x-kubernetes-int-or-string")))
                return json_is_integer(value) || json_is_string(value);
        const char *type = json_string_value(json_object_get(schema, "type"));
        if (!type)
                return true;
        return swagger_type_ok(value, type);
}

static void validate_crd(struct validation *v, json_t *value, json_t *schema, const char *path,
                         bool root);

/* allOf/anyOf/oneOf/not branches: validated without pruning, only pass or fail. */
static bool crd_check_only(struct server *s, json_t *value, json_t *schema)
{
        struct validation sub = {
                .s = s,
                .mode = FIELD_VALIDATION_IGNORE,
                .causes = json_array(),
                .warnings = json_array(),
        };
        _cleanup_json_ json_t *copy = json_deep_copy(value);
        /* Branches usually constrain without listing properties: keep unknown fields. */
        _cleanup_json_ json_t *loose = json_deep_copy(schema);
        json_object_set_new(loose, "x-kubernetes-preserve-unknown-fields", json_true());
        validate_crd(&sub, copy, loose, "", false);
        bool ok = json_array_size(sub.causes) == 0;
        json_decref(sub.causes);
        json_decref(sub.warnings);
        return ok;
}

static char *value_text(json_t *value)
{
        return json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT);
}

static void validate_crd(struct validation *v, json_t *value, json_t *schema, const char *path,
                         bool root)
{
        if (!schema)
                return;
        const char *type = json_string_value(json_object_get(schema, "type"));
        if (!crd_type_ok(value, schema)) {
                _cleanup_free_ char *text = value_text(value);
                add_cause(v, "FieldValueTypeInvalid", path,
                          "Invalid value: %s: %s in body must be of type %s: \"%s\"",
                          text ? text : "", path, type ? type : "int-or-string",
                          json_type_name(value));
                return;
        }
        json_t *e = json_object_get(schema, "enum");
        if (json_is_array(e)) {
                bool found = false;
                size_t i;
                json_t *x;
                json_array_foreach (e, i, x) {
                        if (json_equal(x, value))
                                found = true;
                }
                if (!found) {
                        _cleanup_free_ char *text = value_text(value);
                        _cleanup_free_ char *allowed = json_dumps(e, JSON_COMPACT);
                        add_cause(v, "FieldValueNotSupported", path,
                                  "Unsupported value: %s: supported values: %s", text ? text : "",
                                  allowed ? allowed : "");
                }
        }
        if (json_is_number(value)) {
                double d = json_number_value(value);
                json_t *min = json_object_get(schema, "minimum");
                json_t *max = json_object_get(schema, "maximum");
                bool xmin = json_is_true(json_object_get(schema, "exclusiveMinimum"));
                bool xmax = json_is_true(json_object_get(schema, "exclusiveMaximum"));
                _cleanup_free_ char *text = value_text(value);
                if (min && (xmin ? d <= json_number_value(min) : d < json_number_value(min)))
                        add_cause(v, "FieldValueInvalid", path,
                                  "Invalid value: %s: %s in body should be greater than %s%g",
                                  text ? text : "", path, xmin ? "" : "or equal to ",
                                  json_number_value(min));
                if (max && (xmax ? d >= json_number_value(max) : d > json_number_value(max)))
                        add_cause(v, "FieldValueInvalid", path,
                                  "Invalid value: %s: %s in body should be less than %s%g",
                                  text ? text : "", path, xmax ? "" : "or equal to ",
                                  json_number_value(max));
        }
        if (json_is_string(value)) {
                size_t len = json_string_length(value);
                json_t *minl = json_object_get(schema, "minLength");
                json_t *maxl = json_object_get(schema, "maxLength");
                if (minl && (json_int_t)len < json_integer_value(minl))
                        add_cause(v, "FieldValueInvalid", path,
                                  "Invalid value: \"%s\": %s in body should be at least %lld chars "
                                  "long",
                                  json_string_value(value), path,
                                  (long long)json_integer_value(minl));
                if (maxl && (json_int_t)len > json_integer_value(maxl))
                        add_cause(v, "FieldValueTooLong", path,
                                  "Too long: may not be more than %lld bytes",
                                  (long long)json_integer_value(maxl));
                const char *pattern = json_string_value(json_object_get(schema, "pattern"));
                regex_t re;
                if (pattern && regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) == 0) {
                        if (regexec(&re, json_string_value(value), 0, NULL, 0) != 0)
                                add_cause(v, "FieldValueInvalid", path,
                                          "Invalid value: \"%s\": %s in body should match '%s'",
                                          json_string_value(value), path, pattern);
                        regfree(&re);
                }
        }
        if (json_is_array(value)) {
                json_t *mini = json_object_get(schema, "minItems");
                json_t *maxi = json_object_get(schema, "maxItems");
                if (mini && (json_int_t)json_array_size(value) < json_integer_value(mini))
                        add_cause(v, "FieldValueInvalid", path,
                                  "Invalid value: %zu: %s in body should have at least %lld items",
                                  json_array_size(value), path,
                                  (long long)json_integer_value(mini));
                if (maxi && (json_int_t)json_array_size(value) > json_integer_value(maxi))
                        add_cause(v, "FieldValueTooMany", path,
                                  "Too many: %zu: must have at most %lld items",
                                  json_array_size(value), (long long)json_integer_value(maxi));
                json_t *items = json_object_get(schema, "items");
                size_t i;
                json_t *child;
                json_array_foreach (value, i, child) {
                        _cleanup_free_ char *p = index_path(path, i);
                        validate_crd(v, child, items, p ? p : path, false);
                }
        }
        if (json_is_object(value)) {
                json_t *props = json_object_get(schema, "properties");
                json_t *additional = json_object_get(schema, "additionalProperties");
                bool preserve =
                        json_is_true(
                                json_object_get(schema, "x-kubernetes-preserve-unknown-fields")) ||
                        json_is_true(additional) ||
                        json_is_true(json_object_get(schema, "x-kubernetes-embedded-resource"));
                const char *key;
                json_t *child;
                void *tmp;
                json_object_foreach_safe (value, tmp, key, child) {
                        _cleanup_free_ char *p = child_path(path, key);
                        if (root && (strcmp(key, "apiVersion") == 0 || strcmp(key, "kind") == 0))
                                continue;
                        if (root && strcmp(key, "metadata") == 0) {
                                validate_swagger(
                                        v, child,
                                        schema_definition(
                                                v->s,
                                                "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"),
                                        "metadata");
                                continue;
                        }
                        json_t *ps = json_object_get(props, key);
                        if (!ps && json_is_object(additional))
                                ps = additional;
                        if (!ps) {
                                if (!preserve)
                                        unknown_field(v, value, key, path);
                                continue;
                        }
                        if (json_is_null(child) && !json_is_true(json_object_get(ps, "nullable"))) {
                                /* Real servers prune nulls of non-nullable fields. */
                                json_object_del(value, key);
                                continue;
                        }
                        validate_crd(v, child, ps, p ? p : key, false);
                }
                size_t i;
                json_t *req;
                json_array_foreach (json_object_get(schema, "required"), i, req) {
                        const char *r = json_string_value(req);
                        if (r && !json_object_get(value, r)) {
                                _cleanup_free_ char *p = child_path(path, r);
                                add_cause(v, "FieldValueRequired", p ? p : r, "Required value");
                        }
                }
                json_t *minp = json_object_get(schema, "minProperties");
                if (minp && (json_int_t)json_object_size(value) < json_integer_value(minp))
                        add_cause(v, "FieldValueInvalid", path,
                                  "Invalid value: %zu: %s in body should have at least %lld "
                                  "properties",
                                  json_object_size(value), path,
                                  (long long)json_integer_value(minp));
        }
        size_t i;
        json_t *sub;
        json_array_foreach (json_object_get(schema, "allOf"), i, sub) {
                if (!crd_check_only(v->s, value, sub))
                        add_cause(v, "FieldValueInvalid", path,
                                  "Invalid value: must match allOf[%zu]", i);
        }
        json_t *any = json_object_get(schema, "anyOf");
        if (json_array_size(any)) {
                bool ok = false;
                json_array_foreach (any, i, sub) {
                        if (crd_check_only(v->s, value, sub))
                                ok = true;
                }
                if (!ok)
                        add_cause(v, "FieldValueInvalid", path, "Invalid value: must match anyOf");
        }
        json_t *one = json_object_get(schema, "oneOf");
        if (json_array_size(one)) {
                int n = 0;
                json_array_foreach (one, i, sub) {
                        if (crd_check_only(v->s, value, sub))
                                n++;
                }
                if (n != 1)
                        add_cause(v, "FieldValueInvalid", path,
                                  "Invalid value: must match exactly one oneOf schema");
        }
        json_t *not = json_object_get(schema, "not");
        if (not &&crd_check_only(v->s, value, not ))
                add_cause(v, "FieldValueInvalid", path,
                          "Invalid value: must not match 'not' schema");
}

int schema_validate(struct server *s, const struct resource_type *t, json_t *obj,
                    enum field_validation mode, json_t **ret_causes, json_t **ret_warnings)
{
        struct validation v = {
                .s = s,
                .mode = mode,
                .causes = json_array(),
                .warnings = json_array(),
        };
        if (t->is_crd) {
                if (t->crd_schema) {
                        apply_defaults(obj, t->crd_schema);
                        validate_crd(&v, obj, t->crd_schema, "", true);
                }
        } else if (t->definition) {
                validate_swagger(&v, obj, schema_definition(s, t->definition), "");
        }
        int r = json_array_size(v.causes) ? -EINVAL : 0;
        *ret_causes = v.causes;
        *ret_warnings = v.warnings;
        return r;
}

/* ---- OpenAPI v3 ---- */

json_t *schema_openapi_v3_index(struct server *s)
{
        json_t *paths = json_object();
        for (size_t i = 0; i < s->n_types; i++) {
                struct resource_type *t = s->types[i];
                if (t->removed)
                        continue;
                char key[300], url[400];
                if (t->group[0])
                        snprintf(key, sizeof(key), "apis/%s/%s", t->group, t->version);
                else
                        snprintf(key, sizeof(key), "api/%s", t->version);
                /* The hash changes whenever served types change, so kubectl's cache refreshes. */
                snprintf(url, sizeof(url), "/openapi/v3/%s?hash=%zu-%llu", key, s->n_types,
                         (unsigned long long)(t->is_crd ? s->rv : 0));
                json_object_set_new(paths, key, json_pack("{s:s}", "serverRelativeURL", url));
        }
        return json_pack("{s:o}", "paths", paths);
}

/* A v2 parameter (maybe a $ref into #/parameters) as a v3 parameter, NULL for body parameters. */
static json_t *v3_parameter(struct server *s, json_t *param)
{
        const char *ref = json_string_value(json_object_get(param, "$ref"));
        if (ref && strncmp(ref, "#/parameters/", 13) == 0)
                param = json_object_get(json_object_get(s->swagger, "parameters"), ref + 13);
        const char *in = json_string_value(json_object_get(param, "in"));
        if (!in || strcmp(in, "body") == 0)
                return NULL;
        json_t *schema = json_object();
        json_t *type = json_object_get(param, "type");
        if (type)
                json_object_set(schema, "type", type);
        return json_pack("{s:O, s:s, s:o, s:b}", "name", json_object_get(param, "name"), "in", in,
                         "schema", schema, "required",
                         json_is_true(json_object_get(param, "required")));
}

static json_t *v3_operation(struct server *s, json_t *op, json_t *path_params)
{
        json_t *out = json_object();
        const char *key;
        json_t *value;
        json_object_foreach (op, key, value) {
                if (strncmp(key, "x-kubernetes-", 13) == 0 || strcmp(key, "operationId") == 0 ||
                    strcmp(key, "description") == 0)
                        json_object_set(out, key, value);
        }
        json_t *params = json_array();
        size_t i;
        json_t *p;
        json_array_foreach (path_params, i, p) {
                json_t *c = v3_parameter(s, p);
                if (c)
                        json_array_append_new(params, c);
        }
        json_array_foreach (json_object_get(op, "parameters"), i, p) {
                json_t *c = v3_parameter(s, p);
                if (c)
                        json_array_append_new(params, c);
        }
        json_object_set_new(out, "parameters", params);
        json_t *ok = json_object_get(json_object_get(op, "responses"), "200");
        json_t *schema = json_object_get(ok, "schema");
        json_t *responses = json_object();
        if (schema)
                json_object_set_new(responses, "200",
                                    json_pack("{s:s, s:{s:{s:O}}}", "description", "OK", "content",
                                              "application/json", "schema", schema));
        json_object_set_new(out, "responses", responses);
        return out;
}

/* Generated paths for a CRD version: the shapes kubectl's field-validation check looks for. */
static void crd_paths(struct resource_type *t, json_t *paths, const char *schema_name)
{
        char path[512];
        if (t->namespaced)
                snprintf(path, sizeof(path), "/apis/%s/%s/namespaces/{namespace}/%s/{name}",
                         t->group, t->version, t->plural);
        else
                snprintf(path, sizeof(path), "/apis/%s/%s/%s/{name}", t->group, t->version,
                         t->plural);
        char ref[600];
        snprintf(ref, sizeof(ref), "#/components/schemas/%s", schema_name);
        json_t *gvk = json_pack("{s:s, s:s, s:s}", "group", t->group, "version", t->version, "kind",
                                t->kind);
        json_t *params =
                json_pack("[{s:s, s:s, s:{s:s}}, {s:s, s:s, s:{s:s}}, {s:s, s:s, s:{s:s}}]", "name",
                          "fieldValidation", "in", "query", "schema", "type", "string", "name",
                          "dryRun", "in", "query", "schema", "type", "string", "name",
                          "fieldManager", "in", "query", "schema", "type", "string");
        json_t *item = json_object();
        const char *verbs[] = {"get", "put", "patch", "delete"};
        const char *actions[] = {"get", "put", "patch", "delete"};
        for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
                json_object_set_new(item, verbs[i],
                                    json_pack("{s:O, s:s, s:O, s:{s:{s:s, s:{s:{s:{s:s}}}}}}",
                                              "x-kubernetes-group-version-kind", gvk,
                                              "x-kubernetes-action", actions[i], "parameters",
                                              params, "responses", "200", "description", "OK",
                                              "content", "application/json", "schema", "$ref",
                                              ref));
        json_object_set_new(paths, path, item);
        json_decref(gvk);
        json_decref(params);
}

/* Rewrite every "#/definitions/" $ref to "#/components/schemas/" in place. */
static void rewrite_refs(json_t *v)
{
        if (json_is_object(v)) {
                const char *key;
                json_t *child;
                json_object_foreach (v, key, child) {
                        if (strcmp(key, "$ref") == 0 && json_is_string(child) &&
                            strncmp(json_string_value(child), "#/definitions/", 14) == 0) {
                                char buf[512];
                                snprintf(buf, sizeof(buf), "#/components/schemas/%s",
                                         json_string_value(child) + 14);
                                json_string_set(child, buf);
                        } else {
                                rewrite_refs(child);
                        }
                }
        } else if (json_is_array(v)) {
                size_t i;
                json_t *child;
                json_array_foreach (v, i, child) {
                        rewrite_refs(child);
                }
        }
}

json_t *schema_openapi_v3_doc(struct server *s, const char *group, const char *version)
{
        char prefix[300];
        if (group[0])
                snprintf(prefix, sizeof(prefix), "/apis/%s/%s/", group, version);
        else
                snprintf(prefix, sizeof(prefix), "/api/%s/", version);
        json_t *paths = json_object();
        json_t *schemas = json_deep_copy(json_object_get(s->swagger, "definitions"));
        const char *path;
        json_t *item;
        bool found = false;
        json_object_foreach (json_object_get(s->swagger, "paths"), path, item) {
                if (strncmp(path, prefix, strlen(prefix)) != 0)
                        continue;
                found = true;
                json_t *out = json_object();
                const char *verb;
                json_t *op;
                json_object_foreach (item, verb, op) {
                        if (strcmp(verb, "parameters") == 0)
                                continue;
                        json_object_set_new(
                                out, verb,
                                v3_operation(s, op, json_object_get(item, "parameters")));
                }
                json_object_set_new(paths, path, out);
        }
        for (size_t i = 0; i < s->n_types; i++) {
                struct resource_type *t = s->types[i];
                if (t->removed || !t->is_crd || strcmp(t->group, group) != 0 ||
                    strcmp(t->version, version) != 0)
                        continue;
                found = true;
                char name[512];
                snprintf(name, sizeof(name), "%s.%s.%s", t->group, t->version, t->kind);
                json_t *schema = t->crd_schema ? json_deep_copy(t->crd_schema)
                                               : json_pack("{s:s}", "type", "object");
                json_t *props = json_object_get(schema, "properties");
                if (!props) {
                        props = json_object();
                        json_object_set_new(schema, "properties", props);
                }
                json_object_set_new(
                        props, "metadata",
                        json_pack("{s:s}", "$ref",
                                  "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"));
                json_object_set_new(props, "apiVersion", json_pack("{s:s}", "type", "string"));
                json_object_set_new(props, "kind", json_pack("{s:s}", "type", "string"));
                json_object_set_new(schema, "x-kubernetes-group-version-kind",
                                    json_pack("[{s:s, s:s, s:s}]", "group", t->group, "version",
                                              t->version, "kind", t->kind));
                json_object_set_new(schemas, name, schema);
                crd_paths(t, paths, name);
        }
        if (!found) {
                json_decref(paths);
                json_decref(schemas);
                return NULL;
        }
        json_t *doc = json_pack("{s:s, s:{s:s, s:s}, s:o, s:{s:o}}", "openapi", "3.0.0", "info",
                                "title", "Kubernetes", "version", "v1.36.0", "paths", paths,
                                "components", "schemas", schemas);
        rewrite_refs(doc);
        return doc;
}

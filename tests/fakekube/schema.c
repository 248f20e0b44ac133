/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Schema validation: built-in kinds against the Kubernetes OpenAPI v2
 * document (swagger), custom resources against their CRD's structural
 * openAPIV3Schema (with defaulting and pruning); and the OpenAPI v3
 * documents kubectl reads (/openapi/v3).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakekube.h"
#include "macros.h"
#include "openapi_validate.h"
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
        return (json_t *)openapi_resolve(json_object_get(s->swagger, "definitions"), schema, NULL);
}

/* ---- validation: openapi_validate.c decides, this words it as the API server does ---- */

struct validation {
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

static const char *json_type_name(const json_t *v)
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

/* Swagger (built-in) type errors keep fakekube's short wording. */
static void swagger_type_cause(struct validation *v, const struct openapi_violation *e)
{
        const char *got = json_type_name(e->value);
        if (strcmp(e->expected, "int-or-string") == 0)
                add_cause(v, "FieldValueInvalid", e->field, "expected integer or string, got %s",
                          got);
        else if (strcmp(e->expected, "quantity") == 0)
                add_cause(v, "FieldValueInvalid", e->field, "expected quantity, got %s", got);
        else
                add_cause(v, "FieldValueInvalid", e->field, "expected %s, got %s", e->expected,
                          got);
}

static void report_violation(const struct openapi_violation *e, void *userdata)
{
        struct validation *v = userdata;
        const char *f = e->field;
        _cleanup_free_ char *text =
                e->value ? json_dumps(e->value, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
        const char *t = text ? text : "";
        const char *s = json_string_value(e->value) ?: "";
        switch (e->problem) {
        case OPENAPI_UNKNOWN_FIELD:
                if (v->mode == FIELD_VALIDATION_STRICT) {
                        add_cause(v, "FieldValueInvalid", f, "unknown field \"%s\"", f);
                } else if (v->mode == FIELD_VALIDATION_WARN) {
                        char *w = NULL;
                        if (asprintf(&w, "unknown field \"%s\"", f) >= 0) {
                                json_array_append_new(v->warnings, json_string(w));
                                free(w);
                        }
                }
                return;
        case OPENAPI_REQUIRED:
                add_cause(v, "FieldValueRequired", f, "Required value");
                return;
        case OPENAPI_WRONG_TYPE:
                if (e->dialect == OPENAPI_SWAGGER)
                        swagger_type_cause(v, e);
                else
                        add_cause(v, "FieldValueTypeInvalid", f,
                                  "Invalid value: %s: %s in body must be of type %s: \"%s\"", t, f,
                                  e->expected, json_type_name(e->value));
                return;
        case OPENAPI_NULL:
                add_cause(v, "FieldValueRequired", f, "Required value");
                return;
        case OPENAPI_NOT_IN_ENUM: {
                _cleanup_free_ char *allowed =
                        json_dumps(json_object_get(e->schema, "enum"), JSON_COMPACT);
                add_cause(v, "FieldValueNotSupported", f,
                          "Unsupported value: %s: supported values: %s", t, allowed ?: "");
                return;
        }
        case OPENAPI_BELOW_MINIMUM:
                add_cause(v, "FieldValueInvalid", f,
                          "Invalid value: %s: %s in body should be greater than %s%g", t, f,
                          e->exclusive ? "" : "or equal to ", e->limit);
                return;
        case OPENAPI_ABOVE_MAXIMUM:
                add_cause(v, "FieldValueInvalid", f,
                          "Invalid value: %s: %s in body should be less than %s%g", t, f,
                          e->exclusive ? "" : "or equal to ", e->limit);
                return;
        case OPENAPI_TOO_SHORT:
                add_cause(v, "FieldValueInvalid", f,
                          "Invalid value: \"%s\": %s in body should be at least %lld chars long", s,
                          f, e->count_limit);
                return;
        case OPENAPI_TOO_LONG:
                add_cause(v, "FieldValueTooLong", f, "Too long: may not be more than %lld bytes",
                          e->count_limit);
                return;
        case OPENAPI_PATTERN_MISMATCH:
                add_cause(v, "FieldValueInvalid", f,
                          "Invalid value: \"%s\": %s in body should match '%s'", s, f, e->text);
                return;
        case OPENAPI_BAD_PATTERN:
                add_cause(v, "FieldValueInvalid", f,
                          "Invalid value: \"%s\": %s: the schema's pattern '%s' does not compile",
                          s, f, e->text);
                return;
        case OPENAPI_BAD_DATE_TIME:
                add_cause(v, "FieldValueInvalid", f,
                          "Invalid value: \"%s\": %s in body must be of type date-time", s, f);
                return;
        case OPENAPI_NOT_INT32:
                add_cause(v, "FieldValueInvalid", f,
                          "Invalid value: %s: %s in body must be of type int32", t, f);
                return;
        case OPENAPI_TOO_FEW_ITEMS:
                add_cause(v, "FieldValueInvalid", f,
                          "Invalid value: %zu: %s in body should have at least %lld items",
                          e->count, f, e->count_limit);
                return;
        case OPENAPI_TOO_MANY_ITEMS:
                add_cause(v, "FieldValueTooMany", f, "Too many: %zu: must have at most %lld items",
                          e->count, e->count_limit);
                return;
        case OPENAPI_DUPLICATE_ITEMS: {
                _cleanup_free_ char *item = json_dumps(json_array_get(e->value, e->second),
                                                       JSON_ENCODE_ANY | JSON_COMPACT);
                add_cause(v, "FieldValueDuplicate", f, "Duplicate value: %s", item ?: "");
                return;
        }
        case OPENAPI_TOO_FEW_PROPERTIES:
                add_cause(v, "FieldValueInvalid", f,
                          "Invalid value: %zu: %s in body should have at least %lld properties",
                          e->count, f, e->count_limit);
                return;
        case OPENAPI_ALL_OF:
                add_cause(v, "FieldValueInvalid", f, "Invalid value: must match allOf[%zu]",
                          e->first);
                return;
        case OPENAPI_ANY_OF:
                add_cause(v, "FieldValueInvalid", f, "Invalid value: must match anyOf");
                return;
        case OPENAPI_ONE_OF:
                add_cause(v, "FieldValueInvalid", f,
                          "Invalid value: must match exactly one oneOf schema");
                return;
        case OPENAPI_NOT:
                add_cause(v, "FieldValueInvalid", f, "Invalid value: must not match 'not' schema");
                return;
        case OPENAPI_TOO_DEEP:
                add_cause(v, "FieldValueInvalid", f, "Invalid value: nested too deeply");
                return;
        case OPENAPI_UNRESOLVED_REF:
                add_cause(v, "InternalError", f, "schema reference %s not found", e->text ?: "");
                return;
        }
}

int schema_validate(struct server *s, const struct resource_type *t, json_t *obj,
                    enum field_validation mode, json_t **ret_causes, json_t **ret_warnings)
{
        struct validation v = {
                .mode = mode,
                .causes = json_array(),
                .warnings = json_array(),
        };
        const struct openapi_validator validator = {
                .definitions = json_object_get(s->swagger, "definitions"),
                .drop_unknown = mode != FIELD_VALIDATION_STRICT,
                .report = report_violation,
                .userdata = &v,
        };
        if (t->is_crd && t->crd_schema)
                (void)openapi_validate(&validator, OPENAPI_STRUCTURAL, obj, t->crd_schema, "");
        else if (!t->is_crd && t->definition)
                (void)openapi_validate(&validator, OPENAPI_SWAGGER, obj,
                                       schema_definition(s, t->definition), "");
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

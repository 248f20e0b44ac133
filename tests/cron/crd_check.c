/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crd_check: validate TripDeal documents against the CRD's openAPIV3Schema,
 * the way the API server would, and lint the CRD itself.
 *
 *   crd_check --crd CRD.yaml FILE...                 every TripDeal in FILEs must be valid
 *   crd_check --crd CRD.yaml --scan ROOT             every TripDeal in the repository
 *       (except directories named invalid/templates/build*, and files that
 *       carry the line "# crd_check: skip")
 *   crd_check --crd CRD.yaml --expect-invalid FILE...
 *       each FILE must be rejected, with its "# expect: TEXT" line in an error
 *
 * FILEs are YAML (several documents allowed) or Markdown (```yaml blocks).
 * The schema checks are fakekube's (tests/fakekube/openapi_validate.h: one
 * validator for both): type, properties, required, additionalProperties
 * (unknown fields are errors, as with kubectl's strict field validation),
 * items, enum, minimum, maximum, minLength, maxLength, minItems, maxItems,
 * pattern (POSIX ERE via regcomp: the CRD avoids RE2/JS-only syntax), format
 * (date-time, int32), default (applied before validation, as the API server
 * does), allOf/anyOf/oneOf/not, nullable (nulls are errors here, where the
 * server would prune them), x-kubernetes-int-or-string,
 * x-kubernetes-preserve-unknown-fields, x-kubernetes-list-type map/set.
 * This file words the violations as lint lines and adds the CRD lint and the
 * operator's InvalidSpec rules.
 * YAML scalars resolve like kubectl (lib/common/yaml-json.h: YAML 1.1, yes/no/on/off
 * are booleans).
 */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <regex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clock.h"
#include "cron.h"
#include "duration.h"
#include "macros.h"
#include "openapi_validate.h"
#include "support.h"
#include "tz.h"
#include "yaml-json.h"

#define MAX_DEPTH 64

/* ---- YAML -> JSON ------------------------------------------------------- */

static bool matches(const char *s, const char *pattern)
{
        regex_t re;
        if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0)
                return false;
        bool ok = regexec(&re, s, 0, NULL, 0) == 0;
        regfree(&re);
        return ok;
}

/* Every document in text (lib/common's converter); NULL with *error set when malformed. */
static json_t *parse_yaml_documents(const char *text, size_t length, char *error, size_t error_size)
{
        json_t *documents = NULL;
        if (yaml_json_load_all(text, length, YAML_SCALARS_KUBECTL, error, error_size, &documents) <
            0)
                return NULL;
        return documents;
}

/* tests/support's reader, with errno set for the callers' %m. */
static char *read_whole_file(const char *path, size_t *ret_length)
{
        char *text = NULL;
        int r = support_read_file(path, &text, ret_length);
        if (r < 0)
                errno = -r;
        return r < 0 ? NULL : text;
}

/* ---- errors and paths --------------------------------------------------- */

struct errors {
        json_t *list; /* array of strings */
};

static void add_error(struct errors *errors, const char *path, const char *fmt, ...) _printf_(3, 4);
static void add_error(struct errors *errors, const char *path, const char *fmt, ...)
{
        char message[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(message, sizeof(message), fmt, ap);
        va_end(ap);
        char line[1400];
        snprintf(line, sizeof(line), "%s: %s", *path ? path : "<root>", message);
        json_array_append_new(errors->list, json_string(line));
}

static void child_path(char *out, size_t size, const char *path, const char *key)
{
        snprintf(out, size, "%s%s%s", path, *path ? "." : "", key);
}

/* ---- validation: openapi_validate.c decides, this words it as lint lines ---- */

static void report_violation(const struct openapi_violation *e, void *userdata)
{
        struct errors *errors = userdata;
        const char *path = e->field;
        _cleanup_free_ char *text =
                e->value ? json_dumps(e->value, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
        const char *s = json_string_value(e->value) ?: "";
        switch (e->problem) {
        case OPENAPI_WRONG_TYPE:
                if (strcmp(e->expected, "int-or-string") == 0)
                        add_error(errors, path, "must be an integer or a string");
                else
                        add_error(errors, path, "must be of type %s", e->expected);
                return;
        case OPENAPI_NULL:
                add_error(errors, path, "must not be null");
                return;
        case OPENAPI_REQUIRED:
                add_error(errors, path, "required field is missing");
                return;
        case OPENAPI_UNKNOWN_FIELD:
                add_error(errors, path, "unknown field");
                return;
        case OPENAPI_NOT_IN_ENUM: {
                _cleanup_free_ char *allowed =
                        json_dumps(json_object_get(e->schema, "enum"), JSON_COMPACT);
                add_error(errors, path, "%s is not one of %s", text ?: "", allowed ?: "");
                return;
        }
        case OPENAPI_BELOW_MINIMUM:
                add_error(errors, path, "%g is less than the %sminimum %g",
                          json_number_value(e->value), e->exclusive ? "exclusive " : "", e->limit);
                return;
        case OPENAPI_ABOVE_MAXIMUM:
                add_error(errors, path, "%g is more than the %smaximum %g",
                          json_number_value(e->value), e->exclusive ? "exclusive " : "", e->limit);
                return;
        case OPENAPI_TOO_SHORT:
                add_error(errors, path, "\"%s\" is shorter than %lld", s, e->count_limit);
                return;
        case OPENAPI_TOO_LONG:
                add_error(errors, path, "longer than %lld characters", e->count_limit);
                return;
        case OPENAPI_PATTERN_MISMATCH:
                add_error(errors, path, "\"%s\" does not match %s", s, e->text);
                return;
        case OPENAPI_BAD_PATTERN:
                add_error(errors, path, "schema pattern %s does not compile", e->text);
                return;
        case OPENAPI_BAD_DATE_TIME:
                add_error(errors, path, "\"%s\" is not an RFC 3339 date-time", s);
                return;
        case OPENAPI_NOT_INT32:
                add_error(errors, path, "%s does not fit int32", text ?: "");
                return;
        case OPENAPI_TOO_FEW_ITEMS:
                add_error(errors, path, "fewer than %lld items", e->count_limit);
                return;
        case OPENAPI_TOO_MANY_ITEMS:
                add_error(errors, path, "more than %lld items", e->count_limit);
                return;
        case OPENAPI_DUPLICATE_ITEMS:
                add_error(errors, path, "items %zu and %zu are duplicates (%s)", e->first,
                          e->second, e->text);
                return;
        case OPENAPI_TOO_FEW_PROPERTIES:
                add_error(errors, path, "fewer than %lld properties", e->count_limit);
                return;
        case OPENAPI_ALL_OF:
                add_error(errors, path, "does not match allOf[%zu]", e->first);
                return;
        case OPENAPI_ANY_OF:
                add_error(errors, path, "matches none of anyOf");
                return;
        case OPENAPI_ONE_OF: {
                _cleanup_free_ char *branches =
                        json_dumps(json_object_get(e->schema, "oneOf"), JSON_COMPACT);
                add_error(errors, path, "must match exactly one of %s (matches %zu)",
                          branches ?: "", e->count);
                return;
        }
        case OPENAPI_NOT:
                add_error(errors, path, "matches the 'not' schema");
                return;
        case OPENAPI_TOO_DEEP:
                add_error(errors, path, "nested too deeply");
                return;
        case OPENAPI_UNRESOLVED_REF:
                add_error(errors, path, "schema reference %s not found", e->text ?: "");
                return;
        }
}

/*
 * value against schema, errors added: TripDeals and defaults as structural
 * schemas (nulls reported rather than pruned: a lint is stricter than the
 * server), the CRD object against the Kubernetes definitions as swagger.
 */
static void validate(const json_t *schema, json_t *value, const char *path, struct errors *errors,
                     enum openapi_dialect dialect, const json_t *definitions)
{
        const struct openapi_validator validator = {
                .definitions = definitions,
                .reject_nulls = true,
                .report = report_violation,
                .userdata = errors,
        };
        (void)openapi_validate(&validator, dialect, value, schema, path);
}

/* ---- the CRD ------------------------------------------------------------ */

struct crd {
        json_t *document;
        const json_t *schema; /* the storage version's openAPIV3Schema */
        const char *api_version;
        const char *kind;
};

/* Structural-schema rules the API server enforces, plus our own consistency checks. */
static void lint_schema(const json_t *schema, const char *path, struct errors *errors, int depth)
{
        if (depth > MAX_DEPTH)
                return;
        bool int_or_string = json_is_true(json_object_get(schema, "x-kubernetes-int-or-string"));
        bool preserve =
                json_is_true(json_object_get(schema, "x-kubernetes-preserve-unknown-fields"));
        const char *type = json_string_value(json_object_get(schema, "type"));
        if (!type && !int_or_string && !preserve)
                add_error(errors, path, "schema node has no type");
        if (type && strcmp(type, "array") == 0 && !json_object_get(schema, "items"))
                add_error(errors, path, "array without items");
        /* Such an object would have every field pruned (root metadata is the API server's). */
        if (type && strcmp(type, "object") == 0 && !preserve &&
            !json_object_get(schema, "properties") &&
            !json_object_get(schema, "additionalProperties") &&
            strcmp(path, "openAPIV3Schema.metadata") != 0)
                add_error(errors, path, "object without properties loses all its fields");
        const char *pattern = json_string_value(json_object_get(schema, "pattern"));
        regex_t re;
        if (pattern) {
                if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0)
                        add_error(errors, path, "pattern %s does not compile as POSIX ERE",
                                  pattern);
                else
                        regfree(&re);
                if (strstr(pattern, "\\d") || strstr(pattern, "\\w") || strstr(pattern, "\\s") ||
                    strstr(pattern, "(?"))
                        add_error(errors, path, "pattern %s uses non-POSIX syntax", pattern);
        }
        json_t *def = json_object_get(schema, "default");
        if (def) {
                struct errors sub = {.list = json_array()};
                _cleanup_json_ json_t *copy = json_deep_copy(def);
                validate(schema, copy, path, &sub, OPENAPI_STRUCTURAL, NULL);
                size_t i;
                json_t *e;
                json_array_foreach (sub.list, i, e)
                        add_error(errors, path, "default is invalid: %s", json_string_value(e));
                json_decref(sub.list);
        }

        const char *list_type =
                json_string_value(json_object_get(schema, "x-kubernetes-list-type"));
        const json_t *items = json_object_get(schema, "items");
        if (list_type && strcmp(list_type, "map") == 0) {
                /* Map keys must be required or defaulted in the item schema. */
                size_t i;
                json_t *key;
                json_array_foreach (json_object_get(schema, "x-kubernetes-list-map-keys"), i, key) {
                        const char *name = json_string_value(key);
                        bool required = false;
                        size_t j;
                        json_t *r;
                        json_array_foreach (json_object_get(items, "required"), j, r)
                                required |= name && json_string_value(r) &&
                                            strcmp(json_string_value(r), name) == 0;
                        json_t *key_schema = json_object_get(json_object_get(items, "properties"),
                                                             name ? name : "");
                        if (!key_schema)
                                add_error(errors, path, "list-map-key %s is not a property",
                                          name ? name : "?");
                        else if (!required && !json_object_get(key_schema, "default"))
                                add_error(errors, path,
                                          "list-map-key %s is neither required nor defaulted",
                                          name);
                }
        }

        const char *name;
        json_t *sub;
        json_object_foreach (json_object_get(schema, "properties"), name, sub) {
                char child[512];
                child_path(child, sizeof(child), path, name);
                lint_schema(sub, child, errors, depth + 1);
        }
        if (json_is_object(json_object_get(schema, "additionalProperties"))) {
                char child[512];
                child_path(child, sizeof(child), path, "*");
                lint_schema(json_object_get(schema, "additionalProperties"), child, errors,
                            depth + 1);
        }
        if (items) {
                char child[512];
                snprintf(child, sizeof(child), "%s[]", path);
                lint_schema(items, child, errors, depth + 1);
        }
}

/* ".status.nextSale.startsAt" -> that schema node, or NULL. */
static const json_t *schema_at(const json_t *schema, const char *json_path)
{
        if (json_path[0] != '.')
                return NULL;
        char buffer[256];
        snprintf(buffer, sizeof(buffer), "%s", json_path + 1);
        const json_t *node = schema;
        for (char *save = NULL, *part = strtok_r(buffer, ".", &save); part;
             part = strtok_r(NULL, ".", &save)) {
                node = json_object_get(json_object_get(node, "properties"), part);
                if (!node)
                        return NULL;
        }
        return node;
}

static int load_crd(const char *path, struct crd *ret, struct errors *errors)
{
        size_t length;
        _cleanup_free_ char *text = read_whole_file(path, &length);
        if (!text) {
                fprintf(stderr, "crd_check: cannot read %s: %m\n", path);
                return -errno;
        }
        char error[256];
        json_t *documents = parse_yaml_documents(text, length, error, sizeof(error));
        if (!documents || json_array_size(documents) != 1) {
                fprintf(stderr, "crd_check: %s: %s\n", path,
                        documents ? "expected one document" : error);
                json_decref(documents);
                return -EINVAL;
        }
        json_t *crd = json_incref(json_array_get(documents, 0));
        json_decref(documents);

        const json_t *spec = json_object_get(crd, "spec");
        const char *group = json_string_value(json_object_get(spec, "group"));
        const json_t *names = json_object_get(spec, "names");
        const char *plural = json_string_value(json_object_get(names, "plural"));
        const char *name =
                json_string_value(json_object_get(json_object_get(crd, "metadata"), "name"));
        char expected_name[256];
        snprintf(expected_name, sizeof(expected_name), "%s.%s", plural ? plural : "",
                 group ? group : "");
        if (!name || strcmp(name, expected_name) != 0)
                add_error(errors, "metadata.name", "must be <plural>.<group> = %s", expected_name);
        const char *crd_api_version = json_string_value(json_object_get(crd, "apiVersion"));
        if (!crd_api_version || strcmp(crd_api_version, "apiextensions.k8s.io/v1") != 0)
                add_error(errors, "apiVersion", "must be apiextensions.k8s.io/v1");

        size_t storage = 0, i;
        json_t *version;
        static char api_version[128];
        json_array_foreach (json_object_get(spec, "versions"), i, version) {
                if (!json_is_true(json_object_get(version, "storage")))
                        continue;
                storage++;
                snprintf(api_version, sizeof(api_version), "%s/%s", group ? group : "",
                         json_string_value(json_object_get(version, "name")));
                ret->schema =
                        json_object_get(json_object_get(version, "schema"), "openAPIV3Schema");
                if (!json_object_get(json_object_get(version, "subresources"), "status"))
                        add_error(errors, "spec.versions", "no status subresource");
                lint_schema(ret->schema, "openAPIV3Schema", errors, 0);

                size_t c;
                json_t *column;
                json_array_foreach (json_object_get(version, "additionalPrinterColumns"), c,
                                    column) {
                        const char *column_path =
                                json_string_value(json_object_get(column, "jsonPath"));
                        const char *column_type =
                                json_string_value(json_object_get(column, "type"));
                        const char *column_name =
                                json_string_value(json_object_get(column, "name"));
                        if (!column_path || !column_type || !column_name) {
                                add_error(errors, "additionalPrinterColumns",
                                          "column %zu incomplete", c);
                                continue;
                        }
                        if (strncmp(column_path, ".metadata.", 10) == 0)
                                continue;
                        const json_t *node = schema_at(ret->schema, column_path);
                        const char *node_type = json_string_value(json_object_get(node, "type"));
                        if (!node)
                                add_error(errors, "additionalPrinterColumns",
                                          "%s: %s is not in the schema", column_name, column_path);
                        else if (strcmp(column_type, "date") != 0 && node_type &&
                                 strcmp(column_type, node_type) != 0)
                                add_error(errors, "additionalPrinterColumns",
                                          "%s: type %s but the field is %s", column_name,
                                          column_type, node_type);
                }
        }
        if (storage != 1 || !ret->schema)
                add_error(errors, "spec.versions",
                          "exactly one storage version with a schema needed");
        ret->document = crd;
        ret->api_version = api_version;
        ret->kind = json_string_value(json_object_get(names, "kind"));
        return 0;
}

/* ---- documents ---------------------------------------------------------- */

static void check_semantics(const json_t *doc, struct errors *errors);

static bool is_tripdeal(const struct crd *crd, const json_t *doc)
{
        const char *kind = json_string_value(json_object_get(doc, "kind"));
        return kind && crd->kind && strcmp(kind, crd->kind) == 0;
}

static void validate_document(const struct crd *crd, json_t *doc, struct errors *errors)
{
        const char *api_version = json_string_value(json_object_get(doc, "apiVersion"));
        if (!api_version || strcmp(api_version, crd->api_version) != 0)
                add_error(errors, "apiVersion", "must be %s", crd->api_version);
        const char *name =
                json_string_value(json_object_get(json_object_get(doc, "metadata"), "name"));
        if (!name ||
            !matches(name, "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$") ||
            strlen(name) > 253)
                add_error(errors, "metadata.name", "missing or not a DNS subdomain");
        if (crd->schema)
                validate(crd->schema, doc, "", errors, OPENAPI_STRUCTURAL, NULL);
        check_semantics(doc, errors);
}

/*
 * What the schema cannot say but the operator refuses with InvalidSpec: a
 * schedule that does not parse or never fires, an unknown time zone, a
 * duration that does not parse, min > max.  Runs after defaulting.
 */
static void check_schedule(const json_t *item, const char *path, struct errors *errors)
{
        char child[512];
        const char *schedule = json_string_value(json_object_get(item, "schedule"));
        struct cron_schedule parsed;
        struct cron_error error;
        child_path(child, sizeof(child), path, "schedule");
        if (schedule && cron_parse(schedule, &parsed, &error) < 0)
                add_error(errors, child, "%s (operator: InvalidSpec)", error.base.message);
        const char *zone_name = json_string_value(json_object_get(item, "timeZone"));
        struct tz_zone *zone = NULL;
        child_path(child, sizeof(child), path, "timeZone");
        if (zone_name && tz_zone_load(zone_name, NULL, &zone) < 0)
                add_error(errors, child, "unknown time zone \"%s\" (operator: InvalidSpec)",
                          zone_name);
        tz_zone_free(zone);
}

static void check_duration(const json_t *object, const char *key, const char *path,
                           struct errors *errors)
{
        const char *text = json_string_value(json_object_get(object, key));
        int64_t ms;
        char child[512];
        child_path(child, sizeof(child), path, key);
        if (text && duration_parse_ms(text, &ms) < 0)
                add_error(errors, child, "\"%s\" is not a duration (operator: InvalidSpec)", text);
}

static void check_semantics(const json_t *doc, struct errors *errors)
{
        const json_t *spec = json_object_get(doc, "spec");
        const json_t *replicas = json_object_get(json_object_get(spec, "app"), "replicas");
        if (json_integer_value(json_object_get(replicas, "min")) >
            json_integer_value(json_object_get(replicas, "max")))
                add_error(errors, "spec.app.replicas",
                          "min is greater than max (operator: InvalidSpec)");

        size_t i;
        json_t *item;
        json_array_foreach (json_object_get(spec, "sales"), i, item) {
                char path[64], prescale_path[96];
                snprintf(path, sizeof(path), "spec.sales[%zu]", i);
                snprintf(prescale_path, sizeof(prescale_path), "%s.prescale", path);
                check_schedule(item, path, errors);
                check_duration(item, "duration", path, errors);
                check_duration(item, "cooldown", path, errors);
                check_duration(json_object_get(item, "prescale"), "leadTime", prescale_path,
                               errors);
                check_duration(json_object_get(item, "prescale"), "nodeLeadTime", prescale_path,
                               errors);
        }
        json_array_foreach (json_object_get(json_object_get(spec, "chaos"), "drills"), i, item) {
                char path[64];
                snprintf(path, sizeof(path), "spec.chaos.drills[%zu]", i);
                check_schedule(item, path, errors);
        }
        json_array_foreach (json_object_get(spec, "nodePools"), i, item) {
                if (json_integer_value(json_object_get(item, "min")) >
                    json_integer_value(json_object_get(item, "max"))) {
                        char path[64];
                        snprintf(path, sizeof(path), "spec.nodePools[%zu]", i);
                        add_error(errors, path, "min is greater than max (operator: InvalidSpec)");
                }
        }
}

/* The TripDeal documents of a file: YAML documents, or ```yaml blocks of Markdown. */
static json_t *documents_of(const char *path, char *error, size_t error_size)
{
        size_t length;
        _cleanup_free_ char *text = read_whole_file(path, &length);
        if (!text) {
                snprintf(error, error_size, "cannot read: %s", strerror(errno));
                return NULL;
        }
        size_t path_length = strlen(path);
        if (path_length < 3 || strcmp(path + path_length - 3, ".md") != 0)
                return parse_yaml_documents(text, length, error, error_size);

        json_t *all = json_array();
        for (char *p = text; (p = strstr(p, "```yaml\n"));) {
                char *start = p + 8, *end = strstr(start, "\n```");
                if (!end)
                        break;
                json_t *docs =
                        parse_yaml_documents(start, (size_t)(end - start + 1), error, error_size);
                if (!docs) {
                        /* Only a broken block that claims to be a TripDeal is our business. */
                        char saved = end[1];
                        end[1] = '\0';
                        bool ours = strstr(start, "kind: TripDeal") != NULL;
                        end[1] = saved;
                        if (ours) {
                                json_decref(all);
                                return NULL;
                        }
                } else {
                        json_array_extend(all, docs);
                        json_decref(docs);
                }
                p = end + 4;
        }
        return all;
}

/* Validate every TripDeal in path; returns how many were found, adds errors. */
static size_t check_file(const struct crd *crd, const char *path, json_t *messages)
{
        char error[256] = "";
        _cleanup_json_ json_t *docs = documents_of(path, error, sizeof(error));
        if (!docs) {
                char line[700];
                snprintf(line, sizeof(line), "%s: %s", path, error);
                json_array_append_new(messages, json_string(line));
                return 1;
        }
        size_t found = 0, i;
        json_t *doc;
        json_array_foreach (docs, i, doc) {
                if (!is_tripdeal(crd, doc))
                        continue;
                found++;
                struct errors errors = {.list = json_array()};
                validate_document(crd, doc, &errors);
                size_t j;
                json_t *e;
                json_array_foreach (errors.list, j, e) {
                        char line[1700];
                        snprintf(line, sizeof(line), "%s (document %zu): %s", path, i + 1,
                                 json_string_value(e));
                        json_array_append_new(messages, json_string(line));
                }
                json_decref(errors.list);
        }
        return found;
}

static bool skip_directory(const char *name)
{
        return name[0] == '.' || strncmp(name, "build", 5) == 0 || strcmp(name, "invalid") == 0 ||
               strcmp(name, "templates") == 0 || strcmp(name, "node_modules") == 0;
}

static bool wanted_file(const char *name)
{
        size_t n = strlen(name);
        return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
               (n > 4 && strcmp(name + n - 4, ".yml") == 0) ||
               (n > 3 && strcmp(name + n - 3, ".md") == 0);
}

/* Walk root; every file that mentions the kind is checked.  Bounded depth. */
static void scan(const struct crd *crd, const char *dir, int depth, json_t *messages, size_t *found,
                 size_t *files)
{
        if (depth > 12)
                return;
        DIR *d = opendir(dir);
        if (!d)
                return;
        for (struct dirent *e; (e = readdir(d));) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                        continue;
                _cleanup_free_ char *path = NULL;
                if (asprintf(&path, "%s/%s", dir, e->d_name) < 0)
                        continue;
                struct stat st;
                if (lstat(path, &st) < 0)
                        continue;
                if (S_ISDIR(st.st_mode)) {
                        if (!skip_directory(e->d_name))
                                scan(crd, path, depth + 1, messages, found, files);
                        continue;
                }
                if (!S_ISREG(st.st_mode) || !wanted_file(e->d_name))
                        continue;
                size_t length;
                _cleanup_free_ char *text = read_whole_file(path, &length);
                /* Fixtures that are invalid on purpose (e.g. an operator InvalidSpec test) opt out.
                 */
                if (!text || !strstr(text, "kind: TripDeal") || strstr(text, "# crd_check: skip"))
                        continue;
                size_t n = check_file(crd, path, messages);
                *found += n;
                if (n > 0) {
                        (*files)++;
                        printf("checked %zu TripDeal(s) in %s\n", n, path);
                }
        }
        closedir(d);
}

/* "# expect: TEXT" on some line of the file. */
static char *expected_error(const char *path)
{
        size_t length;
        _cleanup_free_ char *text = read_whole_file(path, &length);
        if (!text)
                return NULL;
        char *p = strstr(text, "# expect: ");
        if (!p)
                return NULL;
        p += 10;
        return strndup(p, strcspn(p, "\n"));
}

static void print_messages(const json_t *messages)
{
        size_t i;
        json_t *m;
        json_array_foreach (messages, i, m)
                printf("  %s\n", json_string_value(m));
}

int main(int argc, char **argv)
{
        const char *crd_path = NULL, *scan_root = NULL, *kubernetes_schema = NULL;
        bool expect_invalid = false;
        int first_file = argc;
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--crd") == 0 && i + 1 < argc)
                        crd_path = argv[++i];
                else if (strcmp(argv[i], "--scan") == 0 && i + 1 < argc)
                        scan_root = argv[++i];
                else if (strcmp(argv[i], "--kubernetes-schema") == 0 && i + 1 < argc)
                        kubernetes_schema = argv[++i];
                else if (strcmp(argv[i], "--expect-invalid") == 0)
                        expect_invalid = true;
                else {
                        first_file = i;
                        break;
                }
        }
        if (!crd_path) {
                fprintf(stderr, "usage: crd_check --crd CRD.yaml [--scan ROOT | [--expect-invalid] "
                                "FILE...]\n");
                return 2;
        }

        struct crd crd = {0};
        struct errors crd_errors = {.list = json_array()};
        if (load_crd(crd_path, &crd, &crd_errors) < 0)
                return 1;
        int status = 0;
        _cleanup_json_ json_t *swagger = NULL;
        if (kubernetes_schema) {
                /* The CRD object itself, as the API server's own schema sees it. */
                json_error_t error;
                swagger = json_load_file(kubernetes_schema, 0, &error);
                if (!swagger) {
                        fprintf(stderr, "crd_check: %s: %s\n", kubernetes_schema, error.text);
                        return 1;
                }
                const json_t *definitions = json_object_get(swagger, "definitions");
                const json_t *crd_schema =
                        json_object_get(definitions, "io.k8s.apiextensions-apiserver.pkg.apis."
                                                     "apiextensions.v1.CustomResourceDefinition");
                if (!crd_schema) {
                        fprintf(stderr, "crd_check: no CustomResourceDefinition in %s\n",
                                kubernetes_schema);
                        return 1;
                }
                _cleanup_json_ json_t *copy = json_deep_copy(crd.document);
                validate(crd_schema, copy, "", &crd_errors, OPENAPI_SWAGGER, definitions);
        }
        if (json_array_size(crd_errors.list) > 0) {
                printf("FAIL %s:\n", crd_path);
                print_messages(crd_errors.list);
                status = 1;
        } else {
                printf("ok   %s: schema lint clean%s\n", crd_path,
                       kubernetes_schema ? ", valid against the Kubernetes API schema" : "");
        }
        json_decref(crd_errors.list);

        if (scan_root) {
                _cleanup_json_ json_t *messages = json_array();
                size_t found = 0, files = 0;
                scan(&crd, scan_root, 0, messages, &found, &files);
                if (json_array_size(messages) > 0) {
                        printf("FAIL: invalid TripDeal examples:\n");
                        print_messages(messages);
                        status = 1;
                }
                if (found == 0) {
                        printf("FAIL: no TripDeal found under %s\n", scan_root);
                        status = 1;
                }
                printf("%zu TripDeal document(s) in %zu file(s) checked\n", found, files);
        }

        /* A directory argument stands for its *.yaml files, in name order. */
        _cleanup_json_ json_t *files = json_array();
        for (int i = first_file; i < argc; i++) {
                struct dirent **entries;
                int n = scandir(argv[i], &entries, NULL, alphasort);
                if (n < 0) {
                        json_array_append_new(files, json_string(argv[i]));
                        continue;
                }
                for (int j = 0; j < n; j++) {
                        size_t length = strlen(entries[j]->d_name);
                        if (length > 5 && strcmp(entries[j]->d_name + length - 5, ".yaml") == 0) {
                                _cleanup_free_ char *path = NULL;
                                if (asprintf(&path, "%s/%s", argv[i], entries[j]->d_name) >= 0)
                                        json_array_append_new(files, json_string(path));
                        }
                        free(entries[j]);
                }
                free(entries);
        }

        size_t file_index;
        json_t *file_value;
        json_array_foreach (files, file_index, file_value) {
                const char *file = json_string_value(file_value);
                _cleanup_json_ json_t *messages = json_array();
                size_t found = check_file(&crd, file, messages);
                if (!expect_invalid) {
                        if (json_array_size(messages) > 0 || found == 0) {
                                printf("FAIL %s%s\n", file, found ? "" : ": no TripDeal found");
                                print_messages(messages);
                                status = 1;
                        } else {
                                printf("ok   %s (%zu TripDeal)\n", file, found);
                        }
                        continue;
                }
                _cleanup_free_ char *expected = expected_error(file);
                bool named = false;
                size_t j;
                json_t *m;
                json_array_foreach (messages, j, m)
                        named |= expected && strstr(json_string_value(m), expected) != NULL;
                if (!expected || found == 0 || !named) {
                        printf("FAIL %s: expected an error containing \"%s\"; got:\n", file,
                               expected ? expected : "(no '# expect:' line)");
                        print_messages(messages);
                        status = 1;
                } else {
                        printf("ok   %s rejected: %s\n", file, expected);
                }
        }
        json_decref(crd.document);
        return status;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* YAML to JSON on libyaml, resolving scalars as kubectl does (yaml-json.h). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "macros.h"
#include "yaml-json.h"

#define MAX_DEPTH 64
#define MAX_NODES 1000000

struct converter {
        yaml_document_t *document;
        enum yaml_scalars scalars;
        size_t nodes;
        char *error;
        size_t error_size;
};

_printf_(4, 5) static int fail(struct converter *c, int r, const yaml_node_t *node, const char *fmt,
                               ...)
{
        char message[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(message, sizeof(message), fmt, ap);
        va_end(ap);
        if (node)
                snprintf(c->error, c->error_size, "line %zu: %s", node->start_mark.line + 1,
                         message);
        else
                snprintf(c->error, c->error_size, "%s", message);
        return r;
}

static bool in_list(const char *s, const char *const *list)
{
        for (size_t i = 0; list[i]; i++)
                if (strcmp(s, list[i]) == 0)
                        return true;
        return false;
}

static const char *const null_words[] = {"", "~", "null", "Null", "NULL", NULL};
static const char *const true_words[] = {"y",    "Y",    "yes", "Yes", "YES", "true",
                                         "True", "TRUE", "on",  "On",  "ON",  NULL};
static const char *const false_words[] = {"n",     "N",     "no",  "No",  "NO",  "false",
                                          "False", "FALSE", "off", "Off", "OFF", NULL};
static const char *const non_finite_words[] = {".nan",  ".NaN",  ".NAN",  ".inf",  ".Inf",
                                               ".INF",  "+.inf", "+.Inf", "+.INF", "-.inf",
                                               "-.Inf", "-.INF", NULL};

int yaml_json_bool(const char *text, bool *ret_value)
{
        if (!text)
                return -EINVAL;
        if (in_list(text, true_words)) {
                *ret_value = true;
                return 0;
        }
        if (in_list(text, false_words)) {
                *ret_value = false;
                return 0;
        }
        return -EINVAL;
}

static int digit_value(char ch)
{
        if (ch >= '0' && ch <= '9')
                return ch - '0';
        if (ch >= 'a' && ch <= 'f')
                return ch - 'a' + 10;
        if (ch >= 'A' && ch <= 'F')
                return ch - 'A' + 10;
        return 99;
}

/* Go's strconv.ParseInt(s, 0, 64): sign, then 0x/0o/0b/0 prefix or decimal. */
static int parse_go_int(const char *s, int64_t *ret)
{
        bool negative = false;
        if (*s == '+' || *s == '-')
                negative = *s++ == '-';
        int base = 10;
        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
                base = 16;
                s += 2;
        } else if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O')) {
                base = 8;
                s += 2;
        } else if (s[0] == '0' && (s[1] == 'b' || s[1] == 'B')) {
                base = 2;
                s += 2;
        } else if (s[0] == '0' && s[1]) {
                base = 8;
                s += 1;
        }
        if (!*s)
                return -EINVAL;
        uint64_t value = 0;
        for (; *s; s++) {
                int d = digit_value(*s);
                if (d >= base)
                        return -EINVAL;
                if (value > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
                        return -ERANGE;
                value = value * (uint64_t)base + (uint64_t)d;
        }
        if (negative ? value > (uint64_t)INT64_MAX + 1 : value > (uint64_t)INT64_MAX)
                return -ERANGE;
        *ret = negative ? (int64_t)(0 - value) : (int64_t)value;
        return 0;
}

static bool matches(const char *s, const char *pattern)
{
        regex_t re;
        if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0)
                return false;
        bool ok = regexec(&re, s, 0, NULL, 0) == 0;
        regfree(&re);
        return ok;
}

/* A plain scalar as go-yaml v2 resolves it (yaml-json.h has the table). */
static int resolve_plain(struct converter *c, const yaml_node_t *node, const char *s, json_t **ret)
{
        if (in_list(s, null_words)) {
                *ret = json_null();
                return 0;
        }
        bool b;
        if (yaml_json_bool(s, &b) == 0) {
                *ret = json_boolean(b);
                return 0;
        }
        if (in_list(s, non_finite_words))
                return fail(c, -EINVAL, node, "%s has no JSON form", s);

        char first = s[0];
        bool digit_or_sign = (first >= '0' && first <= '9') || first == '+' || first == '-';
        if (digit_or_sign) {
                _cleanup_free_ char *plain = strdup(s);
                if (!plain)
                        return -ENOMEM;
                char *out = plain;
                for (const char *p = s; *p; p++)
                        if (*p != '_')
                                *out++ = *p;
                *out = '\0';
                int64_t i;
                if (parse_go_int(plain, &i) == 0) {
                        *ret = json_integer(i);
                        return *ret ? 0 : -ENOMEM;
                }
                if (matches(plain, "^[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?$")) {
                        double d = strtod(plain, NULL);
                        if (!isfinite(d))
                                return fail(c, -EINVAL, node, "%s is out of range", s);
                        *ret = json_real(d);
                        return *ret ? 0 : -ENOMEM;
                }
        } else if (first == '.' && matches(s, "^\\.[0-9]+([eE][-+]?[0-9]+)?$")) {
                *ret = json_real(strtod(s, NULL));
                return *ret ? 0 : -ENOMEM;
        }
        *ret = json_string(s);
        return *ret ? 0 : -ENOMEM;
}

static int scalar_to_json(struct converter *c, const yaml_node_t *node, json_t **ret)
{
        const char *s = (const char *)node->data.scalar.value;
        size_t length = node->data.scalar.length;
        if (strlen(s) != length)
                return fail(c, -EINVAL, node, "a NUL character in a scalar");
        /*
         * libyaml's loader tags every untagged scalar !!str, so only the style
         * tells: quoted and block scalars are strings, plain ones are resolved.
         */
        if (c->scalars == YAML_SCALARS_AS_STRINGS ||
            node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
                *ret = json_stringn(s, length);
                return *ret ? 0 : -ENOMEM;
        }
        return resolve_plain(c, node, s, ret);
}

static int node_to_json(struct converter *c, yaml_node_t *node, int depth, json_t **ret);

/* A mapping key as kubectl keeps it: always a string. */
static int key_text(struct converter *c, yaml_node_t *key, char **ret)
{
        if (!key || key->type != YAML_SCALAR_NODE)
                return fail(c, -EINVAL, key, "a mapping key that is not a scalar");
        _cleanup_json_ json_t *value = NULL;
        int r = scalar_to_json(c, key, &value);
        if (r < 0)
                return r;
        if (json_is_null(value))
                return fail(c, -EINVAL, key, "a null mapping key");
        char *text = json_is_string(value) ? strdup(json_string_value(value))
                                           : json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT);
        if (!text)
                return -ENOMEM;
        *ret = text;
        return 0;
}

static bool is_merge_key(const yaml_node_t *key)
{
        return key && key->type == YAML_SCALAR_NODE &&
               key->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
               strcmp((const char *)key->data.scalar.value, "<<") == 0;
}

/* "<<: *base" or "<<: [*a, *b]": add the keys object does not have yet. */
static int merge_into(struct converter *c, json_t *object, yaml_node_t *value, int depth)
{
        if (value && value->type == YAML_SEQUENCE_NODE) {
                for (yaml_node_item_t *i = value->data.sequence.items.start;
                     i < value->data.sequence.items.top; i++) {
                        int r = merge_into(c, object, yaml_document_get_node(c->document, *i),
                                           depth + 1);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        if (!value || value->type != YAML_MAPPING_NODE)
                return fail(c, -EINVAL, value, "a merge key (<<) needs a mapping");
        _cleanup_json_ json_t *source = NULL;
        int r = node_to_json(c, value, depth + 1, &source);
        if (r < 0)
                return r;
        return json_object_update_missing(object, source) == 0 ? 0 : -ENOMEM;
}

static int mapping_to_json(struct converter *c, yaml_node_t *node, int depth, json_t **ret)
{
        _cleanup_json_ json_t *object = json_object();
        _cleanup_json_ json_t *merged = json_object();
        if (!object || !merged)
                return -ENOMEM;
        for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
             p++) {
                yaml_node_t *key = yaml_document_get_node(c->document, p->key);
                yaml_node_t *value_node = yaml_document_get_node(c->document, p->value);
                if (is_merge_key(key)) {
                        int r = merge_into(c, merged, value_node, depth);
                        if (r < 0)
                                return r;
                        continue;
                }
                _cleanup_free_ char *name = NULL;
                int r = key_text(c, key, &name);
                if (r < 0)
                        return r;
                json_t *value = NULL;
                r = node_to_json(c, value_node, depth + 1, &value);
                if (r < 0)
                        return r;
                if (json_object_set_new(object, name, value) < 0)
                        return -ENOMEM;
        }
        /* Explicit keys win over merged ones. */
        if (json_object_update_missing(object, merged) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(object);
        return 0;
}

static int node_to_json(struct converter *c, yaml_node_t *node, int depth, json_t **ret)
{
        if (!node)
                return fail(c, -EINVAL, NULL, "a reference to a missing node");
        if (depth > MAX_DEPTH)
                return fail(c, -E2BIG, node, "nested deeper than %d levels", MAX_DEPTH);
        if (++c->nodes > MAX_NODES)
                return fail(c, -E2BIG, node, "more than %d nodes (aliases expanded)", MAX_NODES);
        switch (node->type) {
        case YAML_SCALAR_NODE:
                return scalar_to_json(c, node, ret);
        case YAML_SEQUENCE_NODE: {
                _cleanup_json_ json_t *array = json_array();
                if (!array)
                        return -ENOMEM;
                for (yaml_node_item_t *i = node->data.sequence.items.start;
                     i < node->data.sequence.items.top; i++) {
                        json_t *item = NULL;
                        int r = node_to_json(c, yaml_document_get_node(c->document, *i), depth + 1,
                                             &item);
                        if (r < 0)
                                return r;
                        if (json_array_append_new(array, item) < 0)
                                return -ENOMEM;
                }
                *ret = TAKE_PTR(array);
                return 0;
        }
        case YAML_MAPPING_NODE:
                return mapping_to_json(c, node, depth, ret);
        default:
                return fail(c, -EINVAL, node, "an empty node");
        }
}

int yaml_json_load_all(const char *text, size_t length, enum yaml_scalars scalars, char *error,
                       size_t error_size, json_t **ret_documents)
{
        char ignored[8];
        if (!error || error_size == 0) {
                error = ignored;
                error_size = sizeof(ignored);
        }
        error[0] = '\0';
        yaml_parser_t parser;
        if (!yaml_parser_initialize(&parser))
                return -ENOMEM;
        yaml_parser_set_input_string(&parser, (const unsigned char *)text, length);
        _cleanup_json_ json_t *documents = json_array();
        int r = documents ? 0 : -ENOMEM;
        while (r == 0) {
                yaml_document_t document;
                if (!yaml_parser_load(&parser, &document)) {
                        snprintf(error, error_size, "line %zu: %s", parser.problem_mark.line + 1,
                                 parser.problem ? parser.problem : "not valid YAML");
                        r = parser.error == YAML_MEMORY_ERROR ? -ENOMEM : -EINVAL;
                        break;
                }
                yaml_node_t *root = yaml_document_get_root_node(&document);
                if (!root) { /* end of the stream */
                        yaml_document_delete(&document);
                        break;
                }
                struct converter c = {.document = &document,
                                      .scalars = scalars,
                                      .error = error,
                                      .error_size = error_size};
                json_t *value = NULL;
                r = node_to_json(&c, root, 0, &value);
                yaml_document_delete(&document);
                if (r == 0 && json_array_append_new(documents, value) < 0)
                        r = -ENOMEM;
        }
        yaml_parser_delete(&parser);
        if (r < 0)
                return r;
        *ret_documents = TAKE_PTR(documents);
        return 0;
}

int yaml_json_load(const char *text, size_t length, enum yaml_scalars scalars, char *error,
                   size_t error_size, json_t **ret_value)
{
        _cleanup_json_ json_t *documents = NULL;
        int r = yaml_json_load_all(text, length, scalars, error, error_size, &documents);
        if (r < 0)
                return r;
        if (json_array_size(documents) == 0) {
                if (error && error_size)
                        snprintf(error, error_size, "no YAML document");
                return -ENODATA;
        }
        *ret_value = json_incref(json_array_get(documents, 0));
        return 0;
}

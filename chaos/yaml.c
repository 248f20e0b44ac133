/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Experiment files are YAML; the engine reads them as JSON.  One document,
 * libyaml's document API, YAML 1.2 core schema for plain scalars (so "yes"
 * stays a string, as Kubernetes reads it), anchors resolved by libyaml.
 */
#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "chaos.h"
#include "macros.h"

#define MAX_DEPTH 64

static bool matches(const char *pattern, const char *text)
{
        regex_t re;
        if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0)
                return false;
        bool ok = regexec(&re, text, 0, NULL, 0) == 0;
        regfree(&re);
        return ok;
}

static json_t *plain_scalar(const char *s)
{
        if (!*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
            strcmp(s, "NULL") == 0)
                return json_null();
        if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0)
                return json_true();
        if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0)
                return json_false();
        if (matches("^[-+]?[0-9]+$", s)) {
                errno = 0;
                long long v = strtoll(s, NULL, 10);
                if (errno == 0)
                        return json_integer(v);
        }
        if (matches("^[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?$", s)) {
                double v = strtod(s, NULL);
                if (isfinite(v))
                        return json_real(v);
        }
        return json_string(s);
}

static json_t *node_to_json(yaml_document_t *doc, yaml_node_t *node, int depth)
{
        if (!node || depth > MAX_DEPTH)
                return NULL;
        switch (node->type) {
        case YAML_SCALAR_NODE: {
                const char *value = (const char *)node->data.scalar.value;
                if (node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
                        return plain_scalar(value);
                return json_stringn(value, node->data.scalar.length);
        }
        case YAML_SEQUENCE_NODE: {
                json_t *array = json_array();
                for (yaml_node_item_t *item = node->data.sequence.items.start;
                     array && item < node->data.sequence.items.top; item++) {
                        json_t *child =
                                node_to_json(doc, yaml_document_get_node(doc, *item), depth + 1);
                        if (!child || json_array_append_new(array, child) < 0) {
                                json_decref(array);
                                return NULL;
                        }
                }
                return array;
        }
        case YAML_MAPPING_NODE: {
                json_t *object = json_object();
                for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
                     object && pair < node->data.mapping.pairs.top; pair++) {
                        yaml_node_t *key = yaml_document_get_node(doc, pair->key);
                        if (!key || key->type != YAML_SCALAR_NODE) {
                                json_decref(object);
                                return NULL;
                        }
                        json_t *child = node_to_json(doc, yaml_document_get_node(doc, pair->value),
                                                     depth + 1);
                        if (!child ||
                            json_object_set_new(object, (const char *)key->data.scalar.value,
                                                child) < 0) {
                                json_decref(object);
                                return NULL;
                        }
                }
                return object;
        }
        default:
                return NULL;
        }
}

int chaos_yaml_to_json(const char *text, size_t size, json_t **ret_json, char **ret_error)
{
        yaml_parser_t parser;
        yaml_document_t doc;
        if (!yaml_parser_initialize(&parser))
                return -ENOMEM;
        yaml_parser_set_input_string(&parser, (const unsigned char *)text, size);
        if (!yaml_parser_load(&parser, &doc)) {
                if (ret_error &&
                    asprintf(ret_error, "not valid YAML: %s at line %zu, column %zu",
                             parser.problem ? parser.problem : "syntax error",
                             parser.problem_mark.line + 1, parser.problem_mark.column + 1) < 0)
                        *ret_error = NULL;
                yaml_parser_delete(&parser);
                return -EINVAL;
        }
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        json_t *json = root ? node_to_json(&doc, root, 0) : NULL;
        yaml_document_delete(&doc);
        yaml_parser_delete(&parser);
        if (!json) {
                if (ret_error && asprintf(ret_error, "%s",
                                          root ? "not a usable YAML document (complex keys or "
                                                 "nesting deeper than 64)"
                                               : "the file is empty") < 0)
                        *ret_error = NULL;
                return -EINVAL;
        }
        *ret_json = json;
        return 0;
}

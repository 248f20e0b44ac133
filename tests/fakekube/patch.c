/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Patches: JSON merge patch (RFC 7386), JSON patch (RFC 6902), strategic
 * merge patch (Kubernetes' list-merging patch, driven by the swagger's
 * x-kubernetes-patch-strategy / x-kubernetes-patch-merge-key), and YAML
 * input for apply patches.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakekube.h"
#include "macros.h"
#include "patch.h"
#include "schema.h"
#include "yaml-json.h"

json_t *patch_merge(json_t *target, json_t *patch)
{
        if (!json_is_object(patch))
                return json_deep_copy(patch);
        json_t *result = json_is_object(target) ? json_deep_copy(target) : json_object();
        const char *key;
        json_t *value;
        json_object_foreach (patch, key, value) {
                if (json_is_null(value)) {
                        json_object_del(result, key);
                        continue;
                }
                json_object_set_new(result, key, patch_merge(json_object_get(result, key), value));
        }
        return result;
}

/* ---- RFC 6902 ---- */

/* Decode one reference token ("~1" -> "/", "~0" -> "~"). */
static char *pointer_token(const char *start, size_t len)
{
        char *out = malloc(len + 1);
        if (!out)
                return NULL;
        size_t o = 0;
        for (size_t i = 0; i < len; i++) {
                if (start[i] == '~' && i + 1 < len &&
                    (start[i + 1] == '0' || start[i + 1] == '1')) {
                        out[o++] = start[i + 1] == '0' ? '~' : '/';
                        i++;
                } else {
                        out[o++] = start[i];
                }
        }
        out[o] = '\0';
        return out;
}

/* Resolve all but the last token; *ret_last gets the last token (malloc). */
static json_t *pointer_parent(json_t *doc, const char *path, char **ret_last)
{
        if (!path || path[0] != '/')
                return NULL;
        json_t *cur = doc;
        const char *p = path + 1;
        for (;;) {
                const char *slash = strchr(p, '/');
                size_t len = slash ? (size_t)(slash - p) : strlen(p);
                char *tok = pointer_token(p, len);
                if (!tok)
                        return NULL;
                if (!slash) {
                        *ret_last = tok;
                        return cur;
                }
                json_t *next = NULL;
                if (json_is_object(cur)) {
                        next = json_object_get(cur, tok);
                } else if (json_is_array(cur)) {
                        char *end;
                        long idx = strtol(tok, &end, 10);
                        if (*end == '\0' && idx >= 0)
                                next = json_array_get(cur, (size_t)idx);
                }
                free(tok);
                if (!next)
                        return NULL;
                cur = next;
                p = slash + 1;
        }
}

static int array_index(json_t *array, const char *tok, bool allow_end, size_t *ret)
{
        if (allow_end && strcmp(tok, "-") == 0) {
                *ret = json_array_size(array);
                return 0;
        }
        char *end;
        long idx = strtol(tok, &end, 10);
        if (*end != '\0' || !tok[0] || idx < 0 ||
            (size_t)idx > json_array_size(array) - (allow_end ? 0 : 1) ||
            (!allow_end && json_array_size(array) == 0))
                return -EINVAL;
        *ret = (size_t)idx;
        return 0;
}

static json_t *pointer_get(json_t *doc, const char *path)
{
        if (!path || path[0] == '\0')
                return doc;
        _cleanup_free_ char *last = NULL;
        json_t *parent = pointer_parent(doc, path, &last);
        if (!parent)
                return NULL;
        if (json_is_object(parent))
                return json_object_get(parent, last);
        size_t idx;
        if (json_is_array(parent) && array_index(parent, last, false, &idx) == 0)
                return json_array_get(parent, idx);
        return NULL;
}

static int pointer_add(json_t **doc, const char *path, json_t *value)
{
        if (path[0] == '\0') {
                json_decref(*doc);
                *doc = json_deep_copy(value);
                return 0;
        }
        _cleanup_free_ char *last = NULL;
        json_t *parent = pointer_parent(*doc, path, &last);
        if (!parent)
                return -ENOENT;
        if (json_is_object(parent))
                return json_object_set_new(parent, last, json_deep_copy(value)) == 0 ? 0 : -EINVAL;
        size_t idx;
        if (!json_is_array(parent) || array_index(parent, last, true, &idx) < 0)
                return -EINVAL;
        return json_array_insert_new(parent, idx, json_deep_copy(value)) == 0 ? 0 : -EINVAL;
}

static int pointer_remove(json_t *doc, const char *path)
{
        _cleanup_free_ char *last = NULL;
        json_t *parent = pointer_parent(doc, path, &last);
        if (!parent)
                return -ENOENT;
        if (json_is_object(parent))
                return json_object_del(parent, last) == 0 ? 0 : -ENOENT;
        size_t idx;
        if (!json_is_array(parent) || array_index(parent, last, false, &idx) < 0)
                return -ENOENT;
        return json_array_remove(parent, idx) == 0 ? 0 : -ENOENT;
}

int patch_json(json_t *target, json_t *patch, json_t **ret, char **ret_error)
{
        if (!json_is_array(patch)) {
                *ret_error = strdup("json patch must be an array of operations");
                return -EINVAL;
        }
        json_t *doc = json_deep_copy(target);
        size_t i;
        json_t *op;
        json_array_foreach (patch, i, op) {
                const char *name = json_string_value(json_object_get(op, "op"));
                const char *path = json_string_value(json_object_get(op, "path"));
                const char *from = json_string_value(json_object_get(op, "from"));
                json_t *value = json_object_get(op, "value");
                int r = -EINVAL;
                if (!name || !path) {
                        r = -EINVAL;
                } else if (strcmp(name, "add") == 0 && value) {
                        r = pointer_add(&doc, path, value);
                } else if (strcmp(name, "remove") == 0) {
                        r = pointer_remove(doc, path);
                } else if (strcmp(name, "replace") == 0 && value) {
                        r = pointer_get(doc, path) ? 0 : -ENOENT;
                        if (r == 0 && path[0])
                                r = pointer_remove(doc, path);
                        if (r == 0)
                                r = pointer_add(&doc, path, value);
                } else if ((strcmp(name, "move") == 0 || strcmp(name, "copy") == 0) && from) {
                        json_t *v = json_deep_copy(pointer_get(doc, from));
                        r = v ? 0 : -ENOENT;
                        if (r == 0 && name[0] == 'm')
                                r = pointer_remove(doc, from);
                        if (r == 0)
                                r = pointer_add(&doc, path, v);
                        json_decref(v);
                } else if (strcmp(name, "test") == 0 && value) {
                        r = json_equal(pointer_get(doc, path), value) ? 0 : -EINVAL;
                }
                if (r < 0) {
                        if (asprintf(ret_error, "json patch operation %zu (%s %s) failed", i,
                                     name ? name : "?", path ? path : "?") < 0)
                                *ret_error = NULL;
                        json_decref(doc);
                        return -EINVAL;
                }
        }
        *ret = doc;
        return 0;
}

/* ---- strategic merge patch ---- */

static json_t *smp_object(struct server *s, json_t *target, json_t *patch, json_t *schema);

static json_t *property_schema(struct server *s, json_t *schema, const char *key)
{
        schema = schema_resolve(s, schema);
        json_t *p = json_object_get(json_object_get(schema, "properties"), key);
        if (!p)
                p = json_object_get(schema, "additionalProperties");
        return schema_resolve(s, p);
}

static bool is_directive_key(const char *key)
{
        return key[0] == '$';
}

static json_t *strip_directives(json_t *v)
{
        json_t *c = json_deep_copy(v);
        if (json_is_object(c)) {
                const char *key;
                json_t *val;
                void *tmp;
                json_object_foreach_safe (c, tmp, key, val) {
                        if (is_directive_key(key))
                                json_object_del(c, key);
                }
        }
        return c;
}

static bool same_key(json_t *a, json_t *b, const char *merge_key)
{
        json_t *ka = json_object_get(a, merge_key);
        json_t *kb = json_object_get(b, merge_key);
        return ka && kb && json_equal(ka, kb);
}

static json_t *smp_list(struct server *s, json_t *target, json_t *patch, json_t *field_schema)
{
        const char *strategy =
                json_string_value(json_object_get(field_schema, "x-kubernetes-patch-strategy"));
        const char *merge_key =
                json_string_value(json_object_get(field_schema, "x-kubernetes-patch-merge-key"));
        bool merge = strategy && strstr(strategy, "merge");
        /* A {"$patch": "replace"} element replaces the whole list. */
        size_t i;
        json_t *pe;
        json_array_foreach (patch, i, pe) {
                const char *d = json_string_value(json_object_get(pe, "$patch"));
                if (d && strcmp(d, "replace") == 0) {
                        json_t *r = json_array();
                        size_t j;
                        json_t *x;
                        json_array_foreach (patch, j, x) {
                                if (j != i)
                                        json_array_append_new(r, strip_directives(x));
                        }
                        return r;
                }
        }
        if (!merge || !json_is_array(target))
                return strip_directives(patch);
        json_t *result = json_deep_copy(target);
        json_t *item_schema = schema_resolve(s, json_object_get(field_schema, "items"));
        json_array_foreach (patch, i, pe) {
                if (!merge_key || !json_is_object(pe)) {
                        /* Primitive list with merge strategy: set union. */
                        bool present = false;
                        size_t j;
                        json_t *x;
                        json_array_foreach (result, j, x) {
                                if (json_equal(x, pe))
                                        present = true;
                        }
                        if (!present)
                                json_array_append_new(result, json_deep_copy(pe));
                        continue;
                }
                const char *d = json_string_value(json_object_get(pe, "$patch"));
                size_t found = (size_t)-1;
                size_t j;
                json_t *x;
                json_array_foreach (result, j, x) {
                        if (same_key(x, pe, merge_key))
                                found = j;
                }
                if (d && strcmp(d, "delete") == 0) {
                        if (found != (size_t)-1)
                                json_array_remove(result, found);
                        continue;
                }
                if (found != (size_t)-1)
                        json_array_set_new(
                                result, found,
                                smp_object(s, json_array_get(result, found), pe, item_schema));
                else
                        json_array_append_new(result, smp_object(s, NULL, pe, item_schema));
        }
        return result;
}

/* Reorder list by the $setElementOrder directive; unlisted elements keep their place at the end. */
static void set_element_order(json_t *list, json_t *order, const char *merge_key)
{
        if (!json_is_array(list) || !json_is_array(order))
                return;
        json_t *sorted = json_array();
        size_t i, j;
        json_t *o, *x;
        json_array_foreach (order, i, o) {
                json_array_foreach (list, j, x) {
                        bool match = merge_key && json_is_object(o) ? same_key(x, o, merge_key)
                                                                    : json_equal(x, o);
                        if (match) {
                                json_array_append(sorted, x);
                                break;
                        }
                }
        }
        json_array_foreach (list, j, x) {
                bool listed = false;
                size_t k;
                json_t *y;
                json_array_foreach (sorted, k, y) {
                        if (y == x)
                                listed = true;
                }
                if (!listed)
                        json_array_append(sorted, x);
        }
        json_array_clear(list);
        json_array_extend(list, sorted);
        json_decref(sorted);
}

static json_t *smp_object(struct server *s, json_t *target, json_t *patch, json_t *schema)
{
        if (!json_is_object(patch))
                return json_deep_copy(patch);
        const char *directive = json_string_value(json_object_get(patch, "$patch"));
        if (directive && strcmp(directive, "replace") == 0)
                return strip_directives(patch);
        json_t *result = json_is_object(target) ? json_deep_copy(target) : json_object();
        schema = schema_resolve(s, schema);
        const char *key;
        json_t *value;
        json_object_foreach (patch, key, value) {
                if (is_directive_key(key))
                        continue;
                if (json_is_null(value)) {
                        json_object_del(result, key);
                        continue;
                }
                json_t *field_schema = property_schema(s, schema, key);
                /* property_schema resolved the $ref; patch metadata lives on the property itself.
                 */
                json_t *raw = json_object_get(json_object_get(schema, "properties"), key);
                if (json_is_object(value)) {
                        const char *d = json_string_value(json_object_get(value, "$patch"));
                        if (d && strcmp(d, "delete") == 0) {
                                json_object_del(result, key);
                                continue;
                        }
                        json_object_set_new(
                                result, key,
                                smp_object(s, json_object_get(result, key), value, field_schema));
                } else if (json_is_array(value)) {
                        json_object_set_new(result, key,
                                            smp_list(s, json_object_get(result, key), value,
                                                     raw ? raw : field_schema));
                } else {
                        json_object_set_new(result, key, json_deep_copy(value));
                }
        }
        json_object_foreach (patch, key, value) {
                if (strncmp(key, "$deleteFromPrimitiveList/", 25) == 0) {
                        json_t *list = json_object_get(result, key + 25);
                        size_t i;
                        json_t *v;
                        json_array_foreach (value, i, v) {
                                for (size_t j = json_array_size(list); j-- > 0;)
                                        if (json_equal(json_array_get(list, j), v))
                                                json_array_remove(list, j);
                        }
                } else if (strncmp(key, "$setElementOrder/", 17) == 0) {
                        json_t *raw =
                                json_object_get(json_object_get(schema, "properties"), key + 17);
                        set_element_order(json_object_get(result, key + 17), value,
                                          json_string_value(json_object_get(
                                                  raw, "x-kubernetes-patch-merge-key")));
                }
        }
        json_t *retain = json_object_get(patch, "$retainKeys");
        if (json_is_array(retain)) {
                void *tmp;
                json_object_foreach_safe (result, tmp, key, value) {
                        bool keep = false;
                        size_t i;
                        json_t *k;
                        json_array_foreach (retain, i, k) {
                                if (json_is_string(k) && strcmp(json_string_value(k), key) == 0)
                                        keep = true;
                        }
                        if (!keep)
                                json_object_del(result, key);
                }
        }
        return result;
}

json_t *patch_strategic(struct server *s, json_t *target, json_t *patch, const char *definition)
{
        json_t *schema = definition ? schema_definition(s, definition) : NULL;
        return smp_object(s, target, patch, schema);
}

/* ---- YAML ---- */

/*
 * Bodies in YAML (application/apply-patch+yaml, ...): the real API server
 * decodes them with sigs.k8s.io/yaml, as kubectl does; lib/common's converter
 * resolves scalars the same way.  JSON, the common case, is parsed directly.
 */
json_t *yaml_to_json(const char *text, size_t len)
{
        json_error_t error;
        json_t *j = json_loadb(text, len, 0, &error);
        if (j)
                return j;
        json_t *value = NULL;
        if (yaml_json_load(text, len, YAML_SCALARS_KUBECTL, NULL, 0, &value) < 0)
                return NULL;
        return value;
}

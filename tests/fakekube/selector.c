/* SPDX-License-Identifier: Apache-2.0 */
/* Label and field selectors, in their query-string and metav1.LabelSelector forms. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakekube.h"
#include "macros.h"
#include "selector.h"

enum requirement_op { OP_EQ, OP_NE, OP_IN, OP_NOTIN, OP_EXISTS, OP_NOT_EXISTS };

struct requirement {
        char *key;
        enum requirement_op op;
        char **values;
        size_t n_values;
};

struct selector {
        bool fields; /* keys are dotted field paths instead of label keys */
        struct requirement *reqs;
        size_t n_reqs;
};

void sel_free(struct selector *sel)
{
        if (!sel)
                return;
        for (size_t i = 0; i < sel->n_reqs; i++) {
                free(sel->reqs[i].key);
                for (size_t j = 0; j < sel->reqs[i].n_values; j++)
                        free(sel->reqs[i].values[j]);
                free(sel->reqs[i].values);
        }
        free(sel->reqs);
        free(sel);
}

static void skip_spaces(const char **p)
{
        while (**p == ' ' || **p == '\t')
                (*p)++;
}

/* A key or value token: label characters, dots, slashes, dashes, underscores. */
static char *read_token(const char **p)
{
        skip_spaces(p);
        const char *start = *p;
        while (**p && (isalnum((unsigned char)**p) || strchr("-_./", **p)))
                (*p)++;
        return strndup(start, (size_t)(*p - start));
}

static int add_requirement(struct selector *sel, struct requirement *req)
{
        struct requirement *n = realloc(sel->reqs, (sel->n_reqs + 1) * sizeof(*n));
        if (!n)
                return -ENOMEM;
        sel->reqs = n;
        sel->reqs[sel->n_reqs++] = *req;
        return 0;
}

static int add_value(struct requirement *req, char *value)
{
        char **n = realloc(req->values, (req->n_values + 1) * sizeof(*n));
        if (!n) {
                free(value);
                return -ENOMEM;
        }
        req->values = n;
        req->values[req->n_values++] = value;
        return 0;
}

static int parse(const char *text, bool fields, struct selector **ret, char **ret_error)
{
        struct selector *sel = calloc(1, sizeof(*sel));
        if (!sel)
                return -ENOMEM;
        sel->fields = fields;
        const char *p = text ? text : "";
        skip_spaces(&p);
        while (*p) {
                struct requirement req = {0};
                skip_spaces(&p);
                bool negated = false;
                if (*p == '!') {
                        negated = true;
                        p++;
                }
                req.key = read_token(&p);
                if (!req.key || !req.key[0]) {
                        free(req.key);
                        goto syntax;
                }
                skip_spaces(&p);
                if (negated) {
                        req.op = OP_NOT_EXISTS;
                } else if (*p == ',' || *p == '\0') {
                        req.op = OP_EXISTS;
                } else if (p[0] == '=' && p[1] == '=') {
                        req.op = OP_EQ;
                        p += 2;
                } else if (p[0] == '=') {
                        req.op = OP_EQ;
                        p += 1;
                } else if (p[0] == '!' && p[1] == '=') {
                        req.op = OP_NE;
                        p += 2;
                } else if (!fields && (strncmp(p, "in", 2) == 0 || strncmp(p, "notin", 5) == 0)) {
                        req.op = p[0] == 'i' ? OP_IN : OP_NOTIN;
                        p += req.op == OP_IN ? 2 : 5;
                        skip_spaces(&p);
                        if (*p != '(') {
                                free(req.key);
                                goto syntax;
                        }
                        p++;
                        for (;;) {
                                char *v = read_token(&p);
                                if (!v || add_value(&req, v) < 0)
                                        goto syntax_req;
                                skip_spaces(&p);
                                if (*p == ',') {
                                        p++;
                                        continue;
                                }
                                if (*p == ')') {
                                        p++;
                                        break;
                                }
                                goto syntax_req;
                        }
                } else {
                        free(req.key);
                        goto syntax;
                }
                if (req.op == OP_EQ || req.op == OP_NE) {
                        char *v = read_token(&p);
                        if (!v || add_value(&req, v) < 0)
                                goto syntax_req;
                }
                if (add_requirement(sel, &req) < 0)
                        goto syntax_req;
                skip_spaces(&p);
                if (*p == ',') {
                        p++;
                        continue;
                }
                if (*p)
                        goto syntax;
                continue;
        syntax_req:
                free(req.key);
                for (size_t j = 0; j < req.n_values; j++)
                        free(req.values[j]);
                free(req.values);
                goto syntax;
        }
        *ret = sel;
        return 0;
syntax:
        sel_free(sel);
        if (ret_error &&
            asprintf(ret_error, "unable to parse requirement: invalid %s selector \"%s\"",
                     fields ? "field" : "label", text) < 0)
                *ret_error = NULL;
        return -EINVAL;
}

int sel_parse_labels(const char *text, struct selector **ret, char **ret_error)
{
        return parse(text, false, ret, ret_error);
}

int sel_parse_fields(const char *text, struct selector **ret, char **ret_error)
{
        return parse(text, true, ret, ret_error);
}

const char *json_path_string(json_t *obj, const char *dotted)
{
        _cleanup_free_ char *copy = strdup(dotted);
        if (!copy)
                return NULL;
        json_t *cur = obj;
        char *save = NULL;
        for (char *part = strtok_r(copy, ".", &save); part; part = strtok_r(NULL, ".", &save)) {
                cur = json_object_get(cur, part);
                if (!cur)
                        return NULL;
        }
        return json_string_value(cur);
}

static bool requirement_matches(const struct requirement *req, const char *value)
{
        switch (req->op) {
        case OP_EXISTS:
                return value != NULL;
        case OP_NOT_EXISTS:
                return value == NULL;
        case OP_EQ:
                return strcmp(value ? value : "", req->values[0]) == 0;
        case OP_NE:
                return strcmp(value ? value : "", req->values[0]) != 0;
        case OP_IN:
        case OP_NOTIN: {
                bool found = false;
                for (size_t i = 0; value && i < req->n_values; i++)
                        if (strcmp(value, req->values[i]) == 0)
                                found = true;
                return req->op == OP_IN ? found : !found;
        }
        }
        return false;
}

bool sel_matches(const struct selector *sel, json_t *obj)
{
        if (!sel)
                return true;
        json_t *labels = json_object_get(json_object_get(obj, "metadata"), "labels");
        for (size_t i = 0; i < sel->n_reqs; i++) {
                const struct requirement *req = &sel->reqs[i];
                const char *value;
                char buf[64];
                if (sel->fields) {
                        value = json_path_string(obj, req->key);
                        if (!value) {
                                /* Non-string fields (e.g. booleans) compare by their text. */
                                json_t *cur = obj;
                                _cleanup_free_ char *copy = strdup(req->key);
                                char *save = NULL;
                                for (char *part = copy ? strtok_r(copy, ".", &save) : NULL;
                                     part && cur; part = strtok_r(NULL, ".", &save))
                                        cur = json_object_get(cur, part);
                                if (json_is_boolean(cur))
                                        value = json_is_true(cur) ? "true" : "false";
                                else if (json_is_integer(cur)) {
                                        snprintf(buf, sizeof(buf), "%lld",
                                                 (long long)json_integer_value(cur));
                                        value = buf;
                                }
                        }
                } else {
                        value = json_string_value(json_object_get(labels, req->key));
                }
                if (!requirement_matches(req, value))
                        return false;
        }
        return true;
}

char *label_selector_json_to_string(json_t *selector)
{
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        if (!f)
                return NULL;
        bool first = true;
        const char *key;
        json_t *value;
        json_object_foreach (json_object_get(selector, "matchLabels"), key, value) {
                fprintf(f, "%s%s=%s", first ? "" : ",", key, json_string_value(value) ?: "");
                first = false;
        }
        size_t i;
        json_t *expr;
        json_array_foreach (json_object_get(selector, "matchExpressions"), i, expr) {
                const char *k = json_string_value(json_object_get(expr, "key")) ?: "";
                const char *op = json_string_value(json_object_get(expr, "operator")) ?: "";
                fprintf(f, "%s", first ? "" : ",");
                first = false;
                if (strcmp(op, "Exists") == 0) {
                        fprintf(f, "%s", k);
                        continue;
                }
                if (strcmp(op, "DoesNotExist") == 0) {
                        fprintf(f, "!%s", k);
                        continue;
                }
                fprintf(f, "%s %s (", k, strcmp(op, "In") == 0 ? "in" : "notin");
                size_t j;
                json_t *v;
                json_array_foreach (json_object_get(expr, "values"), j, v) {
                        fprintf(f, "%s%s", j ? "," : "", json_string_value(v) ?: "");
                }
                fprintf(f, ")");
        }
        fclose(f);
        return buf;
}

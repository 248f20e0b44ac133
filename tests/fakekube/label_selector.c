/* SPDX-License-Identifier: Apache-2.0 */
/* metav1.LabelSelector matching for fakekube and its controllers (label_selector.h). */
#include "label_selector.h"

#include <string.h>

static bool value_in(const json_t *values, const char *value)
{
        size_t i;
        json_t *v;
        json_array_foreach (values, i, v) {
                if (value && json_is_string(v) && strcmp(json_string_value(v), value) == 0)
                        return true;
        }
        return false;
}

static bool expression_holds(const json_t *expression, const json_t *labels)
{
        const char *key = json_string_value(json_object_get(expression, "key"));
        const char *op = json_string_value(json_object_get(expression, "operator"));
        const json_t *values = json_object_get(expression, "values");
        if (!key || !op)
                return false;
        const char *have = json_string_value(json_object_get(labels, key));
        if (strcmp(op, "In") == 0)
                return value_in(values, have);
        if (strcmp(op, "NotIn") == 0)
                return !have || !value_in(values, have);
        if (strcmp(op, "Exists") == 0)
                return have != NULL;
        if (strcmp(op, "DoesNotExist") == 0)
                return have == NULL;
        return false;
}

bool label_selector_matches(const json_t *selector, const json_t *labels)
{
        if (!json_is_object(selector))
                return false;
        const char *key;
        json_t *value;
        json_object_foreach ((json_t *)json_object_get(selector, "matchLabels"), key, value) {
                const char *have = json_string_value(json_object_get(labels, key));
                if (!have || !json_is_string(value) || strcmp(have, json_string_value(value)) != 0)
                        return false;
        }
        size_t i;
        json_t *expression;
        json_array_foreach (json_object_get(selector, "matchExpressions"), i, expression) {
                if (!expression_holds(expression, labels))
                        return false;
        }
        return true;
}

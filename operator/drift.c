/* SPDX-License-Identifier: Apache-2.0 */
#include "drift.h"

#include <errno.h>
#include <string.h>

#include "macros.h"

bool json_contains(const json_t *observed, const json_t *desired)
{
        if (!observed || !desired)
                return false;
        if (json_is_object(desired)) {
                if (!json_is_object(observed))
                        return false;
                const char *key;
                json_t *value;
                json_object_foreach ((json_t *)desired, key, value) {
                        if (!json_contains(json_object_get(observed, key), value))
                                return false;
                }
                return true;
        }
        if (json_is_array(desired)) {
                if (!json_is_array(observed) ||
                    json_array_size(observed) != json_array_size(desired))
                        return false;
                for (size_t i = 0; i < json_array_size(desired); i++)
                        if (!json_contains(json_array_get(observed, i), json_array_get(desired, i)))
                                return false;
                return true;
        }
        return json_equal((json_t *)observed, (json_t *)desired);
}

/*
 * Recursive step.  Fields of `desired` that `observed` does not contain go
 * into the patch (objects recurse so that foreign sibling keys survive);
 * fields of `last` that `desired` dropped become null (delete).
 */
static int diff_object(const json_t *last, const json_t *desired, const json_t *observed,
                       json_t *patch)
{
        const char *key;
        json_t *value;
        json_object_foreach ((json_t *)desired, key, value) {
                json_t *have = json_is_object(observed) ? json_object_get(observed, key) : NULL;
                /* Objects on both sides: recurse even when contained, since a
                 * field dropped from desired hides below. */
                if (json_is_object(value) && json_is_object(have)) {
                        json_t *sub = json_object();
                        if (!sub)
                                return -ENOMEM;
                        int r = diff_object(json_is_object(last) ? json_object_get(last, key)
                                                                 : NULL,
                                            value, have, sub);
                        if (r < 0 || json_object_size(sub) == 0) {
                                json_decref(sub);
                                if (r < 0)
                                        return r;
                                continue;
                        }
                        json_object_set_new(patch, key, sub);
                        continue;
                }
                if (json_contains(have, value))
                        continue;
                if (json_object_set_new(patch, key, json_deep_copy(value)) < 0)
                        return -ENOMEM;
        }

        if (json_is_object(last))
                json_object_foreach ((json_t *)last, key, value) {
                        if (json_object_get(desired, key))
                                continue;
                        if (json_is_object(observed) && json_object_get(observed, key))
                                json_object_set_new(patch, key, json_null());
                }
        return 0;
}

json_t *drift_with_last_applied(const json_t *desired)
{
        _cleanup_json_ json_t *copy = json_deep_copy(desired);
        _cleanup_free_ char *text = json_dumps(desired, JSON_COMPACT | JSON_SORT_KEYS);
        if (!copy || !text)
                return NULL;
        json_t *metadata = json_object_get(copy, "metadata");
        if (!json_is_object(metadata))
                return NULL;
        json_t *annotations = json_object_get(metadata, "annotations");
        if (!json_is_object(annotations)) {
                annotations = json_object();
                json_object_set_new(metadata, "annotations", annotations);
        }
        json_object_set_new(annotations, TRIPDEAL_LAST_APPLIED_ANNOTATION, json_string(text));
        return TAKE_PTR(copy);
}

int drift_patch(const json_t *last_applied, const json_t *desired, const json_t *observed,
                json_t **ret_patch)
{
        if (!json_is_object(desired) || !json_is_object(observed))
                return -EINVAL;

        /* The annotation is part of what we want, so a stale one is drift too. */
        _cleanup_json_ json_t *wanted = drift_with_last_applied(desired);
        _cleanup_json_ json_t *patch = json_object();
        if (!wanted || !patch)
                return -ENOMEM;
        int r = diff_object(last_applied, wanted, observed, patch);
        if (r < 0)
                return r;
        *ret_patch = json_object_size(patch) > 0 ? TAKE_PTR(patch) : NULL;
        return 0;
}

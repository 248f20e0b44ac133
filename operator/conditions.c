/* SPDX-License-Identifier: Apache-2.0 */
/* metav1.Condition lists: set, find, remove (see conditions.h). */
#include "conditions.h"

#include <errno.h>
#include <string.h>

#include "clock.h"
#include "macros.h"

static const char *const status_names[] = {
        [CONDITION_FALSE] = "False",
        [CONDITION_TRUE] = "True",
        [CONDITION_UNKNOWN] = "Unknown",
};

json_t *conditions_find(const json_t *conditions, const char *type)
{
        size_t i;
        json_t *c;
        json_array_foreach ((json_t *)conditions, i, c) {
                const char *t = json_string_value(json_object_get(c, "type"));
                if (t && strcmp(t, type) == 0)
                        return c;
        }
        return NULL;
}

bool conditions_is_true(const json_t *conditions, const char *type)
{
        const char *status =
                json_string_value(json_object_get(conditions_find(conditions, type), "status"));
        return status && strcmp(status, "True") == 0;
}

static bool string_member_is(const json_t *object, const char *key, const char *value)
{
        const char *have = json_string_value(json_object_get(object, key));
        return have && strcmp(have, value) == 0;
}

int conditions_set(json_t *conditions, const struct condition *c, time_t now)
{
        if (!json_is_array(conditions) || !c || !c->type || !c->reason || !c->message ||
            (unsigned)c->status >= ARRAY_SIZE(status_names))
                return -EINVAL;
        const char *status = status_names[c->status];

        json_t *existing = conditions_find(conditions, c->type);
        if (existing && string_member_is(existing, "status", status) &&
            string_member_is(existing, "reason", c->reason) &&
            string_member_is(existing, "message", c->message) &&
            json_integer_value(json_object_get(existing, "observedGeneration")) ==
                    c->observed_generation)
                return 0;

        char when[32];
        int r = clock_format_rfc3339(now, when, sizeof(when));
        if (r < 0)
                return r;
        /* Keep the old transition time unless the status itself flips. */
        const char *transition = when;
        if (existing && string_member_is(existing, "status", status) &&
            json_is_string(json_object_get(existing, "lastTransitionTime")))
                transition = json_string_value(json_object_get(existing, "lastTransitionTime"));

        json_t *updated =
                json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}", "type", c->type, "status", status,
                          "reason", c->reason, "message", c->message, "observedGeneration",
                          (json_int_t)c->observed_generation, "lastTransitionTime", transition);
        if (!updated)
                return -ENOMEM;
        if (existing) {
                size_t i;
                json_t *entry;
                json_array_foreach (conditions, i, entry) {
                        if (entry == existing)
                                return json_array_set_new(conditions, i, updated) < 0 ? -ENOMEM : 1;
                }
        }
        return json_array_append_new(conditions, updated) < 0 ? -ENOMEM : 1;
}

int conditions_remove(json_t *conditions, const char *type)
{
        json_t *existing = conditions_find(conditions, type);
        size_t i;
        json_t *entry;
        json_array_foreach (conditions, i, entry) {
                if (existing && entry == existing) {
                        json_array_remove(conditions, i);
                        return 1;
                }
        }
        return 0;
}

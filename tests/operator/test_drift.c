/* SPDX-License-Identifier: Apache-2.0 */
/* The operator's three-way drift patch: what it corrects and what it leaves alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "drift.h"
#include "macros.h"

static json_t *parse(const char *text)
{
        json_error_t error;
        json_t *j = json_loads(text, 0, &error);
        if (!j)
                fail_msg("bad test JSON at %d: %s", error.position, error.text);
        return j;
}

/* The server's copy after the operator applied `desired` once and others touched it. */
static json_t *applied(const json_t *desired, const char *extra_merge)
{
        json_t *observed = drift_with_last_applied(desired);
        if (extra_merge) {
                _cleanup_json_ json_t *extra = parse(extra_merge);
                json_object_update_recursive(observed, extra);
        }
        return observed;
}

static const char *deployment =
        "{\"metadata\":{\"name\":\"shop\",\"labels\":{\"app\":\"tripdeal\"}},"
        "\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"app\","
        "\"image\":\"app:1\"}]}}}}";

static void in_sync_after_server_defaults_and_foreign_fields(void **state)
{
        _cleanup_json_ json_t *desired = parse(deployment);
        /* Server defaults inside the container, an HPA-owned replica count, a
         * user's annotation and label: none of it is drift. */
        _cleanup_json_ json_t *observed =
                applied(desired, "{\"metadata\":{\"resourceVersion\":\"9\",\"labels\":{\"team\":"
                                 "\"sre\"},\"annotations\":{\"note\":\"keep me\"}},"
                                 "\"spec\":{\"replicas\":17}}");
        json_t *containers = json_object_get(
                json_object_get(json_object_get(json_object_get(observed, "spec"), "template"),
                                "spec"),
                "containers");
        json_object_set_new(json_array_get(containers, 0), "imagePullPolicy",
                            json_string("IfNotPresent"));

        json_t *patch = (json_t *)0x1;
        assert_int_equal(drift_patch(desired, desired, observed, &patch), 0);
        assert_null(patch);
}

static void hand_edit_of_owned_field_is_put_back(void **state)
{
        _cleanup_json_ json_t *desired = parse(deployment);
        _cleanup_json_ json_t *observed = applied(desired, NULL);
        json_t *container = json_array_get(
                json_object_get(json_object_get(json_object_get(json_object_get(observed, "spec"),
                                                                "template"),
                                                "spec"),
                                "containers"),
                0);
        json_object_set_new(container, "image", json_string("evil:latest"));

        _cleanup_json_ json_t *patch = NULL;
        assert_int_equal(drift_patch(desired, desired, observed, &patch), 0);
        assert_non_null(patch);
        /* The list is replaced whole (merge patch) with the wanted image, and
         * nothing else is in the patch. */
        _cleanup_free_ char *text = json_dumps(patch, JSON_COMPACT | JSON_SORT_KEYS);
        assert_string_equal(text, "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"image\":"
                                  "\"app:1\",\"name\":\"app\"}]}}}}");
}

static void dropped_field_is_removed_but_foreign_one_kept(void **state)
{
        _cleanup_json_ json_t *before =
                parse("{\"metadata\":{\"name\":\"ing\"},\"spec\":{\"rules\":"
                      "[],\"tls\":[{\"secretName\":\"t\"}]}}");
        _cleanup_json_ json_t *now =
                parse("{\"metadata\":{\"name\":\"ing\"},\"spec\":{\"rules\":[]}}");
        _cleanup_json_ json_t *observed =
                applied(before, "{\"spec\":{\"defaultBackend\":{\"resource\":{}}}}");

        _cleanup_json_ json_t *patch = NULL;
        assert_int_equal(drift_patch(before, now, observed, &patch), 0);
        assert_non_null(patch);
        json_t *spec = json_object_get(patch, "spec");
        assert_true(json_is_null(json_object_get(spec, "tls")));
        assert_null(json_object_get(spec, "defaultBackend"));
        /* The new last-applied annotation goes with it. */
        json_t *annotation =
                json_object_get(json_object_get(json_object_get(patch, "metadata"), "annotations"),
                                TRIPDEAL_LAST_APPLIED_ANNOTATION);
        assert_non_null(strstr(json_string_value(annotation), "rules"));
        assert_null(strstr(json_string_value(annotation), "tls"));
}

static void new_desired_field_is_added(void **state)
{
        _cleanup_json_ json_t *before =
                parse("{\"metadata\":{\"name\":\"h\"},\"spec\":{\"minReplicas\":2}}");
        _cleanup_json_ json_t *now =
                parse("{\"metadata\":{\"name\":\"h\"},\"spec\":{\"minReplicas\":24}}");
        _cleanup_json_ json_t *observed = applied(before, "{\"spec\":{\"maxReplicas\":40}}");
        _cleanup_json_ json_t *patch = NULL;
        assert_int_equal(drift_patch(before, now, observed, &patch), 0);
        assert_int_equal(
                json_integer_value(json_object_get(json_object_get(patch, "spec"), "minReplicas")),
                24);
        assert_null(json_object_get(json_object_get(patch, "spec"), "maxReplicas"));
}

static void containment_rules(void **state)
{
        _cleanup_json_ json_t *a = parse("{\"x\":[1,2],\"y\":{\"z\":\"s\"}}");
        _cleanup_json_ json_t *b = parse("{\"x\":[1,2],\"y\":{\"z\":\"s\",\"w\":1},\"q\":0}");
        _cleanup_json_ json_t *c = parse("{\"x\":[1,2,3],\"y\":{\"z\":\"s\"}}");
        assert_true(json_contains(b, a));
        assert_false(json_contains(a, b));
        assert_false(json_contains(c, a)); /* lists must match in length */
        assert_false(json_contains(NULL, a));
        json_t *patch = NULL;
        assert_int_equal(drift_patch(NULL, a, NULL, &patch), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(in_sync_after_server_defaults_and_foreign_fields),
                cmocka_unit_test(hand_edit_of_owned_field_is_put_back),
                cmocka_unit_test(dropped_field_is_removed_but_foreign_one_kept),
                cmocka_unit_test(new_desired_field_is_added),
                cmocka_unit_test(containment_rules),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

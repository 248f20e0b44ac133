/* SPDX-License-Identifier: Apache-2.0 */
/* metav1.Condition bookkeeping: transition times move only when status flips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "conditions.h"
#include "macros.h"

static void transition_time_moves_only_on_status_change(void **state)
{
        _cleanup_json_ json_t *list = json_array();
        struct condition ready = {.type = "Ready",
                                  .status = CONDITION_FALSE,
                                  .reason = "Progressing",
                                  .message = "waiting for pods",
                                  .observed_generation = 1};
        assert_int_equal(conditions_set(list, &ready, 1000), 1);
        assert_int_equal(conditions_set(list, &ready, 2000), 0); /* no change, no write */

        ready.message = "1 of 2 pods ready";
        assert_int_equal(conditions_set(list, &ready, 3000), 1);
        json_t *c = conditions_find(list, "Ready");
        assert_string_equal(json_string_value(json_object_get(c, "lastTransitionTime")),
                            "1970-01-01T00:16:40Z");
        assert_false(conditions_is_true(list, "Ready"));

        ready.status = CONDITION_TRUE;
        ready.reason = "AllReplicasReady";
        ready.observed_generation = 2;
        assert_int_equal(conditions_set(list, &ready, 4000), 1);
        c = conditions_find(list, "Ready");
        assert_string_equal(json_string_value(json_object_get(c, "lastTransitionTime")),
                            "1970-01-01T01:06:40Z");
        assert_int_equal(json_integer_value(json_object_get(c, "observedGeneration")), 2);
        assert_true(conditions_is_true(list, "Ready"));
        assert_int_equal(json_array_size(list), 1);
}

static void one_entry_per_type(void **state)
{
        _cleanup_json_ json_t *list = json_array();
        struct condition a = {
                .type = "Ready", .status = CONDITION_TRUE, .reason = "R", .message = "m"};
        struct condition b = {
                .type = "Prescaled", .status = CONDITION_FALSE, .reason = "NoSale", .message = "m"};
        assert_int_equal(conditions_set(list, &a, 1), 1);
        assert_int_equal(conditions_set(list, &b, 1), 1);
        assert_int_equal(conditions_set(list, &a, 2), 0);
        assert_int_equal(json_array_size(list), 2);
        assert_null(conditions_find(list, "Degraded"));
        struct condition bad = {
                .type = "X", .status = CONDITION_TRUE, .reason = NULL, .message = "m"};
        assert_int_equal(conditions_set(list, &bad, 1), -EINVAL);
}

/* A condition that no longer applies (NodesReady without node pools) goes. */
static void removed_when_it_no_longer_applies(void **state)
{
        _cleanup_json_ json_t *list = json_array();
        struct condition nodes = {.type = "NodesReady",
                                  .status = CONDITION_TRUE,
                                  .reason = "NodesReady",
                                  .message = "2 of 2",
                                  .observed_generation = 1};
        struct condition ready = {.type = "Ready",
                                  .status = CONDITION_TRUE,
                                  .reason = "ReplicasReady",
                                  .message = "2 of 2",
                                  .observed_generation = 1};
        assert_int_equal(conditions_set(list, &ready, 1000), 1);
        assert_int_equal(conditions_set(list, &nodes, 1000), 1);
        assert_int_equal(conditions_remove(list, "NodesReady"), 1);
        assert_null(conditions_find(list, "NodesReady"));
        assert_non_null(conditions_find(list, "Ready"));
        assert_int_equal(json_array_size(list), 1);
        assert_int_equal(conditions_remove(list, "NodesReady"), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(transition_time_moves_only_on_status_change),
                cmocka_unit_test(one_entry_per_type),
                cmocka_unit_test(removed_when_it_no_longer_applies),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Node pools, the pure part: how many VMs, which one goes, when one is
 * replaced, what it is called; and spec.nodePools as the operator reads it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "macros.h"
#include "nodepool_plan.h"
#include "schedule.h"
#include "tripdeal.h"

#define MINUTE_MS (60 * 1000)

/* ---- desired count ------------------------------------------------------ */

static void desired_is_min_off_sale(void **state)
{
        assert_int_equal(nodepool_desired_count(0, 6, 0), 0);
        assert_int_equal(nodepool_desired_count(2, 6, 0), 2);
}

static void desired_follows_open_windows(void **state)
{
        assert_int_equal(nodepool_desired_count(0, 6, 3), 3);
        /* min still wins when a window asks for fewer */
        assert_int_equal(nodepool_desired_count(4, 6, 3), 4);
}

static void desired_never_above_max(void **state)
{
        assert_int_equal(nodepool_desired_count(0, 6, 20), 6);
        assert_int_equal(nodepool_desired_count(0, 0, 5), 0);
        assert_int_equal(nodepool_desired_count(-1, 5, -3), 0);
}

/* The whole chain: a sale's prescale.nodes through the schedule to a pool. */
static void desired_from_a_sale_window(void **state)
{
        json_error_t jerr;
        _cleanup_json_ json_t *json = json_loads(
                "{\"app\":{\"image\":\"x\",\"replicas\":{\"min\":1,\"max\":1}},"
                "\"sales\":[{\"name\":\"flash\",\"schedule\":\"0 10 * * *\",\"duration\":\"1h\","
                "\"prescale\":{\"leadTime\":\"10m\",\"minReplicas\":4,\"nodes\":3,"
                "\"nodeLeadTime\":\"20m\"}}],"
                "\"nodePools\":[{\"name\":\"burst\",\"libvirt\":{\"uri\":\"test:///default\","
                "\"baseImage\":\"/b.qcow2\"},\"min\":1,\"max\":2,"
                "\"joinSecretRef\":{\"name\":\"join\"}}]}",
                0, &jerr);
        assert_non_null(json);
        _cleanup_(tripdeal_spec_freep) struct tripdeal_spec *spec = NULL;
        assert_int_equal(tripdeal_spec_parse(json, &spec, NULL), 0);
        const struct tripdeal_node_pool *pool = &spec->node_pools[0];
        struct schedule_state s;
        struct tripdeal_error error = {0};

        /* 2026-11-26 09:39:59 UTC: before the node window (09:40). */
        int64_t t = 1795685999000;
        assert_int_equal(schedule_evaluate(spec, t, &s, &error), 0);
        assert_int_equal(nodepool_desired_count(pool->min, pool->max, s.nodes_wanted), 1);
        /* 09:40:00: nodes come before the pod floor (leadTime 10m) */
        assert_int_equal(schedule_evaluate(spec, t + 1000, &s, &error), 0);
        assert_int_equal(s.floor_replicas, 1);
        assert_int_equal(nodepool_desired_count(pool->min, pool->max, s.nodes_wanted), 2);
        /* 11:00:00: the window closed, back to min */
        assert_int_equal(schedule_evaluate(spec, t + 1000 + 80 * MINUTE_MS, &s, &error), 0);
        assert_int_equal(nodepool_desired_count(pool->min, pool->max, s.nodes_wanted), 1);
}

/* ---- which VM goes ------------------------------------------------------- */

static void removal_picks_fewest_pods(void **state)
{
        struct nodepool_member m[] = {
                {.name = "a", .node = NODEPOOL_NODE_READY, .pods = 5, .created_at_ms = 1},
                {.name = "b", .node = NODEPOOL_NODE_READY, .pods = 1, .created_at_ms = 1},
                {.name = "c", .node = NODEPOOL_NODE_READY, .pods = 3, .created_at_ms = 1},
        };
        assert_int_equal(nodepool_pick_removal(m, ARRAY_SIZE(m)), 1);
}

static void removal_tie_prefers_not_ready_then_newest(void **state)
{
        struct nodepool_member m[] = {
                {.name = "old", .node = NODEPOOL_NODE_READY, .pods = 0, .created_at_ms = 100},
                {.name = "new", .node = NODEPOOL_NODE_READY, .pods = 0, .created_at_ms = 200},
                {.name = "reg", .node = NODEPOOL_NODE_REGISTERING, .pods = 0, .created_at_ms = 50},
        };
        assert_int_equal(nodepool_pick_removal(m, ARRAY_SIZE(m)), 2);
        /* without the registering one, the newest Ready node goes */
        assert_int_equal(nodepool_pick_removal(m, 2), 1);
        /* same age: deterministic by name */
        m[0].created_at_ms = 200;
        assert_string_equal(m[nodepool_pick_removal(m, 2)].name, "old");
        assert_int_equal(nodepool_pick_removal(m, 0), -1);
}

static void removal_pods_outweigh_readiness(void **state)
{
        /* A NotReady node still running pods is not preferred over an idle Ready one. */
        struct nodepool_member m[] = {
                {.name = "busy", .node = NODEPOOL_NODE_NOT_READY, .pods = 2},
                {.name = "idle", .node = NODEPOOL_NODE_READY, .pods = 0},
        };
        assert_int_equal(nodepool_pick_removal(m, ARRAY_SIZE(m)), 1);
}

/* ---- replacement --------------------------------------------------------- */

static void never_ready_is_replaced_after_the_deadline(void **state)
{
        struct nodepool_member m = {
                .name = "x", .node = NODEPOOL_NODE_REGISTERING, .created_at_ms = 1000000};
        int64_t timeout = 10 * MINUTE_MS;
        assert_false(nodepool_needs_replacement(&m, 1000000 + timeout - 1, timeout));
        assert_true(nodepool_needs_replacement(&m, 1000000 + timeout, timeout));
        assert_int_equal(nodepool_replace_due_ms(&m, timeout), 1000000 + timeout);
}

static void ready_node_is_never_replaced(void **state)
{
        struct nodepool_member m = {
                .name = "x", .node = NODEPOOL_NODE_READY, .created_at_ms = 1000};
        assert_false(nodepool_needs_replacement(&m, 1000 + 100 * MINUTE_MS, MINUTE_MS));
        assert_int_equal(nodepool_replace_due_ms(&m, MINUTE_MS), 0);
}

static void not_ready_counts_from_the_transition(void **state)
{
        /* Created long ago, Ready until recently: the clock starts at the transition. */
        struct nodepool_member m = {.name = "x",
                                    .node = NODEPOOL_NODE_NOT_READY,
                                    .created_at_ms = 1000,
                                    .not_ready_since_ms = 50 * MINUTE_MS};
        assert_false(nodepool_needs_replacement(&m, 55 * MINUTE_MS, 10 * MINUTE_MS));
        assert_true(nodepool_needs_replacement(&m, 60 * MINUTE_MS, 10 * MINUTE_MS));
}

static void unknown_age_is_not_replaced(void **state)
{
        /* No created-at in the metadata: never guess, never destroy. */
        struct nodepool_member m = {.name = "x", .node = NODEPOOL_NODE_REGISTERING};
        assert_false(nodepool_needs_replacement(&m, INT64_MAX / 2, MINUTE_MS));
}

/* ---- names --------------------------------------------------------------- */

static bool is_dns_label(const char *s)
{
        size_t n = strlen(s);
        if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
                        return false;
        return true;
}

static void vm_name_shape(void **state)
{
        const uint8_t random[NODEPOOL_SUFFIX_LENGTH] = {0, 1, 25, 26, 35};
        char name[64];
        assert_int_equal(nodepool_vm_name("shop", "burst", random, name, sizeof(name)), 0);
        assert_string_equal(name, "shop-burst-abz09");
        assert_true(is_dns_label(name));
        assert_int_equal(nodepool_vm_name("", "burst", random, name, sizeof(name)), -EINVAL);
        char small[10];
        assert_int_equal(nodepool_vm_name("a", "b", random, small, sizeof(small)), -ENOBUFS);
}

static void vm_name_long_and_dotted(void **state)
{
        const uint8_t random[NODEPOOL_SUFFIX_LENGTH] = {200, 201, 202, 203, 255};
        char name[64];
        char tripdeal[254];
        memset(tripdeal, 'a', 253);
        tripdeal[253] = '\0';
        tripdeal[56] = '-'; /* a cut right after a '-' must not leave "--" or a trailing '-' */
        assert_int_equal(nodepool_vm_name(tripdeal, "burst", random, name, sizeof(name)), 0);
        assert_true(strlen(name) <= 63);
        assert_true(is_dns_label(name));
        assert_int_equal(nodepool_vm_name("shop.example", "p", random, name, sizeof(name)), 0);
        assert_true(is_dns_label(name));
        assert_memory_equal(name, "shop-example-p-", 15);
}

static void retry_delay_doubles_to_a_cap(void **state)
{
        assert_int_equal(nodepool_retry_delay_ms(0), 1000);
        assert_int_equal(nodepool_retry_delay_ms(4000), 4000);
        assert_int_equal(nodepool_retry_delay_ms(24 * 3600 * 1000LL), 300000);
}

/* ---- spec.nodePools ------------------------------------------------------ */

static int parse_pools(const char *pools, struct tripdeal_spec **ret, struct tripdeal_error *error)
{
        char text[4096];
        snprintf(text, sizeof(text),
                 "{\"app\":{\"image\":\"x\",\"replicas\":{\"min\":1,\"max\":1}},"
                 "\"nodePools\":%s}",
                 pools);
        json_error_t jerr;
        _cleanup_json_ json_t *json = json_loads(text, 0, &jerr);
        assert_non_null(json);
        return tripdeal_spec_parse(json, ret, error);
}

static void spec_pool_defaults(void **state)
{
        _cleanup_(tripdeal_spec_freep) struct tripdeal_spec *spec = NULL;
        struct tripdeal_error error = {0};
        assert_int_equal(parse_pools("[{\"name\":\"burst\",\"libvirt\":{\"uri\":\"qemu:///system\","
                                     "\"baseImage\":\"/var/lib/b.qcow2\"},\"max\":6,"
                                     "\"joinSecretRef\":{\"name\":\"kubeadm-join\"}}]",
                                     &spec, &error),
                         0);
        assert_int_equal(spec->node_pools_count, 1);
        const struct tripdeal_node_pool *p = &spec->node_pools[0];
        assert_string_equal(p->name, "burst");
        assert_string_equal(p->libvirt_uri, "qemu:///system");
        assert_string_equal(p->base_image, "/var/lib/b.qcow2");
        assert_string_equal(p->storage_pool, "default");
        assert_string_equal(p->network, "default");
        assert_int_equal(p->vcpus, 2);
        assert_int_equal(p->memory_mib, 4096);
        assert_int_equal(p->min, 0);
        assert_int_equal(p->max, 6);
        assert_string_equal(p->join_secret_name, "kubeadm-join");
        assert_string_equal(p->join_secret_key, "join");
}

static void spec_pool_all_fields(void **state)
{
        _cleanup_(tripdeal_spec_freep) struct tripdeal_spec *spec = NULL;
        assert_int_equal(
                parse_pools("[{\"name\":\"a\",\"libvirt\":{\"uri\":\"test:///default\","
                            "\"baseImage\":\"/b\",\"storagePool\":\"sp\",\"network\":\"net\","
                            "\"vcpus\":1,\"memoryMiB\":64},\"min\":1,\"max\":3,"
                            "\"joinSecretRef\":{\"name\":\"s\",\"key\":\"cmd\"}},"
                            "{\"name\":\"b\",\"libvirt\":{\"uri\":\"test:///default\","
                            "\"baseImage\":\"/b\"},\"max\":1,\"joinSecretRef\":{\"name\":\"s\"}}]",
                            &spec, NULL),
                0);
        assert_int_equal(spec->node_pools_count, 2);
        assert_string_equal(spec->node_pools[0].storage_pool, "sp");
        assert_string_equal(spec->node_pools[0].network, "net");
        assert_int_equal(spec->node_pools[0].vcpus, 1);
        assert_int_equal(spec->node_pools[0].memory_mib, 64);
        assert_int_equal(spec->node_pools[0].min, 1);
        assert_string_equal(spec->node_pools[0].join_secret_key, "cmd");
}

static void spec_pool_errors_name_the_field(void **state)
{
        static const struct {
                const char *pools;
                const char *error;
        } cases[] = {
                {"{}", "spec.nodePools: must be a list"},
                {"[{\"libvirt\":{\"uri\":\"q:///s\",\"baseImage\":\"/b\"},\"max\":1,"
                 "\"joinSecretRef\":{\"name\":\"s\"}}]",
                 "spec.nodePools[0].name: required"},
                {"[{\"name\":\"Burst\",\"libvirt\":{\"uri\":\"q:///s\",\"baseImage\":\"/b\"},"
                 "\"max\":1,\"joinSecretRef\":{\"name\":\"s\"}}]",
                 "spec.nodePools[0].name: \"Burst\" is not a DNS-1123 label"},
                {"[{\"name\":\"b\",\"max\":1,\"joinSecretRef\":{\"name\":\"s\"}}]",
                 "spec.nodePools[0].libvirt: required"},
                {"[{\"name\":\"b\",\"libvirt\":{\"baseImage\":\"/b\"},\"max\":1,"
                 "\"joinSecretRef\":{\"name\":\"s\"}}]",
                 "spec.nodePools[0].libvirt.uri: required"},
                {"[{\"name\":\"b\",\"libvirt\":{\"uri\":\"nonsense\",\"baseImage\":\"/b\"},"
                 "\"max\":1,\"joinSecretRef\":{\"name\":\"s\"}}]",
                 "spec.nodePools[0].libvirt.uri: \"nonsense\" is not a libvirt URI"},
                {"[{\"name\":\"b\",\"libvirt\":{\"uri\":\"q:///s\",\"baseImage\":\"rel.qcow2\"},"
                 "\"max\":1,\"joinSecretRef\":{\"name\":\"s\"}}]",
                 "spec.nodePools[0].libvirt.baseImage: must be an absolute path"},
                {"[{\"name\":\"b\",\"libvirt\":{\"uri\":\"q:///s\",\"baseImage\":\"/b\","
                 "\"vcpus\":0},\"max\":1,\"joinSecretRef\":{\"name\":\"s\"}}]",
                 "spec.nodePools[0].libvirt.vcpus: 0 is outside [1, 256]"},
                {"[{\"name\":\"b\",\"libvirt\":{\"uri\":\"q:///s\",\"baseImage\":\"/b\"},"
                 "\"joinSecretRef\":{\"name\":\"s\"}}]",
                 "spec.nodePools[0].max: required"},
                {"[{\"name\":\"b\",\"libvirt\":{\"uri\":\"q:///s\",\"baseImage\":\"/b\"},"
                 "\"min\":3,\"max\":2,\"joinSecretRef\":{\"name\":\"s\"}}]",
                 "spec.nodePools[0].min: 3 is above max 2"},
                {"[{\"name\":\"b\",\"libvirt\":{\"uri\":\"q:///s\",\"baseImage\":\"/b\"},"
                 "\"max\":2}]",
                 "spec.nodePools[0].joinSecretRef: required"},
                {"[{\"name\":\"b\",\"libvirt\":{\"uri\":\"q:///s\",\"baseImage\":\"/b\"},"
                 "\"max\":2,\"joinSecretRef\":{}}]",
                 "spec.nodePools[0].joinSecretRef.name: required"},
                {"[{\"name\":\"b\",\"libvirt\":{\"uri\":\"q:///s\",\"baseImage\":\"/b\"},"
                 "\"max\":2,\"joinSecretRef\":{\"name\":\"s\"}},"
                 "{\"name\":\"b\",\"libvirt\":{\"uri\":\"q:///s\",\"baseImage\":\"/b\"},"
                 "\"max\":2,\"joinSecretRef\":{\"name\":\"s\"}}]",
                 "spec.nodePools[1].name: \"b\" is used twice"},
        };
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                struct tripdeal_spec *spec = NULL;
                struct tripdeal_error error = {0};
                assert_int_equal(parse_pools(cases[i].pools, &spec, &error), -EINVAL);
                assert_null(spec);
                assert_int_equal(error.code, -EINVAL);
                if (strncmp(error.message, cases[i].error, strlen(cases[i].error)) != 0)
                        fail_msg("case %zu: got \"%s\", want \"%s...\"", i, error.message,
                                 cases[i].error);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(desired_is_min_off_sale),
                cmocka_unit_test(desired_follows_open_windows),
                cmocka_unit_test(desired_never_above_max),
                cmocka_unit_test(desired_from_a_sale_window),
                cmocka_unit_test(removal_picks_fewest_pods),
                cmocka_unit_test(removal_tie_prefers_not_ready_then_newest),
                cmocka_unit_test(removal_pods_outweigh_readiness),
                cmocka_unit_test(never_ready_is_replaced_after_the_deadline),
                cmocka_unit_test(ready_node_is_never_replaced),
                cmocka_unit_test(not_ready_counts_from_the_transition),
                cmocka_unit_test(unknown_age_is_not_replaced),
                cmocka_unit_test(vm_name_shape),
                cmocka_unit_test(vm_name_long_and_dotted),
                cmocka_unit_test(retry_delay_doubles_to_a_cap),
                cmocka_unit_test(spec_pool_defaults),
                cmocka_unit_test(spec_pool_all_fields),
                cmocka_unit_test(spec_pool_errors_name_the_field),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

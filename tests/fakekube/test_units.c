/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of fakekube's pure pieces: selectors, patches, YAML, protobuf, ages, schemas. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api.h"
#include "db.h"
#include "fakekube.h"
#include "macros.h"
#include "names.h"
#include "patch.h"
#include "protobuf.h"
#include "registry.h"
#include "schema.h"
#include "selector.h"
#include "table.h"

static json_t *J(const char *text)
{
        json_error_t e;
        json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
        assert_non_null(j);
        return j;
}

static void assert_json_eq(json_t *got, const char *want_text)
{
        _cleanup_json_ json_t *want = J(want_text);
        if (!json_equal(got, want)) {
                _cleanup_free_ char *g =
                        json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
                print_error("got  %s\nwant %s\n", g, want_text);
                fail();
        }
}

static bool labels_match(const char *selector, const char *labels)
{
        struct selector *sel = NULL;
        char *error = NULL;
        assert_int_equal(sel_parse_labels(selector, &sel, &error), 0);
        _cleanup_json_ json_t *obj = json_pack("{s:{s:o}}", "metadata", "labels", J(labels));
        bool m = sel_matches(sel, obj);
        sel_free(sel);
        return m;
}

static void test_label_selectors(void **state)
{
        assert_true(labels_match("", "{}"));
        assert_true(labels_match("a=b", "{\"a\":\"b\"}"));
        assert_true(labels_match("a==b,c", "{\"a\":\"b\",\"c\":\"\"}"));
        assert_false(labels_match("a!=b", "{\"a\":\"b\"}"));
        assert_true(labels_match("a!=b", "{}"));
        assert_true(labels_match("env in (prod, dev)", "{\"env\":\"dev\"}"));
        assert_false(labels_match("env notin (prod,dev)", "{\"env\":\"dev\"}"));
        assert_true(labels_match("env notin (prod,dev)", "{}"));
        assert_true(labels_match("!canary", "{\"a\":\"b\"}"));
        assert_false(labels_match("!canary", "{\"canary\":\"yes\"}"));
        assert_true(
                labels_match("app.kubernetes.io/name=web", "{\"app.kubernetes.io/name\":\"web\"}"));
        struct selector *sel = NULL;
        char *error = NULL;
        assert_int_equal(sel_parse_labels("a in (b", &sel, &error), -EINVAL);
        assert_non_null(error);
        free(error);
        error = NULL;
        assert_int_equal(sel_parse_labels("=x", &sel, &error), -EINVAL);
        free(error);
}

static void test_field_selectors_and_label_selector_json(void **state)
{
        struct selector *sel = NULL;
        char *error = NULL;
        assert_int_equal(sel_parse_fields("spec.nodeName=n1,metadata.name!=x", &sel, &error), 0);
        _cleanup_json_ json_t *pod =
                J("{\"metadata\":{\"name\":\"p\"},\"spec\":{\"nodeName\":\"n1\"}}");
        assert_true(sel_matches(sel, pod));
        sel_free(sel);
        _cleanup_json_ json_t *ls =
                J("{\"matchLabels\":{\"app\":\"web\"},\"matchExpressions\":[{\"key\":\"tier\","
                  "\"operator\":\"In\",\"values\":[\"a\",\"b\"]},{\"key\":\"x\",\"operator\":"
                  "\"DoesNotExist\"}]}");
        _cleanup_json_ json_t *yes = J("{\"app\":\"web\",\"tier\":\"b\"}");
        _cleanup_json_ json_t *no = J("{\"app\":\"web\",\"tier\":\"b\",\"x\":\"1\"}");
        assert_true(label_selector_json_matches(ls, yes));
        assert_false(label_selector_json_matches(ls, no));
        _cleanup_free_ char *text = label_selector_json_to_string(ls);
        assert_string_equal(text, "app=web,tier in (a,b),!x");
}

static void test_merge_and_json_patch(void **state)
{
        _cleanup_json_ json_t *target = J("{\"a\":1,\"b\":{\"c\":2,\"d\":3},\"l\":[1,2]}");
        _cleanup_json_ json_t *mp = J("{\"b\":{\"c\":null,\"e\":4},\"l\":[3]}");
        _cleanup_json_ json_t *merged = patch_merge(target, mp);
        assert_json_eq(merged, "{\"a\":1,\"b\":{\"d\":3,\"e\":4},\"l\":[3]}");
        _cleanup_json_ json_t *ops = J("[{\"op\":\"add\",\"path\":\"/l/-\",\"value\":9},"
                                       "{\"op\":\"add\",\"path\":\"/l/0\",\"value\":0},"
                                       "{\"op\":\"remove\",\"path\":\"/b/d\"},"
                                       "{\"op\":\"replace\",\"path\":\"/a\",\"value\":\"x\"},"
                                       "{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/b/a~1b\"},"
                                       "{\"op\":\"move\",\"from\":\"/b/c\",\"path\":\"/c\"},"
                                       "{\"op\":\"test\",\"path\":\"/c\",\"value\":2}]");
        json_t *out = NULL;
        char *error = NULL;
        assert_int_equal(patch_json(target, ops, &out, &error), 0);
        assert_json_eq(out, "{\"a\":\"x\",\"b\":{\"a/b\":\"x\"},\"c\":2,\"l\":[0,1,2,9]}");
        json_decref(out);
        _cleanup_json_ json_t *bad = J("[{\"op\":\"test\",\"path\":\"/a\",\"value\":2}]");
        assert_int_equal(patch_json(target, bad, &out, &error), -EINVAL);
        assert_non_null(error);
        free(error);
        error = NULL;
        _cleanup_json_ json_t *missing =
                J("[{\"op\":\"replace\",\"path\":\"/nope/x\",\"value\":2}]");
        assert_int_equal(patch_json(target, missing, &out, &error), -EINVAL);
        free(error);
}

static struct server server;

static int setup_server(void **state)
{
        server.options.openapi_file = FAKEKUBE_DEFAULT_OPENAPI;
        server.options.watch_window = 16;
        if (registry_init(&server) < 0 || schema_load(&server) < 0 || db_init(&server) < 0)
                return -1;
        return 0;
}

static int teardown_server(void **state)
{
        db_free(&server);
        registry_free(&server);
        json_decref(server.swagger);
        json_decref(server.swagger_by_gvk);
        free(server.openapi_v2_text);
        return 0;
}

static void test_strategic_merge_patch(void **state)
{
        _cleanup_json_ json_t *d = J("{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":"
                                     "\"a\",\"image\":\"a:1\","
                                     "\"env\":[{\"name\":\"X\",\"value\":\"1\"}]},{\"name\":\"b\","
                                     "\"image\":\"b:1\"}]}}},"
                                     "\"metadata\":{\"finalizers\":[\"f1\"]}}");
        _cleanup_json_ json_t *p =
                J("{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"a\",\"env\":[{"
                  "\"name\":\"Y\","
                  "\"value\":\"2\"}]},{\"name\":\"b\",\"$patch\":\"delete\"},{\"name\":\"c\","
                  "\"image\":\"c:1\"}],"
                  "\"$setElementOrder/containers\":[{\"name\":\"c\"},{\"name\":\"a\"}]}}},"
                  "\"metadata\":{\"finalizers\":[\"f2\"],\"$deleteFromPrimitiveList/"
                  "finalizers\":[\"f1\"]}}");
        _cleanup_json_ json_t *out =
                patch_strategic(&server, d, p, "io.k8s.api.apps.v1.Deployment");
        assert_json_eq(
                out,
                "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"c:"
                "1\"},"
                "{\"name\":\"a\",\"image\":\"a:1\",\"env\":[{\"name\":\"X\",\"value\":\"1\"},"
                "{\"name\":\"Y\",\"value\":\"2\"}]}]}}},\"metadata\":{\"finalizers\":[\"f2\"]}}");
        /* Lists without a merge strategy are replaced; $patch: replace replaces a map. */
        _cleanup_json_ json_t *p2 =
                J("{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"a\","
                  "\"args\":[\"z\"]}]}},\"selector\":{\"$patch\":\"replace\",\"matchLabels\":{"
                  "\"k\":\"v\"}}}}");
        _cleanup_json_ json_t *d2 = J(
                "{\"spec\":{\"selector\":{\"matchLabels\":{\"old\":\"1\"}},\"template\":{\"spec\":"
                "{\"containers\":[{\"name\":\"a\",\"args\":[\"x\",\"y\"]}]}}}}");
        _cleanup_json_ json_t *out2 =
                patch_strategic(&server, d2, p2, "io.k8s.api.apps.v1.Deployment");
        assert_json_eq(
                out2,
                "{\"spec\":{\"selector\":{\"matchLabels\":{\"k\":\"v\"}},\"template\":{\"spec\":"
                "{\"containers\":[{\"name\":\"a\",\"args\":[\"z\"]}]}}}}");
}

static json_t *validate_causes(const char *api_version, const char *plural, const char *obj_text,
                               enum field_validation mode, int *ret)
{
        const char *slash = strchr(api_version, '/');
        char group[64] = "";
        const char *version = api_version;
        if (slash) {
                snprintf(group, sizeof(group), "%.*s", (int)(slash - api_version), api_version);
                version = slash + 1;
        }
        struct resource_type *t = registry_find(&server, group, version, plural);
        assert_non_null(t);
        _cleanup_json_ json_t *obj = J(obj_text);
        json_t *causes = NULL, *warnings = NULL;
        *ret = schema_validate(&server, t, obj, mode, &causes, &warnings);
        json_decref(warnings);
        return causes;
}

static void test_builtin_schema(void **state)
{
        int r;
        _cleanup_json_ json_t *c1 = validate_causes(
                "v1", "configmaps", "{\"metadata\":{\"name\":\"x\"},\"data\":{\"a\":\"b\"}}",
                FIELD_VALIDATION_STRICT, &r);
        assert_int_equal(r, 0);
        _cleanup_json_ json_t *c2 = validate_causes(
                "apps/v1", "deployments",
                "{\"metadata\":{\"name\":\"x\"},\"spec\":{\"replicas\":\"2\",\"template\":{"
                "\"spec\":{\"containers\":"
                "[{\"name\":\"c\",\"bogus\":1,\"resources\":{\"requests\":{\"cpu\":1}}}]}}}}",
                FIELD_VALIDATION_STRICT, &r);
        assert_int_equal(r, -EINVAL);
        assert_json_eq(
                c2, "[{\"reason\":\"FieldValueInvalid\",\"field\":\"spec.replicas\",\"message\":"
                    "\"expected integer, got string\"},"
                    "{\"reason\":\"FieldValueInvalid\",\"field\":\"spec.template.spec.containers[0]"
                    ".bogus\","
                    "\"message\":\"unknown field \\\"spec.template.spec.containers[0].bogus\\\"\"},"
                    "{\"reason\":\"FieldValueRequired\",\"field\":\"spec.selector\",\"message\":"
                    "\"Required value\"}]");
        _cleanup_json_ json_t *c3 =
                validate_causes("v1", "configmaps", "{\"metadata\":{\"name\":\"x\"},\"bogus\":1}",
                                FIELD_VALIDATION_WARN, &r);
        assert_int_equal(r, 0);
}

static void test_yaml_and_age(void **state)
{
        const char *y = "a: 1\nb: [x, 'y', \"2\"]\nc:\n  d: true\n  e: ~\n  f: 1.5\n  g: \"007\"\n";
        _cleanup_json_ json_t *j = yaml_to_json(y, strlen(y));
        assert_non_null(j);
        assert_json_eq(j, "{\"a\":1,\"b\":[\"x\",\"y\",\"2\"],\"c\":{\"d\":true,\"e\":null,\"f\":1."
                          "5,\"g\":\"007\"}}");
        assert_null(yaml_to_json("a: [", 4));
        char buf[32];
        const struct {
                int64_t s;
                const char *want;
        } ages[] = {{0, "0s"},           {119, "119s"},           {125, "2m5s"},
                    {600, "10m"},        {3 * 3600 + 60, "3h1m"}, {30 * 3600, "30h"},
                    {50 * 3600, "2d2h"}, {400 * 86400, "400d"},   {3 * 365 * 86400, "3y"}};
        for (size_t i = 0; i < ARRAY_SIZE(ages); i++) {
                format_age(ages[i].s, buf, sizeof(buf));
                assert_string_equal(buf, ages[i].want);
        }
}

/* Minimal protobuf writer for the test blob. */
static size_t put_varint(unsigned char *p, uint64_t v)
{
        size_t n = 0;
        do {
                p[n] = (unsigned char)(v & 0x7f);
                v >>= 7;
                if (v)
                        p[n] |= 0x80;
                n++;
        } while (v);
        return n;
}

static size_t put_bytes(unsigned char *p, int field, const void *data, size_t len)
{
        size_t n = put_varint(p, (uint64_t)field << 3 | 2);
        n += put_varint(p + n, len);
        memcpy(p + n, data, len);
        return n + len;
}

static void test_protobuf(void **state)
{
        unsigned char meta[64], entry[64], cm[256], type_meta[64], unknown[512];
        size_t meta_len = put_bytes(meta, 1, "cfg", 3);
        size_t entry_len = put_bytes(entry, 1, "k", 1);
        entry_len += put_bytes(entry + entry_len, 2, "v", 1);
        size_t cm_len = put_bytes(cm, 1, meta, meta_len);
        cm_len += put_bytes(cm + cm_len, 2, entry, entry_len);
        size_t tm_len = put_bytes(type_meta, 1, "v1", 2);
        tm_len += put_bytes(type_meta + tm_len, 2, "ConfigMap", 9);
        memcpy(unknown, "k8s\0", 4);
        size_t len = 4 + put_bytes(unknown + 4, 1, type_meta, tm_len);
        len += put_bytes(unknown + len, 2, cm, cm_len);
        _cleanup_json_ json_t *j = protobuf_to_json((const char *)unknown, len);
        assert_non_null(j);
        assert_json_eq(j, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":"
                          "\"cfg\"},\"data\":{\"k\":\"v\"}}");
        assert_null(protobuf_to_json("{}", 2));
}

/* Boolean query parameters as apimachinery's Convert_Slice_string_To_bool reads them. */
static void test_query_bool(void **state)
{
        (void)state;
        const char *truthy[] = {"1", "t", "T", "true", "True", "TRUE", "yes", "", "2"};
        const char *falsy[] = {"0", "false", "False", "FALSE", "fAlSe"};
        for (size_t i = 0; i < sizeof(truthy) / sizeof(truthy[0]); i++)
                assert_true(query_bool_value(truthy[i]));
        for (size_t i = 0; i < sizeof(falsy) / sizeof(falsy[0]); i++)
                assert_false(query_bool_value(falsy[i]));
        assert_false(query_bool_value(NULL));
}

static size_t problem_count(const char *group, const char *plural, const char *name)
{
        _cleanup_json_ json_t *problems = name_problems(group, plural, name);
        assert_non_null(problems);
        return json_array_size(problems);
}

/* Each kind's name rule, as kube-apiserver applies it. */
static void test_object_names(void **state)
{
        (void)state;
        assert_int_equal(problem_count("", "configmaps", "shop.v2"), 0);
        assert_int_equal(problem_count("", "configmaps", "1-a.b-2"), 0);
        assert_int_equal(problem_count("", "configmaps", "a..b"), 1);
        assert_int_equal(problem_count("", "configmaps", ".a"), 1);
        assert_int_equal(problem_count("", "configmaps", "a-"), 1);
        assert_int_equal(problem_count("", "configmaps", "A"), 1);
        assert_int_equal(problem_count("tripdeal.io", "tripdeals", "shop.v2"), 0);
        assert_int_equal(problem_count("", "services", "shop-v2"), 0);
        assert_int_equal(problem_count("", "services", "shop.v2"), 1);
        assert_int_equal(problem_count("", "services", "1shop"), 1);
        assert_int_equal(problem_count("", "namespaces", "1shop"), 0);
        assert_int_equal(problem_count("", "namespaces", "shop.v2"), 1);
        char long_name[300];
        memset(long_name, 'a', sizeof(long_name) - 1);
        long_name[sizeof(long_name) - 1] = '\0';
        assert_int_equal(problem_count("", "configmaps", long_name), 1); /* > 253 only */
        long_name[64] = '\0';
        assert_int_equal(problem_count("", "services", long_name), 1); /* > 63 only */
        long_name[60] = '.';
        assert_int_equal(problem_count("", "services", long_name), 2); /* both */
        assert_int_equal(problem_count("rbac.authorization.k8s.io", "clusterroles", "system:X_y"),
                         0);
        assert_int_equal(problem_count("rbac.authorization.k8s.io", "roles", ".."), 1);
        assert_int_equal(problem_count("rbac.authorization.k8s.io", "roles", "a/b%"), 2);
        long_name[53] = '\0';
        assert_int_equal(problem_count("batch", "cronjobs", long_name), 1);
        long_name[52] = '\0';
        assert_int_equal(problem_count("batch", "cronjobs", long_name), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_label_selectors),
                cmocka_unit_test(test_field_selectors_and_label_selector_json),
                cmocka_unit_test(test_merge_and_json_patch),
                cmocka_unit_test(test_strategic_merge_patch),
                cmocka_unit_test(test_builtin_schema),
                cmocka_unit_test(test_yaml_and_age),
                cmocka_unit_test(test_protobuf),
                cmocka_unit_test(test_query_bool),
                cmocka_unit_test(test_object_names),
        };
        return cmocka_run_group_tests(tests, setup_server, teardown_server);
}

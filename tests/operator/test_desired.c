/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Golden files, libvirt style: a sample TripDeal (data/NAME.tripdeal.json)
 * beside the exact Kubernetes objects the operator must make from it
 * (data/NAME.KIND.json), compared byte for byte.  Set
 * TRIPDEAL_REGENERATE_GOLDEN=1 to rewrite the expected files after a
 * deliberate change, then review the diff.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "desired.h"
#include "macros.h"
#include "tripdeal.h"

static const char *data_dir;

static char *read_file(const char *path)
{
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f)
                return NULL;
        char *text = NULL;
        size_t size = 0;
        FILE *out = open_memstream(&text, &size);
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
                fwrite(buf, 1, n, out);
        fclose(out);
        return text;
}

static void check_golden(const char *name, const char *kind, const json_t *object)
{
        char path[512];
        snprintf(path, sizeof(path), "%s/%s.%s.json", data_dir, name, kind);
        _cleanup_free_ char *actual = json_dumps(object, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        assert_non_null(actual);

        if (getenv("TRIPDEAL_REGENERATE_GOLDEN")) {
                _cleanup_fclose_ FILE *f = fopen(path, "we");
                assert_non_null(f);
                fprintf(f, "%s\n", actual);
                return;
        }
        _cleanup_free_ char *expected = read_file(path);
        if (!expected)
                fail_msg("missing golden file %s", path);
        size_t len = strlen(expected);
        if (len > 0 && expected[len - 1] == '\n')
                expected[len - 1] = '\0';
        if (strcmp(expected, actual) != 0)
                fail_msg("%s differs from what the operator builds:\n%s", path, actual);
}

static void build_and_compare(const char *name, int32_t floor, bool expect_ingress)
{
        char path[512];
        snprintf(path, sizeof(path), "%s/%s.tripdeal.json", data_dir, name);
        json_error_t jerr;
        _cleanup_json_ json_t *td = json_load_file(path, 0, &jerr);
        assert_non_null(td);

        _cleanup_free_ char *error = NULL;
        struct tripdeal_spec *spec = NULL;
        assert_int_equal(tripdeal_spec_parse(json_object_get(td, "spec"), &spec, &error), 0);
        json_t *meta = json_object_get(td, "metadata");
        struct tripdeal_identity owner = {
                .name = json_string_value(json_object_get(meta, "name")),
                .namespace = json_string_value(json_object_get(meta, "namespace")),
                .uid = json_string_value(json_object_get(meta, "uid")),
        };
        struct desired_objects objects = {0};
        assert_int_equal(desired_objects_build(&owner, spec, floor, &objects), 0);
        for (int k = 0; k < _DESIRED_KIND_MAX; k++) {
                if (k == DESIRED_INGRESS && !expect_ingress) {
                        assert_null(objects.objects[k]);
                        continue;
                }
                assert_non_null(objects.objects[k]);
                check_golden(name, desired_kind_name(k), objects.objects[k]);
        }
        desired_objects_clear(&objects);
        tripdeal_spec_free(spec);
}

static void full_sample_builds_expected_objects(void **state)
{
        build_and_compare("shop", 2, true);
}

static void minimal_sample_uses_defaults(void **state)
{
        build_and_compare("minimal", 1, false);
}

/* No resources (the defaults), one replica on SQLite, and every setting for the site. */
static void settings_sample_passes_env_args_and_flags(void **state)
{
        build_and_compare("settings", 1, false);
}

static void hpa_floor_is_what_the_caller_says(void **state)
{
        _cleanup_json_ json_t *spec_json =
                json_pack("{s:{s:s, s:{s:i, s:i}, s:{s:{s:s}}}}", "app", "image", "x", "replicas",
                          "min", 2, "max", 40, "database", "secretRef", "name", "db");
        struct tripdeal_spec *spec = NULL;
        assert_int_equal(tripdeal_spec_parse(spec_json, &spec, NULL), 0);
        struct tripdeal_identity owner = {.name = "a", .namespace = "b", .uid = "c"};
        struct desired_objects objects = {0};
        assert_int_equal(desired_objects_build(&owner, spec, 24, &objects), 0);
        json_t *hpa_spec = json_object_get(objects.objects[DESIRED_HPA], "spec");
        assert_int_equal(json_integer_value(json_object_get(hpa_spec, "minReplicas")), 24);
        assert_int_equal(json_integer_value(json_object_get(hpa_spec, "maxReplicas")), 40);
        /* The HPA owns the replica count: the Deployment never sets it. */
        json_t *deploy_spec = json_object_get(objects.objects[DESIRED_DEPLOYMENT], "spec");
        assert_null(json_object_get(deploy_spec, "replicas"));
        desired_objects_clear(&objects);
        tripdeal_spec_free(spec);
}

/* An app that needs no database (one replica), open for more fields or closed. */
#define ONE_REPLICA_APP_OPEN "\"app\":{\"image\":\"x\",\"replicas\":{\"min\":1,\"max\":1}"
#define ONE_REPLICA_APP      ONE_REPLICA_APP_OPEN "}"

struct bad_spec {
        const char *json;
        const char *field; /* the error must start with this */
};

static void invalid_specs_name_the_field(void **state)
{
        static const struct bad_spec cases[] = {
                {"{}", "spec.app: required"},
                {"[]", "spec: must be an object"},
                {"{\"app\":{}}", "spec.app.image: required"},
                {"{\"app\":{\"image\":\"\"}}", "spec.app.image"},
                {"{\"app\":{\"image\":\"x\",\"replicas\":{\"min\":5,\"max\":3}}}",
                 "spec.app.replicas.min: 5 is above max 3"},
                {"{\"app\":{\"image\":\"x\",\"replicas\":{\"min\":\"2\"}}}",
                 "spec.app.replicas.min: must be an integer"},
                {"{" ONE_REPLICA_APP_OPEN ",\"autoscaling\":{\"targetCPUUtilizationPercent\":0}}}",
                 "spec.app.autoscaling.targetCPUUtilizationPercent"},
                {"{" ONE_REPLICA_APP_OPEN ",\"database\":{}}}",
                 "spec.app.database.secretRef: required"},
                {"{\"app\":{\"image\":\"x\",\"replicas\":{\"max\":3}}}",
                 "spec.app.database: required when replicas.max is above 1"},
                {"{" ONE_REPLICA_APP ",\"sales\":{}}", "spec.sales: must be a list"},
                {"{" ONE_REPLICA_APP ",\"sales\":[{\"name\":\"a\",\"schedule\":\"0 10 * * "
                 "*\",\"duration\":\"1 hour\",\"prescale\":{\"minReplicas\":3}}]}",
                 "spec.sales[0].duration"},
                {"{" ONE_REPLICA_APP ",\"sales\":[{\"name\":\"a\",\"schedule\":\"0 10 * * "
                 "*\",\"duration\":\"1h\",\"prescale\":{}}]}",
                 "spec.sales[0].prescale.minReplicas: required"},
                {"{" ONE_REPLICA_APP ",\"sales\":[{\"name\":\"a\",\"schedule\":\"0 10 * * "
                 "*\",\"duration\":\"1h\",\"prescale\":{\"minReplicas\":3}},{\"name\":\"a\","
                 "\"schedule\":\"0 11 * * *\",\"duration\":\"1h\",\"prescale\":{\"minReplicas\":"
                 "3}}]}",
                 "spec.sales[1].name: \"a\" is used twice"},
                {"{" ONE_REPLICA_APP_OPEN ",\"env\":{}}}", "spec.app.env: must be a list"},
                {"{" ONE_REPLICA_APP_OPEN ",\"env\":[{\"value\":\"x\"}]}}",
                 "spec.app.env[0].name: required"},
                {"{" ONE_REPLICA_APP_OPEN
                 ",\"env\":[{\"name\":\"A\"},{\"name\":\"TRIPDEAL_SECRET\"}]}}",
                 "spec.app.env[1].name: TRIPDEAL_SECRET is set by the operator"},
                {"{" ONE_REPLICA_APP_OPEN ",\"args\":[\"--x\",7]}}", "spec.app.args[1]"},
                {"{" ONE_REPLICA_APP_OPEN ",\"logLevel\":\"loud\"}}", "spec.app.logLevel"},
                {"{" ONE_REPLICA_APP_OPEN ",\"seedDemo\":\"yes\"}}", "spec.app.seedDemo"},
        };
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                json_error_t jerr;
                _cleanup_json_ json_t *spec_json = json_loads(cases[i].json, 0, &jerr);
                assert_non_null(spec_json);
                struct tripdeal_spec *spec = (struct tripdeal_spec *)0x1;
                _cleanup_free_ char *error = NULL;
                assert_int_equal(tripdeal_spec_parse(spec_json, &spec, &error), -EINVAL);
                assert_ptr_equal(spec, (struct tripdeal_spec *)0x1);
                assert_non_null(error);
                if (strncmp(error, cases[i].field, strlen(cases[i].field)) != 0)
                        fail_msg("case %zu: got \"%s\", want \"%s…\"", i, error, cases[i].field);
        }
}

int main(int argc, char **argv)
{
        data_dir = argc > 1 ? argv[1] : "data";
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(full_sample_builds_expected_objects),
                cmocka_unit_test(minimal_sample_uses_defaults),
                cmocka_unit_test(settings_sample_passes_env_args_and_flags),
                cmocka_unit_test(hpa_floor_is_what_the_caller_says),
                cmocka_unit_test(invalid_specs_name_the_field),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

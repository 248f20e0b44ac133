/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the OpenAPI validator fakekube and crd_check share
 * (openapi_validate.h): what each violation names, and what the walk does to
 * the value (defaults, pruning) in each dialect.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "macros.h"
#include "openapi_validate.h"

/* Violations as "PROBLEM field" strings, in order. */
static void collect(const struct openapi_violation *violation, void *userdata)
{
        static const char *const names[] = {
                [OPENAPI_WRONG_TYPE] = "type",
                [OPENAPI_NULL] = "null",
                [OPENAPI_REQUIRED] = "required",
                [OPENAPI_UNKNOWN_FIELD] = "unknown",
                [OPENAPI_NOT_IN_ENUM] = "enum",
                [OPENAPI_BELOW_MINIMUM] = "minimum",
                [OPENAPI_ABOVE_MAXIMUM] = "maximum",
                [OPENAPI_TOO_SHORT] = "minLength",
                [OPENAPI_TOO_LONG] = "maxLength",
                [OPENAPI_PATTERN_MISMATCH] = "pattern",
                [OPENAPI_BAD_PATTERN] = "bad-pattern",
                [OPENAPI_BAD_DATE_TIME] = "date-time",
                [OPENAPI_NOT_INT32] = "int32",
                [OPENAPI_TOO_FEW_ITEMS] = "minItems",
                [OPENAPI_TOO_MANY_ITEMS] = "maxItems",
                [OPENAPI_DUPLICATE_ITEMS] = "duplicate",
                [OPENAPI_TOO_FEW_PROPERTIES] = "minProperties",
                [OPENAPI_ALL_OF] = "allOf",
                [OPENAPI_ANY_OF] = "anyOf",
                [OPENAPI_ONE_OF] = "oneOf",
                [OPENAPI_NOT] = "not",
                [OPENAPI_TOO_DEEP] = "depth",
                [OPENAPI_UNRESOLVED_REF] = "ref",
        };
        char line[512];
        snprintf(line, sizeof(line), "%s %s", names[violation->problem], violation->field);
        json_array_append_new(userdata, json_string(line));
}

static json_t *J(const char *text)
{
        json_error_t error;
        json_t *value = json_loads(text, JSON_DECODE_ANY, &error);
        assert_non_null(value);
        return value;
}

static void assert_json_eq(const json_t *got, const char *want_text)
{
        _cleanup_json_ json_t *want = J(want_text);
        _cleanup_free_ char *got_text = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
        if (!json_equal(got, want))
                fail_msg("got %s, want %s", got_text, want_text);
}

/* Validate value_text against schema_text; the violations, and the value afterwards. */
static json_t *run(const struct openapi_validator *base, enum openapi_dialect dialect,
                   const char *schema_text, const char *value_text, json_t **ret_value)
{
        json_t *violations = json_array();
        struct openapi_validator validator = *base;
        validator.report = collect;
        validator.userdata = violations;
        _cleanup_json_ json_t *schema = J(schema_text);
        json_t *value = J(value_text);
        int r = openapi_validate(&validator, dialect, value, schema, "");
        assert_int_equal(r, json_array_size(violations) ? -EINVAL : 0);
        if (ret_value)
                *ret_value = value;
        else
                json_decref(value);
        return violations;
}

static const char *const sale_schema =
        "{\"type\":\"object\",\"required\":[\"spec\"],\"properties\":{"
        "\"spec\":{\"type\":\"object\",\"properties\":{"
        "\"mode\":{\"type\":\"string\",\"enum\":[\"fast\",\"slow\"],\"default\":\"slow\"},"
        "\"size\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":10},"
        "\"name\":{\"type\":\"string\",\"pattern\":\"^[a-z]+$\",\"maxLength\":5},"
        "\"at\":{\"type\":\"string\",\"format\":\"date-time\"},"
        "\"port\":{\"x-kubernetes-int-or-string\":true},"
        "\"note\":{\"type\":\"string\",\"nullable\":true},"
        "\"sales\":{\"type\":\"array\",\"x-kubernetes-list-type\":\"map\","
        "\"x-kubernetes-list-map-keys\":[\"name\"],\"items\":{\"type\":\"object\","
        "\"properties\":{\"name\":{\"type\":\"string\"}}}},"
        "\"target\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"},"
        "\"b\":{\"type\":\"string\"}},\"oneOf\":[{\"required\":[\"a\"]},{\"required\":[\"b\"]}]},"
        "\"free\":{\"type\":\"object\",\"x-kubernetes-preserve-unknown-fields\":true}}}}}";

static void test_structural_defaults_and_pruning(void **state)
{
        (void)state;
        const struct openapi_validator server = {.drop_unknown = true};
        json_t *value = NULL;
        _cleanup_json_ json_t *v = run(&server, OPENAPI_STRUCTURAL, sale_schema,
                                       "{\"apiVersion\":\"x/v1\",\"kind\":\"K\",\"metadata\":{"
                                       "\"name\":\"n\"},\"spec\":{\"size\":2.0,\"mode\":null,"
                                       "\"bogus\":1,\"note\":null,\"name\":null,"
                                       "\"free\":{\"any\":[1]}}}",
                                       &value);
        /* Unknown fields reported and dropped, defaults for missing and null, nulls pruned. */
        assert_json_eq(v, "[\"unknown spec.bogus\"]");
        assert_json_eq(value, "{\"apiVersion\":\"x/v1\",\"kind\":\"K\",\"metadata\":{\"name\":"
                              "\"n\"},\"spec\":{\"size\":2.0,\"mode\":\"slow\",\"note\":null,"
                              "\"free\":{\"any\":[1]}}}");
        json_decref(value);
}

static void test_structural_violations_name_the_field(void **state)
{
        (void)state;
        const struct openapi_validator lint = {.reject_nulls = true};
        _cleanup_json_ json_t *v =
                run(&lint, OPENAPI_STRUCTURAL, sale_schema,
                    "{\"spec\":{\"mode\":\"medium\",\"size\":11,\"name\":\"Morning\",\"at\":"
                    "\"yesterday\","
                    "\"port\":1.5,\"note\":null,\"sales\":[{\"name\":\"a\"},{\"name\":\"a\"}],"
                    "\"target\":{\"a\":\"x\",\"b\":\"y\"}}}",
                    NULL);
        assert_json_eq(v, "[\"enum spec.mode\",\"maximum spec.size\",\"maxLength spec.name\","
                          "\"pattern spec.name\",\"date-time spec.at\",\"type spec.port\","
                          "\"duplicate spec.sales\",\"oneOf spec.target\"]");
        _cleanup_json_ json_t *missing =
                run(&lint, OPENAPI_STRUCTURAL, sale_schema, "{\"spec\":{\"size\":null}}", NULL);
        assert_json_eq(missing, "[\"null spec.size\"]");
        _cleanup_json_ json_t *root = run(&lint, OPENAPI_STRUCTURAL, sale_schema, "{}", NULL);
        assert_json_eq(root, "[\"required spec\"]");
}

static void test_swagger_definitions(void **state)
{
        (void)state;
        _cleanup_json_ json_t *definitions =
                J("{\"Pod\":{\"type\":\"object\",\"required\":[\"spec\"],\"properties\":{"
                  "\"spec\":{\"$ref\":\"#/definitions/Spec\"},\"labels\":{\"type\":\"object\","
                  "\"additionalProperties\":{\"type\":\"string\"}},\"raw\":{\"type\":\"object\"}}},"
                  "\"Spec\":{\"type\":\"object\",\"properties\":{"
                  "\"replicas\":{\"type\":\"integer\"},\"cpu\":{\"allOf\":[{\"$ref\":"
                  "\"#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity\"}]},"
                  "\"port\":{\"type\":\"string\",\"format\":\"int-or-string\"},"
                  "\"items\":{\"type\":\"array\",\"x-kubernetes-list-type\":\"set\","
                  "\"items\":{\"type\":\"string\"}},\"gone\":{\"$ref\":\"#/definitions/Nope\"}}},"
                  "\"io.k8s.apimachinery.pkg.api.resource.Quantity\":{\"type\":\"string\"}}");
        const struct openapi_validator strict = {.definitions = definitions};
        const char *pod = "{\"$ref\":\"#/definitions/Pod\"}";
        /* Quantities may be numbers, 3.0 is an integer, nulls and free-form maps pass,
         * set uniqueness is the server's Go code's business for built-in kinds. */
        _cleanup_json_ json_t *ok =
                run(&strict, OPENAPI_SWAGGER, pod,
                    "{\"spec\":{\"replicas\":3.0,\"cpu\":1,\"port\":80,"
                    "\"items\":[\"a\",\"a\"],\"gone\":null},\"labels\":{\"a\":\"b\"},"
                    "\"raw\":{\"x\":1}}",
                    NULL);
        assert_json_eq(ok, "[]");
        json_t *value = NULL;
        _cleanup_json_ json_t *bad = run(&strict, OPENAPI_SWAGGER, pod,
                                         "{\"spec\":{\"replicas\":\"2\",\"cpu\":[],\"port\":true,"
                                         "\"gone\":1},\"labels\":{\"a\":1},\"bogus\":1}",
                                         &value);
        assert_json_eq(bad, "[\"type spec.replicas\",\"type spec.cpu\",\"type spec.port\","
                            "\"ref spec.gone\",\"type labels.a\",\"unknown bogus\"]");
        assert_non_null(json_object_get(value, "bogus")); /* reported, kept: not dropping */
        json_decref(value);
        _cleanup_json_ json_t *required =
                run(&strict, OPENAPI_SWAGGER, pod, "{\"spec\":null}", NULL);
        assert_json_eq(required, "[\"required spec\"]");
}

static void test_depth_is_bounded(void **state)
{
        (void)state;
        /* A self-referencing definition and a value nested deeper than the limit. */
        _cleanup_json_ json_t *definitions =
                J("{\"Node\":{\"type\":\"object\",\"properties\":{\"next\":{\"$ref\":"
                  "\"#/definitions/Node\"}}}}");
        const struct openapi_validator validator = {.definitions = definitions};
        char text[2000] = "";
        for (int i = 0; i < 100; i++)
                strcat(text, "{\"next\":");
        strcat(text, "{}");
        for (int i = 0; i < 100; i++)
                strcat(text, "}");
        _cleanup_json_ json_t *v =
                run(&validator, OPENAPI_SWAGGER, "{\"$ref\":\"#/definitions/Node\"}", text, NULL);
        assert_int_equal(json_array_size(v), 1);
        assert_non_null(strstr(json_string_value(json_array_get(v, 0)), "depth next.next."));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_structural_defaults_and_pruning),
                cmocka_unit_test(test_structural_violations_name_the_field),
                cmocka_unit_test(test_swagger_definitions),
                cmocka_unit_test(test_depth_is_bounded),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lib/common yaml-json: YAML read the way kubectl reads it.  The scalar cases
 * are the ones checked against kubectl 1.32 (`kubectl create --dry-run=client
 * -o json`), see yaml-json.h.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "macros.h"
#include "yaml-json.h"

static json_t *load(const char *text, enum yaml_scalars scalars)
{
        char error[256] = "";
        json_t *value = NULL;
        int r = yaml_json_load(text, strlen(text), scalars, error, sizeof(error), &value);
        if (r < 0)
                fail_msg("%s: %s", text, error);
        return value;
}

/* value as compact JSON with sorted keys */
static void assert_converts(const char *yaml, const char *json)
{
        _cleanup_json_ json_t *value = load(yaml, YAML_SCALARS_KUBECTL);
        _cleanup_free_ char *text =
                json_dumps(value, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        assert_string_equal(text, json);
}

static void scalars_resolve_like_kubectl(void **state)
{
        /* The same list kubectl 1.32 printed as [true,false,true,false,true,false,true,"yes",
         * true,false,null,null,31,15,15,1000,1000,-0.5,"+1",1,"2026-12-04"]. */
        assert_converts("[yes, no, on, off, y, n, Y, \"yes\", True, FALSE, ~, null, 0x1F, 0o17, "
                        "017, 1_000, 1e3, -.5, \"+1\", +1, 2026-12-04]",
                        "[true,false,true,false,true,false,true,\"yes\",true,false,null,null,31,15,"
                        "15,1000,1000.0,-0.5,\"+1\",1,\"2026-12-04\"]");
        assert_converts("[NULL, Null, '', '~', 'true', 0b101, -0x10, 1.5, .5, 1., 12abc, 0.0.1]",
                        "[null,null,\"\",\"~\",\"true\",5,-16,1.5,0.5,1.0,\"12abc\",\"0.0.1\"]");
        /* Block scalars are strings too. */
        assert_converts("a: |\n  yes\nb: >-\n  12\n", "{\"a\":\"yes\\n\",\"b\":\"12\"}");
        /* An empty value is null, as in kubectl. */
        assert_converts("a:\nb: ''\n", "{\"a\":null,\"b\":\"\"}");
        /* Beyond int64: a real, as go-yaml's float fallback. */
        assert_converts("[9223372036854775807, 9223372036854775808]",
                        "[9223372036854775807,9.2233720368547758e18]");
}

static void keys_are_strings(void **state)
{
        /* kubectl 1.32 turns {y: a, 2: b, yes: c, 1.5: e} into {"1.5":"e","2":"b","true":"c"}. */
        assert_converts("y: a\n2: b\nyes: c\n1.5: e\n\"q\": d\n",
                        "{\"1.5\":\"e\",\"2\":\"b\",\"q\":\"d\",\"true\":\"c\"}");
}

static void aliases_expand_and_merge_keys_merge(void **state)
{
        assert_converts("base: &b {u: 1, v: 2}\n"
                        "copy: *b\n"
                        "merged:\n  <<: *b\n  v: 3\n"
                        "many:\n  <<: [*b, {w: 4}]\n",
                        "{\"base\":{\"u\":1,\"v\":2},\"copy\":{\"u\":1,\"v\":2},"
                        "\"many\":{\"u\":1,\"v\":2,\"w\":4},\"merged\":{\"u\":1,\"v\":3}}");
}

static void strings_mode_keeps_the_text(void **state)
{
        _cleanup_json_ json_t *value =
                load("a: yes\nb: 017\nc: ~\nd: [on, 1.5]\n", YAML_SCALARS_AS_STRINGS);
        _cleanup_free_ char *text = json_dumps(value, JSON_COMPACT | JSON_SORT_KEYS);
        assert_string_equal(text,
                            "{\"a\":\"yes\",\"b\":\"017\",\"c\":\"~\",\"d\":[\"on\",\"1.5\"]}");
        bool b = false;
        assert_int_equal(yaml_json_bool("on", &b), 0);
        assert_true(b);
        assert_int_equal(yaml_json_bool("No", &b), 0);
        assert_false(b);
        b = true;
        assert_int_equal(yaml_json_bool("nope", &b), -EINVAL);
        assert_true(b);
}

static void every_document_in_order(void **state)
{
        const char *text = "a: 1\n---\n- 2\n---\n\"three\"\n";
        json_t *documents = NULL;
        char error[128];
        assert_int_equal(yaml_json_load_all(text, strlen(text), YAML_SCALARS_KUBECTL, error,
                                            sizeof(error), &documents),
                         0);
        _cleanup_free_ char *dumped = json_dumps(documents, JSON_COMPACT);
        assert_string_equal(dumped, "[{\"a\":1},[2],\"three\"]");
        json_decref(documents);

        json_t *value = (json_t *)0x1;
        assert_int_equal(yaml_json_load("", 0, YAML_SCALARS_KUBECTL, error, sizeof(error), &value),
                         -ENODATA);
        assert_ptr_equal(value, (json_t *)0x1);
}

static void assert_refused(const char *text, int expected, const char *message)
{
        char error[256] = "";
        json_t *value = (json_t *)0x1;
        int r = yaml_json_load(text, strlen(text), YAML_SCALARS_KUBECTL, error, sizeof(error),
                               &value);
        assert_int_equal(r, expected);
        assert_ptr_equal(value, (json_t *)0x1);
        if (!strstr(error, message))
                fail_msg("error \"%s\" does not say \"%s\"", error, message);
}

static void bad_input_is_refused_with_a_line(void **state)
{
        assert_refused("a: [1, 2\nb: 3\n", -EINVAL, "line ");
        assert_refused("a: 1\nb: .inf\n", -EINVAL, "line 2: .inf has no JSON form");
        assert_refused("a:\n  ? [1, 2]\n  : x\n", -EINVAL,
                       "line 2: a mapping key that is not a scalar");
        assert_refused("a: 1\nb: *missing\n", -EINVAL, "line 2");
        /* kubectl: "unsupported map key of type: <nil>". */
        assert_refused("a: 1\n~: 2\n", -EINVAL, "line 2: a null mapping key");

        /* Deep nesting and alias bombs stop at the limits. */
        char deep[400] = "";
        for (int i = 0; i < 100; i++)
                strcat(deep, "[");
        assert_refused(deep, -EINVAL, "did not find expected node content");
        char nested[1000] = "";
        for (int i = 0; i < 100; i++)
                strcat(nested, "[");
        for (int i = 0; i < 100; i++)
                strcat(nested, "]");
        assert_refused(nested, -E2BIG, "nested deeper than 64 levels");
        const char *bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                           "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                           "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                           "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                           "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                           "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                           "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
        assert_refused(bomb, -E2BIG, "more than 1000000 nodes");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(scalars_resolve_like_kubectl),
                cmocka_unit_test(keys_are_strings),
                cmocka_unit_test(aliases_expand_and_merge_keys_merge),
                cmocka_unit_test(strings_mode_keeps_the_text),
                cmocka_unit_test(every_document_in_order),
                cmocka_unit_test(bad_input_is_refused_with_a_line),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

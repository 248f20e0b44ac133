/* SPDX-License-Identifier: Apache-2.0 */
/* tests/support: what the suites rely on from their shared helpers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "macros.h"
#include "support.h"

static char *dir;

static int make_dir(void **state)
{
        unsetenv("TRIPDEAL_REGENERATE_GOLDEN");
        return support_temp_dir("support-test", &dir);
}

static int remove_dir(void **state)
{
        int r = support_remove_tree(dir);
        free(dir);
        dir = NULL;
        return r;
}

static char *path_in_dir(const char *name)
{
        char *path = NULL;
        assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
        return path;
}

static void write_bytes(const char *path, const void *data, size_t size)
{
        FILE *f = fopen(path, "we");
        assert_non_null(f);
        assert_int_equal(fwrite(data, 1, size, f), size);
        assert_int_equal(fclose(f), 0);
}

static void read_file_whole_binary_and_missing(void **state)
{
        _cleanup_free_ char *path = path_in_dir("data.bin");
        /* Larger than one read, with NULs inside. */
        size_t size = 100000;
        _cleanup_free_ char *bytes = malloc(size);
        for (size_t i = 0; i < size; i++)
                bytes[i] = (char)(i % 251);
        write_bytes(path, bytes, size);

        _cleanup_free_ char *data = NULL;
        size_t got = 0;
        assert_int_equal(support_read_file(path, &data, &got), 0);
        assert_int_equal(got, size);
        assert_memory_equal(data, bytes, size);
        assert_int_equal(data[size], '\0');

        char *untouched = (char *)"x";
        _cleanup_free_ char *missing = path_in_dir("missing");
        assert_int_equal(support_read_file(missing, &untouched, NULL), -ENOENT);
        assert_string_equal(untouched, "x");
}

static void golden_compare_equal_differs_missing(void **state)
{
        _cleanup_free_ char *path = path_in_dir("case.golden");
        write_bytes(path, "a\nb\n", 4);
        assert_int_equal(support_golden_compare(path, "a\nb\n"), 0);
        /* Byte for byte: a missing final newline is a difference. */
        assert_int_equal(support_golden_compare(path, "a\nb"), -EBADMSG);
        assert_int_equal(support_golden_compare(path, "a\nc\n"), -EBADMSG);
        _cleanup_free_ char *missing = path_in_dir("none.golden");
        assert_int_equal(support_golden_compare(missing, "x"), -ENOENT);
}

static void golden_regenerate_rewrites_the_file(void **state)
{
        _cleanup_free_ char *path = path_in_dir("regen.golden");
        write_bytes(path, "old\n", 4);
        setenv("TRIPDEAL_REGENERATE_GOLDEN", "1", 1);
        assert_true(support_regenerate_golden());
        assert_int_equal(support_golden_compare(path, "new\n"), 0);
        _cleanup_free_ char *missing = path_in_dir("created.golden");
        assert_int_equal(support_golden_compare(missing, "made\n"), 0);
        setenv("TRIPDEAL_REGENERATE_GOLDEN", "0", 1);
        assert_false(support_regenerate_golden());
        unsetenv("TRIPDEAL_REGENERATE_GOLDEN");
        assert_int_equal(support_golden_compare(path, "new\n"), 0);
        assert_int_equal(support_golden_compare(missing, "made\n"), 0);
}

static void temp_dirs_are_private_and_removed_whole(void **state)
{
        _cleanup_free_ char *tree = NULL;
        assert_int_equal(support_temp_dir("tree", &tree), 0);
        struct stat st;
        assert_int_equal(stat(tree, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0700);
        assert_non_null(strstr(tree, "/tripdeal-tree-"));

        _cleanup_free_ char *sub = NULL, *file = NULL, *link = NULL;
        assert_true(asprintf(&sub, "%s/a/b", tree) > 0);
        assert_true(asprintf(&file, "%s/a/b/f", tree) > 0);
        assert_true(asprintf(&link, "%s/a/outside", tree) > 0);
        _cleanup_free_ char *a = NULL;
        assert_true(asprintf(&a, "%s/a", tree) > 0);
        assert_int_equal(mkdir(a, 0700), 0);
        assert_int_equal(mkdir(sub, 0700), 0);
        write_bytes(file, "x", 1);
        /* A symlink out of the tree is removed, not followed. */
        assert_int_equal(symlink(dir, link), 0);

        assert_int_equal(support_remove_tree(tree), 0);
        assert_int_equal(stat(tree, &st), -1);
        assert_int_equal(stat(dir, &st), 0);
        assert_int_equal(support_remove_tree(tree), 0); /* already gone: fine */
}

struct countdown {
        int calls, true_after;
};

static bool counted(void *userdata)
{
        struct countdown *c = userdata;
        return ++c->calls > c->true_after;
}

static bool never(void *userdata)
{
        (*(int *)userdata)++;
        return false;
}

static void wait_for_returns_when_true_or_at_the_deadline(void **state)
{
        struct countdown c = {.true_after = 3};
        assert_int_equal(support_wait_for(counted, &c, 10000, 1), 0);
        assert_int_equal(c.calls, 4);

        int calls = 0;
        int64_t start = clock_monotonic_ms();
        assert_int_equal(support_wait_for(never, &calls, 50, 5), -ETIMEDOUT);
        assert_true(clock_monotonic_ms() - start >= 50);
        assert_true(calls >= 2);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(read_file_whole_binary_and_missing, make_dir,
                                                remove_dir),
                cmocka_unit_test_setup_teardown(golden_compare_equal_differs_missing, make_dir,
                                                remove_dir),
                cmocka_unit_test_setup_teardown(golden_regenerate_rewrites_the_file, make_dir,
                                                remove_dir),
                cmocka_unit_test_setup_teardown(temp_dirs_are_private_and_removed_whole, make_dir,
                                                remove_dir),
                cmocka_unit_test_setup_teardown(wait_for_returns_when_true_or_at_the_deadline,
                                                make_dir, remove_dir),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

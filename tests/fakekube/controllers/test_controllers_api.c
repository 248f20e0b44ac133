/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The controllers.h contract without a server: option validation, start and
 * stop with an unreachable API (the informers retry until stopped), and
 * controllers_pod_log_path().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "controllers.h"

static void test_rejects_bad_options(void **state)
{
        struct controllers *c = NULL;
        const char *bad_commands[] = {"no-equals-sign", NULL};
        struct controllers_options no_url = {.token = "t"};
        struct controllers_options bad_command = {
                .api_url = "http://127.0.0.1:1", .token = "t", .pod_commands = bad_commands};
        struct controllers_options negative = {
                .api_url = "http://127.0.0.1:1", .token = "t", .static_nodes = -1};
        assert_int_equal(controllers_start(&no_url, &c), -EINVAL);
        assert_int_equal(controllers_start(&bad_command, &c), -EINVAL);
        assert_int_equal(controllers_start(&negative, &c), -EINVAL);
        assert_null(c);
        controllers_stop(NULL);
}

static void test_start_stop_and_log_path(void **state)
{
        char dir[] = "/tmp/fakekube-ctl-unit-XXXXXX";
        assert_non_null(mkdtemp(dir));
        const char *commands[] = {"demo/web=/bin/true", NULL};
        struct controllers_options options = {
                .api_url = "http://127.0.0.1:1", /* nothing listens on port 1: connection refused */
                .token = "secret",
                .pods_mode = PODS_PROCESS,
                .pod_commands = commands,
                .static_nodes = 2,
                .state_dir = dir,
        };
        struct controllers *c = NULL;
        assert_int_equal(controllers_start(&options, &c), 0);
        assert_non_null(c);
        char *path = NULL;
        assert_int_equal(controllers_pod_log_path(c, "default", "web-1", "uid-1", "main", &path),
                         -ENOENT);
        char pod_dir[512], log[600];
        snprintf(pod_dir, sizeof(pod_dir), "%s/pods", dir);
        mkdir(pod_dir, 0755);
        snprintf(pod_dir, sizeof(pod_dir), "%s/pods/default_web-1_uid-1", dir);
        assert_int_equal(mkdir(pod_dir, 0755), 0);
        snprintf(log, sizeof(log), "%s/main.log", pod_dir);
        FILE *f = fopen(log, "w");
        assert_non_null(f);
        fclose(f);
        assert_int_equal(controllers_pod_log_path(c, "default", "web-1", "uid-1", "main", &path),
                         0);
        assert_string_equal(path, log);
        free(path);
        assert_int_equal(controllers_pod_log_path(c, "default", "..", "uid-1", "main", &path),
                         -EINVAL);
        assert_int_equal(controllers_pod_log_path(c, "default", "a/b", "uid-1", "main", &path),
                         -EINVAL);
        /* Stopping while the informers retry a dead server is prompt. */
        int64_t before = clock_monotonic_ms();
        controllers_stop(c);
        assert_true(clock_monotonic_ms() - before < 5000);
        unlink(log);
        rmdir(pod_dir);
        snprintf(pod_dir, sizeof(pod_dir), "%s/pods", dir);
        rmdir(pod_dir);
        rmdir(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rejects_bad_options),
                cmocka_unit_test(test_start_stop_and_log_path),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

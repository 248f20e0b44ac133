/* SPDX-License-Identifier: Apache-2.0 */
/* Test helpers: child processes and polling with deadlines. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* fork+exec argv (NULL-terminated); stdout/stderr go to log_path if set.
 * The child gets SIGKILL when the test process exits. */
int test_spawn(char *const argv[], const char *log_path, pid_t *ret_pid);
/* SIGTERM (or SIGKILL when hard), then wait up to 5 s, then SIGKILL. */
void test_kill(pid_t pid, bool hard);
/* Poll until path exists and is non-empty, up to timeout_ms.  0 or -ETIMEDOUT. */
int test_wait_for_file(const char *path, int64_t timeout_ms);
void test_sleep_ms(int64_t ms);

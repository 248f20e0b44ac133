/* SPDX-License-Identifier: Apache-2.0 */
#include "test-process.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

int test_spawn(char *const argv[], const char *log_path, pid_t *ret_pid)
{
        pid_t pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                if (log_path) {
                        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
                        if (fd >= 0) {
                                dup2(fd, 1);
                                dup2(fd, 2);
                        }
                }
                execvp(argv[0], argv);
                _exit(127);
        }
        *ret_pid = pid;
        return 0;
}

void test_kill(pid_t pid, bool hard)
{
        if (pid <= 0)
                return;
        kill(pid, hard ? SIGKILL : SIGTERM);
        int64_t deadline = clock_monotonic_ms() + 5000;
        while (clock_monotonic_ms() < deadline) {
                if (waitpid(pid, NULL, WNOHANG) == pid)
                        return;
                test_sleep_ms(10);
        }
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
}

int test_wait_for_file(const char *path, int64_t timeout_ms)
{
        int64_t deadline = clock_monotonic_ms() + timeout_ms;
        do {
                struct stat st;
                if (stat(path, &st) == 0 && st.st_size > 0)
                        return 0;
                test_sleep_ms(20);
        } while (clock_monotonic_ms() < deadline);
        return -ETIMEDOUT;
}

char *test_read_file(const char *path)
{
        FILE *f = fopen(path, "re");
        if (!f)
                return NULL;
        char *buf = NULL;
        size_t size = 0;
        ssize_t n = getdelim(&buf, &size, '\0', f);
        fclose(f);
        if (n < 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

void test_sleep_ms(int64_t ms)
{
        struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
}

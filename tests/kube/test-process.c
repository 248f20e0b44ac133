/* SPDX-License-Identifier: Apache-2.0 */
#include "test-process.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "support.h"

int test_spawn(char *const argv[], const char *log_path, pid_t *ret_pid)
{
        pid_t parent = getpid();
        pid_t pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                /* Die with the test, even when a failed assertion skipped its
                 * cleanup: no stray servers after a failing run. */
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent)
                        _exit(127);
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

static bool file_has_content(void *userdata)
{
        struct stat st;
        return stat(userdata, &st) == 0 && st.st_size > 0;
}

int test_wait_for_file(const char *path, int64_t timeout_ms)
{
        return support_wait_for(file_has_content, (void *)path, timeout_ms, 20);
}

void test_sleep_ms(int64_t ms)
{
        struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
}

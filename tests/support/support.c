/* SPDX-License-Identifier: Apache-2.0 */
/* The C test suites' shared helpers: files, golden files, temp dirs, waiting (support.h). */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "macros.h"
#include "support.h"

int support_read_file(const char *path, char **ret_data, size_t *ret_size)
{
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f)
                return NEG_ERRNO();
        _cleanup_free_ char *data = NULL;
        size_t size = 0, capacity = 0;
        for (;;) {
                if (capacity - size < 4096) {
                        size_t grown = capacity ? capacity * 2 : 8192;
                        char *p = realloc(data, grown + 1);
                        if (!p)
                                return -ENOMEM;
                        data = p;
                        capacity = grown;
                }
                size_t n = fread(data + size, 1, capacity - size, f);
                size += n;
                if (n == 0)
                        break;
        }
        if (ferror(f))
                return -EIO;
        data[size] = '\0';
        if (ret_size)
                *ret_size = size;
        *ret_data = TAKE_PTR(data);
        return 0;
}

bool support_regenerate_golden(void)
{
        const char *value = getenv("TRIPDEAL_REGENERATE_GOLDEN");
        return value && *value && strcmp(value, "0") != 0;
}

static int write_file(const char *path, const char *text)
{
        _cleanup_fclose_ FILE *f = fopen(path, "we");
        if (!f)
                return NEG_ERRNO();
        if (fputs(text, f) == EOF)
                return -EIO;
        int r = fflush(f) == 0 ? 0 : NEG_ERRNO();
        return r;
}

int support_golden_compare(const char *path, const char *actual)
{
        if (support_regenerate_golden())
                return write_file(path, actual);
        _cleanup_free_ char *expected = NULL;
        size_t size = 0;
        int r = support_read_file(path, &expected, &size);
        if (r == -ENOENT) {
                fprintf(stderr,
                        "missing golden file %s (TRIPDEAL_REGENERATE_GOLDEN=1 writes it); "
                        "actual:\n%s\n",
                        path, actual);
                return r;
        }
        if (r < 0)
                return r;
        if (size == strlen(actual) && memcmp(expected, actual, size) == 0)
                return 0;
        fprintf(stderr,
                "%s differs (TRIPDEAL_REGENERATE_GOLDEN=1 rewrites it); actual:\n%s\n--- end\n",
                path, actual);
        return -EBADMSG;
}

int support_temp_dir(const char *name, char **ret_path)
{
        const char *tmp = getenv("TMPDIR");
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "%s/tripdeal-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", name) < 0)
                return -ENOMEM;
        if (!mkdtemp(path))
                return NEG_ERRNO();
        *ret_path = TAKE_PTR(path);
        return 0;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
        return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

int support_remove_tree(const char *path)
{
        if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0)
                return 0;
        return errno == ENOENT ? 0 : NEG_ERRNO();
}

int support_wait_for(bool (*condition)(void *userdata), void *userdata, int64_t timeout_ms,
                     int64_t interval_ms)
{
        int64_t deadline = clock_monotonic_ms() + timeout_ms;
        for (;;) {
                if (condition(userdata))
                        return 0;
                if (clock_monotonic_ms() >= deadline)
                        return condition(userdata) ? 0 : -ETIMEDOUT;
                struct timespec pause = {.tv_sec = (time_t)(interval_ms / 1000),
                                         .tv_nsec = (long)(interval_ms % 1000) * 1000000L};
                nanosleep(&pause, NULL);
        }
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Small helpers every TripDeal file uses: scope-bound cleanup in the style of
 * systemd's _cleanup_free_, and a few array/pointer macros.
 *
 * Ownership: a variable declared _cleanup_free_ owns what it points to until
 * TAKE_PTR() hands it on.  Every free function called by these helpers
 * accepts NULL.
 */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f)         __attribute__((cleanup(f)))
#define _unused_             __attribute__((unused))
#define _printf_(a, b)       __attribute__((format(printf, a, b)))
#define _warn_unused_result_ __attribute__((warn_unused_result))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Hand ownership of *p out of a cleanup-scoped variable. */
#define TAKE_PTR(p)                            \
        ({                                     \
                __typeof__(p) _take_tmp = (p); \
                (p) = NULL;                    \
                _take_tmp;                     \
        })

#define TAKE_FD(fd)                  \
        ({                           \
                int _take_fd = (fd); \
                (fd) = -1;           \
                _take_fd;            \
        })

/* Define `static inline void name##p(type **p)` calling func(*p) when non-NULL. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func) \
        static inline void func##p(type *p)     \
        {                                       \
                if (*p)                         \
                        func(*p);               \
        }

static inline void freep(void *p)
{
        free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void fclosep(FILE **f)
{
        if (*f)
                fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

static inline void closep(int *fd)
{
        if (*fd >= 0)
                close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

/* jansson (>= 2.9) ships json_decrefp(), NULL-safe.  Include <jansson.h> first. */
#define _cleanup_json_ _cleanup_(json_decrefp)

/* errno as a negative return value; -EIO if a libc call failed without setting it. */
#define NEG_ERRNO() (errno > 0 ? -errno : -EIO)

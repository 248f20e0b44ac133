/* SPDX-License-Identifier: Apache-2.0 */
/* The one error convention: codes, their text, and filling struct tripdeal_error (error.h). */
#include <stdio.h>
#include <string.h>

#include "error.h"

const char *tripdeal_strerror(int code)
{
        switch (code) {
        case 0:
                return "success";
#define TRIPDEAL_X_CASE(name, value, text) \
        case name:                         \
                return text;
                TRIPDEAL_ERRORS(TRIPDEAL_X_CASE)
#undef TRIPDEAL_X_CASE
        default:
                break;
        }
        if (code < 0 && code > -4096 && strerrordesc_np(-code))
                return strerrordesc_np(-code);
        return "unknown error";
}

int tripdeal_error_setv(struct tripdeal_error *error, int code, const char *fmt, va_list ap)
{
        if (!error)
                return code;
        error->code = code;
        vsnprintf(error->message, sizeof(error->message), fmt, ap);
        for (char *p = error->message; *p; p++)
                if (*p == '\n' || *p == '\r')
                        *p = ' ';
        return code;
}

int tripdeal_error_set(struct tripdeal_error *error, int code, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        tripdeal_error_setv(error, code, fmt, ap);
        va_end(ap);
        return code;
}

const char *tripdeal_error_message(const struct tripdeal_error *error)
{
        if (!error)
                return "";
        return error->message[0] ? error->message : tripdeal_strerror(error->code);
}

int tripdeal_error_copy(struct tripdeal_error *dst, const struct tripdeal_error *src)
{
        if (dst && dst != src)
                *dst = *src;
        return src->code;
}

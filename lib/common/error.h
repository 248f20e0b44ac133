/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TripDeal's one error convention, for every library and module.
 *
 * A call that can fail returns 0 or a negative code: -errno, or one of the
 * TRIPDEAL_ERR_* codes of TRIPDEAL_ERRORS below (far from the errno range, so
 * never ambiguous).  When it also takes a `struct tripdeal_error *ret_error`
 * (always the last parameter, NULL allowed) it fills it on failure only:
 * code = the value returned, message = one line for a human naming what is
 * wrong (never a secret).  There is no per-handle "last error" and no
 * thread-local: every call stands alone, so a handle may be shared by
 * threads as far as the module allows.  Libraries never log; the caller
 * decides whether and where the message goes, once.
 *
 * In use: vmctl, lib/cron (struct cron_error embeds one as its first member
 * and adds the parse details), the operator's spec and schedule loading, the
 * app's store (app/store/store.h).
 * lib/kube keeps its struct kube_status (the same idea: code returned,
 * message filled on failure, no last error) because it also carries the
 * HTTP code and the metav1.Status reason callers decide on.
 *
 * Typical use:
 *
 *     struct tripdeal_error error = {0};
 *     r = vmctl_create(conn, &spec, &vm, &error);
 *     if (r < 0)
 *             log_error("%s", tripdeal_error_message(&error));   // logged once, here
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>

#include "macros.h"

/*
 * Codes errno has no word for, X(NAME, value, text).  Values from -20001
 * down (lib/kube's KUBE_ERR_* use -10001...).  Prefer -errno; add a row here
 * (never a second list) only when callers must tell the case apart and no
 * errno says it.
 */
#define TRIPDEAL_ERRORS(X) X(TRIPDEAL_ERR_INJECTED_FAULT, -20001, "injected fault (tests only)")

enum tripdeal_error_code {
#define TRIPDEAL_X_ENUM(name, value, text) name = value,
        TRIPDEAL_ERRORS(TRIPDEAL_X_ENUM)
#undef TRIPDEAL_X_ENUM
};

#define TRIPDEAL_ERROR_MESSAGE_MAX 512

struct tripdeal_error {
        int code;                                 /* 0 (none), -errno or TRIPDEAL_ERR_* */
        char message[TRIPDEAL_ERROR_MESSAGE_MAX]; /* one line, truncated to fit */
};

/* Text for any code: "success", a TRIPDEAL_ERR_* text or strerror's.  Static, never NULL. */
const char *tripdeal_strerror(int code);

/*
 * Fill *error (if not NULL) with code and the formatted message; returns code
 * so that `return tripdeal_error_set(ret_error, -EINVAL, "...")` reads well.
 * A newline in the result is replaced by a space (one line).
 */
_printf_(3, 4) int tripdeal_error_set(struct tripdeal_error *error, int code, const char *fmt, ...);
_printf_(3, 0) int tripdeal_error_setv(struct tripdeal_error *error, int code, const char *fmt,
                                       va_list ap);

/* The message, or tripdeal_strerror(code) when none was written; "" for NULL. */
const char *tripdeal_error_message(const struct tripdeal_error *error);

/* Copy src into dst (if not NULL); returns src->code. */
int tripdeal_error_copy(struct tripdeal_error *dst, const struct tripdeal_error *src);

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTML building with escaping as the default.
 *
 * html_format() takes a trusted template (a string literal written by us)
 * and escapes every %s argument; numbers are printed as numbers.  The one way
 * to emit unescaped text is html_raw(), whose name says what it does: use it
 * only for markup written in this program, never for data.
 *
 *   html_format(&page, "<h2>%s</h2><p>%" PRId64 " 원</p>", deal.title, deal.price);
 *
 * Errors stick: after an allocation failure or a bad template every later
 * call is a no-op and html_finish() returns the error, so callers check once.
 *
 * Ownership: struct html owns its buffer; html_finish() hands it to the caller
 * (free()), html_clear() frees it.
 */
#pragma once

#include <stdarg.h>
#include <stddef.h>

#include "macros.h"

struct html {
        char *data;
        size_t length;
        size_t capacity;
        int error; /* 0 or -errno, sticky */
};

/* Trusted markup, copied as is. */
void html_raw(struct html *html, const char *trusted_markup);
/* Untrusted text, escaped for element content and quoted attribute values. */
void html_text(struct html *html, const char *text);
/*
 * Template with printf-style conversions: %s (escaped), %d %i %u %ld %li %lu
 * %lld %lli %llu %zu and %%.  Any other conversion is a bug: it sets -EINVAL.
 */
void html_format(struct html *html, const char *trusted_template, ...) _printf_(2, 3);
void html_vformat(struct html *html, const char *trusted_template, va_list ap);

/* Hand over the NUL-terminated result; 0 or the sticky error (then nothing is handed over). */
int html_finish(struct html *html, char **ret_data, size_t *ret_length);
void html_clear(struct html *html);

/* Escape into a new string (for callers outside a page, e.g. tests). */
int html_escape(const char *text, char **ret_escaped);

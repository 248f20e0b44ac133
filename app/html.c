/* SPDX-License-Identifier: Apache-2.0 */
#include "html.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void append(struct html *html, const char *bytes, size_t length)
{
        if (html->error)
                return;
        if (html->length + length + 1 > html->capacity) {
                size_t capacity = html->capacity ? html->capacity : 1024;
                while (capacity < html->length + length + 1)
                        capacity *= 2;
                char *data = realloc(html->data, capacity);
                if (!data) {
                        html->error = -ENOMEM;
                        return;
                }
                html->data = data;
                html->capacity = capacity;
        }
        memcpy(html->data + html->length, bytes, length);
        html->length += length;
        html->data[html->length] = '\0';
}

void html_raw(struct html *html, const char *trusted_markup)
{
        if (trusted_markup)
                append(html, trusted_markup, strlen(trusted_markup));
}

void html_text(struct html *html, const char *text)
{
        if (!text)
                return;
        /* Copy runs of harmless bytes in one go; replace the five HTML specials. */
        const char *run = text;
        for (const char *p = text;; p++) {
                const char *entity = NULL;
                switch (*p) {
                case '&':
                        entity = "&amp;";
                        break;
                case '<':
                        entity = "&lt;";
                        break;
                case '>':
                        entity = "&gt;";
                        break;
                case '"':
                        entity = "&quot;";
                        break;
                case '\'':
                        entity = "&#39;";
                        break;
                case '\0':
                        append(html, run, (size_t)(p - run));
                        return;
                default:
                        continue;
                }
                append(html, run, (size_t)(p - run));
                append(html, entity, strlen(entity));
                run = p + 1;
        }
}

void html_vformat(struct html *html, const char *trusted_template, va_list ap)
{
        const char *run = trusted_template;
        for (const char *p = trusted_template; *p; p++) {
                if (*p != '%')
                        continue;
                append(html, run, (size_t)(p - run));
                p++;

                char number[32];
                int n = -1;
                if (*p == '%') {
                        append(html, "%", 1);
                } else if (*p == 's') {
                        html_text(html, va_arg(ap, const char *));
                } else if (*p == 'd' || *p == 'i') {
                        n = snprintf(number, sizeof(number), "%d", va_arg(ap, int));
                } else if (*p == 'u') {
                        n = snprintf(number, sizeof(number), "%u", va_arg(ap, unsigned));
                } else if (*p == 'z' && p[1] == 'u') {
                        p++;
                        n = snprintf(number, sizeof(number), "%zu", va_arg(ap, size_t));
                } else if (*p == 'l' && p[1] == 'l' && (p[2] == 'd' || p[2] == 'i')) {
                        p += 2;
                        n = snprintf(number, sizeof(number), "%lld", va_arg(ap, long long));
                } else if (*p == 'l' && p[1] == 'l' && p[2] == 'u') {
                        p += 2;
                        n = snprintf(number, sizeof(number), "%llu",
                                     va_arg(ap, unsigned long long));
                } else if (*p == 'l' && (p[1] == 'd' || p[1] == 'i')) {
                        p++;
                        n = snprintf(number, sizeof(number), "%ld", va_arg(ap, long));
                } else if (*p == 'l' && p[1] == 'u') {
                        p++;
                        n = snprintf(number, sizeof(number), "%lu", va_arg(ap, unsigned long));
                } else {
                        /* Widths, %p, %c, %x...: not part of the template language. */
                        html->error = html->error ? html->error : -EINVAL;
                        return;
                }
                if (n > 0)
                        append(html, number, (size_t)n);
                run = p + 1;
        }
        append(html, run, strlen(run));
}

void html_format(struct html *html, const char *trusted_template, ...)
{
        va_list ap;
        va_start(ap, trusted_template);
        html_vformat(html, trusted_template, ap);
        va_end(ap);
}

int html_finish(struct html *html, char **ret_data, size_t *ret_length)
{
        if (html->error)
                return html->error;
        if (!html->data)
                append(html, "", 0);
        if (html->error)
                return html->error;
        *ret_data = html->data;
        if (ret_length)
                *ret_length = html->length;
        *html = (struct html){0};
        return 0;
}

void html_clear(struct html *html)
{
        if (!html)
                return;
        free(html->data);
        *html = (struct html){0};
}

int html_escape(const char *text, char **ret_escaped)
{
        struct html html = {0};
        html_text(&html, text);
        int r = html_finish(&html, ret_escaped, NULL);
        html_clear(&html);
        return r;
}

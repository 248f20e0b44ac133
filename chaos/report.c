/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Drill reports: report.json as the engine built it, and report.html, one
 * self-contained page (inline CSS and SVG, no scripts, no external
 * resources) with the verdict, the probe chart, the merged timeline and the
 * killed pods' last log lines beside their replacements' first ones.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chaos.h"
#include "clock.h"
#include "macros.h"

static void html_escape(FILE *f, const char *s)
{
        for (; s && *s; s++) {
                switch (*s) {
                case '&':
                        fputs("&amp;", f);
                        break;
                case '<':
                        fputs("&lt;", f);
                        break;
                case '>':
                        fputs("&gt;", f);
                        break;
                case '"':
                        fputs("&quot;", f);
                        break;
                case '\'':
                        fputs("&#39;", f);
                        break;
                default:
                        fputc(*s, f);
                }
        }
}

static const char *str(const json_t *object, const char *key)
{
        const char *s = json_string_value(json_object_get(object, key));
        return s ? s : "";
}

static void row(FILE *f, const char *key, const char *value)
{
        fputs("<tr><th>", f);
        html_escape(f, key);
        fputs("</th><td>", f);
        html_escape(f, value);
        fputs("</td></tr>\n", f);
}

static int64_t parse_ms(const char *text)
{
        time_t t;
        if (!text || clock_parse_rfc3339(text, &t) < 0)
                return 0;
        int64_t ms = (int64_t)t * 1000;
        const char *dot = strchr(text, '.');
        if (dot) {
                int64_t frac = 0, scale = 100;
                for (const char *p = dot + 1; *p >= '0' && *p <= '9' && scale > 0; p++) {
                        frac += (*p - '0') * scale;
                        scale /= 10;
                }
                ms += frac;
        }
        return ms;
}

/* Probe requests per 500 ms as bars (failed in red), the injection and the
 * recovery as vertical lines, the Prometheus values as dots. */
static void chart(FILE *f, const json_t *report)
{
        const json_t *series = json_object_get(report, "probeSeries");
        size_t n = json_array_size(series);
        if (n == 0) {
                fputs("<p>No probe ran.</p>\n", f);
                return;
        }
        int64_t start = parse_ms(str(json_array_get(series, 0), "at"));
        int64_t end = parse_ms(str(json_array_get(series, n - 1), "at")) + 500;
        if (end <= start)
                end = start + 500;
        json_int_t max_sent = 1;
        size_t i;
        json_t *b;
        json_array_foreach (series, i, b) {
                json_int_t s = json_integer_value(json_object_get(b, "sent"));
                if (s > max_sent)
                        max_sent = s;
        }
        const double width = 900, height = 180, left = 40, top = 10;
        double span = (double)(end - start);
        fprintf(f,
                "<svg class=\"chart\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" "
                "aria-label=\"probe requests per 500 ms\">\n"
                "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"#fafafa\" "
                "stroke=\"#ccc\"/>\n",
                width + left + 10, height + top + 30, left, top, width, height);
        json_array_foreach (series, i, b) {
                double x = left + width * (double)(parse_ms(str(b, "at")) - start) / span;
                double w = width * 500.0 / span;
                json_int_t s = json_integer_value(json_object_get(b, "sent"));
                json_int_t fl = json_integer_value(json_object_get(b, "failed"));
                double hs = height * (double)s / (double)max_sent;
                double hf = height * (double)fl / (double)max_sent;
                fprintf(f,
                        "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                        "fill=\"#7cb87c\"/>\n",
                        x, top + height - hs, w > 1.5 ? w - 0.5 : w, hs - hf);
                if (fl)
                        fprintf(f,
                                "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                                "fill=\"#d9534f\"/>\n",
                                x, top + height - hf, w > 1.5 ? w - 0.5 : w, hf);
        }
        struct {
                const char *key, *label, *color;
        } marks[] = {{"injectedAt", "injection", "#d9534f"},
                     {"recoveredAt", "recovered", "#337ab7"}};
        for (size_t m = 0; m < ARRAY_SIZE(marks); m++) {
                int64_t at = parse_ms(str(report, marks[m].key));
                if (!at || at < start || at > end)
                        continue;
                double x = left + width * (double)(at - start) / span;
                fprintf(f,
                        "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"%s\" "
                        "stroke-width=\"2\" stroke-dasharray=\"4 2\"/><text x=\"%.1f\" y=\"%.0f\" "
                        "fill=\"%s\" font-size=\"12\">%s</text>\n",
                        x, top, x, top + height, marks[m].color, x + 3, top + 12 + 14.0 * m,
                        marks[m].color, marks[m].label);
        }
        const json_t *prom = json_object_get(report, "prometheus");
        const json_t *samples = json_object_get(prom, "samples");
        double pmax = json_number_value(json_object_get(prom, "max"));
        json_array_foreach (samples, i, b) {
                if (!json_is_number(json_object_get(b, "value")))
                        continue;
                double v = json_number_value(json_object_get(b, "value"));
                if (v > pmax)
                        pmax = v;
        }
        if (pmax <= 0)
                pmax = 1;
        json_array_foreach (samples, i, b) {
                int64_t at = parse_ms(str(b, "at"));
                if (!json_is_number(json_object_get(b, "value")) || at < start || at > end)
                        continue;
                double v = json_number_value(json_object_get(b, "value"));
                fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#f0ad4e\"/>\n",
                        left + width * (double)(at - start) / span,
                        top + height - height * v / pmax);
        }
        fprintf(f,
                "<text x=\"%.0f\" y=\"%.0f\" font-size=\"12\">0 s</text><text x=\"%.0f\" "
                "y=\"%.0f\" font-size=\"12\" text-anchor=\"end\">%.1f s</text>\n"
                "<text x=\"2\" y=\"%.0f\" font-size=\"12\">%lld</text>\n</svg>\n",
                left, top + height + 16, left + width, top + height + 16, span / 1000.0, top + 12,
                (long long)max_sent);
        fputs("<p class=\"legend\"><span class=\"ok\">&#9632;</span> probe requests answered as "
              "expected, <span class=\"bad\">&#9632;</span> failed (per 500 ms)",
              f);
        if (samples)
                fputs(", <span class=\"prom\">&#9679;</span> Prometheus value", f);
        fputs("</p>\n", f);
}

static void log_block(FILE *f, const json_t *lines)
{
        fputs("<pre>", f);
        size_t i;
        json_t *line;
        json_array_foreach (lines, i, line) {
                html_escape(f, json_string_value(line));
                fputc('\n', f);
        }
        if (!json_array_size(lines))
                fputs("(no log lines)", f);
        fputs("</pre>\n", f);
}

int chaos_report_html(const json_t *report, char **ret_html)
{
        char *html = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&html, &size);
        if (!f)
                return -ENOMEM;
        const char *verdict = str(report, "verdict");
        fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>Drill ",
              f);
        html_escape(f, str(report, "name"));
        fputs(" — ", f);
        html_escape(f, verdict);
        fputs("</title>\n<style>\n"
              "body{font-family:sans-serif;margin:2em;color:#222;max-width:1100px}\n"
              "h1 .verdict{padding:.1em .5em;border-radius:4px;color:#fff;font-size:.8em}\n"
              ".Passed{background:#3c763d}.Failed{background:#a94442}.Aborted{background:#8a6d3b}"
              ".Refused{background:#555}.DryRun{background:#31708f}\n"
              "table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ddd;"
              "padding:.3em .6em;text-align:left;vertical-align:top;font-size:.9em}\n"
              "th{background:#f5f5f5}.chart{width:100%;max-width:950px}\n"
              "pre{background:#f7f7f7;padding:.5em;overflow-x:auto;font-size:.8em}\n"
              ".ok{color:#7cb87c}.bad{color:#d9534f}.prom{color:#f0ad4e}\n"
              "tr.src-injection td{background:#fdecea}tr.src-probe td{color:#a94442}"
              "tr.src-event td{background:#eef5fb}tr.src-engine td{font-weight:bold}"
              "tr.src-libvirt td{background:#fdecea}tr.src-nodes td{background:#fcf8e3}\n"
              ".pods{display:grid;grid-template-columns:1fr 1fr;gap:1em}\n"
              "</style></head><body>\n",
              f);
        fputs("<h1>Drill ", f);
        html_escape(f, str(report, "name"));
        fputs(" <span class=\"verdict ", f);
        html_escape(f, verdict);
        fputs("\">", f);
        html_escape(f, verdict);
        fputs("</span></h1>\n<p>", f);
        html_escape(f, str(report, "reason"));
        fputs("</p>\n<table>\n", f);
        const json_t *target = json_object_get(report, "target");
        char text[256];
        row(f, "Action", str(report, "action"));
        snprintf(text, sizeof(text), "%s/%s", str(target, "namespace"),
                 json_object_get(target, "tripDeal") ? str(target, "tripDeal")
                                                     : str(target, "selector"));
        row(f, "Target", text);
        row(f, "Started", str(report, "startedAt"));
        row(f, "Injected", str(report, "injectedAt"));
        row(f, "Recovered", str(report, "recoveredAt"));
        json_t *rs = json_object_get(report, "recoverySeconds");
        if (json_is_number(rs))
                snprintf(text, sizeof(text), "%.2f s", json_number_value(rs));
        else
                snprintf(text, sizeof(text), "—");
        row(f, "Recovery", text);
        const json_t *probes = json_object_get(report, "probes");
        snprintf(text, sizeof(text), "%lld sent, %lld failed (%.2f%%) since the injection",
                 (long long)json_integer_value(json_object_get(probes, "sent")),
                 (long long)json_integer_value(json_object_get(probes, "failed")),
                 json_number_value(json_object_get(probes, "errorRatePercent")));
        row(f, "Probe requests", text);
        row(f, "Finished", str(report, "finishedAt"));
        fputs("</table>\n<h2>Probe traffic</h2>\n", f);
        chart(f, report);

        const json_t *prom = json_object_get(report, "prometheus");
        if (prom) {
                fputs("<h2>Prometheus</h2>\n<p><code>", f);
                html_escape(f, str(prom, "query"));
                snprintf(text, sizeof(text),
                         "</code> (steady while &le; %g)</p>\n<table>"
                         "<tr><th>at</th><th>phase</th><th>value</th></tr>\n",
                         json_number_value(json_object_get(prom, "max")));
                fputs(text, f);
                size_t i;
                json_t *s;
                json_array_foreach (json_object_get(prom, "samples"), i, s) {
                        fputs("<tr><td>", f);
                        html_escape(f, str(s, "at"));
                        fputs("</td><td>", f);
                        html_escape(f, str(s, "phase"));
                        json_t *v = json_object_get(s, "value");
                        if (json_is_number(v))
                                fprintf(f, "</td><td>%g</td></tr>\n", json_number_value(v));
                        else
                                fputs("</td><td>query failed</td></tr>\n", f);
                }
                fputs("</table>\n", f);
        }

        fputs("<h2>Timeline</h2>\n<table class=\"timeline\"><tr><th>at</th><th>source</th>"
              "<th>what happened</th></tr>\n",
              f);
        size_t i;
        json_t *entry;
        json_array_foreach (json_object_get(report, "timeline"), i, entry) {
                fputs("<tr class=\"src-", f);
                html_escape(f, str(entry, "source"));
                fputs("\"><td>", f);
                html_escape(f, str(entry, "at"));
                fputs("</td><td>", f);
                html_escape(f, str(entry, "source"));
                fputs("</td><td>", f);
                html_escape(f, str(entry, "message"));
                fputs("</td></tr>\n", f);
        }
        fputs("</table>\n<h2>Killed and replacement pods</h2>\n<div class=\"pods\">\n<div>"
              "<h3>Targets (last log lines, read before the kill)</h3>\n",
              f);
        json_array_foreach (json_object_get(report, "targets"), i, entry) {
                fputs("<h4>", f);
                html_escape(f, str(entry, "kind"));
                fputc(' ', f);
                html_escape(f, str(entry, "name"));
                if (str(entry, "node")[0]) {
                        fputs(" on ", f);
                        html_escape(f, str(entry, "node"));
                }
                fputs("</h4>\n", f);
                if (json_object_get(entry, "lastLogLines"))
                        log_block(f, json_object_get(entry, "lastLogLines"));
        }
        fputs("</div>\n<div><h3>Replacements (first log lines)</h3>\n", f);
        json_array_foreach (json_object_get(report, "replacements"), i, entry) {
                fputs("<h4>", f);
                html_escape(f, str(entry, "name"));
                if (str(entry, "node")[0]) {
                        fputs(" on ", f);
                        html_escape(f, str(entry, "node"));
                }
                fputs(", Ready at ", f);
                html_escape(f, json_is_string(json_object_get(entry, "readyAt"))
                                       ? str(entry, "readyAt")
                                       : "never");
                fputs("</h4>\n", f);
                log_block(f, json_object_get(entry, "firstLogLines"));
        }
        fputs("</div>\n</div>\n<p><small>tripdeal-chaos report, ", f);
        html_escape(f, str(report, "apiVersion"));
        fputs("</small></p>\n</body></html>\n", f);
        if (fclose(f) != 0) {
                free(html);
                return -ENOMEM;
        }
        *ret_html = html;
        return 0;
}

static int write_file(const char *dir, const char *name, const char *data, size_t size)
{
        _cleanup_free_ char *path = NULL, *tmp = NULL;
        if (asprintf(&path, "%s/%s", dir, name) < 0 || asprintf(&tmp, "%s/.%s.tmp", dir, name) < 0)
                return -ENOMEM;
        _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return NEG_ERRNO();
        size_t done = 0;
        while (done < size) {
                ssize_t n = write(fd, data + done, size - done);
                if (n < 0)
                        return NEG_ERRNO();
                done += (size_t)n;
        }
        if (fsync(fd) < 0 || rename(tmp, path) < 0)
                return NEG_ERRNO();
        return 0;
}

int chaos_report_write(const json_t *report, const char *dir)
{
        if (!report || !dir)
                return -EINVAL;
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return NEG_ERRNO();
        _cleanup_free_ char *json = json_dumps(report, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        _cleanup_free_ char *html = NULL;
        if (!json)
                return -ENOMEM;
        int r = chaos_report_html(report, &html);
        if (r < 0)
                return r;
        size_t n = strlen(json);
        json[n] = '\0';
        _cleanup_free_ char *with_newline = NULL;
        if (asprintf(&with_newline, "%s\n", json) < 0)
                return -ENOMEM;
        r = write_file(dir, "report.json", with_newline, strlen(with_newline));
        if (r < 0)
                return r;
        return write_file(dir, "report.html", html, strlen(html));
}

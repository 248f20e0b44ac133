/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The table-driven flag and environment parser every TripDeal program uses
 * (flags.h): getopt_long underneath, one --help layout, --version, one error
 * line.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "duration.h"
#include "flags.h"
#include "macros.h"

/* getopt_long values: short names keep their letter, long-only flags get these. */
#define LONG_ONLY_BASE 0x1000
#define VERSION_VALUE  0x0fff

#define HELP_WIDTH       79 /* wrap --help text before this column */
#define HELP_DESCRIPTION 28 /* column where a flag's description starts */

static size_t flag_count(const struct flags_program *program)
{
        size_t n = 0;
        while (program->flags && program->flags[n].name)
                n++;
        return n;
}

static int flag_value(const struct flag *flag, size_t index)
{
        return flag->short_name ? (unsigned char)flag->short_name : LONG_ONLY_BASE + (int)index;
}

static bool flag_takes_value(const struct flag *flag)
{
        return flag->type != FLAG_BOOL;
}

static int64_t range_max(const struct flag *flag, int64_t type_max)
{
        return flag->max != 0 ? flag->max : type_max;
}

_printf_(3, 4) static int fail(char *error, size_t error_size, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(error, error_size, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

/* "a, b or c" (or "a|b|c") from a NULL-terminated list. */
static void join_choices(const char *const *choices, const char *separator_between,
                         const char *last_separator, char *buf, size_t size)
{
        size_t used = 0;
        buf[0] = '\0';
        for (size_t i = 0; choices[i] && used < size; i++) {
                const char *separator = i == 0           ? ""
                                        : choices[i + 1] ? separator_between
                                                         : last_separator;
                int n = snprintf(buf + used, size - used, "%s%s", separator, choices[i]);
                if (n < 0)
                        break;
                used += (size_t)n;
        }
}

static int parse_bool_text(const char *value, bool *ret)
{
        static const char *const yes[] = {"1", "true", "yes"};
        static const char *const no[] = {"0", "false", "no"};
        for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
                if (strcasecmp(value, yes[i]) == 0) {
                        *ret = true;
                        return 0;
                }
                if (strcasecmp(value, no[i]) == 0) {
                        *ret = false;
                        return 0;
                }
        }
        return -EINVAL;
}

static int parse_int_text(const char *value, int64_t *ret)
{
        if (!*value || (*value != '-' && (*value < '0' || *value > '9')))
                return -EINVAL;
        char *end = NULL;
        errno = 0;
        long long n = strtoll(value, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        if (errno || *end)
                return -EINVAL;
        *ret = n;
        return 0;
}

/*
 * Store value (from the command line when source is "--name", from the
 * environment when it is the variable's name) in flag->target.
 */
static int apply_value(const struct flag *flag, const char *source, const char *value, char *error,
                       size_t error_size)
{
        /* Secrets are named, never echoed. */
        char shown[512];
        if (flag->secret)
                snprintf(shown, sizeof(shown), "bad %s", source);
        else
                snprintf(shown, sizeof(shown), "bad %s \"%s\"", source, value);

        switch (flag->type) {
        case FLAG_STRING:
                *(const char **)flag->target = value;
                return 0;
        case FLAG_BOOL: {
                bool b = false;
                if (parse_bool_text(value, &b) < 0)
                        return fail(error, error_size, "%s: want 1, true, yes, 0, false or no",
                                    shown);
                *(bool *)flag->target = b;
                return 0;
        }
        case FLAG_INT: {
                int64_t min = flag->min < INT_MIN ? INT_MIN : flag->min;
                int64_t max = range_max(flag, INT_MAX);
                int64_t n = 0;
                if (parse_int_text(value, &n) < 0 || n < min || n > max) {
                        if (max == INT_MAX)
                                return fail(error, error_size, "%s: want an integer >= %" PRId64,
                                            shown, min);
                        return fail(error, error_size,
                                    "%s: want an integer from %" PRId64 " to %" PRId64, shown, min,
                                    max);
                }
                *(int *)flag->target = (int)n;
                return 0;
        }
        case FLAG_DURATION: {
                int64_t min = flag->min < 0 ? 0 : flag->min;
                int64_t max = range_max(flag, INT64_MAX);
                int64_t ms = 0;
                if (duration_parse_ms(value, &ms) < 0)
                        return fail(error, error_size,
                                    "%s: want a duration like 500ms, 45s, 10m or 1h30m", shown);
                if (ms < min || ms > max) {
                        char bound[32];
                        duration_format(ms < min ? min : max, bound, sizeof(bound));
                        return fail(error, error_size, "%s: want a duration of at %s %s", shown,
                                    ms < min ? "least" : "most", bound);
                }
                *(int64_t *)flag->target = ms;
                return 0;
        }
        case FLAG_CHOICE:
                for (int i = 0; flag->choices && flag->choices[i]; i++)
                        if (strcmp(flag->choices[i], value) == 0) {
                                *(int *)flag->target = i;
                                return 0;
                        }
                char list[256] = "";
                if (flag->choices)
                        join_choices(flag->choices, ", ", " or ", list, sizeof(list));
                return fail(error, error_size, "%s: want %s", shown, list);
        case FLAG_CUSTOM: {
                char message[256] = "";
                int r = flag->parse ? flag->parse(value, flag->target, message, sizeof(message))
                                    : -EINVAL;
                if (r < 0) {
                        snprintf(error, error_size, "%s: %s", shown,
                                 message[0] ? message : strerror(-r));
                        return r == -ENOMEM ? -ENOMEM : -EINVAL;
                }
                return 0;
        }
        }
        return fail(error, error_size, "%s: flag of unknown type", shown);
}

/* The option as the user wrote it: "--name" (without "=value") or "-x". */
static void option_as_written(const char *arg, int short_option, char *buf, size_t size)
{
        if (short_option > 0 && short_option < 256 && (!arg || strncmp(arg, "--", 2) != 0)) {
                snprintf(buf, size, "-%c", short_option);
                return;
        }
        if (!arg) {
                snprintf(buf, size, "?");
                return;
        }
        size_t length = strcspn(arg, "=");
        snprintf(buf, size, "%.*s", (int)length, arg);
}

static int check_operands(const struct flags_program *program, int argc, char **argv, char *error,
                          size_t error_size)
{
        if (program->commands) {
                char list[256] = "";
                size_t used = 0;
                for (size_t i = 0; program->commands[i].name && used < sizeof(list); i++) {
                        int n = snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "",
                                         program->commands[i].name);
                        if (n > 0)
                                used += (size_t)n;
                }
                if (optind >= argc)
                        return fail(error, error_size, "missing COMMAND (one of: %s)", list);
                if (flags_command_id(program, argv[optind]) < 0)
                        return fail(error, error_size, "unknown command \"%s\" (one of: %s)",
                                    argv[optind], list);
                return 0;
        }
        if (program->operands == FLAGS_NO_OPERANDS && optind < argc)
                return fail(error, error_size, "unexpected argument \"%s\"", argv[optind]);
        return 0;
}

int flags_try_parse(const struct flags_program *program, int argc, char **argv, char *error,
                    size_t error_size, enum flags_outcome *ret_outcome, int *ret_first_operand)
{
        size_t n = flag_count(program);
        _cleanup_free_ struct option *options = calloc(n + 3, sizeof(*options));
        _cleanup_free_ bool *seen = calloc(n + 1, sizeof(*seen));
        /* "+" stops at the command; ":" reports a missing value as ':'. */
        _cleanup_free_ char *optstring = malloc(3 * n + 8);
        if (!options || !seen || !optstring)
                return fail(error, error_size, "out of memory");

        size_t o = 0;
        if (program->commands)
                optstring[o++] = '+';
        optstring[o++] = ':';
        optstring[o++] = 'h';
        for (size_t i = 0; i < n; i++) {
                const struct flag *flag = &program->flags[i];
                options[i] = (struct option){
                        .name = flag->name,
                        .has_arg = flag_takes_value(flag) ? required_argument : no_argument,
                        .val = flag_value(flag, i),
                };
                if (flag->short_name) {
                        optstring[o++] = flag->short_name;
                        if (flag_takes_value(flag))
                                optstring[o++] = ':';
                }
        }
        optstring[o] = '\0';
        options[n] = (struct option){.name = "help", .has_arg = no_argument, .val = 'h'};
        options[n + 1] =
                (struct option){.name = "version", .has_arg = no_argument, .val = VERSION_VALUE};

        optind = 0; /* GNU: re-initialise, also for a subcommand's own argv */
        opterr = 0; /* our own one-line errors */
        for (;;) {
                int c = getopt_long(argc, argv, optstring, options, NULL);
                if (c == -1)
                        break;
                if (c == 'h') {
                        *ret_outcome = FLAGS_HELP;
                        *ret_first_operand = optind;
                        return 0;
                }
                if (c == VERSION_VALUE) {
                        *ret_outcome = FLAGS_VERSION;
                        *ret_first_operand = optind;
                        return 0;
                }
                char written[128];
                const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : NULL;
                if (c == ':') {
                        option_as_written(arg, optopt, written, sizeof(written));
                        return fail(error, error_size, "option %s needs a value", written);
                }
                size_t index = n;
                for (size_t i = 0; i < n; i++)
                        if (flag_value(&program->flags[i], i) == (c == '?' ? optopt : c))
                                index = i;
                if (c == '?') {
                        option_as_written(arg, optopt, written, sizeof(written));
                        if (index < n || optopt == 'h' || optopt == VERSION_VALUE)
                                return fail(error, error_size, "option %s takes no value", written);
                        return fail(error, error_size, "unknown option %s", written);
                }
                if (index == n)
                        return fail(error, error_size, "unknown option %s", arg ? arg : "?");
                const struct flag *flag = &program->flags[index];
                char source[128];
                snprintf(source, sizeof(source), "--%s", flag->name);
                int r = apply_value(flag, source, flag_takes_value(flag) ? optarg : "1", error,
                                    error_size);
                if (r < 0)
                        return r;
                seen[index] = true;
        }

        for (size_t i = 0; i < n; i++) {
                const struct flag *flag = &program->flags[i];
                const char *value = flag->env && !seen[i] ? getenv(flag->env) : NULL;
                if (!value || !*value)
                        continue;
                int r = apply_value(flag, flag->env, value, error, error_size);
                if (r < 0)
                        return r;
                seen[i] = true;
        }
        for (size_t i = 0; i < n; i++) {
                const struct flag *flag = &program->flags[i];
                if (!flag->required || seen[i])
                        continue;
                if (flag->env)
                        return fail(error, error_size, "--%s (or %s) is required", flag->name,
                                    flag->env);
                return fail(error, error_size, "--%s is required", flag->name);
        }

        int r = check_operands(program, argc, argv, error, error_size);
        if (r < 0)
                return r;
        *ret_outcome = FLAGS_RUN;
        *ret_first_operand = optind;
        return 0;
}

int flags_parse(const struct flags_program *program, int argc, char **argv)
{
        char error[1024] = "";
        enum flags_outcome outcome = FLAGS_RUN;
        int first_operand = argc;
        int r = flags_try_parse(program, argc, argv, error, sizeof(error), &outcome,
                                &first_operand);
        if (r < 0)
                flags_fail(program, "%s", error);
        if (outcome == FLAGS_HELP) {
                flags_print_help(program, stdout);
                exit(fflush(stdout) == 0 ? 0 : 1);
        }
        if (outcome == FLAGS_VERSION) {
                flags_print_version(program, stdout);
                exit(fflush(stdout) == 0 ? 0 : 1);
        }
        return first_operand;
}

void flags_fail(const struct flags_program *program, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        fflush(stdout);
        fprintf(stderr, "%s: ", program->name);
        vfprintf(stderr, fmt, ap);
        fputs(" (see --help)\n", stderr);
        va_end(ap);
        exit(2);
}

int flags_command_id(const struct flags_program *program, const char *name)
{
        for (size_t i = 0; program->commands && program->commands[i].name; i++)
                if (name && strcmp(program->commands[i].name, name) == 0)
                        return program->commands[i].id;
        return -ENOENT;
}

/* ---- --help ---------------------------------------------------------------- */

/* One word's length; "[...]" (a flag's default and variable) wraps as one word. */
static size_t word_length(const char *p)
{
        if (*p == '[') {
                const char *close = strchr(p, ']');
                if (close && (size_t)(close - p) + 1 <= HELP_WIDTH - HELP_DESCRIPTION)
                        return (size_t)(close - p) + 1 + strcspn(close + 1, " ");
        }
        return strcspn(p, " ");
}

/* Print text word-wrapped, the first line from column, further lines from indent. */
static void print_wrapped(FILE *out, const char *text, size_t column, size_t indent)
{
        const char *p = text;
        bool first_word = true;
        while (*p) {
                while (*p == ' ')
                        p++;
                if (!*p)
                        break;
                size_t length = word_length(p);
                if (!first_word && column + 1 + length > HELP_WIDTH) {
                        fprintf(out, "\n%*s", (int)indent, "");
                        column = indent;
                } else if (!first_word) {
                        fputc(' ', out);
                        column++;
                }
                fwrite(p, 1, length, out);
                column += length;
                p += length;
                first_word = false;
        }
        fputc('\n', out);
}

static const char *default_metavar(const struct flag *flag)
{
        switch (flag->type) {
        case FLAG_INT:
                return "N";
        case FLAG_DURATION:
                return "DURATION";
        default:
                return "VALUE";
        }
}

/* "default: X" for the flag's current value, or "" when it has none to show. */
static void default_text(const struct flag *flag, char *buf, size_t size)
{
        buf[0] = '\0';
        if (flag->required) {
                snprintf(buf, size, "required");
                return;
        }
        if (flag->default_text) {
                if (*flag->default_text)
                        snprintf(buf, size, "default: %s", flag->default_text);
                return;
        }
        if (!flag->target || flag->secret)
                return;
        switch (flag->type) {
        case FLAG_STRING: {
                const char *value = *(const char *const *)flag->target;
                if (value && *value)
                        snprintf(buf, size, "default: %s", value);
                return;
        }
        case FLAG_INT:
                snprintf(buf, size, "default: %d", *(const int *)flag->target);
                return;
        case FLAG_DURATION: {
                char text[32];
                if (duration_format(*(const int64_t *)flag->target, text, sizeof(text)) == 0)
                        snprintf(buf, size, "default: %s", text);
                return;
        }
        case FLAG_CHOICE: {
                int index = *(const int *)flag->target;
                for (int i = 0; flag->choices && flag->choices[i]; i++)
                        if (i == index)
                                snprintf(buf, size, "default: %s", flag->choices[i]);
                return;
        }
        case FLAG_BOOL:
        case FLAG_CUSTOM:
                return;
        }
}

static void print_row(FILE *out, const char *left, const char *description)
{
        size_t column = (size_t)fprintf(out, "%s", left);
        if (column + 2 > HELP_DESCRIPTION) {
                fprintf(out, "\n%*s", HELP_DESCRIPTION, "");
        } else {
                fprintf(out, "%*s", (int)(HELP_DESCRIPTION - column), "");
        }
        print_wrapped(out, description, HELP_DESCRIPTION, HELP_DESCRIPTION);
}

static void print_flag(FILE *out, const struct flag *flag)
{
        char left[160], metavar[160] = "";
        if (flag_takes_value(flag)) {
                if (flag->metavar)
                        snprintf(metavar, sizeof(metavar), " %s", flag->metavar);
                else if (flag->type == FLAG_CHOICE && flag->choices) {
                        metavar[0] = ' ';
                        join_choices(flag->choices, "|", "|", metavar + 1, sizeof(metavar) - 1);
                } else
                        snprintf(metavar, sizeof(metavar), " %s", default_metavar(flag));
        }
        if (flag->short_name)
                snprintf(left, sizeof(left), "  -%c, --%s%s", flag->short_name, flag->name,
                         metavar);
        else
                snprintf(left, sizeof(left), "      --%s%s", flag->name, metavar);

        char dflt[256], brackets[512] = "", description[1024];
        default_text(flag, dflt, sizeof(dflt));
        if (dflt[0] && flag->env)
                snprintf(brackets, sizeof(brackets), " [%s; env %s]", dflt, flag->env);
        else if (dflt[0])
                snprintf(brackets, sizeof(brackets), " [%s]", dflt);
        else if (flag->env)
                snprintf(brackets, sizeof(brackets), " [env %s]", flag->env);
        snprintf(description, sizeof(description), "%s%s", flag->help ? flag->help : "", brackets);
        print_row(out, left, description);
}

/* Paragraph text as given (the caller wraps it), with exactly one trailing newline. */
static void print_block(FILE *out, const char *text)
{
        size_t length = strlen(text);
        while (length > 0 && text[length - 1] == '\n')
                length--;
        fprintf(out, "\n%.*s\n", (int)length, text);
}

void flags_print_help(const struct flags_program *program, FILE *out)
{
        const char *usage = program->usage      ? program->usage
                            : program->commands ? "[OPTIONS] COMMAND [ARGS...]"
                                                : "[OPTIONS]";
        fprintf(out, "Usage: %s %s\n", program->name, usage);
        if (program->summary)
                print_block(out, program->summary);

        if (program->commands) {
                fputs("\nCommands:\n", out);
                for (size_t i = 0; program->commands[i].name; i++) {
                        char left[128];
                        snprintf(left, sizeof(left), "  %s", program->commands[i].name);
                        print_row(out, left,
                                  program->commands[i].summary ? program->commands[i].summary : "");
                }
        }

        fputs("\nOptions:\n", out);
        for (size_t i = 0; program->flags && program->flags[i].name; i++)
                print_flag(out, &program->flags[i]);
        print_row(out, "  -h, --help", "show this help and exit");
        print_row(out, "      --version", "show the version and exit");

        if (program->epilog)
                print_block(out, program->epilog);
}

void flags_print_version(const struct flags_program *program, FILE *out)
{
        /* A subcommand's name is "PROGRAM COMMAND": the version is the program's. */
        size_t length = strcspn(program->name, " ");
        fprintf(out, "%.*s %s (git %s)\n", (int)length, program->name, tripdeal_version(),
                tripdeal_revision());
}

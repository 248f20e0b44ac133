/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lib/common flags: what a user of any TripDeal program relies on — flags and
 * TRIPDEAL_* environment fallbacks (the flag wins), typed values with ranges,
 * one error line naming the flag and value with exit 2, the --help layout,
 * --version, operands and subcommands.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "flags.h"
#include "macros.h"

/* ---- a program with one flag of each kind ----------------------------------- */

struct listen_address {
        char host[64];
        int port;
};

/* FLAG_CUSTOM: "HOST:PORT". */
static int parse_listen(const char *value, void *target, char *message, size_t size)
{
        struct listen_address *address = target;
        const char *colon = strrchr(value, ':');
        char *end = NULL;
        long port = colon ? strtol(colon + 1, &end, 10) : -1;
        if (!colon || colon == value || (size_t)(colon - value) >= sizeof(address->host) || !end ||
            *end || end == colon + 1 || port < 0 || port > 65535) {
                snprintf(message, size, "want HOST:PORT");
                return -EINVAL;
        }
        snprintf(address->host, sizeof(address->host), "%.*s", (int)(colon - value), value);
        address->port = (int)port;
        return 0;
}

/* FLAG_CUSTOM that collects every occurrence. */
struct key_list {
        const char *keys[4];
        int n;
};

static int add_key(const char *value, void *target, char *message, size_t size)
{
        struct key_list *list = target;
        if (list->n >= (int)ARRAY_SIZE(list->keys)) {
                snprintf(message, size, "at most %zu keys", ARRAY_SIZE(list->keys));
                return -E2BIG;
        }
        list->keys[list->n++] = value;
        return 0;
}

enum format { FORMAT_TABLE, FORMAT_JSON };

struct options {
        const char *db;
        const char *name;
        bool seed;
        int threads;
        int64_t grace_ms;
        int format;
        struct listen_address listen;
        struct key_list keys;
};

static struct options o;

static const char *const formats[] = {"table", "json", NULL};

static const struct flag test_flags[] = {
        {.name = "db",
         .type = FLAG_STRING,
         .target = &o.db,
         .metavar = "URL",
         .help = "sqlite:PATH or postgresql://...",
         .env = "TRIPDEAL_TEST_DB",
         .secret = true},
        {.name = "name",
         .short_name = 'n',
         .type = FLAG_STRING,
         .target = &o.name,
         .metavar = "NAME",
         .help = "what to call it"},
        {.name = "seed-demo",
         .type = FLAG_BOOL,
         .target = &o.seed,
         .help = "load demo data",
         .env = "TRIPDEAL_TEST_SEED"},
        {.name = "threads",
         .type = FLAG_INT,
         .target = &o.threads,
         .min = 1,
         .max = 64,
         .help = "worker threads",
         .env = "TRIPDEAL_TEST_THREADS"},
        {.name = "grace-period",
         .type = FLAG_DURATION,
         .target = &o.grace_ms,
         .min = 50,
         .help = "longest wait for in-flight requests, a long sentence that has to be wrapped "
                 "onto a second line",
         .env = "TRIPDEAL_TEST_GRACE"},
        {.name = "output",
         .short_name = 'o',
         .type = FLAG_CHOICE,
         .target = &o.format,
         .choices = formats,
         .help = "output format"},
        {.name = "listen",
         .type = FLAG_CUSTOM,
         .target = &o.listen,
         .parse = parse_listen,
         .metavar = "HOST:PORT",
         .help = "address to serve on",
         .env = "TRIPDEAL_TEST_LISTEN",
         .default_text = "127.0.0.1:8080"},
        {.name = "key",
         .type = FLAG_CUSTOM,
         .target = &o.keys,
         .parse = add_key,
         .metavar = "FILE",
         .help = "an SSH key (repeatable)"},
        {0},
};

static const struct flags_program test_program = {
        .name = "tripdeal-test",
        .summary = "A program to test the flag parser.",
        .epilog = "Exit status: 0 fine, 2 bad flags.",
        .flags = test_flags,
};

static const char *const test_env[] = {"TRIPDEAL_TEST_DB", "TRIPDEAL_TEST_SEED",
                                       "TRIPDEAL_TEST_THREADS", "TRIPDEAL_TEST_GRACE",
                                       "TRIPDEAL_TEST_LISTEN"};

static int reset(void **state)
{
        o = (struct options){.threads = 4, .grace_ms = 25000, .listen = {"127.0.0.1", 8080}};
        for (size_t i = 0; i < ARRAY_SIZE(test_env); i++)
                unsetenv(test_env[i]);
        return 0;
}

/* argv as main() gets it: writable (getopt permutes it), NULL-terminated. */
struct args {
        char *argv[32];
        int argc;
};

static struct args make_args(const char *first, ...)
{
        struct args a = {0};
        va_list ap;
        va_start(ap, first);
        for (const char *s = first; s && a.argc < 31; s = va_arg(ap, const char *))
                a.argv[a.argc++] = (char *)s;
        va_end(ap);
        return a;
}

#define ARGS(...) make_args(__VA_ARGS__, NULL)

struct result {
        int r;
        enum flags_outcome outcome;
        int first_operand;
        char error[512];
};

static struct result parse(const struct flags_program *program, struct args a)
{
        struct result res = {.outcome = -1, .first_operand = -1};
        res.r = flags_try_parse(program, a.argc, a.argv, res.error, sizeof(res.error), &res.outcome,
                                &res.first_operand);
        return res;
}

/* ---- values ---------------------------------------------------------------------- */

static void flags_store_every_type(void **state)
{
        struct result res =
                parse(&test_program,
                      ARGS("tripdeal-test", "--db", "sqlite:x.db", "-n", "shop", "--seed-demo",
                           "--threads=8", "--grace-period", "1m30s", "-o", "json", "--listen",
                           "[::1]:9000", "--key", "a.pub", "--key", "b.pub"));
        assert_int_equal(res.r, 0);
        assert_int_equal(res.outcome, FLAGS_RUN);
        assert_string_equal(o.db, "sqlite:x.db");
        assert_string_equal(o.name, "shop");
        assert_true(o.seed);
        assert_int_equal(o.threads, 8);
        assert_int_equal(o.grace_ms, 90000);
        assert_int_equal(o.format, FORMAT_JSON);
        assert_string_equal(o.listen.host, "[::1]");
        assert_int_equal(o.listen.port, 9000);
        /* A repeatable flag sees every occurrence, in order. */
        assert_int_equal(o.keys.n, 2);
        assert_string_equal(o.keys.keys[0], "a.pub");
        assert_string_equal(o.keys.keys[1], "b.pub");
}

static void flags_absent_keep_defaults(void **state)
{
        struct result res = parse(&test_program, ARGS("tripdeal-test"));
        assert_int_equal(res.r, 0);
        assert_int_equal(res.first_operand, 1);
        assert_null(o.db);
        assert_false(o.seed);
        assert_int_equal(o.threads, 4);
        assert_int_equal(o.grace_ms, 25000);
        assert_int_equal(o.format, FORMAT_TABLE);
        assert_int_equal(o.listen.port, 8080);
}

static void flags_last_occurrence_wins(void **state)
{
        struct result res =
                parse(&test_program, ARGS("tripdeal-test", "--threads", "2", "--threads", "3"));
        assert_int_equal(res.r, 0);
        assert_int_equal(o.threads, 3);
}

/* ---- the environment -------------------------------------------------------------- */

static void environment_fills_flags_not_given(void **state)
{
        setenv("TRIPDEAL_TEST_THREADS", "12", 1);
        setenv("TRIPDEAL_TEST_GRACE", "5s", 1);
        setenv("TRIPDEAL_TEST_LISTEN", "0.0.0.0:80", 1);
        setenv("TRIPDEAL_TEST_DB", "postgresql://u:pw@db/x", 1);
        struct result res = parse(&test_program, ARGS("tripdeal-test"));
        assert_int_equal(res.r, 0);
        assert_int_equal(o.threads, 12);
        assert_int_equal(o.grace_ms, 5000);
        assert_string_equal(o.listen.host, "0.0.0.0");
        assert_int_equal(o.listen.port, 80);
        assert_string_equal(o.db, "postgresql://u:pw@db/x");
}

static void flag_wins_over_environment(void **state)
{
        setenv("TRIPDEAL_TEST_THREADS", "12", 1);
        setenv("TRIPDEAL_TEST_LISTEN", "not-an-address", 1);
        struct result res = parse(
                &test_program, ARGS("tripdeal-test", "--threads", "3", "--listen", "127.0.0.1:1"));
        /* The bad environment value is never looked at: the flag was given. */
        assert_int_equal(res.r, 0);
        assert_int_equal(o.threads, 3);
        assert_int_equal(o.listen.port, 1);
}

static void environment_empty_counts_as_unset(void **state)
{
        setenv("TRIPDEAL_TEST_THREADS", "", 1);
        struct result res = parse(&test_program, ARGS("tripdeal-test"));
        assert_int_equal(res.r, 0);
        assert_int_equal(o.threads, 4);
}

static void environment_booleans(void **state)
{
        static const char *const yes[] = {"1", "true", "yes", "TRUE", "Yes"};
        for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
                reset(NULL);
                setenv("TRIPDEAL_TEST_SEED", yes[i], 1);
                assert_int_equal(parse(&test_program, ARGS("tripdeal-test")).r, 0);
                assert_true(o.seed);
        }
        static const char *const no[] = {"0", "false", "no", "NO"};
        for (size_t i = 0; i < ARRAY_SIZE(no); i++) {
                reset(NULL);
                o.seed = true;
                setenv("TRIPDEAL_TEST_SEED", no[i], 1);
                assert_int_equal(parse(&test_program, ARGS("tripdeal-test")).r, 0);
                assert_false(o.seed);
        }
        reset(NULL);
        setenv("TRIPDEAL_TEST_SEED", "maybe", 1);
        struct result res = parse(&test_program, ARGS("tripdeal-test"));
        assert_int_equal(res.r, -EINVAL);
        assert_string_equal(res.error,
                            "bad TRIPDEAL_TEST_SEED \"maybe\": want 1, true, yes, 0, false or no");
}

static void environment_errors_name_the_variable(void **state)
{
        setenv("TRIPDEAL_TEST_THREADS", "lots", 1);
        struct result res = parse(&test_program, ARGS("tripdeal-test"));
        assert_int_equal(res.r, -EINVAL);
        assert_string_equal(res.error,
                            "bad TRIPDEAL_TEST_THREADS \"lots\": want an integer from 1 to 64");
}

/* ---- errors ----------------------------------------------------------------------- */

static void assert_error(const char *expected, struct args a)
{
        reset(NULL);
        struct result res = parse(&test_program, a);
        assert_int_equal(res.r, -EINVAL);
        assert_string_equal(res.error, expected);
}

static void errors_name_the_flag_and_value(void **state)
{
        assert_error("bad --threads \"0\": want an integer from 1 to 64",
                     ARGS("tripdeal-test", "--threads", "0"));
        assert_error("bad --threads \"65\": want an integer from 1 to 64",
                     ARGS("tripdeal-test", "--threads=65"));
        assert_error("bad --threads \"3x\": want an integer from 1 to 64",
                     ARGS("tripdeal-test", "--threads", "3x"));
        assert_error("bad --threads \"99999999999999999999\": want an integer from 1 to 64",
                     ARGS("tripdeal-test", "--threads", "99999999999999999999"));
        assert_error("bad --grace-period \"1.5s\": want a duration like 500ms, 45s, 10m or 1h30m",
                     ARGS("tripdeal-test", "--grace-period", "1.5s"));
        assert_error("bad --grace-period \"10ms\": want a duration of at least 50ms",
                     ARGS("tripdeal-test", "--grace-period", "10ms"));
        assert_error("bad --output \"yaml\": want table or json",
                     ARGS("tripdeal-test", "-o", "yaml"));
        assert_error("bad --listen \"nowhere\": want HOST:PORT",
                     ARGS("tripdeal-test", "--listen", "nowhere"));
        assert_error("bad --key \"e.pub\": at most 4 keys",
                     ARGS("tripdeal-test", "--key", "a", "--key", "b", "--key", "c", "--key", "d",
                          "--key", "e.pub"));
}

static void durations_have_an_upper_bound_too(void **state)
{
        int64_t timeout_ms = 1000;
        struct flag flags[] = {
                {.name = "timeout", .type = FLAG_DURATION, .target = &timeout_ms, .max = 60000},
                {0},
        };
        struct flags_program program = {.name = "p", .flags = flags};
        struct result res = parse(&program, ARGS("p", "--timeout", "2m"));
        assert_int_equal(res.r, -EINVAL);
        assert_string_equal(res.error, "bad --timeout \"2m\": want a duration of at most 1m");
        assert_int_equal(timeout_ms, 1000);
        res = parse(&program, ARGS("p", "--timeout", "1m"));
        assert_int_equal(res.r, 0);
        assert_int_equal(timeout_ms, 60000);
}

static void errors_for_the_command_line_shape(void **state)
{
        assert_error("unknown option --thread-count", ARGS("tripdeal-test", "--thread-count=3"));
        assert_error("unknown option -x", ARGS("tripdeal-test", "-x"));
        assert_error("option --threads needs a value", ARGS("tripdeal-test", "--threads"));
        assert_error("option -n needs a value", ARGS("tripdeal-test", "-n"));
        assert_error("option --seed-demo takes no value", ARGS("tripdeal-test", "--seed-demo=1"));
        assert_error("unexpected argument \"extra\"", ARGS("tripdeal-test", "extra"));
}

static void secret_values_are_never_echoed(void **state)
{
        struct flag flags[] = {
                {.name = "db",
                 .type = FLAG_CUSTOM,
                 .target = &o.db,
                 .parse = parse_listen,
                 .env = "TRIPDEAL_TEST_DB",
                 .secret = true},
                {0},
        };
        struct flags_program program = {.name = "p", .flags = flags};
        struct result res = parse(&program, ARGS("p", "--db", "postgresql://u:hunter2@db"));
        assert_int_equal(res.r, -EINVAL);
        assert_string_equal(res.error, "bad --db: want HOST:PORT");
        setenv("TRIPDEAL_TEST_DB", "postgresql://u:hunter2@db", 1);
        res = parse(&program, ARGS("p"));
        assert_string_equal(res.error, "bad TRIPDEAL_TEST_DB: want HOST:PORT");
}

static void required_flags(void **state)
{
        const char *listen = NULL, *out = NULL;
        struct flag flags[] = {
                {.name = "listen",
                 .type = FLAG_STRING,
                 .target = &listen,
                 .required = true,
                 .env = "TRIPDEAL_TEST_LISTEN"},
                {.name = "kubeconfig-out", .type = FLAG_STRING, .target = &out, .required = true},
                {0},
        };
        struct flags_program program = {.name = "p", .flags = flags};
        struct result res = parse(&program, ARGS("p", "--kubeconfig-out", "k"));
        assert_int_equal(res.r, -EINVAL);
        assert_string_equal(res.error, "--listen (or TRIPDEAL_TEST_LISTEN) is required");
        res = parse(&program, ARGS("p", "--listen", "a:1"));
        assert_string_equal(res.error, "--kubeconfig-out is required");
        setenv("TRIPDEAL_TEST_LISTEN", "b:2", 1);
        res = parse(&program, ARGS("p", "--kubeconfig-out", "k"));
        assert_int_equal(res.r, 0);
        assert_string_equal(listen, "b:2");
}

/* ---- operands and subcommands ----------------------------------------------------- */

static void operands_anywhere_and_after_double_dash(void **state)
{
        struct flags_program program = test_program;
        program.operands = FLAGS_OPERANDS;
        struct args a = ARGS("p", "one", "--threads", "2", "two", "--", "--three");
        struct result res = {0};
        /* getopt permutes this argv: operands move behind the flags. */
        res.r = flags_try_parse(&program, a.argc, a.argv, res.error, sizeof(res.error),
                                &res.outcome, &res.first_operand);
        assert_int_equal(res.r, 0);
        assert_int_equal(o.threads, 2);
        assert_int_equal(a.argc - res.first_operand, 3);
        assert_string_equal(a.argv[res.first_operand], "one");
        assert_string_equal(a.argv[res.first_operand + 1], "two");
        assert_string_equal(a.argv[res.first_operand + 2], "--three");
}

enum { CMD_LIST = 10, CMD_CREATE };

static void subcommands_stop_at_the_command(void **state)
{
        const char *uri = NULL;
        int output = 0;
        static const struct flags_command commands[] = {
                {.name = "list", .id = CMD_LIST, .summary = "list VMs"},
                {.name = "create", .id = CMD_CREATE, .summary = "create a VM"},
                {0},
        };
        struct flag global_flags[] = {
                {.name = "connect", .short_name = 'c', .type = FLAG_STRING, .target = &uri},
                {.name = "output",
                 .short_name = 'o',
                 .type = FLAG_CHOICE,
                 .target = &output,
                 .choices = formats},
                {0},
        };
        struct flags_program program = {.name = "vm", .flags = global_flags, .commands = commands};
        struct args a = ARGS("vm", "-c", "test:///default", "create", "node-1", "--vcpus", "2",
                             "-o", "json");
        struct result res = {0};
        res.r = flags_try_parse(&program, a.argc, a.argv, res.error, sizeof(res.error),
                                &res.outcome, &res.first_operand);
        assert_int_equal(res.r, 0);
        assert_int_equal(res.first_operand, 3);
        assert_string_equal(uri, "test:///default");
        assert_int_equal(flags_command_id(&program, a.argv[res.first_operand]), CMD_CREATE);
        assert_int_equal(output, FORMAT_TABLE); /* the command's -o is not the global one's */

        /* The command parses its own table: flags and its NAME in any order. */
        int vcpus = 0;
        struct flag create_flags[] = {
                {.name = "vcpus", .type = FLAG_INT, .target = &vcpus, .min = 1, .max = 1024},
                {.name = "output",
                 .short_name = 'o',
                 .type = FLAG_CHOICE,
                 .target = &output,
                 .choices = formats},
                {0},
        };
        struct flags_program create = {.name = "vm create",
                                       .usage = "NAME [OPTIONS]",
                                       .flags = create_flags,
                                       .operands = FLAGS_OPERANDS};
        struct result sub = {0};
        int sub_argc = a.argc - res.first_operand;
        char **sub_argv = a.argv + res.first_operand;
        sub.r = flags_try_parse(&create, sub_argc, sub_argv, sub.error, sizeof(sub.error),
                                &sub.outcome, &sub.first_operand);
        assert_int_equal(sub.r, 0);
        assert_int_equal(vcpus, 2);
        assert_int_equal(output, FORMAT_JSON);
        assert_int_equal(sub_argc - sub.first_operand, 1);
        assert_string_equal(sub_argv[sub.first_operand], "node-1");

        res = parse(&program, ARGS("vm", "frobnicate"));
        assert_int_equal(res.r, -EINVAL);
        assert_string_equal(res.error, "unknown command \"frobnicate\" (one of: list, create)");
        res = parse(&program, ARGS("vm", "-c", "x"));
        assert_string_equal(res.error, "missing COMMAND (one of: list, create)");
        assert_int_equal(flags_command_id(&program, "nope"), -ENOENT);
}

static void help_and_version_outcomes(void **state)
{
        struct result res = parse(&test_program, ARGS("p", "--threads", "2", "--help"));
        assert_int_equal(res.r, 0);
        assert_int_equal(res.outcome, FLAGS_HELP);
        res = parse(&test_program, ARGS("p", "-h"));
        assert_int_equal(res.outcome, FLAGS_HELP);
        res = parse(&test_program, ARGS("p", "--version"));
        assert_int_equal(res.outcome, FLAGS_VERSION);
        res = parse(&test_program, ARGS("p", "--version=2"));
        assert_int_equal(res.r, -EINVAL);
        assert_string_equal(res.error, "option --version takes no value");
}

/* ---- --help and --version text -------------------------------------------------------- */

static char *capture(void (*print)(const struct flags_program *, FILE *),
                     const struct flags_program *program)
{
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);
        assert_non_null(f);
        print(program, f);
        fclose(f);
        return text;
}

static void help_has_one_layout(void **state)
{
        static const char expected[] =
                "Usage: tripdeal-test [OPTIONS]\n"
                "\n"
                "A program to test the flag parser.\n"
                "\n"
                "Options:\n"
                "      --db URL              sqlite:PATH or postgresql://...\n"
                "                            [env TRIPDEAL_TEST_DB]\n"
                "  -n, --name NAME           what to call it\n"
                "      --seed-demo           load demo data [env TRIPDEAL_TEST_SEED]\n"
                "      --threads N           worker threads\n"
                "                            [default: 4; env TRIPDEAL_TEST_THREADS]\n"
                "      --grace-period DURATION\n"
                "                            longest wait for in-flight requests, a long\n"
                "                            sentence that has to be wrapped onto a second line\n"
                "                            [default: 25s; env TRIPDEAL_TEST_GRACE]\n"
                "  -o, --output table|json   output format [default: table]\n"
                "      --listen HOST:PORT    address to serve on\n"
                "                            [default: 127.0.0.1:8080; env TRIPDEAL_TEST_LISTEN]\n"
                "      --key FILE            an SSH key (repeatable)\n"
                "  -h, --help                show this help and exit\n"
                "      --version             show the version and exit\n"
                "\n"
                "Exit status: 0 fine, 2 bad flags.\n";
        _cleanup_free_ char *text = capture(flags_print_help, &test_program);
        assert_string_equal(text, expected);
        /* No line is wider than a terminal. */
        for (const char *line = text; *line;) {
                size_t length = strcspn(line, "\n");
                assert_true(length < 80);
                line += length + (line[length] ? 1 : 0);
        }
}

static void version_names_program_version_and_revision(void **state)
{
        _cleanup_free_ char *text = capture(flags_print_version, &test_program);
        _cleanup_free_ char *expected = NULL;
        assert_true(asprintf(&expected, "tripdeal-test %s (git %s)\n", tripdeal_version(),
                             tripdeal_revision()) > 0);
        assert_string_equal(text, expected);
        assert_true(strlen(tripdeal_version()) > 0);
        assert_true(strlen(tripdeal_revision()) > 0);
        /* A subcommand prints the program's name only. */
        struct flags_program sub = {.name = "tripdeal-test create"};
        _cleanup_free_ char *sub_text = capture(flags_print_version, &sub);
        assert_string_equal(sub_text, expected);
}

/* ---- flags_parse() as a program sees it: stdout/stderr and the exit status ----------- */

struct run {
        int status;
        char out[8192];
        char err[1024];
};

static void read_all(int fd, char *buf, size_t size)
{
        size_t used = 0;
        ssize_t n;
        while (used + 1 < size && (n = read(fd, buf + used, size - 1 - used)) > 0)
                used += (size_t)n;
        buf[used] = '\0';
}

static struct run run_flags_parse(struct args a)
{
        struct run run = {0};
        int out[2], err[2];
        assert_int_equal(pipe(out), 0);
        assert_int_equal(pipe(err), 0);
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                dup2(out[1], STDOUT_FILENO);
                dup2(err[1], STDERR_FILENO);
                close(out[0]);
                close(err[0]);
                flags_parse(&test_program, a.argc, a.argv);
                printf("ran with %d threads\n", o.threads);
                fflush(stdout);
                _exit(0);
        }
        close(out[1]);
        close(err[1]);
        /* Help fits in the pipe buffer: read stdout, then stderr, then reap. */
        read_all(out[0], run.out, sizeof(run.out));
        read_all(err[0], run.err, sizeof(run.err));
        close(out[0]);
        close(err[0]);
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        run.status = WEXITSTATUS(status);
        return run;
}

static void parse_exits_like_every_program(void **state)
{
        struct run run = run_flags_parse(ARGS("tripdeal-test", "--threads", "many"));
        assert_int_equal(run.status, 2);
        assert_string_equal(run.out, "");
        assert_string_equal(run.err, "tripdeal-test: bad --threads \"many\": want an integer from "
                                     "1 to 64 (see --help)\n");

        run = run_flags_parse(ARGS("tripdeal-test", "--help"));
        assert_int_equal(run.status, 0);
        assert_string_equal(run.err, "");
        assert_true(strncmp(run.out, "Usage: tripdeal-test [OPTIONS]\n", 31) == 0);

        run = run_flags_parse(ARGS("tripdeal-test", "--version"));
        assert_int_equal(run.status, 0);
        assert_string_equal(run.err, "");
        assert_true(strncmp(run.out, "tripdeal-test ", 14) == 0);
        assert_non_null(strstr(run.out, " (git "));

        run = run_flags_parse(ARGS("tripdeal-test", "--threads", "7"));
        assert_int_equal(run.status, 0);
        assert_string_equal(run.out, "ran with 7 threads\n");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup(flags_store_every_type, reset),
                cmocka_unit_test_setup(flags_absent_keep_defaults, reset),
                cmocka_unit_test_setup(flags_last_occurrence_wins, reset),
                cmocka_unit_test_setup(environment_fills_flags_not_given, reset),
                cmocka_unit_test_setup(flag_wins_over_environment, reset),
                cmocka_unit_test_setup(environment_empty_counts_as_unset, reset),
                cmocka_unit_test_setup(environment_booleans, reset),
                cmocka_unit_test_setup(environment_errors_name_the_variable, reset),
                cmocka_unit_test_setup(errors_name_the_flag_and_value, reset),
                cmocka_unit_test_setup(durations_have_an_upper_bound_too, reset),
                cmocka_unit_test_setup(errors_for_the_command_line_shape, reset),
                cmocka_unit_test_setup(secret_values_are_never_echoed, reset),
                cmocka_unit_test_setup(required_flags, reset),
                cmocka_unit_test_setup(operands_anywhere_and_after_double_dash, reset),
                cmocka_unit_test_setup(subcommands_stop_at_the_command, reset),
                cmocka_unit_test_setup(help_and_version_outcomes, reset),
                cmocka_unit_test_setup(help_has_one_layout, reset),
                cmocka_unit_test_setup(version_names_program_version_and_revision, reset),
                cmocka_unit_test_setup(parse_exits_like_every_program, reset),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

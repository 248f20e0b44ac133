/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Command-line flags and their environment fallbacks, one table row a flag
 * (getopt_long underneath).  Every TripDeal program gets the same --help
 * layout, --version, "PROGRAM: MESSAGE (see --help)" + exit 2 for bad input,
 * and TRIPDEAL_* environment fallbacks where the table names them.
 *
 *     static struct options {
 *             const char *listen;
 *             int threads;
 *             int64_t grace_ms;
 *             bool seed_demo;
 *     } o = {.listen = "127.0.0.1:8080", .threads = 4, .grace_ms = 25000};
 *
 *     static const struct flag flags[] = {
 *             {.name = "listen", .type = FLAG_STRING, .target = &o.listen,
 *              .metavar = "ADDR:PORT", .help = "address to serve on", .env = "TRIPDEAL_LISTEN"},
 *             {.name = "threads", .type = FLAG_INT, .target = &o.threads, .min = 1, .max = 64,
 *              .metavar = "N", .help = "worker threads", .env = "TRIPDEAL_THREADS"},
 *             {.name = "grace-period", .type = FLAG_DURATION, .target = &o.grace_ms, ...},
 *             {.name = "seed-demo", .type = FLAG_BOOL, .target = &o.seed_demo, ...},
 *             {0},
 *     };
 *     static const struct flags_program program = {
 *             .name = "tripdeal-app", .summary = "The TripDeal travel site.", .flags = flags,
 *     };
 *     int first_operand = flags_parse(&program, argc, argv);
 *
 * Defaults: the value a target holds before parsing is the default; --help
 * shows it (strings when non-NULL, integers and durations always) unless
 * .default_text says it in words.
 *
 * Precedence: a flag on the command line wins over its environment variable,
 * which wins over the default.  An empty environment variable counts as unset.
 * A flag given twice: the last one wins (FLAG_CUSTOM sees every occurrence, so
 * it can collect repeatable flags).
 *
 * Ownership: strings stored by FLAG_STRING point into argv or the environment
 * (borrowed; they live as long as the process does unless the caller changes
 * them).  The tables are the caller's and are only read.  Nothing here logs.
 * getopt's globals (optind, optarg, opterr) are reset and used: not
 * thread-safe, call it from main().
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "macros.h"

enum flag_type {
        FLAG_STRING,   /* const char **target: the value as given */
        FLAG_BOOL,     /* bool *target: the flag form sets true (takes no value); the
                        * environment takes 1/true/yes (true) or 0/false/no (false) */
        FLAG_INT,      /* int *target: decimal, within [min, max] (both 0: any int) */
        FLAG_DURATION, /* int64_t *target: milliseconds from "500ms", "45s", "1h30m"
                        * (duration.h), within [min, max] ms (both 0: any >= 0) */
        FLAG_CHOICE,   /* int *target: index into .choices of the value given */
        FLAG_CUSTOM,   /* .parse(value, target, ...) decides */
};

/*
 * A FLAG_CUSTOM parser: store the parsed value through target, return 0; or
 * return -errno and write what is wrong into message (e.g. "want ADDR:PORT";
 * left empty, strerror is used).  Called once for each occurrence on the
 * command line, or once with the environment's value.
 */
typedef int (*flag_parse_fn)(const char *value, void *target, char *message, size_t message_size);

struct flag {
        const char *name; /* long name without "--"; NULL ends the table */
        char short_name;  /* optional one-letter form, e.g. 'c' for -c */
        enum flag_type type;
        void *target;               /* where the value goes; its type follows .type */
        const char *metavar;        /* the value's placeholder in --help ("ADDR:PORT") */
        const char *help;           /* one sentence, no trailing period needed; wrapped */
        const char *env;            /* environment fallback (TRIPDEAL_*), or NULL */
        const char *default_text;   /* --help's default in words, instead of the target's value */
        int64_t min, max;           /* FLAG_INT, FLAG_DURATION: accepted range */
        const char *const *choices; /* FLAG_CHOICE: NULL-terminated list of values */
        flag_parse_fn parse;        /* FLAG_CUSTOM */
        bool required;              /* an error unless given (flag or environment) */
        bool secret;                /* never echo the value (URLs with passwords, keys) */
};

/* A subcommand: the top-level program lists them; flags_parse checks the name. */
struct flags_command {
        const char *name; /* NULL ends the list */
        int id;           /* the caller's enum value, for dispatch */
        const char *summary;
};

enum flags_operands {
        FLAGS_NO_OPERANDS, /* any operand is an error ("unexpected argument") */
        FLAGS_OPERANDS,    /* operands may appear anywhere; they end up after the flags */
};

struct flags_program {
        const char *name;         /* "tripdeal-app", or "tripdeal-vmctl create" for a subcommand */
        const char *usage;        /* after the name in the usage line; default "[OPTIONS]" */
        const char *summary;      /* paragraph(s) under the usage line, already wrapped */
        const char *epilog;       /* text at the end of --help (exit codes, examples), wrapped */
        const struct flag *flags; /* ends with {0}; --help/--version are added */
        const struct flags_command *commands; /* non-NULL: "[OPTIONS] COMMAND [ARGS...]";
                                               * parsing stops at the command */
        enum flags_operands operands;         /* without commands */
};

enum flags_outcome {
        FLAGS_RUN,     /* go on: flags stored, first operand returned */
        FLAGS_HELP,    /* --help or -h was given */
        FLAGS_VERSION, /* --version was given */
};

/*
 * The program's entry point: parse argv (flags first, then the environment
 * for flags not given), print --help / --version on stdout and exit 0, or
 * print one error line on stderr and exit 2.  Returns the index of the first
 * operand (argc when there is none); with .commands, argv[index] is a listed
 * command, whose own flags another flags_parse() call can take with
 * (argc - index, argv + index).
 */
int flags_parse(const struct flags_program *program, int argc, char **argv);

/*
 * flags_parse() without printing or exiting, for tests and callers that must
 * clean up first.  0 with *ret_outcome and *ret_first_operand; or -EINVAL
 * (bad flag, value or operand) / -ENOMEM with the message (without the
 * program name) in error.  Targets given before the failing flag may already
 * be written.
 */
int flags_try_parse(const struct flags_program *program, int argc, char **argv, char *error,
                    size_t error_size, enum flags_outcome *ret_outcome, int *ret_first_operand);

/* --help's text, the same layout for every program. */
void flags_print_help(const struct flags_program *program, FILE *out);

/* "PROGRAM VERSION (git REVISION)\n": the meson project version and `git describe`. */
void flags_print_version(const struct flags_program *program, FILE *out);

/* For checks after parsing: "PROGRAM: MESSAGE (see --help)" on stderr, exit 2. */
_printf_(2, 3) _Noreturn void flags_fail(const struct flags_program *program, const char *fmt, ...);

/* The .id of the command named name, or -ENOENT. */
int flags_command_id(const struct flags_program *program, const char *name);

/* The project version and git revision ("unknown" outside git), from the build. */
const char *tripdeal_version(void);
const char *tripdeal_revision(void);

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tripdeal-chaos: run or validate a chaos experiment (chaos/README.md).
 *
 *   tripdeal-chaos run FILE [--kubeconfig PATH] [--libvirt-uri URI]
 *                           [--report-dir DIR] [--dry-run]
 *   tripdeal-chaos validate FILE
 *
 * Exit codes: 0 Passed (or a dry run that would run), 1 Failed, 2 usage or
 * invalid experiment, 3 Aborted, 4 Refused by a guardrail.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chaos-vmctl.h"
#include "chaos.h"
#include "kube.h"
#include "macros.h"

#define PROGRAM "tripdeal-chaos"
#ifndef TRIPDEAL_VERSION_STRING
#define TRIPDEAL_VERSION_STRING "0.1.0"
#endif

enum {
        EXIT_PASSED = 0,
        EXIT_FAILED = 1,
        EXIT_USAGE = 2,
        EXIT_ABORTED = 3,
        EXIT_REFUSED = 4,
};

static atomic_bool stop_flag;

static void on_signal(int sig)
{
        atomic_store(&stop_flag, true);
}

static void usage(FILE *f)
{
        fputs("Usage: " PROGRAM " run FILE [--kubeconfig PATH] [--libvirt-uri URI]\n"
              "                          [--report-dir DIR] [--dry-run]\n"
              "       " PROGRAM " validate FILE\n"
              "\n"
              "Run a chaos experiment (chaos.tripdeal.io/v1alpha1 Experiment YAML) against a\n"
              "Kubernetes cluster: kill pods or power off node VMs, measure the recovery and\n"
              "the failed requests, and write a report.\n"
              "\n"
              "Options:\n"
              "  --kubeconfig PATH   kubeconfig (default $KUBECONFIG, in-cluster, ~/.kube/config)\n"
              "  --libvirt-uri URI   libvirt connection for node-kill (qemu:///system, ...)\n"
              "  --report-dir DIR    write DIR/report.json and DIR/report.html\n"
              "  --dry-run           check guardrails and steady state, print what would be\n"
              "                      hit, touch nothing\n"
              "  -h, --help          this help\n"
              "  --version           version\n"
              "\n"
              "Exit codes: 0 Passed (or dry run), 1 Failed, 2 usage or invalid experiment,\n"
              "3 Aborted (steady state did not hold, or aborted; changes restored),\n"
              "4 Refused by a guardrail (blackout, another drill, blast radius).\n",
              f);
}

static int usage_error(const char *fmt, ...) _printf_(1, 2);
static int usage_error(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, PROGRAM ": ");
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, " (see '" PROGRAM " --help')\n");
        return EXIT_USAGE;
}

static void print_progress(const char *line, void *userdata)
{
        fprintf(stderr, "%s\n", line);
}

static int cmd_validate(const char *path)
{
        _cleanup_(chaos_experiment_freep) struct chaos_experiment *e = NULL;
        _cleanup_free_ char *error = NULL;
        int r = chaos_experiment_load(path, &e, &error);
        if (r < 0) {
                fprintf(stderr, PROGRAM ": %s: %s\n", path, error ? error : strerror(-r));
                return EXIT_USAGE;
        }
        printf("%s: valid %s experiment %s on %s/%s\n", path, chaos_action_to_string(e->action),
               e->name, e->namespace, e->tripdeal ? e->tripdeal : e->selector);
        return EXIT_PASSED;
}

static int cmd_run(const char *path, const char *kubeconfig, const char *libvirt_uri,
                   const char *report_dir, bool dry_run)
{
        _cleanup_(chaos_experiment_freep) struct chaos_experiment *e = NULL;
        _cleanup_free_ char *error = NULL;
        int r = chaos_experiment_load(path, &e, &error);
        if (r < 0) {
                fprintf(stderr, PROGRAM ": %s: %s\n", path, error ? error : strerror(-r));
                return EXIT_USAGE;
        }
        if (e->action == CHAOS_ACTION_NODE_KILL && !libvirt_uri) {
                fprintf(stderr, PROGRAM ": %s: spec.action: node-kill needs --libvirt-uri\n", path);
                return EXIT_USAGE;
        }

        struct kube_status st = {0};
        struct kube_config *cfg = NULL;
        r = kube_config_load(&(struct kube_config_options){.kubeconfig_path = kubeconfig}, &cfg,
                             &st);
        if (r < 0) {
                fprintf(stderr, PROGRAM ": kubeconfig: %s%s%s\n", kube_strerror(r),
                        st.message[0] ? ": " : "", st.message);
                return EXIT_USAGE;
        }
        struct kube_client *kube = NULL;
        r = kube_client_new(
                cfg,
                &(struct kube_client_options){.user_agent = PROGRAM "/" TRIPDEAL_VERSION_STRING},
                &kube);
        kube_config_free(cfg);
        if (r < 0) {
                fprintf(stderr, PROGRAM ": %s\n", kube_strerror(r));
                return EXIT_FAILED;
        }

        vmctl_conn *conn = NULL;
        struct chaos_node_driver driver;
        if (libvirt_uri) {
                r = vmctl_open(libvirt_uri, &conn);
                if (r < 0) {
                        fprintf(stderr, PROGRAM ": --libvirt-uri %s: cannot connect: %s\n",
                                libvirt_uri, strerror(-r));
                        kube_client_free(kube);
                        return EXIT_USAGE;
                }
                chaos_vmctl_driver(conn, &driver);
        }

        struct sigaction sa = {.sa_handler = on_signal};
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);

        struct chaos_outcome outcome;
        json_t *report = NULL;
        r = chaos_run(e,
                      &(struct chaos_run_options){
                              .kube = kube,
                              .nodes = conn ? &driver : NULL,
                              .dry_run = dry_run,
                              .stop = &stop_flag,
                              .progress = print_progress,
                      },
                      &outcome, &report);
        int exit_code;
        if (r < 0) {
                fprintf(stderr, PROGRAM ": drill failed to run: %s\n", kube_strerror(r));
                exit_code = EXIT_FAILED;
        } else {
                exit_code = chaos_verdict_exit_code(outcome.verdict);
                printf("%s: %s — %s\n", e->name, chaos_verdict_to_string(outcome.verdict),
                       outcome.reason);
                if (outcome.recovery_seconds >= 0)
                        printf("recovery %.2fs, %lld requests, %lld failed\n",
                               outcome.recovery_seconds, (long long)outcome.probes_sent,
                               (long long)outcome.probes_failed);
                if (report_dir) {
                        int w = chaos_report_write(report, report_dir);
                        if (w < 0)
                                fprintf(stderr, PROGRAM ": --report-dir %s: %s\n", report_dir,
                                        strerror(-w));
                        else
                                printf("report: %s/report.json, %s/report.html\n", report_dir,
                                       report_dir);
                }
        }
        json_decref(report);
        vmctl_close(conn);
        kube_client_free(kube);
        return exit_code;
}

int main(int argc, char **argv)
{
        enum { OPT_KUBECONFIG = 256, OPT_LIBVIRT, OPT_REPORT, OPT_DRY_RUN, OPT_VERSION };
        static const struct option options[] = {
                {"kubeconfig", required_argument, NULL, OPT_KUBECONFIG},
                {"libvirt-uri", required_argument, NULL, OPT_LIBVIRT},
                {"report-dir", required_argument, NULL, OPT_REPORT},
                {"dry-run", no_argument, NULL, OPT_DRY_RUN},
                {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, OPT_VERSION},
                {0},
        };
        const char *kubeconfig = NULL, *libvirt_uri = NULL, *report_dir = NULL;
        bool dry_run = false;
        int c;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
                switch (c) {
                case OPT_KUBECONFIG:
                        kubeconfig = optarg;
                        break;
                case OPT_LIBVIRT:
                        libvirt_uri = optarg;
                        break;
                case OPT_REPORT:
                        report_dir = optarg;
                        break;
                case OPT_DRY_RUN:
                        dry_run = true;
                        break;
                case 'h':
                        usage(stdout);
                        return EXIT_PASSED;
                case OPT_VERSION:
                        printf(PROGRAM " " TRIPDEAL_VERSION_STRING "\n");
                        return EXIT_PASSED;
                default:
                        return usage_error("unknown or incomplete option '%s'", argv[optind - 1]);
                }
        }
        if (optind >= argc)
                return usage_error("%s", "a command is required: run FILE or validate FILE");
        const char *command = argv[optind];
        if (strcmp(command, "run") != 0 && strcmp(command, "validate") != 0)
                return usage_error("unknown command '%s'", command);
        if (optind + 1 >= argc)
                return usage_error("%s needs an experiment FILE", command);
        if (optind + 2 < argc)
                return usage_error("unexpected argument '%s'", argv[optind + 2]);
        const char *file = argv[optind + 1];
        if (strcmp(command, "validate") == 0) {
                if (kubeconfig || libvirt_uri || report_dir || dry_run)
                        return usage_error("%s", "validate takes only FILE");
                return cmd_validate(file);
        }
        return cmd_run(file, kubeconfig, libvirt_uri, report_dir, dry_run);
}

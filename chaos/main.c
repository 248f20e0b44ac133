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
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chaos-vmctl.h"
#include "chaos.h"
#include "flags.h"
#include "kube.h"
#include "macros.h"

#define PROGRAM "tripdeal-chaos"

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

static void print_progress(const char *line, void *userdata)
{
        fprintf(stderr, "%s\n", line);
}

static void print_restored(void *userdata, const json_t *lease)
{
        const char *vms = json_string_value(
                json_object_get(json_object_get(json_object_get(lease, "metadata"), "annotations"),
                                CHAOS_ANNOTATION_POWERED));
        if (vms && vms[0])
                fprintf(stderr,
                        "started again VM(s) %s, left off by an interrupted drill (Lease %s/%s)\n",
                        vms, kube_object_namespace(lease), kube_object_name(lease));
        else
                fprintf(stderr, "deleted the expired Lease %s/%s of an interrupted drill\n",
                        kube_object_namespace(lease), kube_object_name(lease));
}

/* userdata: a bool set once a VM was named, so the failure is said once. */
static void print_vm_failed(void *userdata, const json_t *lease, const char *vm, int error)
{
        *(bool *)userdata = true;
        fprintf(stderr,
                PROGRAM ": cannot start VM %s again (left off by an interrupted drill; Lease "
                        "%s/%s kept for the next run): %s\n",
                vm, kube_object_namespace(lease), kube_object_name(lease), strerror(-error));
}

/* The experiment in path, or NULL after saying on stderr which field is wrong. */
static struct chaos_experiment *load_or_explain(const char *path)
{
        struct chaos_experiment *e = NULL;
        struct tripdeal_error error = {0};
        if (chaos_experiment_load(path, &e, &error) < 0)
                fprintf(stderr, PROGRAM ": %s: %s\n", path, tripdeal_error_message(&error));
        return e;
}

static int cmd_validate(const char *path)
{
        _cleanup_(chaos_experiment_freep) struct chaos_experiment *e = load_or_explain(path);
        if (!e)
                return EXIT_USAGE;
        printf("%s: valid %s experiment %s on %s/%s\n", path, chaos_action_to_string(e->action),
               e->name, e->namespace, e->tripdeal ? e->tripdeal : e->selector);
        return EXIT_PASSED;
}

static int cmd_run(const char *path, const char *kubeconfig, const char *libvirt_uri,
                   const char *report_dir, bool dry_run)
{
        _cleanup_(chaos_experiment_freep) struct chaos_experiment *e = load_or_explain(path);
        if (!e)
                return EXIT_USAGE;
        if (e->action == CHAOS_ACTION_NODE_KILL && !libvirt_uri) {
                fprintf(stderr, PROGRAM ": %s: spec.action: node-kill needs --libvirt-uri\n", path);
                return EXIT_USAGE;
        }

        struct kube_status st = {0};
        struct kube_config *cfg = NULL;
        int r = kube_config_load(&(struct kube_config_options){.kubeconfig_path = kubeconfig}, &cfg,
                                 &st);
        if (r < 0) {
                fprintf(stderr, PROGRAM ": kubeconfig: %s%s%s\n", kube_strerror(r),
                        st.message[0] ? ": " : "", st.message);
                return EXIT_USAGE;
        }
        struct kube_client *kube = NULL;
        r = kube_client_new(cfg, &(struct kube_client_options){.user_agent = PROGRAM}, &kube);
        kube_config_free(cfg);
        if (r < 0) {
                fprintf(stderr, PROGRAM ": %s\n", kube_strerror(r));
                return EXIT_FAILED;
        }

        vmctl_conn *conn = NULL;
        struct chaos_node_driver driver;
        if (libvirt_uri) {
                struct tripdeal_error libvirt_error = {0};
                r = vmctl_open(libvirt_uri, &conn, &libvirt_error);
                if (r < 0) {
                        fprintf(stderr, PROGRAM ": --libvirt-uri: %s\n",
                                tripdeal_error_message(&libvirt_error));
                        kube_client_free(kube);
                        return EXIT_USAGE;
                }
                chaos_vmctl_driver(conn, &driver);
        }

        /* A run killed outright (SIGKILL, a lost machine) could not start the VMs
         * it powered off; its Lease names them.  Once that Lease has expired,
         * the next run with a libvirt connection starts them first. */
        if (conn && !dry_run) {
                bool vm_failed = false;
                r = chaos_recover_stale(kube,
                                        &(struct chaos_recover_options){
                                                .namespace = e->namespace,
                                                .nodes = &driver,
                                                .on_restored = print_restored,
                                                .on_vm_failed = print_vm_failed,
                                                .userdata = &vm_failed,
                                        },
                                        NULL);
                if (r < 0 && !vm_failed)
                        fprintf(stderr,
                                PROGRAM ": cannot restore what an interrupted drill left: %s\n",
                                kube_strerror(r));
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

enum command { COMMAND_RUN, COMMAND_VALIDATE };

static const struct flags_command commands[] = {
        {.name = "run", .id = COMMAND_RUN, .summary = "run an experiment and report its verdict"},
        {.name = "validate", .id = COMMAND_VALIDATE, .summary = "check an experiment file"},
        {0},
};

#define EXIT_CODES                                                                       \
        "Exit codes: 0 Passed (or a dry run), 1 Failed, 2 usage or invalid experiment\n" \
        "(the message names the field), 3 Aborted (steady state did not hold before\n"   \
        "injection, or aborted: what was changed is restored), 4 Refused by a\n"         \
        "guardrail (blackout window, another drill holds the target, blast radius)."

/* The command's FILE: exactly one operand. */
static const char *one_file(const struct flags_program *program, int argc, char **argv, int first)
{
        if (first >= argc)
                flags_fail(program, "an experiment FILE is required");
        if (first + 1 < argc)
                flags_fail(program, "unexpected argument '%s'", argv[first + 1]);
        return argv[first];
}

int main(int argc, char **argv)
{
        const struct flags_program program = {
                .name = PROGRAM,
                .summary = "Run a chaos experiment (chaos.tripdeal.io/v1alpha1 Experiment YAML)\n"
                           "against a Kubernetes cluster: kill pods or power off node VMs,\n"
                           "measure the recovery and the failed requests, write a report.",
                .epilog = EXIT_CODES,
                .flags = (const struct flag[]){{0}},
                .commands = commands,
        };
        int index = flags_parse(&program, argc, argv);
        int command = flags_command_id(&program, argv[index]);
        int sub_argc = argc - index;
        char **sub_argv = argv + index;

        if (command == COMMAND_VALIDATE) {
                const struct flags_program validate = {
                        .name = PROGRAM " validate",
                        .usage = "FILE",
                        .summary = "Check an experiment file: every error names the field.",
                        .epilog = "Exit codes: 0 valid, 2 invalid.",
                        .flags = (const struct flag[]){{0}},
                        .operands = FLAGS_OPERANDS,
                };
                int first = flags_parse(&validate, sub_argc, sub_argv);
                return cmd_validate(one_file(&validate, sub_argc, sub_argv, first));
        }

        struct {
                const char *kubeconfig, *libvirt_uri, *report_dir;
                bool dry_run;
        } o = {0};
        const struct flag run_flags[] = {
                {.name = "kubeconfig",
                 .type = FLAG_STRING,
                 .target = &o.kubeconfig,
                 .metavar = "PATH",
                 .help = "kubeconfig file",
                 .default_text = "$KUBECONFIG, in-cluster, ~/.kube/config"},
                {.name = "libvirt-uri",
                 .type = FLAG_STRING,
                 .target = &o.libvirt_uri,
                 .metavar = "URI",
                 .help = "libvirt connection for node-kill (qemu:///system, "
                         "qemu+ssh://host/system)",
                 .env = "TRIPDEAL_LIBVIRT_URI"},
                {.name = "report-dir",
                 .type = FLAG_STRING,
                 .target = &o.report_dir,
                 .metavar = "DIR",
                 .help = "write DIR/report.json and DIR/report.html"},
                {.name = "dry-run",
                 .type = FLAG_BOOL,
                 .target = &o.dry_run,
                 .help = "check guardrails and the steady state, print what would be hit, touch "
                         "nothing"},
                {0},
        };
        const struct flags_program run = {
                .name = PROGRAM " run",
                .usage = "FILE [OPTIONS]",
                .summary = "Run the experiment in FILE: guardrails, steady state before,\n"
                           "injection, recovery, steady state after; progress on stderr,\n"
                           "the verdict on stdout.",
                .epilog = EXIT_CODES,
                .flags = run_flags,
                .operands = FLAGS_OPERANDS,
        };
        int first = flags_parse(&run, sub_argc, sub_argv);
        const char *file = one_file(&run, sub_argc, sub_argv, first);
        return cmd_run(file, o.kubeconfig, o.libvirt_uri, o.report_dir, o.dry_run);
}

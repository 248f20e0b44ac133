/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tripdeal-vmctl: create, list and destroy TripDeal worker-node VMs on a
 * libvirt host.  A thin shell over libvmctl (vmctl.h): parse arguments, call
 * the library once, print the result, map the error to an exit code.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <libvirt/virterror.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macros.h"
#include "vmctl.h"

#define PROGRAM "tripdeal-vmctl"

/* Exit codes scripts rely on.  One list: the enum and `--help` both come from it. */
#define EXIT_CODE_LIST(X)                                                                  \
        X(EXIT_OK, 0, "success")                                                           \
        X(EXIT_FAILED, 1, "the operation failed (libvirt error, seed build, ...)")         \
        X(EXIT_USAGE, 2, "usage error: unknown command or option, invalid name or value")  \
        X(EXIT_NOT_FOUND, 3, "not found: no such VM, storage pool, network or base image") \
        X(EXIT_EXISTS, 4, "already exists: a VM (or its volume) of that name exists")      \
        X(EXIT_CONNECT, 5, "cannot connect to libvirt at the URI")

#define EXIT_X_ENUM(id, value, text) id = value,
enum exit_code { EXIT_CODE_LIST(EXIT_X_ENUM) };

enum output { OUTPUT_TABLE, OUTPUT_JSON };

struct global {
        const char *uri;
        enum output output;
};

static int exit_from_errno(int r)
{
        switch (r) {
        case 0:
                return EXIT_OK;
        case -EINVAL:
                return EXIT_USAGE;
        case -ENOENT:
                return EXIT_NOT_FOUND;
        case -EEXIST:
                return EXIT_EXISTS;
        case -ECONNREFUSED:
                return EXIT_CONNECT;
        default:
                return EXIT_FAILED;
        }
}

_printf_(1, 2) static void error_line(const char *fmt, ...)
{
        va_list ap;
        fputs(PROGRAM ": error: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

_printf_(2, 3) static int usage_error(const char *command, const char *fmt, ...)
{
        va_list ap;
        fputs(PROGRAM ": error: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, " (see '" PROGRAM "%s%s --help')\n", command ? " " : "",
                command ? command : "");
        return EXIT_USAGE;
}

/* One line for a failed library call: the library's reason, else the code's text. */
static int library_error(const struct tripdeal_error *error, int r)
{
        error_line("%s", error->code ? tripdeal_error_message(error) : tripdeal_strerror(r));
        return exit_from_errno(r);
}

/* ---- Help ------------------------------------------------------------- */

static void print_exit_codes(FILE *f)
{
#define EXIT_X_HELP(id, value, text) fprintf(f, "  %d  %s\n", value, text);
        fputs("\nExit codes:\n", f);
        EXIT_CODE_LIST(EXIT_X_HELP)
}

static void help_global(FILE *f)
{
        fputs("Usage: " PROGRAM " [-c URI] [--output table|json] COMMAND [ARGS...]\n"
              "\n"
              "Manage TripDeal worker-node VMs on a libvirt host.\n"
              "\n"
              "Commands:\n"
              "  list     list TripDeal VMs (--pool, --owner filter)\n"
              "  create   create and start a node VM\n"
              "  show     show one VM\n"
              "  start    power a VM on\n"
              "  stop     shut a VM down (--force: power off)\n"
              "  reboot   reboot a VM\n"
              "  destroy  power off, undefine and delete its volumes and seed\n"
              "\n"
              "Options:\n"
              "  -c, --connect URI    libvirt URI (default: $LIBVIRT_DEFAULT_URI or "
              "qemu:///system)\n"
              "  -o, --output FORMAT  table (default) or json\n"
              "  -h, --help           this help; '" PROGRAM " COMMAND --help' for a command\n",
              f);
        print_exit_codes(f);
}

static const char *const help_create =
        "Usage: " PROGRAM " create NAME --pool POOL --base-image PATH --storage-pool P\n"
        "                 --vcpus N --memory-mib M [options]\n"
        "\n"
        "Define and start node VM NAME (a DNS-1123 label, at most 63 characters): a qcow2\n"
        "overlay NAME.qcow2 on the base image and a cloud-init seed NAME-seed.iso, both in\n"
        "storage pool P.  Without --network the VM has no NIC.  A failure leaves nothing behind.\n"
        "\n"
        "  --pool POOL          TripDeal node pool recorded in the domain metadata\n"
        "  --base-image PATH    base image path on the libvirt host\n"
        "  --base-format FMT    qcow2 or raw (default: detected)\n"
        "  --storage-pool P     libvirt storage pool for the volumes\n"
        "  --vcpus N            virtual CPUs\n"
        "  --memory-mib M       memory in MiB\n"
        "  --disk-gib N         overlay size (default: the base image's size)\n"
        "  --network NET        attach one virtio NIC to libvirt network NET\n"
        "  --ssh-key FILE       authorized SSH public keys, one per line (repeatable)\n"
        "  --join-file FILE     file holding the `kubeadm join ...` command run at first boot\n"
        "  --owner NS/NAME      the TripDeal resource owning this VM\n"
        "  --domain-type TYPE   auto (default: kvm if the host offers it), kvm or qemu\n"
        "  --machine MACHINE    QEMU machine type (default: q35)\n"
        "  -o, --output FORMAT  table or json\n";

static const char *const help_list =
        "Usage: " PROGRAM " list [--pool POOL] [--owner NS/NAME] [--output table|json]\n"
        "\n"
        "List the VMs carrying TripDeal metadata, sorted by name.\n";

static const char *help_for(const char *command)
{
        if (strcmp(command, "create") == 0)
                return help_create;
        if (strcmp(command, "list") == 0)
                return help_list;
        if (strcmp(command, "show") == 0)
                return "Usage: " PROGRAM " show NAME [--output table|json]\n\nShow one VM.\n";
        if (strcmp(command, "start") == 0)
                return "Usage: " PROGRAM " start NAME\n\nPower VM NAME on (no-op if running).\n";
        if (strcmp(command, "stop") == 0)
                return "Usage: " PROGRAM " stop NAME [--force]\n\nAsk VM NAME to shut down "
                       "(ACPI); --force powers it off at once.  No-op if it is off.\n";
        if (strcmp(command, "reboot") == 0)
                return "Usage: " PROGRAM " reboot NAME\n\nReboot VM NAME.\n";
        if (strcmp(command, "destroy") == 0)
                return "Usage: " PROGRAM " destroy NAME\n\nPower off VM NAME, undefine it and "
                       "delete its volumes (NAME.qcow2, NAME-seed.iso).\nRefuses domains "
                       "without TripDeal metadata.\n";
        return NULL;
}

/* ---- Output ------------------------------------------------------------ */

static json_t *vm_json(const struct vmctl_vm *vm)
{
        return json_pack("{s:s, s:s?, s:s, s:s?, s:s?, s:s?, s:s?, s:I, s:I}", "name", vm->name,
                         "uuid", vm->uuid, "state", vmctl_state_to_string(vm->state), "pool",
                         vm->pool, "owner", vm->owner, "storagePool", vm->storage_pool, "createdAt",
                         vm->created_at, "vcpus", (json_int_t)vm->vcpus, "memoryMiB",
                         (json_int_t)vm->memory_mib);
}

static int print_json(json_t *value)
{
        if (!value)
                return EXIT_FAILED;
        json_dumpf(value, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
        json_decref(value);
        return EXIT_OK;
}

static const char *dash(const char *s)
{
        return s && *s ? s : "-";
}

static void print_vm_table(const struct vmctl_vm *vm)
{
        printf("Name:         %s\n", vm->name);
        printf("UUID:         %s\n", dash(vm->uuid));
        printf("State:        %s\n", vmctl_state_to_string(vm->state));
        printf("Pool:         %s\n", dash(vm->pool));
        printf("Owner:        %s\n", dash(vm->owner));
        printf("Storage pool: %s\n", dash(vm->storage_pool));
        printf("Created:      %s\n", dash(vm->created_at));
        printf("vCPUs:        %u\n", vm->vcpus);
        printf("Memory:       %" PRIu64 " MiB\n", vm->memory_mib);
}

static int print_vm(const struct global *g, const struct vmctl_vm *vm)
{
        if (g->output == OUTPUT_JSON)
                return print_json(vm_json(vm));
        print_vm_table(vm);
        return EXIT_OK;
}

/* ---- Argument helpers ---------------------------------------------------- */

static int parse_output(const char *s, enum output *ret)
{
        if (strcmp(s, "table") == 0)
                *ret = OUTPUT_TABLE;
        else if (strcmp(s, "json") == 0)
                *ret = OUTPUT_JSON;
        else
                return -EINVAL;
        return 0;
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
        char *end;
        unsigned long long v;

        if (!s || !*s || *s == '-' || *s == '+')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || *end || v < min || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int read_text_file(const char *path, char **ret_text)
{
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        _cleanup_free_ char *text = NULL;
        size_t size = 0, n;
        FILE *mem;

        if (!f)
                return NEG_ERRNO();
        mem = open_memstream(&text, &size);
        if (!mem)
                return -ENOMEM;
        char buf[4096];
        while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
                fwrite(buf, 1, n, mem);
                if (size > (1 << 20)) {
                        fclose(mem);
                        return -EFBIG;
                }
        }
        if (ferror(f)) {
                fclose(mem);
                return -EIO;
        }
        fclose(mem);
        if (strlen(text) != size) /* NUL bytes: not a text file */
                return -EINVAL;
        /* Trailing newlines and blanks are file formatting, not content. */
        while (size > 0 && strchr(" \t\r\n", text[size - 1]))
                text[--size] = '\0';
        *ret_text = TAKE_PTR(text);
        return 0;
}

/* A command takes exactly one NAME after its options. */
static int one_name(const char *command, int argc, char **argv, const char **ret_name)
{
        if (optind >= argc)
                return usage_error(command, "%s: missing VM NAME", command);
        if (optind + 1 < argc)
                return usage_error(command, "unexpected argument '%s'", argv[optind + 1]);
        *ret_name = argv[optind];
        if (vmctl_validate_name(*ret_name) < 0) {
                error_line("invalid VM name '%s': must be a DNS-1123 label (a-z, 0-9, '-', at "
                           "most %d characters)",
                           *ret_name, VMCTL_NAME_MAX);
                return EXIT_USAGE;
        }
        return EXIT_OK;
}

static int open_conn(const struct global *g, vmctl_conn **ret)
{
        struct tripdeal_error error = {0};
        int r = vmctl_open(g->uri, ret, &error);

        if (r < 0) {
                error_line("%s", tripdeal_error_message(&error));
                return r == -ECONNREFUSED ? EXIT_CONNECT : EXIT_FAILED;
        }
        return EXIT_OK;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(vmctl_conn *, vmctl_close);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct vmctl_vm *, vmctl_vm_free);

/* ---- Commands ------------------------------------------------------------ */

enum {
        OPT_POOL = 256,
        OPT_OWNER,
        OPT_BASE_IMAGE,
        OPT_BASE_FORMAT,
        OPT_STORAGE_POOL,
        OPT_VCPUS,
        OPT_MEMORY,
        OPT_DISK,
        OPT_NETWORK,
        OPT_SSH_KEY,
        OPT_JOIN_FILE,
        OPT_DOMAIN_TYPE,
        OPT_MACHINE,
        OPT_FORCE,
};

/*
 * Parse a command's options.  Every command accepts --help and --output;
 * create/list/stop add theirs.  Returns EXIT_OK, EXIT_USAGE, or -1 after
 * printing help (exit 0).
 */
struct command_args {
        const char *pool, *owner, *base_image, *base_format, *storage_pool, *network;
        const char *join_file, *domain_type, *machine;
        const char *ssh_key_files[16];
        size_t n_ssh_key_files;
        uint64_t vcpus, memory_mib, disk_gib;
        bool have_vcpus, have_memory, force;
};

static int parse_command(const char *command, int argc, char **argv, struct global *g,
                         struct command_args *a)
{
        static const struct option options[] = {
                {"help", no_argument, NULL, 'h'},
                {"output", required_argument, NULL, 'o'},
                {"pool", required_argument, NULL, OPT_POOL},
                {"owner", required_argument, NULL, OPT_OWNER},
                {"base-image", required_argument, NULL, OPT_BASE_IMAGE},
                {"base-format", required_argument, NULL, OPT_BASE_FORMAT},
                {"storage-pool", required_argument, NULL, OPT_STORAGE_POOL},
                {"vcpus", required_argument, NULL, OPT_VCPUS},
                {"memory-mib", required_argument, NULL, OPT_MEMORY},
                {"disk-gib", required_argument, NULL, OPT_DISK},
                {"network", required_argument, NULL, OPT_NETWORK},
                {"ssh-key", required_argument, NULL, OPT_SSH_KEY},
                {"join-file", required_argument, NULL, OPT_JOIN_FILE},
                {"domain-type", required_argument, NULL, OPT_DOMAIN_TYPE},
                {"machine", required_argument, NULL, OPT_MACHINE},
                {"force", no_argument, NULL, OPT_FORCE},
                {},
        };
        bool is_create = strcmp(command, "create") == 0;
        bool is_list = strcmp(command, "list") == 0;
        int c;

        optind = 0; /* re-initialise GNU getopt for the command's own argv */
        opterr = 0;
        while ((c = getopt_long(argc, argv, "ho:", options, NULL)) != -1) {
                /* Options belonging to another command are usage errors here. */
                bool create_only = c >= OPT_BASE_IMAGE && c <= OPT_MACHINE;
                if ((create_only && !is_create) ||
                    ((c == OPT_POOL || c == OPT_OWNER) && !is_create && !is_list) ||
                    (c == OPT_FORCE && strcmp(command, "stop") != 0))
                        return usage_error(command, "unknown option '%s'", argv[optind - 1]);
                switch (c) {
                case 'h':
                        fputs(help_for(command), stdout);
                        return -1;
                case 'o':
                        if (parse_output(optarg, &g->output) < 0)
                                return usage_error(command,
                                                   "--output must be table or json, not '%s'",
                                                   optarg);
                        break;
                case OPT_POOL:
                        a->pool = optarg;
                        break;
                case OPT_OWNER:
                        a->owner = optarg;
                        break;
                case OPT_BASE_IMAGE:
                        a->base_image = optarg;
                        break;
                case OPT_BASE_FORMAT:
                        a->base_format = optarg;
                        break;
                case OPT_STORAGE_POOL:
                        a->storage_pool = optarg;
                        break;
                case OPT_VCPUS:
                        if (parse_u64(optarg, 1, 1024, &a->vcpus) < 0)
                                return usage_error(command, "--vcpus: '%s' is not 1..1024", optarg);
                        a->have_vcpus = true;
                        break;
                case OPT_MEMORY:
                        if (parse_u64(optarg, 16, UINT64_C(1) << 30, &a->memory_mib) < 0)
                                return usage_error(command, "--memory-mib: '%s' is not >= 16",
                                                   optarg);
                        a->have_memory = true;
                        break;
                case OPT_DISK:
                        if (parse_u64(optarg, 1, UINT64_C(1) << 20, &a->disk_gib) < 0)
                                return usage_error(command, "--disk-gib: '%s' is not a size",
                                                   optarg);
                        break;
                case OPT_NETWORK:
                        a->network = optarg;
                        break;
                case OPT_SSH_KEY:
                        if (a->n_ssh_key_files >= ARRAY_SIZE(a->ssh_key_files))
                                return usage_error(command, "too many --ssh-key options");
                        a->ssh_key_files[a->n_ssh_key_files++] = optarg;
                        break;
                case OPT_JOIN_FILE:
                        a->join_file = optarg;
                        break;
                case OPT_DOMAIN_TYPE:
                        a->domain_type = optarg;
                        break;
                case OPT_MACHINE:
                        a->machine = optarg;
                        break;
                case OPT_FORCE:
                        a->force = true;
                        break;
                case ':':
                        return usage_error(command, "option '%s' needs a value", argv[optind - 1]);
                default:
                        return usage_error(command, "unknown option '%s'", argv[optind - 1]);
                }
        }
        return EXIT_OK;
}

static int cmd_list(vmctl_conn *conn, const struct global *g, const struct command_args *a)
{
        struct vmctl_vm_list list = {0};
        struct tripdeal_error error = {0};
        int r;

        r = vmctl_list(conn, &(struct vmctl_filter){.pool = a->pool, .owner = a->owner}, &list,
                       &error);
        if (r < 0)
                return library_error(&error, r);
        if (g->output == OUTPUT_JSON) {
                json_t *array = json_array();
                for (size_t i = 0; array && i < list.n_items; i++)
                        json_array_append_new(array, vm_json(&list.items[i]));
                vmctl_vm_list_free(&list);
                return print_json(array);
        }
        printf("%-24s %-9s %-12s %-24s %5s %8s  %s\n", "NAME", "STATE", "POOL", "OWNER", "VCPUS",
               "MEMORY", "CREATED");
        for (size_t i = 0; i < list.n_items; i++) {
                const struct vmctl_vm *vm = &list.items[i];
                printf("%-24s %-9s %-12s %-24s %5u %5" PRIu64 "Mi  %s\n", vm->name,
                       vmctl_state_to_string(vm->state), dash(vm->pool), dash(vm->owner), vm->vcpus,
                       vm->memory_mib, dash(vm->created_at));
        }
        vmctl_vm_list_free(&list);
        return EXIT_OK;
}

/* Read every non-empty, non-comment line of the --ssh-key files. */
static int read_ssh_keys(const struct command_args *a, char ***ret_keys, size_t *ret_n)
{
        char **keys = NULL;
        size_t n = 0;

        for (size_t i = 0; i < a->n_ssh_key_files; i++) {
                _cleanup_free_ char *text = NULL;
                char *save = NULL;
                int r = read_text_file(a->ssh_key_files[i], &text);
                if (r < 0) {
                        error_line("--ssh-key %s: %s", a->ssh_key_files[i], strerror(-r));
                        goto fail;
                }
                for (char *line = strtok_r(text, "\n", &save); line;
                     line = strtok_r(NULL, "\n", &save)) {
                        line[strcspn(line, "\r")] = '\0';
                        while (*line == ' ' || *line == '\t')
                                line++;
                        if (!*line || *line == '#')
                                continue;
                        char **grown = realloc(keys, (n + 1) * sizeof(*keys));
                        if (!grown)
                                goto fail;
                        keys = grown;
                        keys[n] = strdup(line);
                        if (!keys[n])
                                goto fail;
                        n++;
                }
        }
        *ret_keys = keys;
        *ret_n = n;
        return 0;
fail:
        for (size_t i = 0; i < n; i++)
                free(keys[i]);
        free(keys);
        return -1;
}

static int cmd_create(vmctl_conn *conn, const struct global *g, const struct command_args *a,
                      const char *name)
{
        _cleanup_(vmctl_vm_freep) struct vmctl_vm *vm = NULL;
        _cleanup_free_ char *join = NULL;
        char **keys = NULL;
        size_t n_keys = 0;
        struct vmctl_spec spec = {
                .name = name,
                .pool = a->pool,
                .owner = a->owner,
                .base_image = a->base_image,
                .base_format = a->base_format,
                .storage_pool = a->storage_pool,
                .network = a->network,
                .vcpus = (unsigned)a->vcpus,
                .memory_mib = a->memory_mib,
                .disk_bytes = a->disk_gib << 30,
                .machine = a->machine,
        };
        struct tripdeal_error error = {0};
        int r, code;

        if (a->domain_type) {
                if (strcmp(a->domain_type, "auto") == 0)
                        spec.domain_type = VMCTL_DOMAIN_TYPE_AUTO;
                else if (strcmp(a->domain_type, "kvm") == 0)
                        spec.domain_type = VMCTL_DOMAIN_TYPE_KVM;
                else if (strcmp(a->domain_type, "qemu") == 0)
                        spec.domain_type = VMCTL_DOMAIN_TYPE_QEMU;
                else
                        return usage_error("create",
                                           "--domain-type must be auto, kvm or qemu, not '%s'",
                                           a->domain_type);
        }

        if (a->join_file) {
                r = read_text_file(a->join_file, &join);
                if (r < 0 || !*join) {
                        error_line("--join-file %s: %s", a->join_file,
                                   r < 0 ? strerror(-r) : "empty");
                        return r == -ENOENT ? EXIT_NOT_FOUND : EXIT_USAGE;
                }
                spec.join_command = join;
        }
        if (read_ssh_keys(a, &keys, &n_keys) < 0)
                return EXIT_USAGE;
        spec.ssh_keys = (const char *const *)keys;
        spec.n_ssh_keys = n_keys;

        r = vmctl_create(conn, &spec, &vm, &error);
        for (size_t i = 0; i < n_keys; i++)
                free(keys[i]);
        free(keys);
        if (r < 0)
                return library_error(&error, r);
        code = print_vm(g, vm);
        return code;
}

static int run(int argc, char **argv)
{
        static const struct option global_options[] = {
                {"connect", required_argument, NULL, 'c'},
                {"output", required_argument, NULL, 'o'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        static const char *const commands[] = {"list", "create", "show",   "start",
                                               "stop", "reboot", "destroy"};
        struct global g = {.output = OUTPUT_TABLE};
        struct command_args a = {0};
        _cleanup_(vmctl_closep) vmctl_conn *conn = NULL;
        const char *command, *name = NULL;
        bool known = false;
        struct tripdeal_error error = {0};
        int c, code, r;

        opterr = 0;
        while ((c = getopt_long(argc, argv, "+c:o:h", global_options, NULL)) != -1) {
                switch (c) {
                case 'c':
                        g.uri = optarg;
                        break;
                case 'o':
                        if (parse_output(optarg, &g.output) < 0)
                                return usage_error(NULL, "--output must be table or json, not '%s'",
                                                   optarg);
                        break;
                case 'h':
                        help_global(stdout);
                        return EXIT_OK;
                case ':':
                        return usage_error(NULL, "option '%s' needs a value", argv[optind - 1]);
                default:
                        return usage_error(NULL, "unknown option '%s'", argv[optind - 1]);
                }
        }
        if (optind >= argc) {
                help_global(stderr);
                return EXIT_USAGE;
        }
        command = argv[optind];
        for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
                known = known || strcmp(command, commands[i]) == 0;
        if (!known)
                return usage_error(NULL, "unknown command '%s'", command);

        argc -= optind;
        argv += optind;
        code = parse_command(command, argc, argv, &g, &a);
        if (code < 0)
                return EXIT_OK; /* --help */
        if (code != EXIT_OK)
                return code;

        if (strcmp(command, "list") == 0) {
                if (optind < argc)
                        return usage_error(command, "unexpected argument '%s'", argv[optind]);
                if (a.owner && vmctl_validate_owner(a.owner) < 0)
                        return usage_error(command, "--owner '%s' is not NAMESPACE/NAME", a.owner);
        } else {
                code = one_name(command, argc, argv, &name);
                if (code != EXIT_OK)
                        return code;
        }

        if (strcmp(command, "create") == 0) {
                static const char *const need[] = {"--pool", "--base-image", "--storage-pool",
                                                   "--vcpus", "--memory-mib"};
                const bool have[] = {a.pool, a.base_image, a.storage_pool, a.have_vcpus,
                                     a.have_memory};
                for (size_t i = 0; i < ARRAY_SIZE(need); i++)
                        if (!have[i])
                                return usage_error(command, "%s is required", need[i]);
                if (vmctl_validate_name(a.pool) < 0)
                        return usage_error(command, "--pool '%s' is not a DNS-1123 label", a.pool);
                if (a.owner && vmctl_validate_owner(a.owner) < 0)
                        return usage_error(command, "--owner '%s' is not NAMESPACE/NAME", a.owner);
        }

        code = open_conn(&g, &conn);
        if (code != EXIT_OK)
                return code;

        if (strcmp(command, "list") == 0)
                return cmd_list(conn, &g, &a);
        if (strcmp(command, "create") == 0)
                return cmd_create(conn, &g, &a, name);
        if (strcmp(command, "show") == 0) {
                _cleanup_(vmctl_vm_freep) struct vmctl_vm *vm = NULL;
                r = vmctl_get(conn, name, &vm, &error);
                if (r < 0)
                        return library_error(&error, r);
                return print_vm(&g, vm);
        }
        if (strcmp(command, "start") == 0)
                r = vmctl_start(conn, name, &error);
        else if (strcmp(command, "stop") == 0)
                r = vmctl_stop(conn, name, a.force, &error);
        else if (strcmp(command, "reboot") == 0)
                r = vmctl_reboot(conn, name, &error);
        else
                r = vmctl_destroy(conn, name, &error);
        if (r < 0)
                return library_error(&error, r);
        if (g.output == OUTPUT_JSON)
                return print_json(json_pack("{s:s, s:s}", "name", name, "result", command));
        printf("%s: %s done\n", name, command);
        return EXIT_OK;
}

int main(int argc, char **argv)
{
        int code = run(argc, argv);
        fflush(stdout);
        return code;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tripdeal-vmctl: create, list and destroy TripDeal worker-node VMs on a
 * libvirt host.  A thin shell over libvmctl (vmctl.h): parse arguments, call
 * the library once, print the result, map the error to an exit code.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <libvirt/virterror.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flags.h"
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

/* A usage error after parsing: the same line as flags.h prints, exit code 2. */
_printf_(2, 3) static int usage_error(const char *command, const char *fmt, ...)
{
        va_list ap;
        fprintf(stderr, PROGRAM "%s%s: ", command ? " " : "", command ? command : "");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputs(" (see --help)\n", stderr);
        return EXIT_USAGE;
}

/* One line for a failed library call: the library's reason, else the code's text. */
static int library_error(const struct tripdeal_error *error, int r)
{
        error_line("%s", error->code ? tripdeal_error_message(error) : tripdeal_strerror(r));
        return exit_from_errno(r);
}

/* ---- Commands and help ------------------------------------------------- */

enum command { CMD_LIST, CMD_CREATE, CMD_SHOW, CMD_START, CMD_STOP, CMD_REBOOT, CMD_DESTROY };

static const struct flags_command commands[] = {
        {.name = "list", .id = CMD_LIST, .summary = "list TripDeal VMs (--pool, --owner filter)"},
        {.name = "create", .id = CMD_CREATE, .summary = "create and start a node VM"},
        {.name = "show", .id = CMD_SHOW, .summary = "show one VM"},
        {.name = "start", .id = CMD_START, .summary = "power a VM on"},
        {.name = "stop", .id = CMD_STOP, .summary = "shut a VM down (--force: power off)"},
        {.name = "reboot", .id = CMD_REBOOT, .summary = "reboot a VM"},
        {.name = "destroy",
         .id = CMD_DESTROY,
         .summary = "power off, undefine and delete its volumes and seed"},
        {0},
};

#define EXIT_X_HELP(id, value, text) "  " #value "  " text "\n"
static const char global_epilog[] = "'" PROGRAM " COMMAND --help' shows a command's options.\n"
                                    "\n"
                                    "Exit codes:\n" EXIT_CODE_LIST(EXIT_X_HELP);

/* Usage line (after "tripdeal-vmctl COMMAND") and description of each command. */
static const struct command_help {
        const char *usage, *summary, *epilog;
} command_help[] = {
        [CMD_LIST] = {"[--pool POOL] [--owner NS/NAME] [--output table|json]",
                      "List the VMs carrying TripDeal metadata, sorted by name."},
        [CMD_CREATE] = {"NAME --pool POOL --base-image PATH --storage-pool P --vcpus N\n"
                        "                             --memory-mib M [OPTIONS]",
                        "Define and start node VM NAME (a DNS-1123 label, at most 63 "
                        "characters): a qcow2\noverlay NAME.qcow2 on the base image and a "
                        "cloud-init seed NAME-seed.iso, both in\nstorage pool P.  Without "
                        "--network the VM has no NIC.  A failure leaves nothing behind."},
        [CMD_SHOW] = {"NAME [--output table|json]", "Show one VM."},
        [CMD_START] = {"NAME", "Power VM NAME on (no-op if running)."},
        [CMD_STOP] = {"NAME [--force]", "Ask VM NAME to shut down (ACPI); --force powers it off "
                                        "at once.  No-op if it is off."},
        [CMD_REBOOT] = {"NAME", "Reboot VM NAME."},
        [CMD_DESTROY] = {"NAME", "Power off VM NAME, undefine it and delete its volumes "
                                 "(NAME.qcow2, NAME-seed.iso).\nRefuses domains without "
                                 "TripDeal metadata."},
};

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

/* A command takes exactly one NAME among its options. */
static int one_name(const char *command, int argc, char **argv, int first_operand,
                    const char **ret_name)
{
        if (first_operand >= argc)
                return usage_error(command, "missing VM NAME");
        if (first_operand + 1 < argc)
                return usage_error(command, "unexpected argument \"%s\"", argv[first_operand + 1]);
        if (vmctl_validate_name(argv[first_operand]) < 0)
                return usage_error(command,
                                   "invalid VM name \"%s\": must be a DNS-1123 label (a-z, 0-9, "
                                   "'-', at most %d characters)",
                                   argv[first_operand], VMCTL_NAME_MAX);
        *ret_name = argv[first_operand];
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

/* ---- Command flags ------------------------------------------------------- */

static const char *const output_names[] = {[OUTPUT_TABLE] = "table", [OUTPUT_JSON] = "json", NULL};
static const char *const domain_type_names[] = {"auto", "kvm", "qemu", NULL};
static const enum vmctl_domain_type domain_types[] = {VMCTL_DOMAIN_TYPE_AUTO, VMCTL_DOMAIN_TYPE_KVM,
                                                      VMCTL_DOMAIN_TYPE_QEMU};

struct command_args {
        const char *pool, *owner, *base_image, *base_format, *storage_pool, *network;
        const char *join_file, *machine;
        int domain_type; /* index into domain_type_names */
        const char *ssh_key_files[16];
        size_t n_ssh_key_files;
        int vcpus, memory_mib, disk_gib;
        bool force;
};

/* --ssh-key, repeatable. */
static int add_ssh_key_file(const char *value, void *target, char *message, size_t message_size)
{
        struct command_args *a = target;
        if (a->n_ssh_key_files >= ARRAY_SIZE(a->ssh_key_files)) {
                snprintf(message, message_size, "at most %zu --ssh-key files",
                         ARRAY_SIZE(a->ssh_key_files));
                return -E2BIG;
        }
        a->ssh_key_files[a->n_ssh_key_files++] = value;
        return 0;
}

/* The command's own flags (argv[0] is the command); its NAME, if it takes one. */
static int parse_command(enum command command, int argc, char **argv, struct global *g,
                         struct command_args *a, const char **ret_name)
{
        /* No environment here: TRIPDEAL_OUTPUT must not override a global -o. */
#define OUTPUT_ROW                                                                              \
        {                                                                                       \
                .name = "output", .short_name = 'o', .type = FLAG_CHOICE, .target = &g->output, \
                .choices = output_names, .help = "table or json"                                \
        }
        const struct flag list_flags[] = {
                {.name = "pool",
                 .type = FLAG_STRING,
                 .target = &a->pool,
                 .metavar = "POOL",
                 .help = "only VMs of this TripDeal node pool"},
                {.name = "owner",
                 .type = FLAG_STRING,
                 .target = &a->owner,
                 .metavar = "NS/NAME",
                 .help = "only VMs of this TripDeal resource"},
                OUTPUT_ROW,
                {0},
        };
        const struct flag create_flags[] = {
                {.name = "pool",
                 .type = FLAG_STRING,
                 .target = &a->pool,
                 .metavar = "POOL",
                 .help = "TripDeal node pool recorded in the domain metadata",
                 .required = true},
                {.name = "base-image",
                 .type = FLAG_STRING,
                 .target = &a->base_image,
                 .metavar = "PATH",
                 .help = "base image path on the libvirt host",
                 .required = true,
                 .env = "TRIPDEAL_BASE_IMAGE"},
                {.name = "storage-pool",
                 .type = FLAG_STRING,
                 .target = &a->storage_pool,
                 .metavar = "P",
                 .help = "libvirt storage pool for the volumes",
                 .required = true,
                 .env = "TRIPDEAL_STORAGE_POOL"},
                {.name = "vcpus",
                 .type = FLAG_INT,
                 .target = &a->vcpus,
                 .min = 1,
                 .max = 1024,
                 .help = "virtual CPUs",
                 .required = true},
                {.name = "memory-mib",
                 .type = FLAG_INT,
                 .target = &a->memory_mib,
                 .min = 16,
                 .max = 1 << 30,
                 .metavar = "M",
                 .help = "memory in MiB",
                 .required = true},
                {.name = "base-format",
                 .type = FLAG_STRING,
                 .target = &a->base_format,
                 .metavar = "FMT",
                 .help = "qcow2 or raw",
                 .default_text = "detected"},
                {.name = "disk-gib",
                 .type = FLAG_INT,
                 .target = &a->disk_gib,
                 .min = 1,
                 .max = 1 << 20,
                 .help = "overlay size",
                 .default_text = "the base image's size"},
                {.name = "network",
                 .type = FLAG_STRING,
                 .target = &a->network,
                 .metavar = "NET",
                 .help = "attach one virtio NIC to libvirt network NET",
                 .env = "TRIPDEAL_NETWORK"},
                {.name = "ssh-key",
                 .type = FLAG_CUSTOM,
                 .target = a,
                 .parse = add_ssh_key_file,
                 .metavar = "FILE",
                 .help = "authorized SSH public keys, one per line (repeatable)"},
                {.name = "join-file",
                 .type = FLAG_STRING,
                 .target = &a->join_file,
                 .metavar = "FILE",
                 .help = "file holding the `kubeadm join ...` command run at first boot"},
                {.name = "owner",
                 .type = FLAG_STRING,
                 .target = &a->owner,
                 .metavar = "NS/NAME",
                 .help = "the TripDeal resource owning this VM"},
                {.name = "domain-type",
                 .type = FLAG_CHOICE,
                 .target = &a->domain_type,
                 .choices = domain_type_names,
                 .help = "auto: kvm if the host offers it, else qemu",
                 .env = "TRIPDEAL_DOMAIN_TYPE"},
                {.name = "machine",
                 .type = FLAG_STRING,
                 .target = &a->machine,
                 .metavar = "MACHINE",
                 .help = "QEMU machine type",
                 .default_text = "q35",
                 .env = "TRIPDEAL_MACHINE"},
                OUTPUT_ROW,
                {0},
        };
        const struct flag stop_flags[] = {
                {.name = "force",
                 .type = FLAG_BOOL,
                 .target = &a->force,
                 .help = "power off at once instead of an ACPI shutdown"},
                OUTPUT_ROW,
                {0},
        };
        const struct flag output_flags[] = {OUTPUT_ROW, {0}};
#undef OUTPUT_ROW
        const char *name = argv[0];
        char program_name[64];
        snprintf(program_name, sizeof(program_name), PROGRAM " %s", name);
        struct flags_program program = {
                .name = program_name,
                .usage = command_help[command].usage,
                .summary = command_help[command].summary,
                .epilog = command_help[command].epilog,
                .flags = command == CMD_LIST     ? list_flags
                         : command == CMD_CREATE ? create_flags
                         : command == CMD_STOP   ? stop_flags
                                                 : output_flags,
                .operands = command == CMD_LIST ? FLAGS_NO_OPERANDS : FLAGS_OPERANDS,
        };
        int first_operand = flags_parse(&program, argc, argv);

        if ((command == CMD_LIST || command == CMD_CREATE) && a->owner &&
            vmctl_validate_owner(a->owner) < 0)
                return usage_error(name, "--owner \"%s\" is not NAMESPACE/NAME", a->owner);
        if (command == CMD_LIST)
                return EXIT_OK;
        if (command == CMD_CREATE && vmctl_validate_name(a->pool) < 0)
                return usage_error(name, "--pool \"%s\" is not a DNS-1123 label", a->pool);
        return one_name(name, argc, argv, first_operand, ret_name);
}

static int cmd_list(vmctl_conn *conn, const struct global *g, const struct command_args *a)
{
        struct vmctl_vm_list list = {0};
        int r;

        struct tripdeal_error error = {0};
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
                .memory_mib = (uint64_t)a->memory_mib,
                .disk_bytes = (uint64_t)a->disk_gib << 30,
                .machine = a->machine,
                .domain_type = domain_types[a->domain_type],
        };
        struct tripdeal_error error = {0};
        int r, code;

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
        struct global g = {.output = OUTPUT_TABLE};
        struct command_args a = {0};
        _cleanup_(vmctl_closep) vmctl_conn *conn = NULL;
        const char *name = NULL;
        int code, r;

        const struct flag global_flags[] = {
                {.name = "connect",
                 .short_name = 'c',
                 .type = FLAG_STRING,
                 .target = &g.uri,
                 .metavar = "URI",
                 .help = "libvirt URI",
                 .default_text = "$LIBVIRT_DEFAULT_URI or qemu:///system",
                 .env = "TRIPDEAL_LIBVIRT_URI"},
                {.name = "output",
                 .short_name = 'o',
                 .type = FLAG_CHOICE,
                 .target = &g.output,
                 .choices = output_names,
                 .help = "table or json",
                 .env = "TRIPDEAL_OUTPUT"},
                {0},
        };
        const struct flags_program program = {
                .name = PROGRAM,
                .summary = "Manage TripDeal worker-node VMs on a libvirt host.",
                .epilog = global_epilog,
                .flags = global_flags,
                .commands = commands,
        };
        int index = flags_parse(&program, argc, argv);
        enum command command = (enum command)flags_command_id(&program, argv[index]);
        code = parse_command(command, argc - index, argv + index, &g, &a, &name);
        if (code != EXIT_OK)
                return code;

        struct tripdeal_error error = {0};
        code = open_conn(&g, &conn);
        if (code != EXIT_OK)
                return code;

        if (command == CMD_LIST)
                return cmd_list(conn, &g, &a);
        if (command == CMD_CREATE)
                return cmd_create(conn, &g, &a, name);
        if (command == CMD_SHOW) {
                _cleanup_(vmctl_vm_freep) struct vmctl_vm *vm = NULL;
                r = vmctl_get(conn, name, &vm, &error);
                if (r < 0)
                        return library_error(&error, r);
                return print_vm(&g, vm);
        }
        if (command == CMD_START)
                r = vmctl_start(conn, name, &error);
        else if (command == CMD_STOP)
                r = vmctl_stop(conn, name, a.force, &error);
        else if (command == CMD_REBOOT)
                r = vmctl_reboot(conn, name, &error);
        else
                r = vmctl_destroy(conn, name, &error);
        if (r < 0)
                return library_error(&error, r);
        if (g.output == OUTPUT_JSON)
                return print_json(json_pack("{s:s, s:s}", "name", name, "result", argv[index]));
        printf("%s: %s done\n", name, argv[index]);
        return EXIT_OK;
}

int main(int argc, char **argv)
{
        int code = run(argc, argv);
        fflush(stdout);
        return code;
}

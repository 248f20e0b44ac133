/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cloud-init NoCloud seed ISO: meta-data, user-data and network-config in
 * the root of an ISO9660 (+ Joliet + Rock Ridge) image labelled "cidata".
 * Debian's genisoimage writes the image; we only lay out the three files.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macros.h"
#include "vmctl.h"

extern char **environ;

static int write_file(const char *dir, const char *name, const char *text, char **ret_path)
{
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -1;
        size_t n = strlen(text), done = 0;

        if (asprintf(&path, "%s/%s", dir, name) < 0)
                return -ENOMEM;
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
                return NEG_ERRNO();
        while (done < n) {
                ssize_t w = write(fd, text + done, n - done);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        int r = NEG_ERRNO();
                        unlink(path);
                        return r;
                }
                done += (size_t)w;
        }
        *ret_path = TAKE_PTR(path);
        return 0;
}

static int run_genisoimage(const char *iso_path, char *const files[3])
{
        posix_spawn_file_actions_t actions;
        pid_t pid;
        int status, r;
        char *argv[] = {"genisoimage", "-quiet", "-output", (char *)iso_path, "-volid", "cidata",
                        "-joliet",     "-rock",  files[0],  files[1],         files[2], NULL};

        if (posix_spawn_file_actions_init(&actions) != 0)
                return -ENOMEM;
        /* Quiet child: the library never writes to the caller's terminal. */
        posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
        r = posix_spawnp(&pid, "genisoimage", &actions, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&actions);
        if (r != 0)
                return -r;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return NEG_ERRNO();
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return -EIO;
        return 0;
}

int vmctl_seed_iso_build(const struct vmctl_seed_params *params, const char *tmpdir,
                         char **ret_path)
{
        _cleanup_free_ char *meta = NULL, *user = NULL, *network = NULL;
        _cleanup_free_ char *dir = NULL, *iso = NULL;
        char *files[3] = {NULL, NULL, NULL};
        int fd, r;

        if (!params || !ret_path)
                return -EINVAL;
        if (!tmpdir)
                tmpdir = getenv("TMPDIR") ?: "/tmp";
        r = vmctl_seed_meta_data(params, &meta);
        if (r < 0)
                return r;
        r = vmctl_seed_user_data(params, &user);
        if (r < 0)
                return r;
        r = vmctl_seed_network_config(params, &network);
        if (r < 0)
                return r;

        if (asprintf(&dir, "%s/vmctl-seed-XXXXXX", tmpdir) < 0 ||
            asprintf(&iso, "%s/vmctl-seed-XXXXXX.iso", tmpdir) < 0)
                return -ENOMEM;
        if (!mkdtemp(dir))
                return NEG_ERRNO();
        fd = mkstemps(iso, 4);
        if (fd < 0) {
                r = NEG_ERRNO();
                rmdir(dir);
                return r;
        }
        close(fd);

        r = write_file(dir, "meta-data", meta, &files[0]);
        if (r >= 0)
                r = write_file(dir, "user-data", user, &files[1]);
        if (r >= 0)
                r = write_file(dir, "network-config", network, &files[2]);
        if (r >= 0)
                r = run_genisoimage(iso, files);

        for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
                if (files[i])
                        unlink(files[i]);
                free(files[i]);
        }
        rmdir(dir);
        if (r < 0) {
                unlink(iso);
                return r;
        }
        *ret_path = TAKE_PTR(iso);
        return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: arbitrary bytes as a kubeconfig file (libyaml under
 * lib/kube's loader).  Exec and auth-provider credentials are refused by the
 * loader, so no input runs a program; paths in the input (CA, token file,
 * client certificate) are only read.
 *
 * Properties: a refused file comes with a message; a loaded one names a
 * server, a context and a namespace.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kube.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        int fd = memfd_create("kubeconfig", MFD_CLOEXEC);
        if (fd < 0)
                abort();
        if (size && write(fd, data, size) != (ssize_t)size)
                abort();
        char path[64];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);

        struct kube_config *config = NULL;
        struct kube_status status = {0};
        int r = kube_config_load(&(struct kube_config_options){.kubeconfig_path = path}, &config,
                                 &status);
        if (r < 0) {
                if (!status.message[0] || config)
                        abort();
        } else {
                if (!config || !kube_config_server(config) || !kube_config_namespace(config) ||
                    !kube_config_context(config))
                        abort();
                kube_config_free(config);
        }
        close(fd);
        return 0;
}

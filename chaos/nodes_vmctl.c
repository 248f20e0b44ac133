/* SPDX-License-Identifier: Apache-2.0 */
/*
 * node-kill's power switch: the VMs of TripDeal node pools, found through
 * vmctl's domain metadata, powered off hard (virDomainDestroy through
 * vmctl_stop(force)) and started again.  Kept out of the engine so that
 * programs without libvirt (the operator core) link the engine alone.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chaos-vmctl.h"
#include "macros.h"

static int list_running(void *userdata, const char *owner, char ***ret_names)
{
        vmctl_conn *conn = userdata;
        struct vmctl_vm_list list = {0};
        int r = vmctl_list(conn, &(struct vmctl_filter){.owner = owner}, &list, NULL);
        if (r < 0)
                return r;
        char **names = calloc(list.n_items + 1, sizeof(char *));
        size_t n = 0;
        for (size_t i = 0; names && i < list.n_items; i++) {
                if (list.items[i].state != VMCTL_STATE_RUNNING)
                        continue;
                names[n] = strdup(list.items[i].name);
                if (!names[n]) {
                        for (size_t j = 0; j < n; j++)
                                free(names[j]);
                        free(names);
                        names = NULL;
                        break;
                }
                n++;
        }
        vmctl_vm_list_free(&list);
        if (!names)
                return -ENOMEM;
        *ret_names = names;
        return 0;
}

static int power_off(void *userdata, const char *name)
{
        return vmctl_stop(userdata, name, true, NULL);
}

static int power_on(void *userdata, const char *name)
{
        return vmctl_start(userdata, name, NULL);
}

void chaos_vmctl_driver(vmctl_conn *conn, struct chaos_node_driver *ret_driver)
{
        *ret_driver = (struct chaos_node_driver){
                .list_running = list_running,
                .power_off = power_off,
                .power_on = power_on,
                .userdata = conn,
        };
}

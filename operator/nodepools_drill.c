/* SPDX-License-Identifier: Apache-2.0 */
/*
 * node-kill drills on node pools: a chaos_node_driver (chaos.h) over the VMs
 * one TripDeal owns on the libvirt URIs of its pools.  Only VMs whose vmctl
 * metadata names this TripDeal as owner are listed, powered off (hard:
 * virDomainDestroy through vmctl_stop(force)) or started again, whatever
 * name the engine or a Lease asks for.  Part of the node pool module, so the
 * operator maps libvirt only for TripDeals with node pools.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chaos.h"
#include "macros.h"
#include "nodepools.h"

struct nodepools_drill_nodes {
        char owner[2 * 64 + 2]; /* "NAMESPACE/NAME" */
        vmctl_conn **conns;     /* one per distinct libvirt URI */
        size_t n_conns;
};

void nodepools_drill_nodes_close(struct nodepools_drill_nodes *nodes)
{
        if (!nodes)
                return;
        for (size_t i = 0; i < nodes->n_conns; i++)
                vmctl_close(nodes->conns[i]);
        free(nodes->conns);
        free(nodes);
}

static void free_names(char **names)
{
        for (size_t i = 0; names && names[i]; i++)
                free(names[i]);
        free(names);
}

/* Running VMs of this TripDeal on every connection; owner is ignored (always ours). */
static int list_running(void *userdata, const char *owner, char ***ret_names)
{
        struct nodepools_drill_nodes *nodes = userdata;
        (void)owner;
        char **names = calloc(1, sizeof(char *));
        size_t n = 0;
        if (!names)
                return -ENOMEM;
        for (size_t c = 0; c < nodes->n_conns; c++) {
                struct vmctl_vm_list list = {0};
                int r = vmctl_list(nodes->conns[c], &(struct vmctl_filter){.owner = nodes->owner},
                                   &list, NULL);
                if (r < 0) {
                        free_names(names);
                        return r;
                }
                for (size_t i = 0; i < list.n_items; i++) {
                        if (list.items[i].state != VMCTL_STATE_RUNNING)
                                continue;
                        char **grown = realloc(names, (n + 2) * sizeof(char *));
                        if (grown)
                                names = grown;
                        char *name = grown ? strdup(list.items[i].name) : NULL;
                        if (!name) {
                                vmctl_vm_list_free(&list);
                                free_names(names);
                                return -ENOMEM;
                        }
                        names[n++] = name;
                        names[n] = NULL;
                }
                vmctl_vm_list_free(&list);
        }
        *ret_names = names;
        return 0;
}

/* The connection holding VM name of this TripDeal; -ENOENT when none does. */
static int find_owned(struct nodepools_drill_nodes *nodes, const char *name, vmctl_conn **ret_conn)
{
        for (size_t c = 0; c < nodes->n_conns; c++) {
                struct vmctl_vm_list list = {0};
                int r = vmctl_list(nodes->conns[c], &(struct vmctl_filter){.owner = nodes->owner},
                                   &list, NULL);
                if (r < 0)
                        return r;
                bool found = false;
                for (size_t i = 0; i < list.n_items && !found; i++)
                        found = strcmp(list.items[i].name, name) == 0;
                vmctl_vm_list_free(&list);
                if (found) {
                        *ret_conn = nodes->conns[c];
                        return 0;
                }
        }
        return -ENOENT;
}

static int power_off(void *userdata, const char *name)
{
        vmctl_conn *conn;
        int r = find_owned(userdata, name, &conn);
        if (r < 0)
                return r;
        return vmctl_stop(conn, name, true, NULL);
}

static int power_on(void *userdata, const char *name)
{
        vmctl_conn *conn;
        int r = find_owned(userdata, name, &conn);
        if (r < 0)
                return r;
        return vmctl_start(conn, name, NULL);
}

int nodepools_drill_nodes_open(const struct nodepools_request *request,
                               struct chaos_node_driver *ret_driver,
                               struct nodepools_drill_nodes **ret_nodes, char **ret_message)
{
        const struct tripdeal_spec *spec = request->spec;
        if (!spec || spec->node_pools_count == 0) {
                if (ret_message && asprintf(ret_message, "the TripDeal has no node pools") < 0)
                        *ret_message = NULL;
                return -ENOENT;
        }
        struct nodepools_drill_nodes *nodes = calloc(1, sizeof(*nodes));
        if (!nodes || !(nodes->conns = calloc(spec->node_pools_count, sizeof(vmctl_conn *)))) {
                free(nodes);
                return -ENOMEM;
        }
        snprintf(nodes->owner, sizeof(nodes->owner), "%s/%s", request->identity->namespace,
                 request->identity->name);
        const struct nodepools_options *o = request->options;
        for (size_t p = 0; p < spec->node_pools_count; p++) {
                const char *uri = spec->node_pools[p].libvirt_uri;
                bool seen = false;
                for (size_t q = 0; q < p && !seen; q++)
                        seen = strcmp(spec->node_pools[q].libvirt_uri, uri) == 0;
                if (seen)
                        continue;
                struct tripdeal_error error = {0};
                vmctl_conn *conn = NULL;
                int r = o && o->open ? o->open(o->open_userdata, uri, &conn, &error)
                                     : vmctl_open(uri, &conn, &error);
                if (r < 0) {
                        if (ret_message &&
                            asprintf(ret_message, "node pool %s: cannot open libvirt %s: %s",
                                     spec->node_pools[p].name, uri,
                                     tripdeal_error_message(&error)) < 0)
                                *ret_message = NULL;
                        nodepools_drill_nodes_close(nodes);
                        return r;
                }
                nodes->conns[nodes->n_conns++] = conn;
        }
        *ret_driver = (struct chaos_node_driver){
                .list_running = list_running,
                .power_off = power_off,
                .power_on = power_on,
                .userdata = nodes,
        };
        *ret_nodes = nodes;
        return 0;
}

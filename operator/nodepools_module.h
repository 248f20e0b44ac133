/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The contract between tripdeal-operator and tripdeal-operator-nodepools.so,
 * the module that holds node pools (nodepools.c, vmctl, libvirt).
 *
 * The module exports one symbol, NODEPOOLS_MODULE_SYMBOL, a const struct
 * nodepools_module; everything else in it is hidden.  What it needs from the
 * operator (lib/kube, metrics, conditions, the pool planner) it takes from
 * the executable, which exports its symbols (-rdynamic) for that purpose.
 * The operator checks abi and the struct sizes before it calls anything, so
 * a module from another build is refused with a message, not a crash.
 */
#pragma once

#include <stddef.h>

#include "nodepools.h"

/* ABI 2 added drill_nodes_open/drill_nodes_close (node-kill drills). */
#define NODEPOOLS_MODULE_FILE   "tripdeal-operator-nodepools.so"
#define NODEPOOLS_MODULE_SYMBOL "tripdeal_operator_nodepools_module"
#define NODEPOOLS_MODULE_ABI    2

struct nodepools_module {
        int abi;             /* NODEPOOLS_MODULE_ABI */
        size_t request_size; /* sizeof(struct nodepools_request) */
        size_t result_size;  /* sizeof(struct nodepools_result) */
        size_t options_size; /* sizeof(struct nodepools_options) */
        int (*reconcile)(const struct nodepools_request *request, struct nodepools_result *ret);
        int (*release_all)(const struct nodepools_request *request, char **ret_message);
        int (*drill_nodes_open)(const struct nodepools_request *request,
                                struct chaos_node_driver *ret_driver,
                                struct nodepools_drill_nodes **ret_nodes, char **ret_message);
        void (*drill_nodes_close)(struct nodepools_drill_nodes *nodes);
};

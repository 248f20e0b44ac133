/* SPDX-License-Identifier: Apache-2.0 */
/* The chaos engine's node driver over vmctl (libvirt).  conn is borrowed. */
#pragma once

#include "chaos.h"
#include "vmctl.h"

void chaos_vmctl_driver(vmctl_conn *conn, struct chaos_node_driver *ret_driver);

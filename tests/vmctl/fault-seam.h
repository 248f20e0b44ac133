/* SPDX-License-Identifier: Apache-2.0 */
/* Test-only fault injection for vmctl_create(); see fault-seam.c. */
#pragma once

#include "vmctl-internal.h"

/* The step after which the next creates fail (enum vmctl_create_step), or -1: none. */
extern int vmctl_test_fail_after;

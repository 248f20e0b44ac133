/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The production side of vmctl_create()'s test seam (vmctl-internal.h): every
 * step goes on.  Alone in its object file so that a test program's own
 * definition replaces it at link time.
 */
#include "vmctl-internal.h"

int vmctl_create_step_done(enum vmctl_create_step step, struct tripdeal_error *ret_error)
{
        (void)step;
        (void)ret_error;
        return 0;
}

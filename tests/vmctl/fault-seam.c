/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test-only fault injection for vmctl_create(): this definition of
 * vmctl_create_step_done() replaces the library's no-op one at link time
 * (vmctl-internal.h).  The create fails right after the step named by
 * vmctl_test_fail_after (set by C tests) or by $TRIPDEAL_VMCTL_FAIL_AT
 * (volume|seed|define|start, for the CLI built with this file), with
 * TRIPDEAL_ERR_INJECTED_FAULT and "injected fault after step 'STEP'".
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fault-seam.h"
#include "macros.h"

#define STEP_X_NAME(id, name) [id] = name,
static const char *const step_names[] = {VMCTL_CREATE_STEP_LIST(STEP_X_NAME)};

int vmctl_test_fail_after = -1;

int vmctl_create_step_done(enum vmctl_create_step step, struct tripdeal_error *ret_error)
{
        const char *env = getenv("TRIPDEAL_VMCTL_FAIL_AT");
        int fail_after = vmctl_test_fail_after;

        if (fail_after < 0 && env && *env) {
                for (size_t i = 0; i < ARRAY_SIZE(step_names); i++)
                        if (strcmp(env, step_names[i]) == 0)
                                fail_after = (int)i;
                if (fail_after < 0)
                        return tripdeal_error_set(ret_error, -EINVAL,
                                                  "TRIPDEAL_VMCTL_FAIL_AT: unknown step '%s'", env);
        }
        if ((int)step != fail_after)
                return 0;
        return tripdeal_error_set(ret_error, TRIPDEAL_ERR_INJECTED_FAULT,
                                  "injected fault after step '%s'", step_names[step]);
}

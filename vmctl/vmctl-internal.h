/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libvmctl internals shared with its tests, never with its users: the steps
 * of vmctl_create() and the link-time seam through which tests make a create
 * fail after any of them.  Not part of vmctl.h's contract.
 *
 * The seam: vmctl_create() calls vmctl_create_step_done() after each step
 * succeeded.  The library's definition (create-seam.c, alone in its object
 * file) does nothing.  A test program that defines its own
 * vmctl_create_step_done() gets that one instead: the linker takes the
 * program's symbol and never pulls create-seam.o from the static library
 * (see tests/vmctl/fault-seam.c).  The production path knows nothing of
 * faults.
 */
#pragma once

#include "error.h"

/* The steps of vmctl_create(), in order; X(id, name). */
#define VMCTL_CREATE_STEP_LIST(X)             \
        X(VMCTL_CREATE_STEP_VOLUME, "volume") \
        X(VMCTL_CREATE_STEP_SEED, "seed")     \
        X(VMCTL_CREATE_STEP_DEFINE, "define") \
        X(VMCTL_CREATE_STEP_START, "start")

#define VMCTL_CREATE_STEP_X_ENUM(id, name) id,
enum vmctl_create_step { VMCTL_CREATE_STEP_LIST(VMCTL_CREATE_STEP_X_ENUM) _VMCTL_CREATE_STEP_MAX };
#undef VMCTL_CREATE_STEP_X_ENUM

/*
 * Called by vmctl_create() right after `step` succeeded.  0 goes on; a
 * negative code (filled into *ret_error, which may be NULL) makes the create
 * undo everything it made and fail with it.
 */
int vmctl_create_step_done(enum vmctl_create_step step, struct tripdeal_error *ret_error);

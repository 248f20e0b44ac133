/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The version every program's --version prints: the meson project version
 * and the git revision the build saw (version-git.h, from meson's vcs_tag;
 * "unknown" when built outside git).  Kept apart so a new revision recompiles
 * this file only.
 */
#include "flags.h"
#include "version-git.h"

#ifndef TRIPDEAL_PROJECT_VERSION
#error "meson passes -DTRIPDEAL_PROJECT_VERSION"
#endif

const char *tripdeal_version(void)
{
        return TRIPDEAL_PROJECT_VERSION;
}

const char *tripdeal_revision(void)
{
        return TRIPDEAL_GIT_REVISION;
}

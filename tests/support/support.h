/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test support shared by the C test suites: reading files, golden-file
 * comparison (one TRIPDEAL_REGENERATE_GOLDEN variable for every suite),
 * temporary directories, and waiting for a condition with a deadline (never a
 * bare sleep as synchronisation).
 *
 * Functions return 0 or -errno; outputs (ret_*) are untouched on failure.
 * Nothing here calls cmocka, so any test program can link it; failures are
 * explained on stderr where the caller cannot say more.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The whole file: a malloc'd buffer with a NUL after the last byte (so text
 * can be used as a string; binary data may hold NULs, hence *ret_size, which
 * may be NULL).  -errno from fopen/fread, -ENOMEM.
 */
int support_read_file(const char *path, char **ret_data, size_t *ret_size);

/* TRIPDEAL_REGENERATE_GOLDEN is set, non-empty and not "0". */
bool support_regenerate_golden(void);

/*
 * Compare actual with the golden file at path, byte for byte.  Under
 * TRIPDEAL_REGENERATE_GOLDEN=1 the file is rewritten with actual instead and
 * the result is 0.  0 when equal; -ENOENT when the file is missing, -EBADMSG
 * when it differs (both explained on stderr, with the actual text);
 * other -errno from reading or writing.
 */
int support_golden_compare(const char *path, const char *actual);

/*
 * A new private directory $TMPDIR/tripdeal-NAME-XXXXXX (TMPDIR defaults to
 * /tmp), mode 0700.  *ret_path is malloc'd.
 */
int support_temp_dir(const char *name, char **ret_path);

/* Remove path and everything below it (no error if it does not exist). */
int support_remove_tree(const char *path);

/*
 * Call condition(userdata) until it returns true or timeout_ms has passed,
 * pausing interval_ms between calls (polling a condition, not sleeping in
 * place of one).  0 once true; -ETIMEDOUT (after one last check).
 */
int support_wait_for(bool (*condition)(void *userdata), void *userdata, int64_t timeout_ms,
                     int64_t interval_ms);

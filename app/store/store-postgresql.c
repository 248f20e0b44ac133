/* SPDX-License-Identifier: Apache-2.0 */
/* PostgreSQL backend: not yet implemented (placeholder so SQLite lands first). */
#include <errno.h>

#include "store-internal.h"

static int postgresql_open(struct store *store, const struct store_options *options,
                           const char *url)
{
        store_set_error(store, "postgresql backend not built yet");
        return -EIO;
}

const struct store_backend store_backend_postgresql = {
        .name = "postgresql",
        .open = postgresql_open,
};

/* SPDX-License-Identifier: Apache-2.0 */
/* Simulated controllers: start/stop.  See controllers.h. */
#include "controllers.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct controllers {
        int unused;
};

static int validate_options(const struct controllers_options *options)
{
        if (!options || !options->api_url || !options->token)
                return -EINVAL;
        if (options->static_nodes < 0 || options->sync_period_ms < 0 ||
            options->pod_ready_delay_ms < 0 || options->node_boot_delay_ms < 0)
                return -EINVAL;
        for (const char *const *c = options->pod_commands; c && *c; c++) {
                const char *eq = strchr(*c, '=');
                if (!eq || eq == *c || eq[1] == '\0')
                        return -EINVAL;
        }
        return 0;
}

int controllers_start(const struct controllers_options *options, struct controllers **ret)
{
        int r = validate_options(options);
        if (r < 0)
                return r;
        struct controllers *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        *ret = c;
        return 0;
}

void controllers_stop(struct controllers *controllers)
{
        free(controllers);
}

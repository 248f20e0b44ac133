/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nodepools_reconcile() and nodepools_release_all() as the operator links
 * them: a TripDeal without node pools is answered here; the first one with
 * pools loads tripdeal-operator-nodepools.so, and every call after goes to it.
 * The same for the node driver of node-kill drills (nodepools_drill_nodes_open).
 *
 * Why a module: libvirt brings glib, GnuTLS, ICU, libxml2 and a dozen more
 * libraries, about 7 MiB of resident memory in every operator process.  Most
 * installations have no node pools and should not pay for them.
 *
 * Where it is looked for: next to the executable first (the build tree, or a
 * self-contained install), then NODEPOOLS_MODULE_DIR (the configured
 * libdir/tripdeal).  No environment variable can point it elsewhere.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "macros.h"
#include "nodepools.h"
#include "nodepools_module.h"

static pthread_once_t module_once = PTHREAD_ONCE_INIT;
static const struct nodepools_module *module;
static char module_error[1024];

/* Try one path; 0 and *ret_module, or -errno with module_error set. */
static int module_try(const char *path, const struct nodepools_module **ret_module)
{
        void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!handle) {
                snprintf(module_error, sizeof(module_error), "%s", dlerror());
                return -ENOENT;
        }
        const struct nodepools_module *m = dlsym(handle, NODEPOOLS_MODULE_SYMBOL);
        if (!m || m->abi != NODEPOOLS_MODULE_ABI ||
            m->request_size != sizeof(struct nodepools_request) ||
            m->result_size != sizeof(struct nodepools_result) ||
            m->options_size != sizeof(struct nodepools_options)) {
                snprintf(module_error, sizeof(module_error),
                         "%.400s is not a node pool module of this operator build", path);
                dlclose(handle);
                return -ELIBBAD;
        }
        /* Never unloaded: the module lives as long as the process. */
        *ret_module = m;
        return 0;
}

static void module_load(void)
{
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        char candidates[2][PATH_MAX + sizeof(NODEPOOLS_MODULE_FILE)];
        size_t count = 0;
        if (n > 0) {
                self[n] = '\0';
                char *slash = strrchr(self, '/');
                if (slash) {
                        *slash = '\0';
                        snprintf(candidates[count++], sizeof(candidates[0]), "%s/%s", self,
                                 NODEPOOLS_MODULE_FILE);
                }
        }
        snprintf(candidates[count++], sizeof(candidates[0]), "%s/%s", NODEPOOLS_MODULE_DIR,
                 NODEPOOLS_MODULE_FILE);

        char tried[1024] = "";
        for (size_t i = 0; i < count; i++) {
                if (access(candidates[i], F_OK) < 0) {
                        size_t used = strlen(tried);
                        snprintf(tried + used, sizeof(tried) - used, "%s%.400s", used ? ", " : "",
                                 candidates[i]);
                        continue;
                }
                if (module_try(candidates[i], &module) == 0) {
                        log_emit(LOG_LEVEL_INFO, json_pack("{s:s}", "path", candidates[i]),
                                 "loaded node pool support");
                        return;
                }
                /* Present but broken: that is the one to report. */
                log_emit(LOG_LEVEL_ERROR, json_pack("{s:s}", "error", module_error),
                         "cannot load node pool support");
                return;
        }
        snprintf(module_error, sizeof(module_error), "%s not found (looked in %.900s)",
                 NODEPOOLS_MODULE_FILE, tried);
        log_emit(LOG_LEVEL_ERROR, json_pack("{s:s}", "error", module_error),
                 "cannot load node pool support");
}

/* The module, loaded on first use; NULL (and module_error says why) when it cannot be. */
static const struct nodepools_module *module_get(void)
{
        pthread_once(&module_once, module_load);
        return module;
}

int nodepools_reconcile(const struct nodepools_request *request, struct nodepools_result *ret)
{
        if (request->spec->node_pools_count == 0)
                return nodepools_reconcile_none(request, ret);
        const struct nodepools_module *m = module_get();
        if (m)
                return m->reconcile(request, ret);

        /* Say so in NodesReady and keep what status knew about the nodes. */
        json_t *nodes = json_deep_copy(json_object_get(request->status, "nodes"));
        if (!json_is_array(nodes)) {
                json_decref(nodes);
                nodes = json_array();
        }
        if (!nodes)
                return -ENOMEM;
        *ret = (struct nodepools_result){
                .nodes = nodes, .has_condition = true, .status = CONDITION_FALSE, .problem = true};
        snprintf(ret->reason, sizeof(ret->reason), "NodePoolSupportMissing");
        snprintf(ret->message, sizeof(ret->message), "cannot load node pool support: %.400s",
                 module_error);
        return 0;
}

int nodepools_release_all(const struct nodepools_request *request, char **ret_message)
{
        if (!request->spec || request->spec->node_pools_count == 0)
                return 0;
        const struct nodepools_module *m = module_get();
        if (m)
                return m->release_all(request, ret_message);
        if (ret_message &&
            asprintf(ret_message, "cannot load node pool support: %s", module_error) < 0)
                *ret_message = NULL;
        return -EIO;
}

int nodepools_drill_nodes_open(const struct nodepools_request *request,
                               struct chaos_node_driver *ret_driver,
                               struct nodepools_drill_nodes **ret_nodes, char **ret_message)
{
        if (!request->spec || request->spec->node_pools_count == 0) {
                if (ret_message && asprintf(ret_message, "the TripDeal has no node pools") < 0)
                        *ret_message = NULL;
                return -ENOENT;
        }
        const struct nodepools_module *m = module_get();
        if (m)
                return m->drill_nodes_open(request, ret_driver, ret_nodes, ret_message);
        if (ret_message &&
            asprintf(ret_message, "cannot load node pool support: %s", module_error) < 0)
                *ret_message = NULL;
        return -ELIBACC;
}

void nodepools_drill_nodes_close(struct nodepools_drill_nodes *nodes)
{
        /* Only a loaded module hands out nodes. */
        if (nodes && module)
                module->drill_nodes_close(nodes);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Golden-file tests for vmctl's pure generators, libvirt style: each
 * data/CASE.json is an input; beside it lie the exact expected outputs
 * CASE.xml (domain), CASE.volume.xml (overlay volume), CASE.meta-data,
 * CASE.user-data and CASE.network-config.  TRIPDEAL_REGENERATE_GOLDEN=1
 * rewrites the expected files (review the diff before committing).
 *
 * Besides byte equality, every output is parsed back (libxml2, libyaml) and
 * the hostile inputs must come back unchanged: escaping, not luck.
 */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml.h>

#include <cmocka.h>

#include "macros.h"
#include "support.h"
#include "vmctl.h"

static const char *data_dir;

struct golden_case {
        json_t *json;
        const char *keys[8];
        struct vmctl_domain_params domain;
        struct vmctl_volume_params volume;
        struct vmctl_seed_params seed;
};

static const char *str(json_t *o, const char *key)
{
        return json_string_value(json_object_get(o, key));
}

static void load_case(const char *path, struct golden_case *c)
{
        json_error_t err;
        json_t *keys;
        size_t i;
        json_t *k;

        *c = (struct golden_case){0};
        c->json = json_load_file(path, 0, &err);
        if (!c->json)
                fail_msg("%s:%d: %s", path, err.line, err.text);
        json_t *o = c->json;
        c->domain = (struct vmctl_domain_params){
                .name = str(o, "name"),
                .uuid = str(o, "uuid"),
                .domain_type = str(o, "domain_type"),
                .machine = str(o, "machine"),
                .vcpus = (unsigned)json_integer_value(json_object_get(o, "vcpus")),
                .memory_mib = (uint64_t)json_integer_value(json_object_get(o, "memory_mib")),
                .disk_path = str(o, "disk_path"),
                .seed_path = str(o, "seed_path"),
                .network = str(o, "network"),
                .pool = str(o, "pool"),
                .owner = str(o, "owner"),
                .storage_pool = str(o, "storage_pool"),
                .created_at = str(o, "created_at"),
        };
        c->volume = (struct vmctl_volume_params){
                .name = "overlay.qcow2",
                .format = "qcow2",
                .capacity_bytes =
                        (uint64_t)json_integer_value(json_object_get(o, "capacity_bytes")),
                .backing_path = str(o, "backing_path"),
                .backing_format = str(o, "backing_format"),
        };
        keys = json_object_get(o, "ssh_keys");
        json_array_foreach (keys, i, k) {
                assert_true(i < ARRAY_SIZE(c->keys));
                c->keys[i] = json_string_value(k);
        }
        c->seed = (struct vmctl_seed_params){
                .instance_id = str(o, "uuid"),
                .hostname = str(o, "hostname"),
                .ssh_keys = c->keys,
                .n_ssh_keys = json_array_size(keys),
                .join_command = str(o, "join_command"),
        };
}

/* Compare with data/<case><suffix> (TRIPDEAL_REGENERATE_GOLDEN=1 rewrites it). */
static int check_golden(const char *case_name, const char *suffix, const char *actual)
{
        _cleanup_free_ char *path = NULL;
        assert_true(asprintf(&path, "%s/%s%s", data_dir, case_name, suffix) > 0);
        return support_golden_compare(path, actual) < 0 ? 1 : 0;
}

static void test_golden_files(void **state)
{
        DIR *dir = opendir(data_dir);
        struct dirent *de;
        int failures = 0, cases = 0;

        assert_non_null(dir);
        while ((de = readdir(dir))) {
                size_t n = strlen(de->d_name);
                if (n < 6 || strcmp(de->d_name + n - 5, ".json") != 0)
                        continue;
                _cleanup_free_ char *path = NULL, *case_name = strndup(de->d_name, n - 5);
                _cleanup_free_ char *domain = NULL, *volume = NULL, *meta = NULL, *user = NULL,
                                    *network = NULL;
                struct golden_case c;

                assert_true(asprintf(&path, "%s/%s", data_dir, de->d_name) > 0);
                load_case(path, &c);
                assert_int_equal(vmctl_domain_xml(&c.domain, &domain), 0);
                assert_int_equal(vmctl_volume_xml(&c.volume, &volume), 0);
                assert_int_equal(vmctl_seed_meta_data(&c.seed, &meta), 0);
                assert_int_equal(vmctl_seed_user_data(&c.seed, &user), 0);
                assert_int_equal(vmctl_seed_network_config(&c.seed, &network), 0);
                failures += check_golden(case_name, ".xml", domain);
                failures += check_golden(case_name, ".volume.xml", volume);
                failures += check_golden(case_name, ".meta-data", meta);
                failures += check_golden(case_name, ".user-data", user);
                failures += check_golden(case_name, ".network-config", network);
                json_decref(c.json);
                cases++;
        }
        closedir(dir);
        assert_true(cases >= 3);
        assert_int_equal(failures, 0);
}

/* ---- Round trips: what goes in comes out of the parsers unchanged ---- */

static char *xpath_string(xmlDocPtr doc, const char *expr)
{
        xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
        xmlXPathRegisterNs(ctx, BAD_CAST "t", BAD_CAST VMCTL_METADATA_NS);
        _cleanup_free_ char *wrapped = NULL;
        assert_true(asprintf(&wrapped, "string(%s)", expr) > 0);
        xmlXPathObjectPtr res = xmlXPathEvalExpression(BAD_CAST wrapped, ctx);
        assert_non_null(res);
        char *s = strdup((const char *)res->stringval);
        xmlXPathFreeObject(res);
        xmlXPathFreeContext(ctx);
        return s;
}

static void assert_xpath(xmlDocPtr doc, const char *expr, const char *want)
{
        _cleanup_free_ char *got = xpath_string(doc, expr);
        if (!want)
                want = "";
        if (strcmp(got, want) != 0)
                fail_msg("%s: got '%s', want '%s'", expr, got, want);
}

static void load_named_case(const char *name, struct golden_case *c)
{
        _cleanup_free_ char *path = NULL;
        assert_true(asprintf(&path, "%s/%s.json", data_dir, name) > 0);
        load_case(path, c);
}

static void test_domain_xml_round_trip(void **state)
{
        const char *cases[] = {"basic", "network", "hostile"};

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                struct golden_case c;
                _cleanup_free_ char *xml = NULL;
                load_named_case(cases[i], &c);
                assert_int_equal(vmctl_domain_xml(&c.domain, &xml), 0);
                xmlDocPtr doc =
                        xmlReadMemory(xml, (int)strlen(xml), "d.xml", NULL, XML_PARSE_NONET);
                assert_non_null(doc);
                assert_xpath(doc, "/domain/@type", c.domain.domain_type);
                assert_xpath(doc, "/domain/name", c.domain.name);
                assert_xpath(doc, "/domain/devices/disk[@device='disk']/source/@file",
                             c.domain.disk_path);
                assert_xpath(doc, "/domain/devices/disk[@device='cdrom']/source/@file",
                             c.domain.seed_path);
                assert_xpath(doc, "/domain/devices/interface/source/@network", c.domain.network);
                assert_xpath(doc, "count(/domain/devices/interface)", c.domain.network ? "1" : "0");
                assert_xpath(doc, "count(/domain/devices/graphics)", "0");
                assert_xpath(doc, "/domain/metadata/t:node/t:pool", c.domain.pool);
                assert_xpath(doc, "/domain/metadata/t:node/t:owner", c.domain.owner);
                assert_xpath(doc, "/domain/metadata/t:node/t:storage-pool", c.domain.storage_pool);
                assert_xpath(doc, "/domain/metadata/t:node/t:created-at", c.domain.created_at);
                /* Nothing smuggled in: exactly the elements we wrote. */
                assert_xpath(doc, "count(/domain/metadata/t:node/*)", c.domain.owner ? "4" : "3");
                assert_xpath(doc, "count(//owner)", "0");
                xmlFreeDoc(doc);

                _cleanup_free_ char *vol = NULL;
                assert_int_equal(vmctl_volume_xml(&c.volume, &vol), 0);
                doc = xmlReadMemory(vol, (int)strlen(vol), "v.xml", NULL, XML_PARSE_NONET);
                assert_non_null(doc);
                assert_xpath(doc, "/volume/backingStore/path", c.volume.backing_path);
                xmlFreeDoc(doc);
                json_decref(c.json);
        }
}

/* Parse YAML into a libyaml document; fail on any syntax error. */
static void parse_yaml(const char *text, yaml_document_t *doc)
{
        yaml_parser_t parser;
        assert_true(yaml_parser_initialize(&parser));
        yaml_parser_set_input_string(&parser, (const unsigned char *)text, strlen(text));
        if (!yaml_parser_load(&parser, doc))
                fail_msg("YAML error: %s at line %zu", parser.problem ? parser.problem : "?",
                         parser.problem_mark.line + 1);
        yaml_parser_delete(&parser);
}

static yaml_node_t *map_get(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
        assert_int_equal(map->type, YAML_MAPPING_NODE);
        for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
             p++) {
                yaml_node_t *k = yaml_document_get_node(doc, p->key);
                if (k->type == YAML_SCALAR_NODE && strcmp((char *)k->data.scalar.value, key) == 0)
                        return yaml_document_get_node(doc, p->value);
        }
        return NULL;
}

static void assert_scalar(yaml_node_t *node, const char *want, bool quoted)
{
        assert_non_null(node);
        assert_int_equal(node->type, YAML_SCALAR_NODE);
        assert_string_equal((char *)node->data.scalar.value, want);
        /* A quoted scalar can never be read as a bool or null ("yes", "true", "null"). */
        if (quoted)
                assert_int_not_equal(node->data.scalar.style, YAML_PLAIN_SCALAR_STYLE);
}

static void test_user_data_is_yaml_with_join_command(void **state)
{
        const char *cases[] = {"basic", "hostile"};

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                struct golden_case c;
                _cleanup_free_ char *user = NULL, *meta = NULL;
                yaml_document_t doc;

                load_named_case(cases[i], &c);
                assert_int_equal(vmctl_seed_user_data(&c.seed, &user), 0);
                assert_true(strncmp(user, "#cloud-config\n", 14) == 0);
                parse_yaml(user, &doc);
                yaml_node_t *root = yaml_document_get_root_node(&doc);
                assert_scalar(map_get(&doc, root, "hostname"), c.seed.hostname, true);
                yaml_node_t *runcmd = map_get(&doc, root, "runcmd");
                assert_non_null(runcmd);
                assert_int_equal(runcmd->type, YAML_SEQUENCE_NODE);
                assert_int_equal(
                        runcmd->data.sequence.items.top - runcmd->data.sequence.items.start, 1);
                assert_scalar(yaml_document_get_node(&doc, runcmd->data.sequence.items.start[0]),
                              c.seed.join_command, true);
                yaml_node_t *keys = map_get(&doc, root, "ssh_authorized_keys");
                assert_non_null(keys);
                assert_int_equal(keys->data.sequence.items.top - keys->data.sequence.items.start,
                                 (long)c.seed.n_ssh_keys);
                for (size_t k = 0; k < c.seed.n_ssh_keys; k++)
                        assert_scalar(
                                yaml_document_get_node(&doc, keys->data.sequence.items.start[k]),
                                c.seed.ssh_keys[k], true);
                yaml_document_delete(&doc);

                assert_int_equal(vmctl_seed_meta_data(&c.seed, &meta), 0);
                parse_yaml(meta, &doc);
                root = yaml_document_get_root_node(&doc);
                assert_scalar(map_get(&doc, root, "instance-id"), c.seed.instance_id, true);
                assert_scalar(map_get(&doc, root, "local-hostname"), c.seed.hostname, true);
                yaml_document_delete(&doc);
                json_decref(c.json);
        }
}

static void test_no_join_command_no_runcmd(void **state)
{
        struct golden_case c;
        _cleanup_free_ char *user = NULL;
        load_named_case("network", &c);
        assert_int_equal(vmctl_seed_user_data(&c.seed, &user), 0);
        assert_null(strstr(user, "runcmd"));
        assert_null(strstr(user, "ssh_authorized_keys"));
        json_decref(c.json);
}

static void test_rejects_text_xml_cannot_carry(void **state)
{
        struct golden_case c;
        char *xml = (char *)0x1;
        const char *bad[] = {"/a\x01b", "/a\nb", "/bad-utf8-\xc3(", "/\x7f"};

        load_named_case("basic", &c);
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                struct vmctl_domain_params p = c.domain;
                p.disk_path = bad[i];
                assert_int_equal(vmctl_domain_xml(&p, &xml), -EINVAL);
                assert_ptr_equal(xml, (char *)0x1); /* untouched on failure */
        }
        struct vmctl_seed_params s = c.seed;
        s.join_command = "kubeadm \xff\xfe";
        assert_int_equal(vmctl_seed_user_data(&s, &xml), -EINVAL);
        assert_ptr_equal(xml, (char *)0x1);
        json_decref(c.json);
}

static void test_validate_name(void **state)
{
        const char *good[] = {"a", "burst-1", "0abc", "a-b-c",
                              "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0"};
        const char *bad[] = {
                "",    "-a",
                "a-",  "A",
                "a_b", "a.b",
                "a b", "ü",
                "a/b", "a<b",
                "a'b", "a\"b",
                "..",  "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz01"};

        for (size_t i = 0; i < ARRAY_SIZE(good); i++)
                assert_int_equal(vmctl_validate_name(good[i]), 0);
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
                if (vmctl_validate_name(bad[i]) != -EINVAL)
                        fail_msg("'%s' accepted", bad[i]);
        assert_int_equal(vmctl_validate_name(NULL), -EINVAL);
        assert_int_equal(vmctl_validate_owner("tripdeal/shop"), 0);
        assert_int_equal(vmctl_validate_owner("tripdeal"), -EINVAL);
        assert_int_equal(vmctl_validate_owner("trip/deal/shop"), -EINVAL);
        assert_int_equal(vmctl_validate_owner("/shop"), -EINVAL);
        assert_int_equal(vmctl_validate_owner("Trip/shop"), -EINVAL);
}

static void test_state_strings(void **state)
{
        assert_string_equal(vmctl_state_to_string(VMCTL_STATE_RUNNING), "running");
        assert_string_equal(vmctl_state_to_string(VMCTL_STATE_SHUTOFF), "shutoff");
        assert_string_equal(vmctl_state_to_string((enum vmctl_state)999), "unknown");
}

/* stdout of a command (argv run without a shell), NUL-terminated. */
static char *command_output(char *const argv[])
{
        int fds[2];
        char *text = NULL;
        size_t size = 0;

        assert_int_equal(pipe(fds), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                dup2(fds[1], STDOUT_FILENO);
                close(fds[0]);
                close(fds[1]);
                execvp(argv[0], argv);
                _exit(127);
        }
        close(fds[1]);
        FILE *mem = open_memstream(&text, &size);
        char buf[4096];
        ssize_t n;
        while ((n = read(fds[0], buf, sizeof(buf))) > 0)
                fwrite(buf, 1, (size_t)n, mem);
        fclose(mem);
        close(fds[0]);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        return text;
}

/* The NoCloud ISO: label cidata, exactly the three files, each byte-identical. */
static void test_seed_iso_layout(void **state)
{
        struct golden_case c;
        _cleanup_free_ char *iso = NULL, *listing = NULL;
        char tmpdir[] = "/tmp/vmctl-test-iso-XXXXXX";
        static const char *const names[] = {"/meta-data", "/network-config", "/user-data"};
        int (*const generators[])(const struct vmctl_seed_params *, char **) = {
                vmctl_seed_meta_data, vmctl_seed_network_config, vmctl_seed_user_data};

        load_named_case("hostile", &c);
        assert_non_null(mkdtemp(tmpdir));
        assert_int_equal(vmctl_seed_iso_build(&c.seed, tmpdir, &iso), 0);

        FILE *f = fopen(iso, "re");
        assert_non_null(f);
        char label[6];
        assert_int_equal(fseek(f, 0x8028, SEEK_SET), 0);
        assert_int_equal(fread(label, 1, sizeof(label), f), sizeof(label));
        fclose(f);
        assert_memory_equal(label, "cidata", 6);

        listing = command_output((char *const[]){"isoinfo", "-R", "-f", "-i", iso, NULL});
        assert_string_equal(listing, "/meta-data\n/network-config\n/user-data\n");
        for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
                _cleanup_free_ char *want = NULL, *got = NULL;
                assert_int_equal(generators[i](&c.seed, &want), 0);
                got = command_output(
                        (char *const[]){"isoinfo", "-R", "-x", (char *)names[i], "-i", iso, NULL});
                assert_string_equal(got, want);
        }
        unlink(iso);
        assert_int_equal(rmdir(tmpdir), 0); /* nothing else left in tmpdir */
        json_decref(c.json);
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_golden_files),
                cmocka_unit_test(test_domain_xml_round_trip),
                cmocka_unit_test(test_user_data_is_yaml_with_join_command),
                cmocka_unit_test(test_no_join_command_no_runcmd),
                cmocka_unit_test(test_rejects_text_xml_cannot_carry),
                cmocka_unit_test(test_validate_name),
                cmocka_unit_test(test_state_strings),
                cmocka_unit_test(test_seed_iso_layout),
        };

        if (argc != 2) {
                fprintf(stderr, "usage: %s DATA_DIR\n", argv[0]);
                return 2;
        }
        data_dir = argv[1];
        return cmocka_run_group_tests(tests, NULL, NULL);
}

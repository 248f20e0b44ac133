/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pure generation of everything vmctl hands to libvirt and cloud-init: domain
 * XML and volume XML (libxml2's xmlTextWriter does the escaping) and the
 * NoCloud seed files (libyaml's emitter does the quoting).  No libvirt, no
 * I/O, deterministic for given parameters: tests compare the output byte for
 * byte with golden files.
 */
#include <errno.h>
#include <inttypes.h>
#include <libxml/xmlstring.h>
#include <libxml/xmlwriter.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "macros.h"
#include "vmctl.h"

/* ---- Validation ---------------------------------------------------- */

int vmctl_validate_name(const char *name)
{
        size_t n;

        if (!name)
                return -EINVAL;
        n = strlen(name);
        if (n == 0 || n > VMCTL_NAME_MAX)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                char c = name[i];
                bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
                if (!alnum && !(c == '-' && i > 0 && i < n - 1))
                        return -EINVAL;
        }
        return 0;
}

int vmctl_validate_owner(const char *owner)
{
        char buf[2 * VMCTL_NAME_MAX + 2];
        char *slash;

        if (!owner || strlen(owner) >= sizeof(buf))
                return -EINVAL;
        strcpy(buf, owner);
        slash = strchr(buf, '/');
        if (!slash)
                return -EINVAL;
        *slash = '\0';
        if (vmctl_validate_name(buf) < 0 || vmctl_validate_name(slash + 1) < 0)
                return -EINVAL;
        return 0;
}

/*
 * XML 1.0 cannot carry C0 control characters at all and libxml2 does not
 * check that the input is UTF-8, so text that is neither is refused here
 * instead of producing a document libvirt rejects (or misreads).
 */
static bool xml_text_ok(const char *s)
{
        if (!s)
                return true;
        if (!xmlCheckUTF8((const xmlChar *)s))
                return false;
        for (const unsigned char *p = (const unsigned char *)s; *p; p++)
                if (*p < 0x20 || *p == 0x7f)
                        return false;
        return true;
}

/* ---- XML ------------------------------------------------------------ */

DEFINE_TRIVIAL_CLEANUP_FUNC(xmlTextWriterPtr, xmlFreeTextWriter);
DEFINE_TRIVIAL_CLEANUP_FUNC(xmlBufferPtr, xmlBufferFree);

#define BAD(x) ((x) < 0)

static int text_element(xmlTextWriterPtr w, const char *name, const char *text)
{
        return xmlTextWriterWriteElement(w, BAD_CAST name, BAD_CAST text);
}

static int ns_text_element(xmlTextWriterPtr w, const char *name, const char *text)
{
        if (BAD(xmlTextWriterStartElementNS(w, BAD_CAST VMCTL_METADATA_PREFIX, BAD_CAST name,
                                            NULL)) ||
            BAD(xmlTextWriterWriteString(w, BAD_CAST text)) || BAD(xmlTextWriterEndElement(w)))
                return -1;
        return 0;
}

static int start(xmlTextWriterPtr w, const char *name)
{
        return xmlTextWriterStartElement(w, BAD_CAST name);
}

static int end(xmlTextWriterPtr w)
{
        return xmlTextWriterEndElement(w);
}

static int attr(xmlTextWriterPtr w, const char *name, const char *value)
{
        return xmlTextWriterWriteAttribute(w, BAD_CAST name, BAD_CAST value);
}

/* Empty element with up to two attributes (NULL name = none). */
static int empty(xmlTextWriterPtr w, const char *name, const char *a1, const char *v1,
                 const char *a2, const char *v2)
{
        if (BAD(start(w, name)) || (a1 && BAD(attr(w, a1, v1))) || (a2 && BAD(attr(w, a2, v2))) ||
            BAD(end(w)))
                return -1;
        return 0;
}

static int new_writer(xmlBufferPtr *ret_buf, xmlTextWriterPtr *ret_writer)
{
        xmlBufferPtr buf = xmlBufferCreate();
        xmlTextWriterPtr w;

        if (!buf)
                return -ENOMEM;
        w = xmlNewTextWriterMemory(buf, 0);
        if (!w) {
                xmlBufferFree(buf);
                return -ENOMEM;
        }
        xmlTextWriterSetIndent(w, 1);
        xmlTextWriterSetIndentString(w, BAD_CAST "  ");
        *ret_buf = buf;
        *ret_writer = w;
        return 0;
}

/* Flush the writer and hand out the buffer's text (with a final newline). */
static int finish_writer(xmlBufferPtr buf, xmlTextWriterPtr w, char **ret_xml)
{
        const char *content;
        char *xml;
        size_t n;

        if (BAD(xmlTextWriterFlush(w)))
                return -EIO;
        content = (const char *)xmlBufferContent(buf);
        n = strlen(content);
        xml = malloc(n + 2);
        if (!xml)
                return -ENOMEM;
        memcpy(xml, content, n);
        if (n == 0 || xml[n - 1] != '\n')
                xml[n++] = '\n';
        xml[n] = '\0';
        *ret_xml = xml;
        return 0;
}

int vmctl_domain_xml(const struct vmctl_domain_params *p, char **ret_xml)
{
        _cleanup_(xmlBufferFreep) xmlBufferPtr buf = NULL;
        _cleanup_(xmlFreeTextWriterp) xmlTextWriterPtr w = NULL;
        char memory[32], vcpus[16];
        int r;

        if (!p || !ret_xml || !p->name || !p->uuid || !p->domain_type || !p->machine ||
            !p->disk_path || !p->seed_path || !p->pool || !p->storage_pool || !p->created_at ||
            p->vcpus == 0 || p->memory_mib == 0)
                return -EINVAL;
        {
                const char *texts[] = {p->name,      p->uuid,         p->domain_type, p->machine,
                                       p->disk_path, p->seed_path,    p->network,     p->pool,
                                       p->owner,     p->storage_pool, p->created_at};
                for (size_t i = 0; i < ARRAY_SIZE(texts); i++)
                        if (!xml_text_ok(texts[i]))
                                return -EINVAL;
        }
        snprintf(memory, sizeof(memory), "%" PRIu64, p->memory_mib);
        snprintf(vcpus, sizeof(vcpus), "%u", p->vcpus);

        r = new_writer(&buf, &w);
        if (r < 0)
                return r;

        if (BAD(start(w, "domain")) || BAD(attr(w, "type", p->domain_type)) ||
            BAD(text_element(w, "name", p->name)) || BAD(text_element(w, "uuid", p->uuid)))
                return -EIO;

        /* TripDeal's record of this VM: what the operator finds again after a restart. */
        if (BAD(start(w, "metadata")) ||
            BAD(xmlTextWriterStartElementNS(w, BAD_CAST VMCTL_METADATA_PREFIX, BAD_CAST "node",
                                            BAD_CAST VMCTL_METADATA_NS)) ||
            BAD(ns_text_element(w, "pool", p->pool)) ||
            (p->owner && BAD(ns_text_element(w, "owner", p->owner))) ||
            BAD(ns_text_element(w, "storage-pool", p->storage_pool)) ||
            BAD(ns_text_element(w, "created-at", p->created_at)) || BAD(end(w)) || BAD(end(w)))
                return -EIO;

        if (BAD(start(w, "memory")) || BAD(attr(w, "unit", "MiB")) ||
            BAD(xmlTextWriterWriteString(w, BAD_CAST memory)) || BAD(end(w)) ||
            BAD(text_element(w, "vcpu", vcpus)))
                return -EIO;

        if (BAD(start(w, "os")) || BAD(start(w, "type")) || BAD(attr(w, "machine", p->machine)) ||
            BAD(xmlTextWriterWriteString(w, BAD_CAST "hvm")) || BAD(end(w)) ||
            BAD(empty(w, "boot", "dev", "hd", NULL, NULL)) || BAD(end(w)))
                return -EIO;
        if (BAD(start(w, "features")) || BAD(empty(w, "acpi", NULL, NULL, NULL, NULL)) ||
            BAD(end(w)))
                return -EIO;
        if (BAD(text_element(w, "on_poweroff", "destroy")) ||
            BAD(text_element(w, "on_reboot", "restart")) ||
            BAD(text_element(w, "on_crash", "destroy")))
                return -EIO;

        if (BAD(start(w, "devices")))
                return -EIO;
        /* Root disk: the qcow2 overlay on virtio. */
        if (BAD(start(w, "disk")) || BAD(attr(w, "type", "file")) ||
            BAD(attr(w, "device", "disk")) ||
            BAD(empty(w, "driver", "name", "qemu", "type", "qcow2")) ||
            BAD(empty(w, "source", "file", p->disk_path, NULL, NULL)) ||
            BAD(empty(w, "target", "dev", "vda", "bus", "virtio")) || BAD(end(w)))
                return -EIO;
        /* cloud-init seed as a read-only CD-ROM; SATA because q35 has no IDE. */
        if (BAD(start(w, "disk")) || BAD(attr(w, "type", "file")) ||
            BAD(attr(w, "device", "cdrom")) ||
            BAD(empty(w, "driver", "name", "qemu", "type", "raw")) ||
            BAD(empty(w, "source", "file", p->seed_path, NULL, NULL)) ||
            BAD(empty(w, "target", "dev", "sda", "bus", "sata")) ||
            BAD(empty(w, "readonly", NULL, NULL, NULL, NULL)) || BAD(end(w)))
                return -EIO;
        if (p->network) {
                if (BAD(start(w, "interface")) || BAD(attr(w, "type", "network")) ||
                    BAD(empty(w, "source", "network", p->network, NULL, NULL)) ||
                    BAD(empty(w, "model", "type", "virtio", NULL, NULL)) || BAD(end(w)))
                        return -EIO;
        }
        /* Serial console, no graphics: nodes are reached over SSH or `virsh console`. */
        if (BAD(start(w, "serial")) || BAD(attr(w, "type", "pty")) ||
            BAD(empty(w, "target", "port", "0", NULL, NULL)) || BAD(end(w)) ||
            BAD(start(w, "console")) || BAD(attr(w, "type", "pty")) ||
            BAD(empty(w, "target", "type", "serial", "port", "0")) || BAD(end(w)))
                return -EIO;
        if (BAD(end(w)) /* devices */ || BAD(end(w)) /* domain */)
                return -EIO;

        return finish_writer(buf, w, ret_xml);
}

int vmctl_volume_xml(const struct vmctl_volume_params *p, char **ret_xml)
{
        _cleanup_(xmlBufferFreep) xmlBufferPtr buf = NULL;
        _cleanup_(xmlFreeTextWriterp) xmlTextWriterPtr w = NULL;
        char capacity[32];
        int r;

        if (!p || !ret_xml || !p->name || !p->format || (p->backing_path && !p->backing_format))
                return -EINVAL;
        if (!xml_text_ok(p->name) || !xml_text_ok(p->format) || !xml_text_ok(p->backing_path) ||
            !xml_text_ok(p->backing_format))
                return -EINVAL;
        r = new_writer(&buf, &w);
        if (r < 0)
                return r;
        if (BAD(start(w, "volume")) || BAD(text_element(w, "name", p->name)))
                return -EIO;
        if (p->capacity_bytes > 0) {
                snprintf(capacity, sizeof(capacity), "%" PRIu64, p->capacity_bytes);
                if (BAD(start(w, "capacity")) || BAD(attr(w, "unit", "bytes")) ||
                    BAD(xmlTextWriterWriteString(w, BAD_CAST capacity)) || BAD(end(w)))
                        return -EIO;
        }
        if (BAD(start(w, "target")) || BAD(empty(w, "format", "type", p->format, NULL, NULL)) ||
            BAD(end(w)))
                return -EIO;
        if (p->backing_path) {
                if (BAD(start(w, "backingStore")) ||
                    BAD(text_element(w, "path", p->backing_path)) ||
                    BAD(empty(w, "format", "type", p->backing_format, NULL, NULL)) || BAD(end(w)))
                        return -EIO;
        }
        if (BAD(end(w)))
                return -EIO;
        return finish_writer(buf, w, ret_xml);
}

/* ---- cloud-init NoCloud seed (YAML through libyaml's emitter) --------- */

struct yaml_out {
        yaml_emitter_t emitter;
        FILE *stream;
        char *text;
        size_t size;
        bool ok;
};

static int yaml_write(void *data, unsigned char *buffer, size_t size)
{
        struct yaml_out *out = data;
        return fwrite(buffer, 1, size, out->stream) == size;
}

static int yaml_out_begin(struct yaml_out *out, const char *header)
{
        yaml_event_t ev;

        *out = (struct yaml_out){.ok = true};
        out->stream = open_memstream(&out->text, &out->size);
        if (!out->stream)
                return -ENOMEM;
        if (header)
                fputs(header, out->stream);
        if (!yaml_emitter_initialize(&out->emitter)) {
                fclose(out->stream);
                free(out->text);
                return -ENOMEM;
        }
        yaml_emitter_set_output(&out->emitter, yaml_write, out);
        yaml_emitter_set_unicode(&out->emitter, 1);
        /* Never fold long lines: a join command stays one readable line. */
        yaml_emitter_set_width(&out->emitter, -1);
        yaml_emitter_set_indent(&out->emitter, 2);

        yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
        out->ok = out->ok && yaml_emitter_emit(&out->emitter, &ev);
        yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
        out->ok = out->ok && yaml_emitter_emit(&out->emitter, &ev);
        return 0;
}

static void yaml_emit_simple(struct yaml_out *out, yaml_event_t *ev)
{
        if (!out->ok) {
                yaml_event_delete(ev);
                return;
        }
        out->ok = yaml_emitter_emit(&out->emitter, ev);
}

static void yaml_map_start(struct yaml_out *out)
{
        yaml_event_t ev;
        yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
        yaml_emit_simple(out, &ev);
}

static void yaml_map_end(struct yaml_out *out)
{
        yaml_event_t ev;
        yaml_mapping_end_event_initialize(&ev);
        yaml_emit_simple(out, &ev);
}

static void yaml_seq_start(struct yaml_out *out)
{
        yaml_event_t ev;
        yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
        yaml_emit_simple(out, &ev);
}

static void yaml_seq_end(struct yaml_out *out)
{
        yaml_event_t ev;
        yaml_sequence_end_event_initialize(&ev);
        yaml_emit_simple(out, &ev);
}

/*
 * Keys and fixed words go out plain; every value that comes from a user goes
 * out double-quoted, so a hostname like "true" or "null" stays a string and
 * any character is escaped by libyaml.
 */
static void yaml_scalar(struct yaml_out *out, const char *value, yaml_scalar_style_t style)
{
        yaml_event_t ev;
        if (!out->ok)
                return;
        if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)value, (int)strlen(value),
                                          style == YAML_PLAIN_SCALAR_STYLE,
                                          style != YAML_PLAIN_SCALAR_STYLE, style)) {
                out->ok = false;
                return;
        }
        yaml_emit_simple(out, &ev);
}

static void yaml_key(struct yaml_out *out, const char *key)
{
        yaml_scalar(out, key, YAML_PLAIN_SCALAR_STYLE);
}

static void yaml_string(struct yaml_out *out, const char *value)
{
        yaml_scalar(out, value, YAML_DOUBLE_QUOTED_SCALAR_STYLE);
}

static int yaml_out_end(struct yaml_out *out, char **ret_text)
{
        yaml_event_t ev;
        int r = 0;

        yaml_document_end_event_initialize(&ev, 1);
        yaml_emit_simple(out, &ev);
        yaml_stream_end_event_initialize(&ev);
        yaml_emit_simple(out, &ev);
        if (out->ok && !yaml_emitter_flush(&out->emitter))
                out->ok = false;
        yaml_emitter_delete(&out->emitter);
        if (fclose(out->stream) != 0)
                out->ok = false;
        if (!out->ok) {
                /* libyaml refuses invalid UTF-8 and similar: the input is at fault. */
                free(out->text);
                r = -EINVAL;
        } else
                *ret_text = out->text;
        *out = (struct yaml_out){0};
        return r;
}

static int seed_check(const struct vmctl_seed_params *p, char **ret_text)
{
        if (!p || !ret_text || !p->instance_id || !p->hostname || (p->n_ssh_keys && !p->ssh_keys))
                return -EINVAL;
        for (size_t i = 0; i < p->n_ssh_keys; i++)
                if (!p->ssh_keys[i])
                        return -EINVAL;
        return 0;
}

int vmctl_seed_meta_data(const struct vmctl_seed_params *p, char **ret_text)
{
        struct yaml_out out;
        int r;

        r = seed_check(p, ret_text);
        if (r < 0)
                return r;
        r = yaml_out_begin(&out, NULL);
        if (r < 0)
                return r;
        yaml_map_start(&out);
        yaml_key(&out, "instance-id");
        yaml_string(&out, p->instance_id);
        yaml_key(&out, "local-hostname");
        yaml_string(&out, p->hostname);
        yaml_map_end(&out);
        return yaml_out_end(&out, ret_text);
}

int vmctl_seed_user_data(const struct vmctl_seed_params *p, char **ret_text)
{
        struct yaml_out out;
        int r;

        r = seed_check(p, ret_text);
        if (r < 0)
                return r;
        /* cloud-init only treats user-data as cloud-config when this is line 1. */
        r = yaml_out_begin(&out, "#cloud-config\n");
        if (r < 0)
                return r;
        yaml_map_start(&out);
        yaml_key(&out, "hostname");
        yaml_string(&out, p->hostname);
        yaml_key(&out, "preserve_hostname");
        yaml_key(&out, "false");
        if (p->n_ssh_keys > 0) {
                yaml_key(&out, "ssh_authorized_keys");
                yaml_seq_start(&out);
                for (size_t i = 0; i < p->n_ssh_keys; i++)
                        yaml_string(&out, p->ssh_keys[i]);
                yaml_seq_end(&out);
        }
        if (p->join_command) {
                /* A string entry of runcmd runs through `sh -c`, once, at first boot. */
                yaml_key(&out, "runcmd");
                yaml_seq_start(&out);
                yaml_string(&out, p->join_command);
                yaml_seq_end(&out);
        }
        yaml_map_end(&out);
        return yaml_out_end(&out, ret_text);
}

int vmctl_seed_network_config(const struct vmctl_seed_params *p, char **ret_text)
{
        struct yaml_out out;
        int r;

        r = seed_check(p, ret_text);
        if (r < 0)
                return r;
        /* Netplan v2: DHCP on whichever virtio NIC the domain has (none is fine too). */
        r = yaml_out_begin(&out, NULL);
        if (r < 0)
                return r;
        yaml_map_start(&out);
        yaml_key(&out, "version");
        yaml_key(&out, "2");
        yaml_key(&out, "ethernets");
        yaml_map_start(&out);
        yaml_key(&out, "primary");
        yaml_map_start(&out);
        yaml_key(&out, "match");
        yaml_map_start(&out);
        yaml_key(&out, "name");
        yaml_string(&out, "en*");
        yaml_map_end(&out);
        yaml_key(&out, "dhcp4");
        yaml_key(&out, "true");
        yaml_map_end(&out);
        yaml_map_end(&out);
        yaml_map_end(&out);
        return yaml_out_end(&out, ret_text);
}

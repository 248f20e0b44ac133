/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers for the Prometheus text exposition format (version 0.0.4). */
#pragma once

#include <stdio.h>

/* A label value with the three reserved characters escaped (\\, ", newline),
 * so no input can break a metrics line. */
void prometheus_write_label_value(FILE *out, const char *value);

/*
 * The standard process metrics every Prometheus client library exports
 * (process_cpu_seconds_total, process_resident_memory_bytes,
 * process_virtual_memory_bytes, process_start_time_seconds,
 * process_open_fds, process_max_fds), read from /proc/self.
 */
struct prometheus_process_sample {
        double cpu_seconds;        /* user + system */
        double start_time_seconds; /* since the Unix epoch */
        unsigned long long resident_bytes;
        unsigned long long virtual_bytes;
        unsigned long long open_fds;
        unsigned long long max_fds; /* the soft RLIMIT_NOFILE */
};

/* Read the sample; -errno when /proc cannot be read (ret_sample untouched). */
int prometheus_process_sample_read(struct prometheus_process_sample *ret_sample);
/* Write the six families, with HELP and TYPE lines. */
void prometheus_write_process_metrics(FILE *out, const struct prometheus_process_sample *sample);

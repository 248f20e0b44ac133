/* SPDX-License-Identifier: Apache-2.0 */
/* Prometheus text-format helpers shared by the app and the operator: label
 * escaping and the standard process metrics from /proc/self. */
#include "prometheus.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "macros.h"

void prometheus_write_label_value(FILE *out, const char *value)
{
        for (const char *p = value; *p; p++) {
                if (*p == '\\' || *p == '"')
                        fputc('\\', out);
                if (*p == '\n') {
                        fputs("\\n", out);
                        continue;
                }
                fputc(*p, out);
        }
}

/* /proc/self/stat fields after the command name: utime, stime, starttime, vsize, rss. */
static int read_self_stat(double ticks, double *ret_cpu_seconds, double *ret_start_ticks,
                          unsigned long long *ret_virtual, long long *ret_rss_pages)
{
        _cleanup_fclose_ FILE *f = fopen("/proc/self/stat", "re");
        if (!f)
                return -errno;
        char line[1024];
        if (!fgets(line, sizeof(line), f))
                return -EIO;
        /* The command name may hold spaces and parentheses: skip to the last ')'. */
        const char *p = strrchr(line, ')');
        if (!p)
                return -EIO;
        unsigned long long utime = 0, stime = 0, start = 0, vsize = 0;
        long long rss = 0;
        /* Field 3 (state) onwards; utime is field 14, starttime 22, vsize 23, rss 24. */
        if (sscanf(p + 2,
                   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d "
                   "%*d %llu %llu %lld",
                   &utime, &stime, &start, &vsize, &rss) != 5)
                return -EIO;
        *ret_cpu_seconds = (double)(utime + stime) / ticks;
        *ret_start_ticks = (double)start;
        *ret_virtual = vsize;
        *ret_rss_pages = rss;
        return 0;
}

/* The boot time ("btime" in /proc/stat), seconds since the epoch. */
static int read_boot_time(unsigned long long *ret_boot_time)
{
        _cleanup_fclose_ FILE *f = fopen("/proc/stat", "re");
        if (!f)
                return -errno;
        char line[256];
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "btime %llu", ret_boot_time) == 1)
                        return 0;
        return -EIO;
}

int prometheus_process_sample_read(struct prometheus_process_sample *ret_sample)
{
        long ticks = sysconf(_SC_CLK_TCK);
        long page_size = sysconf(_SC_PAGESIZE);
        if (ticks <= 0 || page_size <= 0)
                return -EINVAL;
        struct prometheus_process_sample sample = {0};
        double start_ticks = 0;
        long long rss_pages = 0;
        unsigned long long boot_time = 0;
        int r = read_self_stat((double)ticks, &sample.cpu_seconds, &start_ticks,
                               &sample.virtual_bytes, &rss_pages);
        if (r >= 0)
                r = read_boot_time(&boot_time);
        if (r < 0)
                return r;
        sample.resident_bytes =
                rss_pages > 0 ? (unsigned long long)rss_pages * (unsigned long long)page_size : 0;
        sample.start_time_seconds = (double)boot_time + start_ticks / (double)ticks;

        DIR *fds = opendir("/proc/self/fd");
        if (!fds)
                return -errno;
        for (struct dirent *entry; (entry = readdir(fds));)
                if (entry->d_name[0] != '.')
                        sample.open_fds++;
        closedir(fds);
        if (sample.open_fds > 0)
                sample.open_fds--; /* the directory stream's own descriptor */

        struct rlimit limit;
        if (getrlimit(RLIMIT_NOFILE, &limit) < 0)
                return -errno;
        sample.max_fds = limit.rlim_cur == RLIM_INFINITY ? ULLONG_MAX : limit.rlim_cur;
        *ret_sample = sample;
        return 0;
}

void prometheus_write_process_metrics(FILE *out, const struct prometheus_process_sample *sample)
{
        fprintf(out,
                "# HELP process_cpu_seconds_total Total user and system CPU time spent in "
                "seconds.\n"
                "# TYPE process_cpu_seconds_total counter\n"
                "process_cpu_seconds_total %.2f\n"
                "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                "# TYPE process_resident_memory_bytes gauge\n"
                "process_resident_memory_bytes %llu\n"
                "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
                "# TYPE process_virtual_memory_bytes gauge\n"
                "process_virtual_memory_bytes %llu\n"
                "# HELP process_start_time_seconds Start time of the process since unix epoch in "
                "seconds.\n"
                "# TYPE process_start_time_seconds gauge\n"
                "process_start_time_seconds %.2f\n"
                "# HELP process_open_fds Number of open file descriptors.\n"
                "# TYPE process_open_fds gauge\n"
                "process_open_fds %llu\n"
                "# HELP process_max_fds Maximum number of open file descriptors.\n"
                "# TYPE process_max_fds gauge\n"
                "process_max_fds %llu\n",
                sample->cpu_seconds, sample->resident_bytes, sample->virtual_bytes,
                sample->start_time_seconds, sample->open_fds, sample->max_fds);
}

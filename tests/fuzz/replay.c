/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The libFuzzer entry point without libFuzzer: run LLVMFuzzerTestOneInput over
 * every file of the corpus directories given, once each.  This is how the
 * fuzz targets run in `meson test` (gcc builds, and under ASan + UBSan in the
 * sanitizer run): every input that ever found a bug stays in the corpus and
 * keeps being checked.  Exploring new inputs needs the clang build (README).
 *
 *   fuzz-replay-NAME CORPUS_DIR...
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
        FILE *f = fopen(path, "rb");
        if (!f) {
                fprintf(stderr, "%s: %s\n", path, strerror(errno));
                return -1;
        }
        uint8_t *data = NULL;
        size_t size = 0, capacity = 0;
        for (;;) {
                if (size == capacity) {
                        capacity = capacity ? capacity * 2 : 4096;
                        uint8_t *grown = realloc(data, capacity);
                        if (!grown) {
                                free(data);
                                fclose(f);
                                return -1;
                        }
                        data = grown;
                }
                size_t n = fread(data + size, 1, capacity - size, f);
                if (n == 0)
                        break;
                size += n;
        }
        fclose(f);
        /* An exact-size copy, so that ASan sees a read past the end. */
        uint8_t *exact = malloc(size ? size : 1);
        if (!exact) {
                free(data);
                return -1;
        }
        memcpy(exact, data, size);
        free(data);
        LLVMFuzzerTestOneInput(exact, size);
        free(exact);
        return 0;
}

int main(int argc, char **argv)
{
        if (argc < 2) {
                fprintf(stderr, "usage: %s CORPUS_DIR...\n", argv[0]);
                return 2;
        }
        unsigned inputs = 0;
        for (int i = 1; i < argc; i++) {
                DIR *dir = opendir(argv[i]);
                if (!dir) {
                        fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
                        return 1;
                }
                struct dirent *entry;
                while ((entry = readdir(dir))) {
                        if (entry->d_name[0] == '.')
                                continue;
                        char path[4096];
                        snprintf(path, sizeof(path), "%s/%s", argv[i], entry->d_name);
                        if (replay_file(path) < 0) {
                                closedir(dir);
                                return 1;
                        }
                        inputs++;
                }
                closedir(dir);
        }
        if (inputs == 0) {
                fprintf(stderr, "no inputs in the corpus\n");
                return 1;
        }
        printf("%u inputs replayed\n", inputs);
        return 0;
}

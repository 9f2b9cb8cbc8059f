/*
 * Replay driver: runs one fuzz target over saved inputs without libFuzzer
 * (the idea of zstd's tests/fuzz/regression_driver.c).
 *
 *   replay_<target> [--require] DIR_OR_FILE...
 *
 * Every regular file in each directory (sorted by name, dot files skipped),
 * and every file named directly, is read into a buffer of exactly its size
 * (so a sanitizer sees any read past the end) and handed to
 * LLVMFuzzerTestOneInput(). A crash, a sanitizer report or a failed
 * FUZZ_CHECK in the target ends the program abnormally, which fails the
 * test. A missing directory is skipped (crashes/<target>/ may be empty),
 * except that --require makes the next directory mandatory (the corpus).
 * Exit status: 0 when every input ran, 1 on a usage or I/O error.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int s_run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "replay: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    if (buf == NULL) {
        fclose(f);
        return -1;
    }
    for (;;) {
        if (len == cap) {
            uint8_t *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                fclose(f);
                return -1;
            }
            buf = nb;
            cap *= 2;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        free(buf);
        return -1;
    }
    /* An exact-size copy, so that reading one byte too far is caught. */
    uint8_t *exact = malloc(len ? len : 1);
    if (exact == NULL) {
        free(buf);
        return -1;
    }
    if (len)
        memcpy(exact, buf, len);
    free(buf);
    fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    return 0;
}

static int s_cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every regular file in @p dir; returns how many ran, or -1. */
static long s_run_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    size_t n = 0, cap = 64;
    char **names = malloc(cap * sizeof *names);
    if (names == NULL) {
        closedir(d);
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            char **nn = realloc(names, cap * 2 * sizeof *names);
            if (nn == NULL)
                break;
            names = nn;
            cap *= 2;
        }
        size_t l = strlen(dir) + 1 + strlen(e->d_name) + 1;
        names[n] = malloc(l);
        if (names[n] == NULL)
            break;
        snprintf(names[n], l, "%s/%s", dir, e->d_name);
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof *names, s_cmp_names);
    long ran = 0;
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode) && s_run_file(names[i]) == 0)
            ran++;
        free(names[i]);
    }
    free(names);
    return ran;
}

int main(int argc, char **argv)
{
    long total = 0;
    int require = 0, status = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--require") == 0) {
            require = 1;
            continue;
        }
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            if (require) {
                fprintf(stderr, "replay: required %s is missing\n", argv[i]);
                status = 1;
            } else {
                fprintf(stderr, "replay: %s absent, skipped\n", argv[i]);
            }
        } else if (S_ISDIR(st.st_mode)) {
            long r = s_run_dir(argv[i]);
            if (r < 0) {
                fprintf(stderr, "replay: cannot list %s\n", argv[i]);
                status = 1;
            } else {
                total += r;
                if (require && r == 0) {
                    fprintf(stderr, "replay: required %s is empty\n", argv[i]);
                    status = 1;
                }
            }
        } else if (s_run_file(argv[i]) == 0) {
            total++;
        } else {
            status = 1;
        }
        require = 0;
    }
    /* The empty input always runs: the cheapest edge case there is. */
    LLVMFuzzerTestOneInput((const uint8_t *)"", 0);
    printf("replay: %ld inputs ran%s\n", total + 1, status ? " (with errors)" : "");
    return status;
}

/*
 * Small helpers shared by the C benchmarks: a monotonic clock, repeated
 * measurements with median and spread, and a JSON result file that
 * bench/run.py turns into docs/performance.md.
 *
 * Each benchmark program takes `--quick` (a short pass) and `--json FILE`
 * (append its results there), prints a markdown table on stdout, and
 * measures every peer in the same run.
 */
#ifndef ZPK_BENCH_UTIL_H
#define ZPK_BENCH_UTIL_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline double bu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time of the calling thread: what a single-threaded codec costs,
 * unaffected by other processes competing for the cores. */
static inline double bu_cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct bu_opts {
    bool quick;
    const char *json;   /* NULL: no JSON output */
    int reps;           /* repetitions per measurement */
    double min_time;    /* seconds each repetition runs at least */
} bu_opts_t;

static inline bu_opts_t bu_parse_args(int argc, char **argv)
{
    bu_opts_t o = {false, NULL, 5, 0.25};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            o.quick = true;
        } else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc) {
            o.json = argv[++i];
        } else if (strcmp(argv[i], "--help") == 0) {
            printf("usage: %s [--quick] [--json FILE]\n", argv[0]);
            exit(0);
        }
    }
    if (o.quick) {
        o.reps = 3;
        o.min_time = 0.05;
    }
    return o;
}

static int bu_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One measured figure: median, min and max over the repetitions. */
typedef struct bu_stat {
    double median, min, max;
} bu_stat_t;

static inline bu_stat_t bu_stat(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, bu_cmp_double);
    bu_stat_t s = {n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2, v[0], v[n - 1]};
    return s;
}

/*
 * Interleaved comparison of two implementations of the same work: pairs of
 * slices, fa then fb (the order alternates from pair to pair), each slice
 * looping its function for at least `slice` seconds of this thread's CPU
 * time. The ratio of each pair (a's MB/s / b's MB/s) is taken, and its
 * median reported. On a shared machine a slow spell (a busy sibling
 * hyperthread, a neighbour thrashing the cache) lasts seconds and hits
 * both sides of a pair alike, so pair ratios hold up where two medians
 * measured one after the other do not.
 */
typedef struct bu_cmp {
    bu_stat_t a, b;  /* MB/s of each side over the pairs */
    bu_stat_t ratio; /* a / b per pair: median, min, max */
    int pairs;
} bu_cmp_t;

static inline double bu_slice_mbps(void (*fn)(void *), void *ud, double bytes, double slice)
{
    long calls = 0;
    double t0 = bu_cpu_now(), t;
    do {
        fn(ud);
        calls++;
        t = bu_cpu_now();
    } while (t - t0 < slice);
    return bytes * (double)calls / (t - t0) / 1e6;
}

static inline bu_cmp_t bu_compare_mbps(const bu_opts_t *o, void (*fa)(void *), void *uda,
                                       void (*fb)(void *), void *udb, double bytes)
{
    enum { MAXP = 64 };
    double va[MAXP], vb[MAXP], vr[MAXP];
    int pairs = o->quick ? 9 : 21;
    double slice = o->quick ? 0.02 : 0.05;
    fa(uda);
    fb(udb);
    for (int i = 0; i < pairs; i++) {
        if (i % 2 == 0) {
            va[i] = bu_slice_mbps(fa, uda, bytes, slice);
            vb[i] = bu_slice_mbps(fb, udb, bytes, slice);
        } else {
            vb[i] = bu_slice_mbps(fb, udb, bytes, slice);
            va[i] = bu_slice_mbps(fa, uda, bytes, slice);
        }
        vr[i] = va[i] / vb[i];
    }
    bu_cmp_t c;
    c.a = bu_stat(va, pairs);
    c.b = bu_stat(vb, pairs);
    c.ratio = bu_stat(vr, pairs);
    c.pairs = pairs;
    return c;
}

/* JSON results: one object per line, appended (bench/run.py reads them). */
static inline void bu_json_row(const bu_opts_t *o, const char *bench, const char *group,
                               const char *kase, const char *impl, const char *unit,
                               bu_stat_t s)
{
    if (o->json == NULL)
        return;
    FILE *f = fopen(o->json, "a");
    if (f == NULL)
        return;
    fprintf(f,
            "{\"bench\": \"%s\", \"group\": \"%s\", \"case\": \"%s\", \"impl\": \"%s\", "
            "\"unit\": \"%s\", \"median\": %.6g, \"min\": %.6g, \"max\": %.6g, \"reps\": %d}\n",
            bench, group, kase, impl, unit, s.median, s.min, s.max, o->reps);
    fclose(f);
}

#endif

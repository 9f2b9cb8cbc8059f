/*
 * Array codecs against memcpy of the same bytes, measured in the same run.
 *
 * Data sets (64 MiB each; 8 MiB with --quick): a smooth float64 signal, a
 * noisy int16 image, random float32 (incompressible), zeros and sparse
 * uint8. For each codec setting: compress (zpk_ndarray_encode, header and
 * owned chunk buffers included) and decompress (zpk_ndarray_decode_into a
 * warm buffer) in GB/s, and the ratio; memcpy of the same bytes into a warm
 * buffer beside them. Then `auto`: what it chose, and the cost of an
 * encode+decode round trip against `none` on each data set (target on
 * incompressible data: within 10%). Then the chunk size sweep that set
 * ZPK_DEFAULT_CHUNK_SIZE. Prints markdown tables; --json FILE appends rows.
 * Times are CPU time of this (single-threaded) process unless --wall.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zmqpack.h"
#include "bench_util.h"

typedef struct s_data {
    const char *name;
    const char *dtype;
    uint8_t *buf;
    size_t nbytes;
    size_t shape[2];
    int ndim;
} s_data_t;

static uint64_t s_rng = 88172645463325252ull;
static uint64_t s_next(void)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return s_rng;
}

static void s_make(s_data_t *d, size_t nbytes)
{
    d->nbytes = nbytes;
    d->buf = malloc(nbytes);
    if (d->buf == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    if (strcmp(d->name, "smooth f8") == 0) {
        double *p = (double *)d->buf;
        size_t n = nbytes / 8;
        for (size_t i = 0; i < n; i++)
            p[i] = sin((double)i * 1e-3) * cos((double)i * 3.7e-4) * 1000.0;
        d->ndim = 1;
        d->shape[0] = n;
    } else if (strcmp(d->name, "noisy i2 image") == 0) {
        int16_t *p = (int16_t *)d->buf;
        size_t w = 4096, h = nbytes / 2 / w;
        for (size_t y = 0; y < h; y++)
            for (size_t x = 0; x < w; x++)
                p[y * w + x] = (int16_t)((x + y) / 8 + (int)(s_next() % 32));
        d->ndim = 2;
        d->shape[0] = h;
        d->shape[1] = w;
    } else if (strcmp(d->name, "random f4") == 0) {
        float *p = (float *)d->buf;
        size_t n = nbytes / 4;
        for (size_t i = 0; i < n; i++)
            p[i] = (float)((double)(s_next() >> 11) * (1.0 / 9007199254740992.0));
        d->ndim = 1;
        d->shape[0] = n;
    } else if (strcmp(d->name, "zeros f8") == 0) {
        memset(d->buf, 0, nbytes);
        d->ndim = 1;
        d->shape[0] = nbytes / 8;
    } else { /* sparse u1: 1% non-zero */
        for (size_t i = 0; i < nbytes; i++)
            d->buf[i] = s_next() % 100 == 0 ? (uint8_t)(s_next() | 1) : 0;
        d->ndim = 1;
        d->shape[0] = nbytes;
    }
}

typedef struct s_job {
    zpk_ndarray_t a;
    zpk_codec_t codec;
    zpk_ndarray_enc_t enc;     /* kept for decoding */
    zpk_ndarray_info_t info;
    zpk_span_t *spans;
    uint8_t *dst;
    size_t n;
} s_job_t;

static void s_encode(void *ud)
{
    s_job_t *j = ud;
    zpk_ndarray_enc_t enc;
    if (zpk_ndarray_encode(&j->a, &j->codec, true, &enc, NULL) != 0)
        abort();
    zpk_ndarray_enc_free(&enc);
}

static void s_decode(void *ud)
{
    s_job_t *j = ud;
    if (zpk_ndarray_decode_into(&j->info, j->spans, j->enc.nchunks, j->dst, j->n, NULL) != 0)
        abort();
}

static void s_roundtrip(void *ud)
{
    s_encode(ud);
    s_decode(ud);
}

static void s_memcpy(void *ud)
{
    s_job_t *j = ud;
    memcpy(j->dst, j->a.data, j->n);
    __asm__ volatile("" ::: "memory");
}

/*
 * The clock: this process's CPU time. Every codec here runs on one thread,
 * so CPU time is the time the work takes on one core, whatever else the
 * machine runs (the development machine is shared and often loaded);
 * --wall measures wall-clock time instead.
 */
static bool s_wall;
static double s_now(void)
{
    if (s_wall)
        return bu_now();
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/*
 * Median MB/s of @p fn over o->reps repetitions (each at least o->min_time),
 * after one timed warm-up call; a call slower than half a second (zlib:6 on
 * 64 MiB) is measured once, by that warm-up call alone.
 */
static bu_stat_t s_measure(const bu_opts_t *o, void (*fn)(void *), void *ud, double bytes)
{
    double t0 = s_now();
    fn(ud);
    double t = s_now() - t0;
    if (t > 0.5) {
        bu_stat_t s = {bytes / t / 1e6, bytes / t / 1e6, bytes / t / 1e6};
        return s;
    }
    double v[32];
    int reps = o->reps > 32 ? 32 : o->reps;
    for (int r = 0; r < reps; r++) {
        long calls = 0;
        double a = s_now(), b;
        do {
            fn(ud);
            calls++;
            b = s_now();
        } while (b - a < o->min_time);
        v[r] = bytes * (double)calls / (b - a) / 1e6;
    }
    return bu_stat(v, reps);
}

static void s_prepare(s_job_t *j)
{
    if (zpk_ndarray_encode(&j->a, &j->codec, true, &j->enc, NULL) != 0 ||
        zpk_ndarray_header_decode(j->enc.header, j->enc.header_size, NULL, &j->info, NULL) != 0) {
        fprintf(stderr, "encode failed\n");
        exit(1);
    }
    j->spans = calloc(j->enc.nchunks + 1, sizeof *j->spans);
    for (size_t i = 0; i < j->enc.nchunks; i++) {
        j->spans[i].data = j->enc.chunks[i].data;
        j->spans[i].size = j->enc.chunks[i].size;
    }
}

static void s_release(s_job_t *j)
{
    free(j->spans);
    j->spans = NULL;
    zpk_ndarray_info_free(&j->info);
    zpk_ndarray_enc_free(&j->enc);
}

static const char *const s_settings[] = {
    "none", "zlib:1", "zlib:6", "blosc:blosclz:5:shuffle", "blosc:lz4:5:shuffle",
    "blosc:lz4:5:bitshuffle", "blosc:lz4hc:5:shuffle", "blosc:zstd:1:shuffle",
    "blosc:zlib:1:shuffle", "auto",
};
#define S_NSETTINGS (sizeof s_settings / sizeof s_settings[0])

int main(int argc, char **argv)
{
    bu_opts_t o = bu_parse_args(argc, argv);
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--wall") == 0)
            s_wall = true;
    size_t nbytes = (o.quick ? (size_t)8 : (size_t)64) << 20;
    /* each call moves tens of MiB: few calls per repetition suffice */
    o.min_time = o.quick ? 0.0 : 0.2;
    if (o.quick)
        o.reps = 1;
    else
        o.reps = 3;

    s_data_t data[] = {
        {"smooth f8", "<f8", NULL, 0, {0, 0}, 0},
        {"noisy i2 image", "<i2", NULL, 0, {0, 0}, 0},
        {"random f4", "<f4", NULL, 0, {0, 0}, 0},
        {"zeros f8", "<f8", NULL, 0, {0, 0}, 0},
        {"sparse u1", "|u1", NULL, 0, {0, 0}, 0},
    };
    const size_t ndata = sizeof data / sizeof data[0];
    uint8_t *dst = malloc(nbytes);
    memset(dst, 1, nbytes);
    for (size_t d = 0; d < ndata; d++)
        s_make(&data[d], nbytes);

    printf("## Array codecs, %zu MiB arrays (median of %d), 1 thread, chunk %zu KiB, %s\n\n",
           nbytes >> 20, o.reps, ZPK_DEFAULT_CHUNK_SIZE >> 10,
           s_wall ? "wall-clock time" : "CPU time");
    printf("Compress and decompress in GB/s, and (in brackets) as a fraction of memcpy of\n"
           "the same bytes measured just before, in the same run.\n\n");
    printf("| data | codec | ratio | compress GB/s | decompress GB/s | memcpy GB/s |\n");
    printf("|---|---|---:|---:|---:|---:|\n");
    double none_rt[8] = {0}, auto_rt[8] = {0};
    const char *auto_choice[8];
    for (size_t d = 0; d < ndata; d++) {
        s_job_t j;
        memset(&j, 0, sizeof j);
        zpk_dtype_t dt;
        zpk_dtype_parse(data[d].dtype, strlen(data[d].dtype), &dt, NULL);
        zpk_ndarray_init(&j.a, dt, data[d].ndim, data[d].shape, 'C', data[d].buf);
        j.dst = dst;
        j.n = nbytes;
        for (size_t k = 0; k < S_NSETTINGS; k++) {
            /* memcpy of the same bytes right beside each row: the machine's
             * load moves during a run, ratios to this column do not */
            bu_stat_t mc = s_measure(&o, s_memcpy, &j, (double)nbytes);
            zpk_codec_parse(s_settings[k], strlen(s_settings[k]), &j.codec, NULL);
            s_prepare(&j);
            double ratio = j.info.stored_bytes ? (double)nbytes / (double)j.info.stored_bytes : 0;
            bu_stat_t ce = s_measure(&o, s_encode, &j, (double)nbytes);
            bu_stat_t de = s_measure(&o, s_decode, &j, (double)nbytes);
            char cs[ZPK_CODEC_STR_SIZE];
            zpk_codec_format(&j.info.codec, cs, sizeof cs);
            if (j.codec.id == ZPK_CODEC_AUTO) {
                size_t raw = 0;
                for (size_t i = 0; i < j.info.nchunks; i++)
                    raw += !j.info.chunks[i].compressed;
                static char choice[8][96];
                snprintf(choice[d], sizeof choice[d], "%s (%zu/%zu chunks raw)", cs, raw,
                         j.info.nchunks);
                auto_choice[d] = choice[d];
            }
            if (j.codec.id == ZPK_CODEC_NONE)
                printf("| %s | none (borrowed) | %.2f | %s | %.3f (%.2fx) | %.2f |\n",
                       data[d].name, ratio, "no copy", de.median / 1e3,
                       de.median / mc.median, mc.median / 1e3);
            else
                printf("| %s | %s | %.2f | %.3f (%.2fx) | %.3f (%.2fx) | %.2f |\n",
                       data[d].name, s_settings[k], ratio, ce.median / 1e3,
                       ce.median / mc.median, de.median / 1e3, de.median / mc.median,
                       mc.median / 1e3);
            bu_json_row(&o, "codec", data[d].name, s_settings[k], "memcpy", "MB/s", mc);
            fflush(stdout);
            char kase[64];
            snprintf(kase, sizeof kase, "%s compress", s_settings[k]);
            if (j.codec.id != ZPK_CODEC_NONE) /* none does no work to time */
                bu_json_row(&o, "codec", data[d].name, kase, "zmqpack", "MB/s", ce);
            snprintf(kase, sizeof kase, "%s decompress", s_settings[k]);
            bu_json_row(&o, "codec", data[d].name, kase, "zmqpack", "MB/s", de);
            bu_stat_t rs = {ratio, ratio, ratio};
            snprintf(kase, sizeof kase, "%s ratio", s_settings[k]);
            bu_json_row(&o, "codec", data[d].name, kase, "zmqpack", "x", rs);
            s_release(&j);
        }
    }

    printf("\n## `auto` (default thresholds: min size %zu KiB, min ratio %.2f, sample "
           "%zu KiB)\n\n", ZPK_DEFAULT_AUTO_MIN_SIZE >> 10, ZPK_DEFAULT_AUTO_MIN_RATIO,
           ZPK_DEFAULT_AUTO_SAMPLE >> 10);
    printf("Encode + decode_into round trip, auto and none interleaved in pairs of 30 ms slices; "
           "auto / none is the median of the pair ratios (min..max).\n\n");
    printf("| data | auto chose | encode+decode GB/s, auto | same, none | auto / none |\n");
    printf("|---|---|---:|---:|---:|\n");
    for (size_t d = 0; d < ndata; d++) {
        s_job_t ja, jn;
        memset(&ja, 0, sizeof ja);
        memset(&jn, 0, sizeof jn);
        zpk_dtype_t dt;
        zpk_dtype_parse(data[d].dtype, strlen(data[d].dtype), &dt, NULL);
        zpk_ndarray_init(&ja.a, dt, data[d].ndim, data[d].shape, 'C', data[d].buf);
        jn.a = ja.a;
        ja.dst = jn.dst = dst;
        ja.n = jn.n = nbytes;
        zpk_codec_default(&ja.codec, ZPK_CODEC_AUTO);
        zpk_codec_default(&jn.codec, ZPK_CODEC_NONE);
        s_prepare(&ja);
        s_prepare(&jn);
        /* pairs of short slices, the order alternating; the ratio is the
         * median of the pair ratios (a slow spell hits both sides alike) */
        double va[31], vn[31], vr[31];
        int alt = o.quick ? 15 : 31;
        for (int r = 0; r < alt; r++) {
            if (r % 2 == 0) {
                vn[r] = bu_slice_mbps(s_roundtrip, &jn, (double)nbytes, 0.03);
                va[r] = bu_slice_mbps(s_roundtrip, &ja, (double)nbytes, 0.03);
            } else {
                va[r] = bu_slice_mbps(s_roundtrip, &ja, (double)nbytes, 0.03);
                vn[r] = bu_slice_mbps(s_roundtrip, &jn, (double)nbytes, 0.03);
            }
            vr[r] = va[r] / vn[r];
        }
        auto_rt[d] = bu_stat(va, alt).median;
        none_rt[d] = bu_stat(vn, alt).median;
        bu_stat_t r = bu_stat(vr, alt);
        s_release(&ja);
        s_release(&jn);
        printf("| %s | %s | %.2f | %.2f | %.2f (%.2f..%.2f) |\n", data[d].name, auto_choice[d],
               auto_rt[d] / 1e3, none_rt[d] / 1e3, r.median, r.min, r.max);
        bu_json_row(&o, "codec", data[d].name, "auto/none round trip", "zmqpack", "x", r);
    }

    /* Chunk size sweep: blosc lz4 and zlib:1 on the smooth and noisy sets. */
    printf("\n## Chunk size (blosc:lz4:5:shuffle and zlib:1, 1 thread)\n\n");
    printf("| data | codec | chunk KiB | ratio | compress GB/s | decompress GB/s |\n");
    printf("|---|---|---:|---:|---:|---:|\n");
    const size_t chunks[] = {64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20};
    const char *sweep[] = {"blosc:lz4:5:shuffle", "zlib:1"};
    for (size_t d = 0; d < 2; d++) {
        for (size_t k = 0; k < 2; k++) {
            if (o.quick && k == 1)
                continue;
            for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
                s_job_t j;
                memset(&j, 0, sizeof j);
                zpk_dtype_t dt;
                zpk_dtype_parse(data[d].dtype, strlen(data[d].dtype), &dt, NULL);
                zpk_ndarray_init(&j.a, dt, data[d].ndim, data[d].shape, 'C', data[d].buf);
                j.dst = dst;
                j.n = nbytes;
                zpk_codec_parse(sweep[k], strlen(sweep[k]), &j.codec, NULL);
                j.codec.chunk_size = chunks[c];
                s_prepare(&j);
                double ratio = (double)nbytes / (double)j.info.stored_bytes;
                bu_stat_t ce = s_measure(&o, s_encode, &j, (double)nbytes);
                bu_stat_t de = s_measure(&o, s_decode, &j, (double)nbytes);
                printf("| %s | %s | %zu | %.2f | %.2f | %.2f |\n", data[d].name, sweep[k],
                       chunks[c] >> 10, ratio, ce.median / 1e3, de.median / 1e3);
                fflush(stdout);
                s_release(&j);
            }
        }
    }
    for (size_t d = 0; d < ndata; d++)
        free(data[d].buf);
    free(dst);
    return 0;
}

/*
 * A small driver that exposes the dtype parser, the chunk codecs and the
 * array encoder/decoder to tests/test_codec_interop.py (numpy, python-blosc
 * and Python's zlib on the other side). Files in, files out.
 *
 *   codec_driver dtype STR...                 one line per STR: "ok KIND SIZE ORDER" or "err NAME"
 *   codec_driver compress CODEC TYPESIZE IN OUT
 *   codec_driver decompress none|zlib|blosc RAWSIZE IN OUT
 *   codec_driver encode CODEC CHUNK DTYPE ORDER IN PREFIX DIM...
 *                                             writes PREFIX.hdr and PREFIX.0, PREFIX.1, ...
 *   codec_driver decode HDR OUT CHUNKFILE...
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zmqpack.h"

static uint8_t *s_read(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(sz > 0 ? (size_t)sz : 1);
    if (p && sz > 0 && fread(p, 1, (size_t)sz, f) != (size_t)sz) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *n = sz > 0 ? (size_t)sz : 0;
    return p;
}

static int s_write(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return -1;
    size_t w = n ? fwrite(p, 1, n, f) : 0;
    fclose(f);
    return w == n ? 0 : -1;
}

static int s_fail(const char *what, int rc, const zpk_error_t *err)
{
    fprintf(stderr, "%s: %s (%s)\n", what, zpk_err_name(rc), err ? err->text : "");
    printf("err %s\n", zpk_err_name(rc));
    return 2;
}

static zpk_codec_id_t s_family(const char *s)
{
    return strcmp(s, "zlib") == 0 ? ZPK_CODEC_ZLIB
           : strcmp(s, "blosc") == 0 ? ZPK_CODEC_BLOSC
                                     : ZPK_CODEC_NONE;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 1;
    zpk_error_t err;
    zpk_error_clear(&err);
    const char *cmd = argv[1];
    if (strcmp(cmd, "dtype") == 0) {
        for (int i = 2; i < argc; i++) {
            zpk_dtype_t dt;
            int rc = zpk_dtype_parse(argv[i], strlen(argv[i]), &dt, NULL);
            if (rc == 0)
                printf("ok %c %u %c\n", dt.kind, dt.itemsize, dt.byteorder);
            else
                printf("err %s\n", zpk_err_name(rc));
        }
        return 0;
    }
    if (strcmp(cmd, "compress") == 0 && argc == 6) {
        zpk_codec_t c;
        int rc = zpk_codec_parse(argv[2], strlen(argv[2]), &c, &err);
        if (rc != 0)
            return s_fail("codec", rc, &err);
        size_t n;
        uint8_t *in = s_read(argv[4], &n);
        size_t cap = zpk_codec_bound(&c, n), got = 0;
        uint8_t *out = malloc(cap ? cap : 1);
        if (in == NULL || out == NULL)
            return 1;
        rc = zpk_codec_compress(&c, strtoul(argv[3], NULL, 10), in, n, out, cap, &got);
        if (rc != 0) {
            free(in);
            free(out);
            return s_fail("compress", rc, NULL);
        }
        s_write(argv[5], out, got);
        free(in);
        free(out);
        printf("ok %zu\n", got);
        return 0;
    }
    if (strcmp(cmd, "decompress") == 0 && argc == 6) {
        size_t n, raw = strtoul(argv[3], NULL, 10);
        uint8_t *in = s_read(argv[4], &n);
        uint8_t *out = malloc(raw ? raw : 1);
        if (in == NULL || out == NULL)
            return 1;
        int rc = zpk_codec_decompress(s_family(argv[2]), in, n, out, raw, 1);
        if (rc != 0) {
            free(in);
            free(out);
            return s_fail("decompress", rc, NULL);
        }
        s_write(argv[5], out, raw);
        free(in);
        free(out);
        printf("ok\n");
        return 0;
    }
    if (strcmp(cmd, "encode") == 0 && argc >= 8) {
        zpk_codec_t c;
        int rc = zpk_codec_parse(argv[2], strlen(argv[2]), &c, &err);
        if (rc != 0)
            return s_fail("codec", rc, &err);
        c.chunk_size = strtoul(argv[3], NULL, 10);
        zpk_dtype_t dt;
        rc = zpk_dtype_parse(argv[4], strlen(argv[4]), &dt, &err);
        if (rc != 0)
            return s_fail("dtype", rc, &err);
        size_t n;
        uint8_t *in = s_read(argv[6], &n);
        if (in == NULL)
            return 1;
        size_t shape[ZPK_MAX_NDIM];
        int ndim = argc - 8;
        for (int i = 0; i < ndim && i < ZPK_MAX_NDIM; i++)
            shape[i] = strtoul(argv[8 + i], NULL, 10);
        zpk_ndarray_t a;
        rc = zpk_ndarray_init(&a, dt, ndim, shape, argv[5][0], in);
        if (rc != 0 || a.nbytes != n)
            return s_fail("array", rc ? rc : ZPK_ESHAPE, NULL);
        zpk_ndarray_enc_t enc;
        rc = zpk_ndarray_encode(&a, &c, true, &enc, &err);
        if (rc != 0)
            return s_fail("encode", rc, &err);
        char path[4096];
        snprintf(path, sizeof path, "%s.hdr", argv[7]);
        s_write(path, enc.header, enc.header_size);
        for (size_t i = 0; i < enc.nchunks; i++) {
            snprintf(path, sizeof path, "%s.%zu", argv[7], i);
            s_write(path, enc.chunks[i].data, enc.chunks[i].size);
        }
        printf("ok %zu\n", enc.nchunks);
        zpk_ndarray_enc_free(&enc);
        free(in);
        return 0;
    }
    if (strcmp(cmd, "decode") == 0 && argc >= 4) {
        size_t hn;
        uint8_t *hdr = s_read(argv[2], &hn);
        if (hdr == NULL)
            return 1;
        zpk_ndarray_info_t info;
        int rc = zpk_ndarray_header_decode(hdr, hn, NULL, &info, &err);
        if (rc != 0)
            return s_fail("header", rc, &err);
        size_t nch = (size_t)(argc - 4);
        zpk_span_t *sp = calloc(nch + 1, sizeof *sp);
        for (size_t i = 0; i < nch; i++) {
            size_t k;
            sp[i].data = s_read(argv[4 + i], &k);
            sp[i].size = k;
        }
        zpk_ndarray_t out;
        rc = zpk_ndarray_decode(&info, sp, nch, &out, &err);
        if (rc != 0)
            return s_fail("decode", rc, &err);
        s_write(argv[3], out.data, out.nbytes);
        char dts[ZPK_DTYPE_STR_SIZE];
        zpk_dtype_format(out.dtype, dts, sizeof dts);
        printf("ok %s %c", dts, out.order);
        for (int i = 0; i < out.ndim; i++)
            printf(" %zu", out.shape[i]);
        printf("\n");
        zpk_ndarray_free(&out);
        for (size_t i = 0; i < nch; i++)
            free((void *)(uintptr_t)sp[i].data);
        free(sp);
        zpk_ndarray_info_free(&info);
        free(hdr);
        return 0;
    }
    fprintf(stderr, "usage: see the comment at the top of codec_driver.c\n");
    return 1;
}

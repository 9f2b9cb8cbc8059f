/*
 * Codecs behind one small interface: settings and their string form, and
 * the per-chunk compress/decompress dispatch to the backends
 * (codec_zlib.c, codec_blosc.c). Arrays as chunk lists are built on this in
 * ndarray_codec.c, above the ndarray header (ndarray_header.c), which uses
 * the settings here: codec.c calls neither.
 */
#include "zmqpack/codec.h"

#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "wire.h"

/* ---- settings ---------------------------------------------------------------- */

static const char *const s_cnames[] = {"blosclz", "lz4", "lz4hc", "zlib", "zstd"};
static const char *const s_shuffles[] = {"noshuffle", "shuffle", "bitshuffle"};

bool zpk_codec_available(zpk_codec_id_t id)
{
    switch (id) {
    case ZPK_CODEC_NONE:
    case ZPK_CODEC_ZLIB:
    case ZPK_CODEC_AUTO:
        return true;
    case ZPK_CODEC_BLOSC:
        return ZPK_HAVE_BLOSC != 0;
    }
    return false;
}

void zpk_codec_default(zpk_codec_t *c, zpk_codec_id_t id)
{
    if (c == NULL)
        return;
    memset(c, 0, sizeof *c);
    c->id = id;
    c->level = id == ZPK_CODEC_ZLIB ? 6 : 5;
    c->cname = ZPK_BLOSC_LZ4;
    c->shuffle = ZPK_SHUFFLE_BYTE;
    c->nthreads = 1;
    c->chunk_size = 0;
    c->auto_codec = ZPK_HAVE_BLOSC ? ZPK_CODEC_BLOSC : ZPK_CODEC_ZLIB;
    if (id == ZPK_CODEC_AUTO && !ZPK_HAVE_BLOSC)
        c->level = 1;
    c->auto_min_size = ZPK_DEFAULT_AUTO_MIN_SIZE;
    c->auto_min_ratio = ZPK_DEFAULT_AUTO_MIN_RATIO;
    c->auto_sample = ZPK_DEFAULT_AUTO_SAMPLE;
}

/* Splits off the next ':'-separated field of [*p, end). */
static bool s_field(const char **p, const char *end, const char **f, size_t *flen)
{
    if (*p == NULL || *p > end)
        return false;
    const char *colon = memchr(*p, ':', (size_t)(end - *p));
    *f = *p;
    if (colon) {
        *flen = (size_t)(colon - *p);
        *p = colon + 1;
    } else {
        *flen = (size_t)(end - *p);
        *p = NULL;
    }
    return true;
}

static bool s_eq(const char *f, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(f, lit, n) == 0;
}

static bool s_level(const char *f, size_t n, int *out)
{
    if (n != 1 || f[0] < '0' || f[0] > '9')
        return false;
    *out = f[0] - '0';
    return true;
}

/* Parses a zlib or blosc string (no auto) into the family fields of @p c. */
static int s_parse_family(const char *s, const char *end, zpk_codec_t *c, zpk_error_t *err,
                          int shown, const char *whole)
{
    const char *p = s, *f = s;
    size_t n = 0;
    s_field(&p, end, &f, &n);
    if (s_eq(f, n, ZPK__CODEC_STR_NONE)) {
        c->id = ZPK_CODEC_NONE;
        if (p != NULL)
            return zpk__error(err, ZPK_ECODEC, 0, "codec '%.*s': none takes no options",
                              shown, whole);
        return 0;
    }
    if (s_eq(f, n, "zlib")) {
        c->id = ZPK_CODEC_ZLIB;
        c->level = 6;
        if (p != NULL) {
            s_field(&p, end, &f, &n);
            if (!s_level(f, n, &c->level) || p != NULL)
                return zpk__error(err, ZPK_ECODEC, 0,
                                  "codec '%.*s': expected zlib:LEVEL with LEVEL 0..9",
                                  shown, whole);
        }
        return 0;
    }
    if (s_eq(f, n, "blosc")) {
        if (!ZPK_HAVE_BLOSC)
            return zpk__error(err, ZPK_ENOTSUP, 0,
                              "codec '%.*s': this build has no blosc", shown, whole);
        c->id = ZPK_CODEC_BLOSC;
        c->level = 5;
        c->cname = ZPK_BLOSC_LZ4;
        c->shuffle = ZPK_SHUFFLE_BYTE;
        if (p != NULL) {
            s_field(&p, end, &f, &n);
            int k = -1;
            for (int i = 0; i < 5; i++)
                if (s_eq(f, n, s_cnames[i]))
                    k = i;
            if (k < 0)
                return zpk__error(err, ZPK_ECODEC, 0,
                                  "codec '%.*s': blosc compressor must be "
                                  "blosclz, lz4, lz4hc, zlib or zstd", shown, whole);
            c->cname = (zpk_blosc_cname_t)k;
        }
        if (p != NULL) {
            s_field(&p, end, &f, &n);
            if (!s_level(f, n, &c->level))
                return zpk__error(err, ZPK_ECODEC, 0,
                                  "codec '%.*s': blosc level must be 0..9", shown, whole);
        }
        if (p != NULL) {
            s_field(&p, end, &f, &n);
            int k = -1;
            for (int i = 0; i < 3; i++)
                if (s_eq(f, n, s_shuffles[i]))
                    k = i;
            if (k < 0)
                return zpk__error(err, ZPK_ECODEC, 0,
                                  "codec '%.*s': shuffle must be noshuffle, shuffle "
                                  "or bitshuffle", shown, whole);
            c->shuffle = (zpk_shuffle_t)k;
        }
        if (p != NULL)
            return zpk__error(err, ZPK_ECODEC, 0, "codec '%.*s': too many fields", shown,
                              whole);
        return 0;
    }
    return zpk__error(err, ZPK_ECODEC, 0,
                      "unknown codec '%.*s' (expected none, zlib[:L], "
                      "blosc[:CNAME[:L[:SHUFFLE]]] or auto[:...])", shown, whole);
}

int zpk_codec_parse(const char *s, size_t len, zpk_codec_t *c, zpk_error_t *err)
{
    zpk_error_clear(err);
    if (s == NULL || c == NULL)
        return zpk__error(err, ZPK_EINVAL, 0, "NULL codec string or output");
    int shown = len > 40 ? 40 : (int)len;
    const char *end = s + len;
    zpk_codec_t tmp;
    int rc;
    if (len >= 4 && memcmp(s, "auto", 4) == 0 && (len == 4 || s[4] == ':')) {
        zpk_codec_default(&tmp, ZPK_CODEC_AUTO);
        if (len > 4) {
            zpk_codec_t inner = tmp;
            rc = s_parse_family(s + 5, end, &inner, err, shown, s);
            if (rc != 0)
                return rc;
            if (inner.id == ZPK_CODEC_NONE)
                return zpk__error(err, ZPK_ECODEC, 0, "codec '%.*s': auto needs zlib or "
                                  "blosc", shown, s);
            tmp.auto_codec = inner.id;
            tmp.level = inner.level;
            tmp.cname = inner.cname;
            tmp.shuffle = inner.shuffle;
        }
    } else {
        zpk_codec_default(&tmp, ZPK_CODEC_NONE);
        rc = s_parse_family(s, end, &tmp, err, shown, s);
        if (rc != 0)
            return rc;
    }
    *c = tmp;
    return 0;
}

bool zpk__codec_settings_ok(const zpk_codec_t *c)
{
    zpk_codec_id_t fam = c->id == ZPK_CODEC_AUTO ? c->auto_codec : c->id;
    if (c->id == ZPK_CODEC_AUTO && fam != ZPK_CODEC_ZLIB && fam != ZPK_CODEC_BLOSC)
        return false;
    switch (fam) {
    case ZPK_CODEC_NONE:
        return true;
    case ZPK_CODEC_ZLIB:
        return c->level >= 0 && c->level <= 9;
    case ZPK_CODEC_BLOSC:
        return c->level >= 0 && c->level <= 9 && (unsigned)c->cname <= ZPK_BLOSC_ZSTD &&
               (unsigned)c->shuffle <= ZPK_SHUFFLE_BIT;
    default:
        return false;
    }
}

int zpk_codec_format(const zpk_codec_t *c, char *buf, size_t size)
{
    if (c == NULL || buf == NULL || !zpk__codec_settings_ok(c))
        return ZPK_EINVAL;
    char tmp[ZPK_CODEC_STR_SIZE];
    const char *prefix = c->id == ZPK_CODEC_AUTO ? "auto:" : "";
    zpk_codec_id_t fam = c->id == ZPK_CODEC_AUTO ? c->auto_codec : c->id;
    int n;
    if (fam == ZPK_CODEC_NONE)
        n = snprintf(tmp, sizeof tmp, "%s", ZPK__CODEC_STR_NONE);
    else if (fam == ZPK_CODEC_ZLIB)
        n = snprintf(tmp, sizeof tmp, "%szlib:%d", prefix, c->level);
    else
        n = snprintf(tmp, sizeof tmp, "%sblosc:%s:%d:%s", prefix, s_cnames[c->cname],
                     c->level, s_shuffles[c->shuffle]);
    if (n < 0 || (size_t)n + 1 > size)
        return ZPK_EBUFFULL;
    memcpy(buf, tmp, (size_t)n + 1);
    return n;
}

/* ---- per-chunk dispatch ----------------------------------------------------------- */

size_t zpk_codec_bound(const zpk_codec_t *c, size_t raw_size)
{
    if (c == NULL)
        return 0;
    zpk_codec_id_t fam = c->id == ZPK_CODEC_AUTO ? c->auto_codec : c->id;
    switch (fam) {
    case ZPK_CODEC_NONE:
        return raw_size;
    case ZPK_CODEC_ZLIB:
        return zpk__zlib_bound(raw_size);
    case ZPK_CODEC_BLOSC:
#if ZPK_HAVE_BLOSC
        return raw_size > ZPK_BLOSC_MAX_CHUNK ? 0 : zpk__blosc_bound(raw_size);
#else
        return 0;
#endif
    default:
        return 0;
    }
}

int zpk_codec_compress(const zpk_codec_t *c, size_t typesize, const void *src, size_t n,
                       void *dst, size_t cap, size_t *out_n)
{
    if (c == NULL || out_n == NULL || typesize == 0 || (n && (src == NULL || dst == NULL)) ||
        !zpk__codec_settings_ok(c))
        return ZPK_EINVAL;
    zpk_codec_id_t fam = c->id == ZPK_CODEC_AUTO ? c->auto_codec : c->id;
    switch (fam) {
    case ZPK_CODEC_NONE:
        if (cap < n)
            return ZPK_EBUFFULL;
        if (n)
            memcpy(dst, src, n);
        *out_n = n;
        return 0;
    case ZPK_CODEC_ZLIB:
        if (dst == NULL)
            return ZPK_EINVAL;
        return zpk__zlib_compress(c->level, src, n, dst, cap, out_n);
    case ZPK_CODEC_BLOSC:
#if ZPK_HAVE_BLOSC
        if (dst == NULL)
            return ZPK_EINVAL;
        if (n > ZPK_BLOSC_MAX_CHUNK)
            return ZPK_ELIMIT;
        return zpk__blosc_compress(c->level, (int)c->cname, (int)c->shuffle, typesize,
                                   c->nthreads < 1 ? 1 : c->nthreads, src, n, dst, cap,
                                   out_n);
#else
        (void)typesize;
        return ZPK_ENOTSUP;
#endif
    default:
        return ZPK_EINVAL;
    }
}

int zpk_codec_decompress(zpk_codec_id_t id, const void *src, size_t n, void *dst,
                         size_t raw_size, int nthreads)
{
    if ((n && src == NULL) || (raw_size && dst == NULL))
        return ZPK_EINVAL;
    switch (id) {
    case ZPK_CODEC_NONE:
        if (n != raw_size)
            return ZPK_EDECOMPRESS;
        if (n)
            memcpy(dst, src, n);
        return 0;
    case ZPK_CODEC_ZLIB:
        return zpk__zlib_decompress(src, n, dst, raw_size);
    case ZPK_CODEC_BLOSC:
#if ZPK_HAVE_BLOSC
        return zpk__blosc_decompress(src, n, dst, raw_size, nthreads < 1 ? 1 : nthreads);
#else
        (void)nthreads;
        return ZPK_ENOTSUP;
#endif
    default:
        return ZPK_EINVAL;
    }
}

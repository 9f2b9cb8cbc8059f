/*
 * dtype: numpy typestrs ("<f8") and names ("float64"), byte order, swaps.
 */
#include "zmqpack/ndarray.h"

#include <string.h>

#include "internal.h"

/* numpy's canonical names (what str(A.dtype) prints), native order. */
static const struct {
    const char *name;
    char kind;
    uint8_t itemsize;
} s_names[] = {
    {"bool", 'b', 1},
    {"int8", 'i', 1},     {"int16", 'i', 2},      {"int32", 'i', 4},
    {"int64", 'i', 8},    {"uint8", 'u', 1},      {"uint16", 'u', 2},
    {"uint32", 'u', 4},   {"uint64", 'u', 8},     {"float16", 'f', 2},
    {"float32", 'f', 4},  {"float64", 'f', 8},    {"float128", 'f', 16},
    {"complex64", 'c', 8}, {"complex128", 'c', 16}, {"complex256", 'c', 32},
};
#define S_NNAMES (sizeof s_names / sizeof s_names[0])

static bool s_kind_size_ok(char kind, unsigned size)
{
    switch (kind) {
    case 'b': return size == 1;
    case 'i':
    case 'u': return size == 1 || size == 2 || size == 4 || size == 8;
    case 'f': return size == 2 || size == 4 || size == 8 || size == 16;
    case 'c': return size == 8 || size == 16 || size == 32;
    default: return false;
    }
}

bool zpk_dtype_valid(zpk_dtype_t dt)
{
    if (!s_kind_size_ok(dt.kind, dt.itemsize))
        return false;
    if (dt.itemsize == 1)
        return dt.byteorder == ZPK_BYTEORDER_NA;
    return dt.byteorder == ZPK_BYTEORDER_LITTLE || dt.byteorder == ZPK_BYTEORDER_BIG;
}

bool zpk_dtype_equal(zpk_dtype_t a, zpk_dtype_t b)
{
    return a.kind == b.kind && a.byteorder == b.byteorder && a.itemsize == b.itemsize;
}

bool zpk_dtype_is_native(zpk_dtype_t dt)
{
    return dt.byteorder == ZPK_BYTEORDER_NA || dt.byteorder == ZPK_BYTEORDER_NATIVE;
}

zpk_dtype_t zpk_dtype_to_native(zpk_dtype_t dt)
{
    if (dt.byteorder != ZPK_BYTEORDER_NA)
        dt.byteorder = ZPK_BYTEORDER_NATIVE;
    return dt;
}

zpk_dtype_t zpk_dtype_make(zpk_kind_t kind, size_t itemsize)
{
    zpk_dtype_t dt;
    dt.kind = (char)kind;
    dt.itemsize = itemsize > 255 ? 0 : (uint8_t)itemsize;
    dt.byteorder = itemsize == 1 ? ZPK_BYTEORDER_NA : ZPK_BYTEORDER_NATIVE;
    return dt;
}

const char *zpk_dtype_name(zpk_dtype_t dt)
{
    if (!zpk_dtype_valid(dt))
        return NULL;
    for (size_t i = 0; i < S_NNAMES; i++)
        if (s_names[i].kind == dt.kind && s_names[i].itemsize == dt.itemsize)
            return s_names[i].name;
    return NULL;
}

int zpk_dtype_format(zpk_dtype_t dt, char *buf, size_t size)
{
    if (!zpk_dtype_valid(dt))
        return ZPK_EDTYPE;
    if (buf == NULL)
        return ZPK_EINVAL;
    char tmp[ZPK_DTYPE_STR_SIZE];
    int n = 0;
    tmp[n++] = dt.byteorder;
    tmp[n++] = dt.kind;
    if (dt.itemsize >= 10)
        tmp[n++] = (char)('0' + dt.itemsize / 10);
    tmp[n++] = (char)('0' + dt.itemsize % 10);
    tmp[n] = '\0';
    if ((size_t)n + 1 > size)
        return ZPK_EBUFFULL;
    memcpy(buf, tmp, (size_t)n + 1);
    return n;
}

const char *zpk__dtype_numpy_str(zpk_dtype_t dt, char buf[ZPK_DTYPE_STR_SIZE])
{
    if (zpk_dtype_is_native(dt))
        return zpk_dtype_name(dt);
    return zpk_dtype_format(dt, buf, ZPK_DTYPE_STR_SIZE) < 0 ? NULL : buf;
}

/* Describes what kind of thing an unsupported numpy kind letter is. */
static const char *s_unsupported(char kind)
{
    switch (kind) {
    case 'M': return "datetime64";
    case 'm': return "timedelta64";
    case 'S': case 'a': return "bytes";
    case 'U': return "str (unicode)";
    case 'V': return "void (structured or raw)";
    case 'O': return "object";
    default: return NULL;
    }
}

int zpk_dtype_parse(const char *s, size_t len, zpk_dtype_t *out, zpk_error_t *err)
{
    zpk_error_clear(err);
    if (s == NULL || out == NULL)
        return zpk__error(err, ZPK_EINVAL, 0, "NULL dtype string or output");
    int shown = len > 32 ? 32 : (int)len;

    /* fast path: the 3-character typestrs every writer sends ("<f8",
     * "|u1"); anything unusual falls through to the full rules below */
    if (len == 3 && (s[0] == '<' || s[0] == '>' || s[0] == '|') && s[2] >= '1' &&
        s[2] <= '8') {
        char k = s[1];
        unsigned sz = (unsigned)(s[2] - '0');
        if ((k == 'b' || k == 'i' || k == 'u' || k == 'f' || k == 'c') &&
            s_kind_size_ok(k, sz) && (sz == 1 || s[0] != '|')) {
            out->kind = k;
            out->itemsize = (uint8_t)sz;
            out->byteorder = sz == 1 ? ZPK_BYTEORDER_NA : s[0];
            return 0;
        }
    }

    for (size_t i = 0; i < S_NNAMES; i++) {
        if (strlen(s_names[i].name) == len && memcmp(s_names[i].name, s, len) == 0) {
            *out = zpk_dtype_make((zpk_kind_t)s_names[i].kind, s_names[i].itemsize);
            return 0;
        }
    }

    /* typestr: [<>|=]? kind digits */
    size_t p = 0;
    char order = ZPK_BYTEORDER_NATIVE;
    bool explicit_order = false;
    if (len > 0 && (s[0] == '<' || s[0] == '>' || s[0] == '|' || s[0] == '=')) {
        order = s[0] == '=' ? ZPK_BYTEORDER_NATIVE : s[0];
        explicit_order = true;
        p = 1;
    }
    if (p >= len)
        return zpk__error(err, ZPK_EDTYPE, 0, "not a dtype: '%.*s'", shown, s);
    char kind = s[p++];
    const char *what = s_unsupported(kind);
    if (what != NULL)
        return zpk__error(err, ZPK_EDTYPE, 0,
                          "unsupported dtype '%.*s': %s arrays cannot be carried",
                          shown, s, what);
    bool qbool = kind == '?'; /* numpy's one-letter code for bool */
    if (qbool)
        kind = 'b';
    if (kind != 'b' && kind != 'i' && kind != 'u' && kind != 'f' && kind != 'c')
        return zpk__error(err, ZPK_EDTYPE, 0, "not a dtype: '%.*s'", shown, s);
    unsigned size = 0;
    size_t digits = 0;
    while (p < len && s[p] >= '0' && s[p] <= '9' && digits < 3) {
        size = size * 10 + (unsigned)(s[p] - '0');
        p++;
        digits++;
    }
    if (qbool) {
        if (p != len)
            return zpk__error(err, ZPK_EDTYPE, 0, "not a dtype: '%.*s'", shown, s);
        size = 1;
        digits = 1;
    }
    if (p != len || digits == 0 || (digits > 1 && s[p - digits] == '0'))
        return zpk__error(err, ZPK_EDTYPE, 0, "not a dtype: '%.*s'", shown, s);
    if (!s_kind_size_ok(kind, size))
        return zpk__error(err, ZPK_EDTYPE, 0,
                          "unsupported dtype '%.*s': no %u-byte '%c' type", shown, s,
                          size, kind);
    if (size == 1) {
        order = ZPK_BYTEORDER_NA;
    } else if (explicit_order && order == ZPK_BYTEORDER_NA) {
        return zpk__error(err, ZPK_EDTYPE, 0,
                          "dtype '%.*s': '|' (no byte order) on a %u-byte type",
                          shown, s, size);
    }
    out->kind = kind;
    out->itemsize = (uint8_t)size;
    out->byteorder = order;
    return 0;
}

static void s_swap_n(uint8_t *d, size_t nbytes, size_t w)
{
    switch (w) {
    case 2:
        for (size_t i = 0; i < nbytes; i += 2) {
            uint16_t v;
            memcpy(&v, d + i, 2);
            v = __builtin_bswap16(v);
            memcpy(d + i, &v, 2);
        }
        break;
    case 4:
        for (size_t i = 0; i < nbytes; i += 4) {
            uint32_t v;
            memcpy(&v, d + i, 4);
            v = __builtin_bswap32(v);
            memcpy(d + i, &v, 4);
        }
        break;
    case 8:
        for (size_t i = 0; i < nbytes; i += 8) {
            uint64_t v;
            memcpy(&v, d + i, 8);
            v = __builtin_bswap64(v);
            memcpy(d + i, &v, 8);
        }
        break;
    default:
        for (size_t i = 0; i < nbytes; i += w)
            for (size_t a = 0, b = w - 1; a < b; a++, b--) {
                uint8_t t = d[i + a];
                d[i + a] = d[i + b];
                d[i + b] = t;
            }
        break;
    }
}

int zpk_dtype_byteswap(zpk_dtype_t dt, void *data, size_t nbytes)
{
    if (!zpk_dtype_valid(dt))
        return ZPK_EDTYPE;
    if (nbytes % dt.itemsize != 0)
        return ZPK_ESHAPE;
    if (nbytes == 0 || dt.itemsize == 1)
        return 0;
    if (data == NULL)
        return ZPK_EINVAL;
    size_t w = dt.kind == 'c' ? dt.itemsize / 2u : dt.itemsize;
    s_swap_n(data, nbytes, w);
    return 0;
}

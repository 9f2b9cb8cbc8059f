/*
 * Summary statistics of an array for `zpk cat`: min, max and mean over
 * every element, whatever the dtype's kind, size and byte order.
 */
#include <math.h>
#include <string.h>

#include <zmqpack.h>

#include "zpk_ndarray.h"

static double s_half(uint16_t h)
{
    int e = (h >> 10) & 0x1f;
    double m = h & 0x3ff;
    double v;
    if (e == 0)
        v = ldexp(m, -24);
    else if (e == 31)
        v = m ? NAN : INFINITY;
    else
        v = ldexp(m + 1024, e - 25);
    return (h & 0x8000) ? -v : v;
}

/* Element @p p of dtype @p dt as a double (complex: the magnitude). */
static double s_load(const uint8_t *p, zpk_dtype_t dt, bool swap)
{
    uint8_t b[16];
    size_t n = dt.itemsize;
    if (swap) {
        size_t half = dt.kind == ZPK_KIND_COMPLEX ? n / 2 : n;
        for (size_t part = 0; part < n; part += half)
            for (size_t i = 0; i < half; i++)
                b[part + i] = p[part + half - 1 - i];
    } else {
        memcpy(b, p, n);
    }
    switch (dt.kind) {
    case ZPK_KIND_BOOL:
        return b[0] ? 1.0 : 0.0;
    case ZPK_KIND_INT:
        switch (n) {
        case 1: { int8_t v; memcpy(&v, b, 1); return v; }
        case 2: { int16_t v; memcpy(&v, b, 2); return v; }
        case 4: { int32_t v; memcpy(&v, b, 4); return v; }
        default: { int64_t v; memcpy(&v, b, 8); return (double)v; }
        }
    case ZPK_KIND_UINT:
        switch (n) {
        case 1: return b[0];
        case 2: { uint16_t v; memcpy(&v, b, 2); return v; }
        case 4: { uint32_t v; memcpy(&v, b, 4); return v; }
        default: { uint64_t v; memcpy(&v, b, 8); return (double)v; }
        }
    case ZPK_KIND_FLOAT:
        switch (n) {
        case 2: { uint16_t v; memcpy(&v, b, 2); return s_half(v); }
        case 4: { float v; memcpy(&v, b, 4); return v; }
        case 8: { double v; memcpy(&v, b, 8); return v; }
        default: return NAN; /* long double: not summarised */
        }
    case ZPK_KIND_COMPLEX:
        if (n == 8) {
            float re, im;
            memcpy(&re, b, 4);
            memcpy(&im, b + 4, 4);
            return hypot(re, im);
        }
        if (n == 16) {
            double re, im;
            memcpy(&re, b, 8);
            memcpy(&im, b + 8, 8);
            return hypot(re, im);
        }
        return NAN;
    default:
        return NAN;
    }
}

bool zt_array_stats(const void *data, size_t nbytes, zpk_dtype_t dt, double *min,
                    double *max, double *mean)
{
    if (dt.itemsize == 0 || nbytes < dt.itemsize || !data)
        return false;
    bool swap = dt.itemsize > 1 && !zpk_dtype_is_native(dt);
    size_t count = nbytes / dt.itemsize;
    const uint8_t *p = data;
    double lo = INFINITY, hi = -INFINITY, sum = 0;
    size_t used = 0;
    for (size_t i = 0; i < count; i++) {
        double v = s_load(p + i * dt.itemsize, dt, swap);
        if (isnan(v))
            continue;
        if (v < lo)
            lo = v;
        if (v > hi)
            hi = v;
        sum += v;
        used++;
    }
    if (used == 0)
        return false;
    *min = lo;
    *max = hi;
    *mean = sum / (double)used;
    return true;
}

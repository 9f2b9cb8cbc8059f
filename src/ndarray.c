/*
 * The array descriptor: sizes (overflow-checked), layout, one-copy
 * conversion of strided views to contiguous memory, byte order.
 */
#include "zmqpack/ndarray.h"

#include <string.h>

#include "internal.h"

int zpk_shape_nbytes(zpk_dtype_t dt, int ndim, const size_t *shape, size_t *out)
{
    if (out == NULL || (ndim > 0 && shape == NULL))
        return ZPK_EINVAL;
    if (ndim < 0 || ndim > ZPK_MAX_NDIM)
        return ZPK_ESHAPE;
    if (!zpk_dtype_valid(dt))
        return ZPK_EDTYPE;
    size_t n = dt.itemsize;
    bool zero = false;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] == 0) {
            zero = true;
            continue;
        }
        if (!zpk__mul_size(n, shape[i], &n))
            return ZPK_EOVERFLOW;
    }
    if (n > (size_t)PTRDIFF_MAX)
        return ZPK_EOVERFLOW;
    *out = zero ? 0 : n;
    return 0;
}

int zpk_ndarray_init(zpk_ndarray_t *a, zpk_dtype_t dt, int ndim, const size_t *shape,
                   char order, void *data)
{
    if (a == NULL)
        return ZPK_EINVAL;
    if (order != ZPK_ORDER_C && order != ZPK_ORDER_F)
        return ZPK_EINVAL;
    size_t nbytes;
    int rc = zpk_shape_nbytes(dt, ndim, shape, &nbytes);
    if (rc != 0)
        return rc;
    if (data == NULL && nbytes != 0)
        return ZPK_EINVAL;
    memset(a, 0, sizeof *a);
    a->dtype = dt;
    a->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        a->shape[i] = shape[i];
    a->order = order;
    a->data = data;
    a->nbytes = nbytes;
    return 0;
}

/* The strides of a contiguous array of @p a's shape in @p order. */
static void s_contig_strides(const zpk_ndarray_t *a, char order, ptrdiff_t *st)
{
    ptrdiff_t s = a->dtype.itemsize;
    if (order == ZPK_ORDER_C) {
        for (int i = a->ndim - 1; i >= 0; i--) {
            st[i] = s;
            s *= a->shape[i] ? (ptrdiff_t)a->shape[i] : 1;
        }
    } else {
        for (int i = 0; i < a->ndim; i++) {
            st[i] = s;
            s *= a->shape[i] ? (ptrdiff_t)a->shape[i] : 1;
        }
    }
}

/* True when @p st equals the @p order strides on every dimension longer than 1. */
static bool s_strides_match(const zpk_ndarray_t *a, const ptrdiff_t *st, char order)
{
    ptrdiff_t want[ZPK_MAX_NDIM];
    s_contig_strides(a, order, want);
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] > 1 && st[i] != want[i])
            return false;
    return true;
}

int zpk_ndarray_set_strides(zpk_ndarray_t *a, const ptrdiff_t *strides)
{
    if (a == NULL || (a->ndim > 0 && strides == NULL))
        return ZPK_EINVAL;
    if (a->nbytes == 0) {
        a->has_strides = false;
        return 0;
    }
    size_t extent = 0;
    for (int i = 0; i < a->ndim; i++) {
        size_t mag = strides[i] < 0 ? (size_t)0 - (size_t)strides[i] : (size_t)strides[i];
        size_t span;
        if (!zpk__mul_size(mag, a->shape[i] - 1, &span) ||
            !zpk__add_size(extent, span, &extent))
            return ZPK_EOVERFLOW;
    }
    if (!zpk__add_size(extent, a->dtype.itemsize, &extent) || extent > (size_t)PTRDIFF_MAX)
        return ZPK_EOVERFLOW;
    if (s_strides_match(a, strides, a->order)) {
        a->has_strides = false;
    } else if (s_strides_match(a, strides, ZPK_ORDER_C)) {
        a->has_strides = false;
        a->order = ZPK_ORDER_C;
    } else if (s_strides_match(a, strides, ZPK_ORDER_F)) {
        a->has_strides = false;
        a->order = ZPK_ORDER_F;
    } else {
        a->has_strides = true;
        for (int i = 0; i < a->ndim; i++)
            a->strides[i] = strides[i];
    }
    return 0;
}

bool zpk_ndarray_is_contiguous(const zpk_ndarray_t *a, char *order)
{
    if (a == NULL)
        return false;
    char o = a->order == ZPK_ORDER_F ? ZPK_ORDER_F : ZPK_ORDER_C;
    bool ok = true;
    if (a->has_strides && a->nbytes != 0) {
        if (s_strides_match(a, a->strides, o))
            ok = true;
        else if (s_strides_match(a, a->strides, ZPK_ORDER_C))
            o = ZPK_ORDER_C;
        else if (s_strides_match(a, a->strides, ZPK_ORDER_F))
            o = ZPK_ORDER_F;
        else
            ok = false;
    }
    if (ok && order != NULL)
        *order = o;
    return ok;
}

int zpk_ndarray_copy_into(const zpk_ndarray_t *a, void *dst, size_t dst_size)
{
    if (a == NULL || (dst == NULL && a->nbytes != 0))
        return ZPK_EINVAL;
    if (dst_size < a->nbytes)
        return ZPK_EBUFFULL;
    if (a->nbytes == 0)
        return 0;
    if (a->data == NULL)
        return ZPK_EINVAL;
    ptrdiff_t st[ZPK_MAX_NDIM];
    if (a->has_strides)
        memcpy(st, a->strides, sizeof(ptrdiff_t) * (size_t)a->ndim);
    else
        s_contig_strides(a, a->order == ZPK_ORDER_F ? ZPK_ORDER_F : ZPK_ORDER_C, st);
    if (a->ndim == 0 || s_strides_match(a, st, ZPK_ORDER_C)) {
        memcpy(dst, a->data, a->nbytes);
        return 0;
    }
    /* Walk the outer dimensions in C order; copy each innermost row. */
    const size_t item = a->dtype.itemsize;
    const int last = a->ndim - 1;
    const size_t inner = a->shape[last];
    const ptrdiff_t ist = st[last];
    size_t idx[ZPK_MAX_NDIM] = {0};
    const uint8_t *src = a->data;
    uint8_t *out = dst;
    for (;;) {
        if (ist == (ptrdiff_t)item) {
            memcpy(out, src, inner * item);
            out += inner * item;
        } else if (item == 8) {
            for (size_t j = 0; j < inner; j++, out += 8)
                memcpy(out, src + (ptrdiff_t)j * ist, 8);
        } else if (item == 4) {
            for (size_t j = 0; j < inner; j++, out += 4)
                memcpy(out, src + (ptrdiff_t)j * ist, 4);
        } else {
            for (size_t j = 0; j < inner; j++, out += item)
                memcpy(out, src + (ptrdiff_t)j * ist, item);
        }
        int d = last - 1;
        while (d >= 0) {
            src += st[d];
            if (++idx[d] < a->shape[d])
                break;
            src -= st[d] * (ptrdiff_t)a->shape[d];
            idx[d] = 0;
            d--;
        }
        if (d < 0)
            break;
    }
    return 0;
}

void zpk_free_fn(void *data, void *hint)
{
    (void)hint;
    zpk__free(data);
}

int zpk_ndarray_dup(const zpk_ndarray_t *a, zpk_ndarray_t *out)
{
    if (a == NULL || out == NULL)
        return ZPK_EINVAL;
    void *buf = zpk__malloc(a->nbytes ? a->nbytes : 1);
    if (buf == NULL)
        return ZPK_ENOMEM;
    int rc = zpk_ndarray_copy_into(a, buf, a->nbytes);
    if (rc != 0) {
        zpk__free(buf);
        return rc;
    }
    zpk_ndarray_t tmp;
    rc = zpk_ndarray_init(&tmp, a->dtype, a->ndim, a->shape, ZPK_ORDER_C, buf);
    if (rc != 0) {
        zpk__free(buf);
        return rc;
    }
    tmp.free_fn = zpk_free_fn;
    *out = tmp;
    return 0;
}

int zpk_ndarray_to_native(zpk_ndarray_t *a)
{
    if (a == NULL || !zpk_ndarray_is_contiguous(a, NULL))
        return ZPK_EINVAL;
    if (zpk_dtype_is_native(a->dtype))
        return 0;
    int rc = zpk_dtype_byteswap(a->dtype, a->data, a->nbytes);
    if (rc == 0)
        a->dtype = zpk_dtype_to_native(a->dtype);
    return rc;
}

void zpk_ndarray_free(zpk_ndarray_t *a)
{
    if (a == NULL)
        return;
    if (a->free_fn != NULL)
        a->free_fn(a->data, a->free_hint);
    memset(a, 0, sizeof *a);
    a->order = ZPK_ORDER_C;
}

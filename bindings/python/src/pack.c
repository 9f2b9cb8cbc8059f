/*
 * zmqpack._core, packing: Packer and packb() (Python objects -> MessagePack).
 *
 * The walk over Python objects takes exact builtin types first (fast paths
 * whose result is identical to the slow path), then msgpack-python 1.0's
 * order of type tests.
 */
#include "core.h"

#include <datetime.h>

/* ========================================================================== */
/* Writing: zmqpack's C writer (zmqpack/msgpack.h)                            */
/* ========================================================================== */
/*
 * The packer writes with the library's growable zpk_writer_t and its
 * inline fast paths; the helpers below only add msgpack-python's one quirk
 * (without use_bin_type there is no str8: 32..255-byte strings take str16)
 * and keep the call sites short. The writer's error is sticky: writes after
 * a failure are no-ops, and zpy_writer_check() turns it into an exception
 * once the object is done.
 */
typedef zpk_writer_t wbuf_t;

int zpy_writer_check(zpk_writer_t *w)
{
    int rc = zpk_writer_error(w);
    if (rc == 0)
        return 0;
    if (rc == ZPK_ENOMEM)
        PyErr_NoMemory();
    else
        PyErr_Format(PyExc_ValueError, "packing failed: %s", zpk_strerror(rc));
    return -1;
}

static inline int put_nil(wbuf_t *b)
{
    zpk_write_nil(b);
    return 0;
}
static inline int put_bool(wbuf_t *b, int v)
{
    zpk_write_bool(b, v != 0);
    return 0;
}
static inline int put_uint(wbuf_t *b, uint64_t v)
{
    zpk_write_uint(b, v);
    return 0;
}
static inline int put_int(wbuf_t *b, int64_t v)
{
    zpk_write_int(b, v);
    return 0;
}
static inline int put_double(wbuf_t *b, double d, int single)
{
    if (single)
        zpk_write_float(b, (float)d);
    else
        zpk_write_double(b, d);
    return 0;
}
/* A str header; str8 only when use_bin_type (as msgpack-python's pack_raw). */
static inline int put_str_hdr(wbuf_t *b, size_t l, int use_bin_type)
{
    if (!use_bin_type && l >= 32 && l < 256) {
        uint8_t h[3] = {0xda, 0, (uint8_t)l};
        zpk_write_raw(b, h, 3);
    } else {
        zpk_write_str_header(b, l);
    }
    return 0;
}
static inline int put_bin_hdr(wbuf_t *b, size_t l, int use_bin_type)
{
    if (!use_bin_type)
        return put_str_hdr(b, l, 0);
    zpk_write_bin_header(b, l);
    return 0;
}
static inline int put_body(wbuf_t *b, const void *data, size_t l)
{
    if (l)
        zpk_write_raw(b, data, l);
    return 0;
}
static inline int put_array_hdr(wbuf_t *b, size_t n)
{
    zpk_write_array(b, n);
    return 0;
}
static inline int put_map_hdr(wbuf_t *b, size_t n)
{
    zpk_write_map(b, n);
    return 0;
}
static inline int put_ext_hdr(wbuf_t *b, int code, size_t l)
{
    zpk_write_ext_header(b, (int8_t)code, l);
    return 0;
}
/* Timestamp in its shortest form (32, 64 or 96 bit), as msgpack-python. */
static inline int put_timestamp(wbuf_t *b, int64_t sec, uint32_t nsec)
{
    zpk_write_timestamp(b, sec, nsec);
    return 0;
}

/* ========================================================================== */
/* Packer                                                                     */
/* ========================================================================== */

PyObject *g_ndarray_type;

static int pack_str(PackerObject *pk, PyObject *o)
{
    wbuf_t *b = &pk->b;
    if (pk->unicode_errors == NULL) {
        Py_ssize_t n;
        const char *s;
        if (LIKELY(PyUnicode_IS_COMPACT_ASCII(o))) {
            n = PyUnicode_GET_LENGTH(o);
            s = (const char *)PyUnicode_DATA(o);
        } else {
            s = PyUnicode_AsUTF8AndSize(o, &n);
            if (!s)
                return -1;
        }
        if (UNLIKELY(n > ITEM_LIMIT)) {
            PyErr_SetString(PyExc_ValueError, "unicode string is too large");
            return -1;
        }
        if (LIKELY(pk->use_bin_type || n < 32)) {
            zpk_write_str(b, s, (size_t)n);
            return 0;
        }
        put_str_hdr(b, (size_t)n, 0);
        return put_body(b, s, (size_t)n);
    }
    PyObject *enc = PyUnicode_AsEncodedString(o, NULL, pk->unicode_errors);
    if (!enc)
        return -1;
    Py_ssize_t n = PyBytes_GET_SIZE(enc);
    int rc;
    if (n > ITEM_LIMIT) {
        PyErr_SetString(PyExc_ValueError, "unicode string is too large");
        rc = -1;
    } else {
        rc = put_str_hdr(b, (size_t)n, pk->use_bin_type);
        if (rc == 0)
            rc = put_body(b, PyBytes_AS_STRING(enc), (size_t)n);
    }
    Py_DECREF(enc);
    return rc;
}

static int pack_pylong(PackerObject *pk, PyObject *o, int *overflow)
{
    int ov = 0;
    long long v = PyLong_AsLongLongAndOverflow(o, &ov);
    if (LIKELY(ov == 0)) {
        if (v == -1 && PyErr_Occurred())
            return -1;
        return put_int(&pk->b, v);
    }
    if (ov > 0) {
        unsigned long long u = PyLong_AsUnsignedLongLong(o);
        if (u == (unsigned long long)-1 && PyErr_Occurred()) {
            if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
                PyErr_Clear();
                *overflow = 1;
            }
            return -1;
        }
        return put_uint(&pk->b, u);
    }
    *overflow = 1;
    return -1;
}

/*
 * Large bins and packb(): when the result is a bytes object made at once
 * (packb(), Packer.pack() with autoreset), a large bin of an object that
 * keeps its memory (a bytes object, an ndarray's data) is not written but
 * noted as a chunk (its header, encoded by the library, and where its body
 * is), and copied once, straight into the bytes object, when it is made: one
 * copy of the data instead of two. The writer never sees the value, which it
 * allows while an object is being written (it checks counts only when asked).
 * (An ndarray changed by a `default` callback later in the same call would
 * show its later values; msgpack-python would show the earlier ones.)
 */
#define DEFER_MIN ((size_t)16 * 1024) /* smaller bins are copied: cheaper than a chunk */

static void s_chunks_clear(PackerObject *pk)
{
    for (Py_ssize_t i = 0; i < pk->nchunks; i++)
        Py_DECREF(pk->chunks[i].owner);
    pk->nchunks = 0;
    pk->chunk_bytes = 0;
}

/* A whole bin: header and body, or a chunk. */
static int put_bin(PackerObject *pk, const void *p, size_t n, PyObject *owner)
{
    if (!pk->defer || n < DEFER_MIN || !owner) {
        put_bin_hdr(&pk->b, n, pk->use_bin_type);
        return put_body(&pk->b, p, n);
    }
    if (pk->nchunks == pk->chunks_cap) {
        Py_ssize_t cap = pk->chunks_cap ? 2 * pk->chunks_cap : 8;
        zpy_chunk_t *c = PyMem_Realloc(pk->chunks, (size_t)cap * sizeof *c);
        if (!c) {
            PyErr_NoMemory();
            return -1;
        }
        pk->chunks = c;
        pk->chunks_cap = cap;
    }
    zpy_chunk_t *c = &pk->chunks[pk->nchunks];
    zpk_writer_t hw; /* the header, as the writer writes it */
    zpk_writer_init_buffer(&hw, c->head, sizeof c->head);
    put_bin_hdr(&hw, n, pk->use_bin_type);
    if (zpy_writer_check(&hw) < 0)
        return -1;
    c->nhead = zpk_writer_size(&hw);
    c->at = zpk_writer_size(&pk->b);
    c->p = p;
    c->n = n;
    c->owner = Py_NewRef(owner);
    pk->nchunks++;
    pk->chunk_bytes += c->nhead + n;
    return 0;
}

/* The packed bytes: the writer's, with the chunks in their places. */
static PyObject *s_packed_bytes(PackerObject *pk)
{
    const char *w = (const char *)zpk_writer_data(&pk->b);
    size_t wn = zpk_writer_size(&pk->b);
    if (pk->nchunks == 0)
        return PyBytes_FromStringAndSize(w ? w : "", (Py_ssize_t)wn);
    PyObject *r = NULL;
    if (wn + pk->chunk_bytes > (size_t)PY_SSIZE_T_MAX)
        PyErr_NoMemory();
    else
        r = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(wn + pk->chunk_bytes));
    if (r) {
        char *dst = PyBytes_AS_STRING(r);
        size_t from = 0;
        for (Py_ssize_t i = 0; i < pk->nchunks; i++) {
            const zpy_chunk_t *c = &pk->chunks[i];
            memcpy(dst, w + from, c->at - from);
            dst += c->at - from;
            memcpy(dst, c->head, c->nhead);
            dst += c->nhead;
            memcpy(dst, c->p, c->n);
            dst += c->n;
            from = c->at;
        }
        memcpy(dst, w + from, wn - from);
    }
    s_chunks_clear(pk);
    return r;
}

static int pack_bytes_like(PackerObject *pk, const char *data, Py_ssize_t n, PyObject *o)
{
    if (n > ITEM_LIMIT) {
        PyErr_Format(PyExc_ValueError, "%.200s object is too large", Py_TYPE(o)->tp_name);
        return -1;
    }
    return put_bin(pk, data, (size_t)n, PyBytes_CheckExact(o) ? o : NULL);
}

static int pack_dict(PackerObject *pk, PyObject *o, int nest)
{
    Py_ssize_t n = PyDict_GET_SIZE(o);
    if (n > ITEM_LIMIT) {
        PyErr_SetString(PyExc_ValueError, "dict is too large");
        return -1;
    }
    if (put_map_hdr(&pk->b, (size_t)n) < 0)
        return -1;
    if (PyDict_CheckExact(o)) {
        Py_ssize_t pos = 0;
        PyObject *k, *v;
        while (PyDict_Next(o, &pos, &k, &v)) {
            /* borrowed refs: keep them alive across callbacks (default) */
            Py_INCREF(k);
            Py_INCREF(v);
            int rc = zpy_pack_obj(pk, k, nest - 1);
            if (rc == 0)
                rc = zpy_pack_obj(pk, v, nest - 1);
            Py_DECREF(k);
            Py_DECREF(v);
            if (rc < 0)
                return -1;
        }
        return 0;
    }
    PyObject *items = PyMapping_Items(o);
    if (!items)
        return -1;
    int rc = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(items) && rc == 0; i++) {
        PyObject *kv = PyList_GET_ITEM(items, i);
        if (!PyTuple_Check(kv) || PyTuple_GET_SIZE(kv) != 2) {
            PyErr_SetString(PyExc_TypeError, "items() must return pairs");
            rc = -1;
            break;
        }
        rc = zpy_pack_obj(pk, PyTuple_GET_ITEM(kv, 0), nest - 1);
        if (rc == 0)
            rc = zpy_pack_obj(pk, PyTuple_GET_ITEM(kv, 1), nest - 1);
    }
    Py_DECREF(items);
    return rc;
}

static int pack_seq(PackerObject *pk, PyObject *o, int nest)
{
    PyObject *fast = PySequence_Fast(o, "expected a sequence");
    if (!fast)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    int rc = 0;
    if (n > ITEM_LIMIT) {
        PyErr_SetString(PyExc_ValueError, "list is too large");
        rc = -1;
    } else {
        rc = put_array_hdr(&pk->b, (size_t)n);
        /* lists may shrink under a callback: re-check the size each time */
        for (Py_ssize_t i = 0; rc == 0 && i < n; i++) {
            if (i >= PySequence_Fast_GET_SIZE(fast)) {
                PyErr_SetString(PyExc_RuntimeError, "list changed size during packing");
                rc = -1;
                break;
            }
            PyObject *it = PySequence_Fast_GET_ITEM(fast, i);
            Py_INCREF(it);
            rc = zpy_pack_obj(pk, it, nest - 1);
            Py_DECREF(it);
        }
    }
    Py_DECREF(fast);
    return rc;
}

static int pack_ext_obj(PackerObject *pk, PyObject *o)
{
    PyObject *code = PyObject_GetAttr(o, g_str_code);
    if (!code)
        return -1;
    PyObject *data = PyObject_GetAttr(o, g_str_data);
    if (!data) {
        Py_DECREF(code);
        return -1;
    }
    int rc = -1;
    long c = PyLong_AsLong(code);
    if (c == -1 && PyErr_Occurred())
        goto done;
    if (!PyBytes_Check(data)) {
        PyErr_SetString(PyExc_TypeError, "ExtType.data must be bytes");
        goto done;
    }
    Py_ssize_t n = PyBytes_GET_SIZE(data);
    if (n > ITEM_LIMIT) {
        PyErr_SetString(PyExc_ValueError, "EXT data is too large");
        goto done;
    }
    if (put_ext_hdr(&pk->b, (int)c, (size_t)n) < 0)
        goto done;
    rc = put_body(&pk->b, PyBytes_AS_STRING(data), (size_t)n);
done:
    Py_DECREF(code);
    Py_DECREF(data);
    return rc;
}

static int pack_timestamp_obj(PackerObject *pk, PyObject *o)
{
    PyObject *s = PyObject_GetAttr(o, g_str_seconds);
    if (!s)
        return -1;
    PyObject *ns = PyObject_GetAttr(o, g_str_nanoseconds);
    if (!ns) {
        Py_DECREF(s);
        return -1;
    }
    long long sec = PyLong_AsLongLong(s);
    unsigned long nsec = PyLong_AsUnsignedLong(ns);
    Py_DECREF(s);
    Py_DECREF(ns);
    if (PyErr_Occurred())
        return -1;
    return put_timestamp(&pk->b, sec, (uint32_t)nsec);
}

static int pack_datetime(PackerObject *pk, PyObject *o)
{
    PyObject *delta = PyNumber_Subtract(o, g_epoch);
    if (!delta)
        return -1;
    if (!PyDelta_CheckExact(delta)) {
        Py_DECREF(delta);
        PyErr_SetString(PyExc_ValueError, "failed to calculate delta");
        return -1;
    }
    long long sec = (long long)PyDateTime_DELTA_GET_DAYS(delta) * 86400LL
                  + PyDateTime_DELTA_GET_SECONDS(delta);
    uint32_t nsec = (uint32_t)PyDateTime_DELTA_GET_MICROSECONDS(delta) * 1000u;
    Py_DECREF(delta);
    return put_timestamp(&pk->b, sec, nsec);
}

/* Packs @p payload (already a Python object) into a fresh buffer and emits it
 * as ext @p code. Used by the keep-types mode. */
static int pack_as_ext(PackerObject *pk, int code, PyObject *payload, int nest)
{
    wbuf_t saved = pk->b;
    int defer = pk->defer; /* chunks belong to the outer writer */
    pk->defer = 0;
    zpk_writer_init_growable(&pk->b, 64);
    int rc = zpy_pack_obj(pk, payload, nest - 1);
    wbuf_t inner = pk->b;
    pk->b = saved;
    pk->defer = defer;
    if (rc == 0)
        rc = zpy_writer_check(&inner);
    if (rc == 0) {
        put_ext_hdr(&pk->b, code, zpk_writer_size(&inner));
        put_body(&pk->b, zpk_writer_data(&inner), zpk_writer_size(&inner));
    }
    zpk_writer_free(&inner);
    return rc;
}

static int pack_keep_types(PackerObject *pk, PyObject *o, int nest, int *handled)
{
    *handled = 1;
    if (PyTuple_Check(o)) {
        PyObject *l = PySequence_List(o);
        if (!l)
            return -1;
        int rc = pack_as_ext(pk, EXT_TUPLE, l, nest);
        Py_DECREF(l);
        return rc;
    }
    if (PyAnySet_Check(o)) {
        PyObject *l = PySequence_List(o);
        if (!l)
            return -1;
        int rc = pack_as_ext(pk, PyFrozenSet_Check(o) ? EXT_FROZENSET : EXT_SET, l, nest);
        Py_DECREF(l);
        return rc;
    }
    if (PyComplex_Check(o)) {
        Py_complex c = PyComplex_AsCComplex(o);
        if (PyErr_Occurred())
            return -1;
        uint8_t tmp[16];
        uint64_t u;
        memcpy(&u, &c.real, 8);
        zpk__put_be64(tmp, u);
        memcpy(&u, &c.imag, 8);
        zpk__put_be64(tmp + 8, u);
        if (put_ext_hdr(&pk->b, EXT_COMPLEX, 16) < 0)
            return -1;
        return put_body(&pk->b, tmp, 16);
    }
    *handled = 0;
    return 0;
}

int zpy_ndarray_mode(PyObject *arg, int *mode)
{
    if (arg == NULL || arg == Py_None) {
        *mode = ZPY_NDARRAY_DEFAULT;
        return 0;
    }
    if (PyUnicode_Check(arg) && PyUnicode_CompareWithASCIIString(arg, "msgpack-numpy") == 0) {
        *mode = ZPY_NDARRAY_MSGPACK_NUMPY;
        return 0;
    }
    PyErr_Format(PyExc_ValueError, "ndarray must be None or 'msgpack-numpy', not %.60R", arg);
    return -1;
}

/* An ExtType: zmqpack's, or msgpack-python's when it is loaded. */
static int s_is_ext_type(PyObject *o)
{
    int r = PyObject_IsInstance(o, g_ExtType);
    if (r == 0 && g_msgpack_ExtType)
        r = PyObject_IsInstance(o, g_msgpack_ExtType);
    if (r < 0)
        PyErr_Clear(); /* as msgpack-python: the object then goes on to the next test */
    return r > 0;
}

/* numpy is never imported from here: its objects exist only once it is loaded. */
static int s_numpy_loaded(void)
{
    if (g_numpy_ready)
        return 1;
    PyObject *np = PyImport_GetModule(g_str_numpy);
    if (!np)
        return PyErr_Occurred() ? -1 : 0;
    Py_DECREF(np);
    return zpy_import_numpy() < 0 ? -1 : 1;
}

static void s_cannot_serialize(PackerObject *pk, PyObject *o)
{
    const char *name = Py_TYPE(o)->tp_name;
    if (pk->datetime && PyDateTime_CheckExact(o)) {
        PyErr_Format(PyExc_ValueError, "can not serialize %R because it has no tzinfo", o);
    } else if (g_numpy_ready && PyArray_Check(o)) {
        PyErr_Format(PyExc_TypeError,
                     "can not serialize '%.100s' object: send ndarrays with send_packed() or "
                     "serialize() (as their own frames), or pack them with "
                     "ndarray='msgpack-numpy'", name);
    } else {
        /* msgpack-python's text; the type's name only, whatever the object */
        PyErr_Format(PyExc_TypeError, "can not serialize '%.100s' object", name);
    }
}

/* numpy's C API calls through a table of object pointers cast to function
 * pointers, which ISO C does not bless: -Wpedantic is silenced for the
 * functions that call it. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"

/* A numpy scalar as the MessagePack value it holds: np.bool_ a bool, every
 * integer width an int, float32 a float 32, float16 and float64 a float 64
 * (float 32 with use_single_float, as a Python float). Other numpy scalars
 * (complex, datetime, longdouble...) are not handled. */
static int pack_numpy_scalar(PackerObject *pk, PyObject *o, int *handled)
{
    *handled = 0;
    int np = s_numpy_loaded();
    if (np <= 0 || !PyArray_IsScalar(o, Generic))
        return np;
    PyArray_Descr *d = PyArray_DescrFromScalar(o);
    if (!d)
        return -1;
    char kind = d->kind;
    int size = d->elsize;
    Py_DECREF(d);
    union {
        npy_bool b;
        int8_t i8; int16_t i16; int32_t i32; int64_t i64;
        uint8_t u8; uint16_t u16; uint32_t u32; uint64_t u64;
        float f;
        char bytes[32];
    } v;
    if ((kind == 'b' || kind == 'i' || kind == 'u') && size <= 8) {
        PyArray_ScalarAsCtype(o, &v);
        *handled = 1;
        if (kind == 'b')
            return put_bool(&pk->b, v.b);
        if (kind == 'i')
            return put_int(&pk->b, size == 1 ? v.i8 : size == 2 ? v.i16 : size == 4 ? v.i32
                                                                                   : v.i64);
        return put_uint(&pk->b, size == 1 ? v.u8 : size == 2 ? v.u16 : size == 4 ? v.u32
                                                                                 : v.u64);
    }
    if (kind == 'f' && size == 4) {
        PyArray_ScalarAsCtype(o, &v);
        *handled = 1;
        zpk_write_float(&pk->b, v.f);
        return 0;
    }
    if (kind == 'f' && (size == 2 || size == 8)) {
        double x = PyFloat_AsDouble(o);
        if (x == -1.0 && PyErr_Occurred())
            return -1;
        *handled = 1;
        return put_double(&pk->b, x, pk->use_single_float);
    }
    return 0;
}

static void put_bin_key(PackerObject *pk, const char *key, size_t n)
{
    put_bin_hdr(&pk->b, n, pk->use_bin_type);
    put_body(&pk->b, key, n);
}

/* The dtype's typestr ("<f8") or, for structured dtypes, its descr list. */
static PyObject *s_dtype_attr(PyArray_Descr *d, const char *name)
{
    return PyObject_GetAttrString((PyObject *)d, name);
}

/*
 * The msgpack-numpy rules (lebedov/msgpack-numpy, msgpack_numpy.encode), as
 * msgpack.packb(obj, use_bin_type=True, default=msgpack_numpy.encode) writes
 * them, byte for byte:
 *   ndarray        {b"nd": True, b"type": dtype.str, b"kind": b"", b"shape": [...],
 *                   b"data": its C-ordered bytes}; structured dtypes (kind V):
 *                   b"type" is dtype.descr and b"kind" b"V"
 *   numpy scalar   {b"nd": False, b"type": dtype.str, b"data": its bytes}
 *                   (np.bool_ and np.number; np.float64 is a float and never
 *                   gets here, as with msgpack-python)
 *   complex        {b"complex": True, b"data": repr(c)} (not with keep_types)
 * Object arrays are refused: msgpack-numpy sends them as a pickle.
 * Not zpk_write_msgpack_numpy() (zmqpack/interop.h): it writes the dtypes
 * zmqpack carries with msgpack 1.0's defaults, where this must follow every
 * packer option (use_bin_type=False writes the keys as str) and every numpy
 * dtype msgpack-numpy writes (structured, strings, datetimes).
 */
static int pack_msgpack_numpy(PackerObject *pk, PyObject *o, int nest, int *handled)
{
    *handled = 0;
    int np = s_numpy_loaded();
    if (np < 0)
        return -1;
    if (np && PyArray_Check(o)) {
        PyArrayObject *a = (PyArrayObject *)o;
        PyArray_Descr *d = PyArray_DESCR(a);
        *handled = 1;
        if (d->kind == 'O') {
            PyErr_SetString(PyExc_TypeError,
                            "can not serialize an object array (dtype object) with "
                            "ndarray='msgpack-numpy': msgpack-numpy sends those as a pickle, "
                            "which zmqpack neither writes nor reads");
            return -1;
        }
        int structured = d->kind == 'V';
        PyObject *type = s_dtype_attr(d, structured ? "descr" : "str");
        if (!type)
            return -1;
        PyArrayObject *c = a;
        Py_INCREF(c);
        if (!PyArray_IS_C_CONTIGUOUS(a)) {
            Py_SETREF(c, (PyArrayObject *)PyArray_NewCopy(a, NPY_CORDER));
            if (!c) {
                Py_DECREF(type);
                return -1;
            }
        }
        int rc = -1;
        npy_intp nbytes = PyArray_NBYTES(c);
        if (nbytes > ITEM_LIMIT) {
            PyErr_SetString(PyExc_ValueError, "ndarray is too large");
            goto nd_done;
        }
        put_map_hdr(&pk->b, 5);
        put_bin_key(pk, "nd", 2);
        put_bool(&pk->b, 1);
        put_bin_key(pk, "type", 4);
        if (zpy_pack_obj(pk, type, nest - 1) < 0)
            goto nd_done;
        put_bin_key(pk, "kind", 4);
        put_bin_key(pk, "V", structured ? 1 : 0);
        put_bin_key(pk, "shape", 5);
        put_array_hdr(&pk->b, (size_t)PyArray_NDIM(c));
        for (int i = 0; i < PyArray_NDIM(c); i++)
            put_uint(&pk->b, (uint64_t)PyArray_DIM(c, i));
        put_bin_key(pk, "data", 4);
        if (put_bin(pk, PyArray_DATA(c), (size_t)nbytes, (PyObject *)c) < 0)
            goto nd_done;
        rc = 0;
    nd_done:
        Py_DECREF(type);
        Py_DECREF(c);
        return rc;
    }
    if (np && (PyArray_IsScalar(o, Bool) || PyArray_IsScalar(o, Number))) {
        PyArray_Descr *d = PyArray_DescrFromScalar(o);
        if (!d)
            return -1;
        *handled = 1;
        char bytes[64];
        PyObject *type = (size_t)d->elsize <= sizeof bytes ? s_dtype_attr(d, "str") : NULL;
        int rc = -1;
        if (type) {
            PyArray_ScalarAsCtype(o, bytes);
            put_map_hdr(&pk->b, 3);
            put_bin_key(pk, "nd", 2);
            put_bool(&pk->b, 0);
            put_bin_key(pk, "type", 4);
            rc = pack_str(pk, type);
            if (rc == 0) {
                put_bin_key(pk, "data", 4);
                put_bin_hdr(&pk->b, (size_t)d->elsize, pk->use_bin_type);
                put_body(&pk->b, bytes, (size_t)d->elsize);
            }
            Py_DECREF(type);
        } else if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_TypeError, "can not serialize '%.100s' object", Py_TYPE(o)->tp_name);
        }
        Py_DECREF(d);
        return rc;
    }
    if (!pk->keep_types && PyComplex_Check(o)) {
        PyObject *r = PyObject_Repr(o);
        if (!r)
            return -1;
        *handled = 1;
        put_map_hdr(&pk->b, 2);
        put_bin_key(pk, "complex", 7);
        put_bool(&pk->b, 1);
        put_bin_key(pk, "data", 4);
        int rc = pack_str(pk, r);
        Py_DECREF(r);
        return rc;
    }
    return 0;
}
#pragma GCC diagnostic pop

int zpy_pack_obj(PackerObject *pk, PyObject *o, int nest)
{
    if (UNLIKELY(nest < 0)) {
        PyErr_SetString(PyExc_ValueError, "recursion limit exceeded.");
        return -1;
    }
    PyTypeObject *t = Py_TYPE(o);
    /* Fast paths for exact builtin types; identical result to the slow path. */
    if (t == &PyUnicode_Type)
        return pack_str(pk, o);
    if (t == &PyLong_Type) {
        int ov = 0;
        long long v = PyLong_AsLongLongAndOverflow(o, &ov);
        if (LIKELY(ov == 0))
            return put_int(&pk->b, v);
    } else if (t == &PyDict_Type) {
        return pack_dict(pk, o, nest);
    } else if (t == &PyFloat_Type) {
        return put_double(&pk->b, PyFloat_AS_DOUBLE(o), pk->use_single_float);
    } else if (t == &PyList_Type) {
        return pack_seq(pk, o, nest);
    } else if (o == Py_None) {
        return put_nil(&pk->b);
    } else if (o == Py_True) {
        return put_bool(&pk->b, 1);
    } else if (o == Py_False) {
        return put_bool(&pk->b, 0);
    } else if (t == &PyBytes_Type) {
        return pack_bytes_like(pk, PyBytes_AS_STRING(o), PyBytes_GET_SIZE(o), o);
    }

    /* The slow path: msgpack-python 1.0's order of tests. */
    int default_used = 0;
    int strict = pk->strict_types;
    Py_INCREF(o);
    int rc;
    for (;;) {
        t = Py_TYPE(o);
        if (o == Py_None) {
            rc = put_nil(&pk->b);
        } else if (PyBool_Check(o)) {
            rc = put_bool(&pk->b, o == Py_True);
        } else if (strict ? PyLong_CheckExact(o) : PyLong_Check(o)) {
            int overflow = 0;
            rc = pack_pylong(pk, o, &overflow);
            if (rc < 0 && overflow) {
                if (!default_used && pk->default_fn) {
                    PyObject *n = PyObject_CallOneArg(pk->default_fn, o);
                    Py_DECREF(o);
                    if (!n)
                        return -1;
                    o = n;
                    default_used = 1;
                    continue;
                }
                PyErr_SetString(PyExc_OverflowError, "Integer value out of range");
            }
        } else if (strict ? PyFloat_CheckExact(o) : PyFloat_Check(o)) {
            rc = put_double(&pk->b, PyFloat_AS_DOUBLE(o), pk->use_single_float);
        } else if (strict ? (PyBytes_CheckExact(o) || PyByteArray_CheckExact(o))
                          : (PyBytes_Check(o) || PyByteArray_Check(o))) {
            if (PyBytes_Check(o))
                rc = pack_bytes_like(pk, PyBytes_AS_STRING(o), PyBytes_GET_SIZE(o), o);
            else
                rc = pack_bytes_like(pk, PyByteArray_AS_STRING(o), PyByteArray_GET_SIZE(o), o);
        } else if (strict ? PyUnicode_CheckExact(o) : PyUnicode_Check(o)) {
            rc = pack_str(pk, o);
        } else if (PyDict_CheckExact(o) || (!strict && PyDict_Check(o))) {
            rc = pack_dict(pk, o, nest);
        } else if (strict ? ((PyObject *)t == g_ExtType || (PyObject *)t == g_msgpack_ExtType)
                          : s_is_ext_type(o)) {
            rc = pack_ext_obj(pk, o);
        } else if ((PyObject *)t == g_Timestamp || (PyObject *)t == g_msgpack_Timestamp) {
            rc = pack_timestamp_obj(pk, o);
        } else if (pk->keep_types && PyTuple_Check(o)) {
            int handled;
            rc = pack_keep_types(pk, o, nest, &handled);
        } else if (strict ? PyList_CheckExact(o) : (PyTuple_Check(o) || PyList_Check(o))) {
            rc = pack_seq(pk, o, nest);
        } else if (PyMemoryView_Check(o)) {
            Py_buffer view;
            if (PyObject_GetBuffer(o, &view, PyBUF_SIMPLE) != 0) {
                PyErr_Clear();
                PyErr_SetString(PyExc_ValueError, "could not get buffer for memoryview");
                rc = -1;
            } else {
                if (view.len > ITEM_LIMIT) {
                    PyErr_SetString(PyExc_ValueError, "memoryview is too large");
                    rc = -1;
                } else {
                    rc = put_bin_hdr(&pk->b, (size_t)view.len, pk->use_bin_type);
                    if (rc == 0)
                        rc = put_body(&pk->b, view.buf, (size_t)view.len);
                }
                PyBuffer_Release(&view);
            }
        } else if (pk->datetime && PyDateTime_CheckExact(o)
                   && ((PyDateTime_DateTime *)o)->hastzinfo
                   && ((PyDateTime_DateTime *)o)->tzinfo != Py_None) {
            rc = pack_datetime(pk, o);
        } else {
            /* What msgpack-python does not know, in this order: the
             * msgpack-numpy rules (as its `default` would), the ndarrays of
             * a mixed message, keep_types, the registry, `default`, numpy
             * scalars; anything else is a TypeError. */
            int handled = 0;
            rc = 0;
            if (pk->ndarray_mode == ZPY_NDARRAY_MSGPACK_NUMPY) {
                rc = pack_msgpack_numpy(pk, o, nest, &handled);
                if (handled || rc < 0)
                    break;
            } else if (pk->ndarrays && g_ndarray_type &&
                       PyObject_TypeCheck(o, (PyTypeObject *)g_ndarray_type)) {
                /* mixed message: the array travels as its own frames */
                Py_ssize_t idx = PyList_GET_SIZE(pk->ndarrays);
                if (idx > 0xffffffffLL || PyList_Append(pk->ndarrays, o) < 0) {
                    if (!PyErr_Occurred())
                        PyErr_SetString(PyExc_ValueError, "too many arrays");
                    rc = -1;
                    break;
                }
                zpk_write_ndarray_ref(&pk->b, (uint32_t)idx);
                rc = 0;
                break;
            }
            if (pk->keep_types) {
                rc = pack_keep_types(pk, o, nest, &handled);
                if (handled || rc < 0)
                    break;
            }
            if (!default_used && g_registry_active && g_registry_hook) {
                PyObject *n = PyObject_CallOneArg(g_registry_hook, o);
                if (!n) {
                    rc = -1;
                    break;
                }
                if (n != Py_NotImplemented) {
                    Py_DECREF(o);
                    o = n;
                    default_used = 1;
                    continue;
                }
                Py_DECREF(n);
            }
            if (!default_used && pk->default_fn) {
                PyObject *n = PyObject_CallOneArg(pk->default_fn, o);
                Py_DECREF(o);
                if (!n)
                    return -1;
                o = n;
                default_used = 1;
                continue;
            }
            rc = pack_numpy_scalar(pk, o, &handled);
            if (handled || rc < 0)
                break;
            s_cannot_serialize(pk, o);
            rc = -1;
        }
        break;
    }
    Py_DECREF(o);
    return rc;
}

static int packer_parse(PackerObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"default", "use_single_float", "autoreset", "use_bin_type",
                             "strict_types", "datetime", "unicode_errors", "keep_types",
                             "ndarray", NULL};
    PyObject *default_fn = Py_None, *unicode_errors = Py_None, *ndarray = Py_None;
    int use_single_float = 0, autoreset = 1, use_bin_type = 1, strict_types = 0,
        datetime = 0, keep_types = 0, ndarray_mode;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O$pppppOpO", kwlist, &default_fn,
                                     &use_single_float, &autoreset, &use_bin_type,
                                     &strict_types, &datetime, &unicode_errors, &keep_types,
                                     &ndarray))
        return -1;
    if (zpy_ndarray_mode(ndarray, &ndarray_mode) < 0)
        return -1;
    if (default_fn != Py_None && !PyCallable_Check(default_fn)) {
        PyErr_SetString(PyExc_TypeError, "default must be a callable.");
        return -1;
    }
    if (unicode_errors != Py_None && !PyUnicode_Check(unicode_errors)) {
        PyErr_SetString(PyExc_TypeError, "unicode_errors must be a str or None");
        return -1;
    }
    Py_CLEAR(self->default_fn);
    Py_CLEAR(self->unicode_errors_obj);
    self->unicode_errors = NULL;
    if (default_fn != Py_None) {
        Py_INCREF(default_fn);
        self->default_fn = default_fn;
    }
    if (unicode_errors != Py_None) {
        self->unicode_errors = PyUnicode_AsUTF8(unicode_errors);
        if (!self->unicode_errors)
            return -1;
        Py_INCREF(unicode_errors);
        self->unicode_errors_obj = unicode_errors;
    }
    self->use_single_float = use_single_float;
    self->autoreset = autoreset;
    self->use_bin_type = use_bin_type;
    self->strict_types = strict_types;
    self->datetime = datetime;
    self->keep_types = keep_types;
    self->ndarray_mode = ndarray_mode;
    return 0;
}

static int Packer_init(PackerObject *self, PyObject *args, PyObject *kwds)
{
    if (packer_parse(self, args, kwds) < 0)
        return -1;
    if (!self->w_ready) {
        zpk_writer_init_growable(&self->b, 1024);
        self->w_ready = 1;
    } else if (self->exports == 0) {
        zpk_writer_reset(&self->b);
    }
    return 0;
}

static void Packer_dealloc(PackerObject *self)
{
    s_chunks_clear(self);
    PyMem_Free(self->chunks);
    Py_CLEAR(self->ndarrays);
    Py_CLEAR(self->default_fn);
    Py_CLEAR(self->unicode_errors_obj);
    if (self->w_ready)
        zpk_writer_free(&self->b);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int packer_check_exports(PackerObject *self)
{
    if (!self->w_ready) { /* a subclass that skipped __init__ */
        zpk_writer_init_growable(&self->b, 1024);
        self->w_ready = 1;
    }
    if (self->exports > 0) {
        PyErr_SetString(PyExc_BufferError,
                        "Packer buffer is exported (getbuffer()); release the view first");
        return -1;
    }
    return 0;
}

/* Common tail of every pack_* method: on error drop what was written by this
 * call; with autoreset return the bytes and empty the buffer, else None. */
static PyObject *packer_finish(PackerObject *self, int rc, Py_ssize_t start)
{
    (void)start;
    if (rc == 0)
        rc = zpy_writer_check(&self->b);
    if (rc < 0) {
        /* as msgpack-python: an exception empties the buffer */
        s_chunks_clear(self);
        zpk_writer_reset(&self->b);
        return NULL;
    }
    if (self->autoreset) {
        PyObject *r = s_packed_bytes(self);
        zpk_writer_reset(&self->b);
        return r;
    }
    Py_RETURN_NONE;
}

static PyObject *Packer_pack(PackerObject *self, PyObject *obj)
{
    if (packer_check_exports(self) < 0)
        return NULL;
    Py_ssize_t start = 0;
    self->defer = self->autoreset; /* the bytes are made before pack() returns */
    int rc = zpy_pack_obj(self, obj, PACK_RECURSE_LIMIT);
    self->defer = 0;
    return packer_finish(self, rc, start);
}

static PyObject *Packer_pack_array_header(PackerObject *self, PyObject *arg)
{
    if (packer_check_exports(self) < 0)
        return NULL;
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n == -1 && PyErr_Occurred())
        return NULL;
    if (n < 0 || n > ITEM_LIMIT) {
        PyErr_SetString(PyExc_ValueError, "array too large");
        return NULL;
    }
    Py_ssize_t start = 0;
    return packer_finish(self, put_array_hdr(&self->b, (size_t)n), start);
}

static PyObject *Packer_pack_map_header(PackerObject *self, PyObject *arg)
{
    if (packer_check_exports(self) < 0)
        return NULL;
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n == -1 && PyErr_Occurred())
        return NULL;
    if (n < 0 || n > ITEM_LIMIT) {
        PyErr_SetString(PyExc_ValueError, "map too large");
        return NULL;
    }
    Py_ssize_t start = 0;
    return packer_finish(self, put_map_hdr(&self->b, (size_t)n), start);
}

static PyObject *Packer_pack_ext_type(PackerObject *self, PyObject *args)
{
    int code;
    Py_buffer data;
    if (packer_check_exports(self) < 0)
        return NULL;
    if (!PyArg_ParseTuple(args, "iy*:pack_ext_type", &code, &data))
        return NULL;
    PyObject *r = NULL;
    if (code < -128 || code > 127) {
        PyErr_SetString(PyExc_ValueError, "typecode must have value between -128 and 127");
    } else if (data.len > ITEM_LIMIT) {
        PyErr_SetString(PyExc_ValueError, "ext data too large");
    } else {
        Py_ssize_t start = 0;
        int rc = put_ext_hdr(&self->b, code, (size_t)data.len);
        if (rc == 0)
            rc = put_body(&self->b, data.buf, (size_t)data.len);
        r = packer_finish(self, rc, start);
    }
    PyBuffer_Release(&data);
    return r;
}

static PyObject *Packer_pack_map_pairs(PackerObject *self, PyObject *pairs)
{
    if (packer_check_exports(self) < 0)
        return NULL;
    PyObject *fast = PySequence_Fast(pairs, "pairs must be a sequence");
    if (!fast)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast), start = 0;
    int rc = n > ITEM_LIMIT ? -1 : put_map_hdr(&self->b, (size_t)n);
    if (n > ITEM_LIMIT)
        PyErr_SetString(PyExc_ValueError, "dict is too large");
    for (Py_ssize_t i = 0; rc == 0 && i < n; i++) {
        PyObject *kv = PySequence_Fast_GET_ITEM(fast, i);
        PyObject *k, *v;
        if (!PyArg_ParseTuple(kv, "OO", &k, &v)) {
            rc = -1;
            break;
        }
        rc = zpy_pack_obj(self, k, PACK_RECURSE_LIMIT);
        if (rc == 0)
            rc = zpy_pack_obj(self, v, PACK_RECURSE_LIMIT);
    }
    Py_DECREF(fast);
    return packer_finish(self, rc, start);
}

static PyObject *Packer_bytes(PackerObject *self, PyObject *Py_UNUSED(ignored))
{
    const uint8_t *d = zpk_writer_data(&self->b);
    return PyBytes_FromStringAndSize(d ? (const char *)d : "",
                                     (Py_ssize_t)zpk_writer_size(&self->b));
}

static PyObject *Packer_reset(PackerObject *self, PyObject *Py_UNUSED(ignored))
{
    if (packer_check_exports(self) < 0)
        return NULL;
    zpk_writer_reset(&self->b);
    Py_RETURN_NONE;
}

static PyObject *Packer_getbuffer(PackerObject *self, PyObject *Py_UNUSED(ignored))
{
    return PyMemoryView_FromObject((PyObject *)self);
}

static int Packer_getbufferproc(PackerObject *self, Py_buffer *view, int flags)
{
    static char empty[1];
    const uint8_t *d = zpk_writer_data(&self->b);
    int rc = PyBuffer_FillInfo(view, (PyObject *)self, d ? (void *)(uintptr_t)d : empty,
                               (Py_ssize_t)zpk_writer_size(&self->b), 1, flags);
    if (rc == 0)
        self->exports++;
    return rc;
}

static void Packer_releasebufferproc(PackerObject *self, Py_buffer *Py_UNUSED(view))
{
    self->exports--;
}

static PyBufferProcs Packer_as_buffer = {
    (getbufferproc)Packer_getbufferproc,
    (releasebufferproc)Packer_releasebufferproc,
};

static PyMethodDef Packer_methods[] = {
    {"pack", (PyCFunction)Packer_pack, METH_O,
     "pack(obj): pack obj; with autoreset return the bytes, else append to the buffer."},
    {"pack_array_header", (PyCFunction)Packer_pack_array_header, METH_O,
     "pack_array_header(n): write an array header for n elements."},
    {"pack_map_header", (PyCFunction)Packer_pack_map_header, METH_O,
     "pack_map_header(n): write a map header for n pairs."},
    {"pack_ext_type", (PyCFunction)Packer_pack_ext_type, METH_VARARGS,
     "pack_ext_type(typecode, data): write an ext object."},
    {"pack_map_pairs", (PyCFunction)Packer_pack_map_pairs, METH_O,
     "pack_map_pairs(pairs): write a map from a sequence of (key, value) pairs."},
    {"bytes", (PyCFunction)Packer_bytes, METH_NOARGS,
     "bytes(): a copy of the internal buffer (autoreset=False)."},
    {"getbuffer", (PyCFunction)Packer_getbuffer, METH_NOARGS,
     "getbuffer(): a memoryview of the internal buffer, without copying."},
    {"reset", (PyCFunction)Packer_reset, METH_NOARGS, "reset(): empty the internal buffer."},
    {NULL, NULL, 0, NULL},
};

PyTypeObject zpy_PackerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "zmqpack._core.Packer",
    .tp_basicsize = sizeof(PackerObject),
    .tp_dealloc = (destructor)Packer_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "MessagePack packer (msgpack-python 1.0 compatible).\n\n"
              "Packer(default=None, *, use_single_float=False, autoreset=True,\n"
              "       use_bin_type=True, strict_types=False, datetime=False,\n"
              "       unicode_errors=None, keep_types=False)",
    .tp_methods = Packer_methods,
    .tp_init = (initproc)Packer_init,
    .tp_new = PyType_GenericNew,
    .tp_as_buffer = &Packer_as_buffer,
};

PackerObject *zpy_packer_new(void)
{
    PackerObject *pk = PyObject_New(PackerObject, &zpy_PackerType);
    if (!pk)
        return NULL;
    memset((char *)pk + sizeof(PyObject), 0, sizeof(PackerObject) - sizeof(PyObject));
    zpk_writer_init_growable(&pk->b, 1024);
    pk->w_ready = 1;
    pk->autoreset = 1;
    pk->use_bin_type = 1;
    return pk;
}

/* The packer of the module-level packb(): its buffer is reused from call to
 * call (growing a fresh one to a large object costs more than the packing). */
static PackerObject *g_default_packer;
static int g_default_packer_busy;

int zpy_packer_configure(PackerObject *pk, PyObject *kw)
{
    PyObject *empty = PyTuple_New(0);
    int rc = empty ? packer_parse(pk, empty, kw) : -1;
    Py_XDECREF(empty);
    pk->autoreset = 1; /* the callers want the bytes whatever autoreset says */
    return rc;
}

/* Sets @p pk's options from packb()'s keyword arguments (none: the defaults). */
static int s_packer_options(PackerObject *pk, PyObject *const *kwargs, PyObject *kwnames)
{
    PyObject *kw = NULL;
    if (kwnames) {
        kw = PyDict_New();
        for (Py_ssize_t i = 0; kw && i < PyTuple_GET_SIZE(kwnames); i++)
            if (PyDict_SetItem(kw, PyTuple_GET_ITEM(kwnames, i), kwargs[i]) < 0)
                Py_CLEAR(kw);
        if (!kw)
            return -1;
    }
    int rc = zpy_packer_configure(pk, kw);
    Py_XDECREF(kw);
    return rc;
}

static PyObject *core_packb(PyObject *Py_UNUSED(mod), PyObject *const *args, Py_ssize_t nargs,
                            PyObject *kwnames)
{
    if (nargs != 1) {
        PyErr_SetString(PyExc_TypeError, "packb() takes exactly one positional argument");
        return NULL;
    }
    /* A default= callback that calls packb() again gets a packer of its own. */
    int shared = !g_default_packer_busy;
    PackerObject *pk = shared ? g_default_packer : zpy_packer_new();
    if (!pk)
        return NULL;
    PyObject *r = NULL;
    if (kwnames == NULL || s_packer_options(pk, args + nargs, kwnames) == 0) {
        g_default_packer_busy = 1;
        zpk_writer_reset(&pk->b);
        pk->defer = 1;
        int rc = zpy_pack_obj(pk, args[0], PACK_RECURSE_LIMIT);
        pk->defer = 0;
        if (rc == 0)
            rc = zpy_writer_check(&pk->b);
        if (rc == 0)
            r = s_packed_bytes(pk);
        else
            s_chunks_clear(pk);
        g_default_packer_busy = !shared;
    }
    if (!shared) {
        Py_DECREF(pk);
        return r;
    }
    if (zpk_writer_size(&pk->b) > (1 << 20)) { /* do not keep a huge buffer around */
        zpk_writer_free(&pk->b);
        zpk_writer_init_growable(&pk->b, 1024);
    }
    zpk_writer_reset(&pk->b);
    if (kwnames && s_packer_options(pk, NULL, NULL) < 0) /* back to the defaults */
        PyErr_WriteUnraisable((PyObject *)pk);
    return r;
}

static PyMethodDef pack_methods[] = {
    {"packb", (PyCFunction)(void (*)(void))core_packb, METH_FASTCALL | METH_KEYWORDS,
     "packb(o, **kwargs) -> bytes: pack o (see Packer for the options)."},
    {NULL, NULL, 0, NULL},
};

int zpy_pack_init(PyObject *m)
{
    PyDateTime_IMPORT;
    if (!PyDateTimeAPI || PyType_Ready(&zpy_PackerType) < 0)
        return -1;
    g_default_packer = zpy_packer_new();
    if (!g_default_packer)
        return -1;
    Py_INCREF(&zpy_PackerType);
    if (PyModule_AddObject(m, "Packer", (PyObject *)&zpy_PackerType) < 0) {
        Py_DECREF(&zpy_PackerType);
        return -1;
    }
    return PyModule_AddFunctions(m, pack_methods);
}

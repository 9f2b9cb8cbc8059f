/*
 * zmqpack._core: the hot paths of the Python binding.
 *
 * Packing walks Python objects and writes MessagePack straight into one
 * growable buffer; unpacking reads tags from a complete buffer and builds
 * Python objects directly (no intermediate tree). The streaming Unpacker
 * (zmqpack/__init__.py) uses Decoder.scan(), a resumable scanner whose
 * state survives between feeds, so its total work is linear in the bytes fed;
 * once the scanner has found the end of an object, Decoder.build() turns
 * those bytes into Python objects in one pass.
 *
 * Semantics follow msgpack-python 1.0 (its Cython packer and C unpacker):
 * the same type tests in the same order, the same shortest encodings, the
 * same exceptions. Where this file differs it says so.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>

#include <stdint.h>
#include <string.h>

#include "zmqpack.h"
#include <zmq.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#if defined(__GNUC__)
#  define LIKELY(x) __builtin_expect(!!(x), 1)
#  define UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#  define LIKELY(x) (x)
#  define UNLIKELY(x) (x)
#endif

#define ITEM_LIMIT ((Py_ssize_t)0xffffffffLL)
#define PACK_RECURSE_LIMIT 511
#define UNPACK_STACK_SIZE 1024

/* Ext codes of the opt-in "keep types" mode (docs/python.md). */
#define EXT_TUPLE 80
#define EXT_SET 81
#define EXT_FROZENSET 82
#define EXT_COMPLEX 83

/* ---- module globals, set once by zmqpack/__init__.py through _setup() ---- */
static PyObject *g_ExtType;      /* zmqpack.ExtType */
static PyObject *g_Timestamp;    /* zmqpack.Timestamp */
static PyObject *g_FormatError;
static PyObject *g_StackError;
static PyObject *g_ExtraData;
static PyObject *g_registry_hook; /* callable(obj) -> replacement or NotImplemented */
static PyObject *g_registry_ext_hook; /* ext_hook used when the registry is active */
static int g_registry_active;     /* set when something was registered */
static PyObject *g_utc;           /* datetime.timezone.utc */
static PyObject *g_epoch;         /* datetime(1970,1,1,tzinfo=utc) */
static PyObject *g_str_code, *g_str_data, *g_str_seconds, *g_str_nanoseconds;

/* ========================================================================== */
/* Write buffer                                                               */
/* ========================================================================== */

typedef struct {
    char *buf;
    Py_ssize_t len;
    Py_ssize_t cap;
} wbuf_t;

static int wb_grow(wbuf_t *b, Py_ssize_t need)
{
    Py_ssize_t cap = b->cap ? b->cap : 1024;
    if (need > PY_SSIZE_T_MAX - b->len) {
        PyErr_NoMemory();
        return -1;
    }
    while (cap - b->len < need) {
        if (cap > PY_SSIZE_T_MAX / 2) {
            cap = b->len + need;
            break;
        }
        cap *= 2;
    }
    char *nb = PyMem_Realloc(b->buf, (size_t)cap);
    if (!nb) {
        PyErr_NoMemory();
        return -1;
    }
    b->buf = nb;
    b->cap = cap;
    return 0;
}

#define WB_RESERVE(b, n) (LIKELY((b)->cap - (b)->len >= (Py_ssize_t)(n)) ? 0 : wb_grow((b), (n)))

static inline void wb_be16(char *p, uint16_t v)
{
    p[0] = (char)(v >> 8);
    p[1] = (char)v;
}
static inline void wb_be32(char *p, uint32_t v)
{
    p[0] = (char)(v >> 24);
    p[1] = (char)(v >> 16);
    p[2] = (char)(v >> 8);
    p[3] = (char)v;
}
static inline void wb_be64(char *p, uint64_t v)
{
    wb_be32(p, (uint32_t)(v >> 32));
    wb_be32(p + 4, (uint32_t)v);
}

static inline int put_byte(wbuf_t *b, uint8_t c)
{
    if (WB_RESERVE(b, 1) < 0)
        return -1;
    b->buf[b->len++] = (char)c;
    return 0;
}

static inline int put_uint(wbuf_t *b, uint64_t v)
{
    if (WB_RESERVE(b, 9) < 0)
        return -1;
    char *p = b->buf + b->len;
    if (v < 128) {
        p[0] = (char)v;
        b->len += 1;
    } else if (v < 256) {
        p[0] = (char)0xcc;
        p[1] = (char)v;
        b->len += 2;
    } else if (v < 65536) {
        p[0] = (char)0xcd;
        wb_be16(p + 1, (uint16_t)v);
        b->len += 3;
    } else if (v <= 0xffffffffULL) {
        p[0] = (char)0xce;
        wb_be32(p + 1, (uint32_t)v);
        b->len += 5;
    } else {
        p[0] = (char)0xcf;
        wb_be64(p + 1, v);
        b->len += 9;
    }
    return 0;
}

static inline int put_int(wbuf_t *b, int64_t v)
{
    if (v >= 0)
        return put_uint(b, (uint64_t)v);
    if (WB_RESERVE(b, 9) < 0)
        return -1;
    char *p = b->buf + b->len;
    if (v >= -32) {
        p[0] = (char)(uint8_t)(int8_t)v;
        b->len += 1;
    } else if (v >= -128) {
        p[0] = (char)0xd0;
        p[1] = (char)(int8_t)v;
        b->len += 2;
    } else if (v >= -32768) {
        p[0] = (char)0xd1;
        wb_be16(p + 1, (uint16_t)(int16_t)v);
        b->len += 3;
    } else if (v >= INT32_MIN) {
        p[0] = (char)0xd2;
        wb_be32(p + 1, (uint32_t)(int32_t)v);
        b->len += 5;
    } else {
        p[0] = (char)0xd3;
        wb_be64(p + 1, (uint64_t)v);
        b->len += 9;
    }
    return 0;
}

static inline int put_double(wbuf_t *b, double d, int single)
{
    if (WB_RESERVE(b, 9) < 0)
        return -1;
    char *p = b->buf + b->len;
    if (single) {
        float f = (float)d;
        uint32_t u;
        memcpy(&u, &f, 4);
        p[0] = (char)0xca;
        wb_be32(p + 1, u);
        b->len += 5;
    } else {
        uint64_t u;
        memcpy(&u, &d, 8);
        p[0] = (char)0xcb;
        wb_be64(p + 1, u);
        b->len += 9;
    }
    return 0;
}

/* A str header; str8 only when use_bin_type (as msgpack-python's pack_raw). */
static inline int put_str_hdr(wbuf_t *b, size_t l, int use_bin_type)
{
    if (WB_RESERVE(b, 5) < 0)
        return -1;
    char *p = b->buf + b->len;
    if (l < 32) {
        p[0] = (char)(0xa0 | l);
        b->len += 1;
    } else if (use_bin_type && l < 256) {
        p[0] = (char)0xd9;
        p[1] = (char)l;
        b->len += 2;
    } else if (l < 65536) {
        p[0] = (char)0xda;
        wb_be16(p + 1, (uint16_t)l);
        b->len += 3;
    } else {
        p[0] = (char)0xdb;
        wb_be32(p + 1, (uint32_t)l);
        b->len += 5;
    }
    return 0;
}

static inline int put_bin_hdr(wbuf_t *b, size_t l, int use_bin_type)
{
    if (!use_bin_type)
        return put_str_hdr(b, l, 0);
    if (WB_RESERVE(b, 5) < 0)
        return -1;
    char *p = b->buf + b->len;
    if (l < 256) {
        p[0] = (char)0xc4;
        p[1] = (char)l;
        b->len += 2;
    } else if (l < 65536) {
        p[0] = (char)0xc5;
        wb_be16(p + 1, (uint16_t)l);
        b->len += 3;
    } else {
        p[0] = (char)0xc6;
        wb_be32(p + 1, (uint32_t)l);
        b->len += 5;
    }
    return 0;
}

static inline int put_body(wbuf_t *b, const void *data, size_t l)
{
    if (WB_RESERVE(b, (Py_ssize_t)l) < 0)
        return -1;
    memcpy(b->buf + b->len, data, l);
    b->len += (Py_ssize_t)l;
    return 0;
}

static inline int put_container_hdr(wbuf_t *b, size_t n, uint8_t fix, uint8_t c16)
{
    if (WB_RESERVE(b, 5) < 0)
        return -1;
    char *p = b->buf + b->len;
    if (n < 16) {
        p[0] = (char)(fix | n);
        b->len += 1;
    } else if (n < 65536) {
        p[0] = (char)c16;
        wb_be16(p + 1, (uint16_t)n);
        b->len += 3;
    } else {
        p[0] = (char)(c16 + 1);
        wb_be32(p + 1, (uint32_t)n);
        b->len += 5;
    }
    return 0;
}
#define put_array_hdr(b, n) put_container_hdr((b), (n), 0x90, 0xdc)
#define put_map_hdr(b, n) put_container_hdr((b), (n), 0x80, 0xde)

static int put_ext_hdr(wbuf_t *b, int code, size_t l)
{
    if (WB_RESERVE(b, 6) < 0)
        return -1;
    char *p = b->buf + b->len;
    Py_ssize_t n;
    switch (l) {
    case 1: p[0] = (char)0xd4; n = 1; break;
    case 2: p[0] = (char)0xd5; n = 1; break;
    case 4: p[0] = (char)0xd6; n = 1; break;
    case 8: p[0] = (char)0xd7; n = 1; break;
    case 16: p[0] = (char)0xd8; n = 1; break;
    default:
        if (l < 256) {
            p[0] = (char)0xc7;
            p[1] = (char)l;
            n = 2;
        } else if (l < 65536) {
            p[0] = (char)0xc8;
            wb_be16(p + 1, (uint16_t)l);
            n = 3;
        } else {
            p[0] = (char)0xc9;
            wb_be32(p + 1, (uint32_t)l);
            n = 5;
        }
    }
    p[n] = (char)(int8_t)code;
    b->len += n + 1;
    return 0;
}

/* Timestamp in its shortest form (32, 64 or 96 bit), as msgpack-python. */
static int put_timestamp(wbuf_t *b, int64_t sec, uint32_t nsec)
{
    if (WB_RESERVE(b, 15) < 0)
        return -1;
    if ((sec >> 34) == 0) {
        uint64_t d64 = ((uint64_t)nsec << 34) | (uint64_t)sec;
        if ((d64 & 0xffffffff00000000ULL) == 0) {
            put_ext_hdr(b, -1, 4);
            wb_be32(b->buf + b->len, (uint32_t)d64);
            b->len += 4;
        } else {
            put_ext_hdr(b, -1, 8);
            wb_be64(b->buf + b->len, d64);
            b->len += 8;
        }
    } else {
        put_ext_hdr(b, -1, 12);
        wb_be32(b->buf + b->len, nsec);
        wb_be64(b->buf + b->len + 4, (uint64_t)sec);
        b->len += 12;
    }
    return 0;
}

/* ========================================================================== */
/* Packer                                                                     */
/* ========================================================================== */

typedef struct {
    PyObject_HEAD
    wbuf_t b;
    PyObject *default_fn; /* NULL when None */
    PyObject *unicode_errors_obj;
    const char *unicode_errors; /* NULL: strict UTF-8 */
    int use_single_float;
    int autoreset;
    int use_bin_type;
    int strict_types;
    int datetime;
    int keep_types;
    Py_ssize_t exports;
    PyObject *arrays; /* mixed messages: ndarrays met so far, or NULL */
} PackerObject;

static PyObject *g_ndarray_type; /* numpy.ndarray once numpy is imported, else NULL */

/* The MessagePack ext type of an array reference in a mixed message. */
#define EXT_ARRAY_REF ZPK_EXT_ARRAY_REF

static int pack_obj(PackerObject *pk, PyObject *o, int nest);

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
        if (WB_RESERVE(b, n + 5) < 0)
            return -1;
        if (n < 32) {
            b->buf[b->len++] = (char)(0xa0 | n);
        } else {
            put_str_hdr(b, (size_t)n, pk->use_bin_type);
        }
        memcpy(b->buf + b->len, s, (size_t)n);
        b->len += n;
        return 0;
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

static int pack_bytes_like(PackerObject *pk, const char *data, Py_ssize_t n, PyObject *o)
{
    if (n > ITEM_LIMIT) {
        PyErr_Format(PyExc_ValueError, "%.200s object is too large", Py_TYPE(o)->tp_name);
        return -1;
    }
    if (put_bin_hdr(&pk->b, (size_t)n, pk->use_bin_type) < 0)
        return -1;
    return put_body(&pk->b, data, (size_t)n);
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
            int rc = pack_obj(pk, k, nest - 1);
            if (rc == 0)
                rc = pack_obj(pk, v, nest - 1);
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
        rc = pack_obj(pk, PyTuple_GET_ITEM(kv, 0), nest - 1);
        if (rc == 0)
            rc = pack_obj(pk, PyTuple_GET_ITEM(kv, 1), nest - 1);
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
            rc = pack_obj(pk, it, nest - 1);
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
    pk->b.buf = NULL;
    pk->b.len = pk->b.cap = 0;
    int rc = pack_obj(pk, payload, nest - 1);
    wbuf_t inner = pk->b;
    pk->b = saved;
    if (rc == 0)
        rc = put_ext_hdr(&pk->b, code, (size_t)inner.len);
    if (rc == 0)
        rc = put_body(&pk->b, inner.buf, (size_t)inner.len);
    PyMem_Free(inner.buf);
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
        char tmp[16];
        uint64_t u;
        memcpy(&u, &c.real, 8);
        wb_be64(tmp, u);
        memcpy(&u, &c.imag, 8);
        wb_be64(tmp + 8, u);
        if (put_ext_hdr(&pk->b, EXT_COMPLEX, 16) < 0)
            return -1;
        return put_body(&pk->b, tmp, 16);
    }
    *handled = 0;
    return 0;
}

static int pack_obj(PackerObject *pk, PyObject *o, int nest)
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
        return put_byte(&pk->b, 0xc0);
    } else if (o == Py_True) {
        return put_byte(&pk->b, 0xc3);
    } else if (o == Py_False) {
        return put_byte(&pk->b, 0xc2);
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
            rc = put_byte(&pk->b, 0xc0);
        } else if (PyBool_Check(o)) {
            rc = put_byte(&pk->b, o == Py_True ? 0xc3 : 0xc2);
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
        } else if (strict ? (PyObject *)t == g_ExtType
                          : PyObject_IsInstance(o, g_ExtType) == 1) {
            rc = pack_ext_obj(pk, o);
        } else if ((PyObject *)t == g_Timestamp) {
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
            int handled = 0;
            rc = 0;
            if (pk->arrays && g_ndarray_type && PyObject_TypeCheck(o, (PyTypeObject *)g_ndarray_type)) {
                /* mixed message: the array travels as its own frames */
                Py_ssize_t idx = PyList_GET_SIZE(pk->arrays);
                if (idx > 0xffffffffLL || PyList_Append(pk->arrays, o) < 0) {
                    if (!PyErr_Occurred())
                        PyErr_SetString(PyExc_ValueError, "too many arrays");
                    rc = -1;
                    break;
                }
                char ref[4];
                wb_be32(ref, (uint32_t)idx);
                rc = put_ext_hdr(&pk->b, EXT_ARRAY_REF, 4);
                if (rc == 0)
                    rc = put_body(&pk->b, ref, 4);
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
            if (pk->datetime && PyDateTime_CheckExact(o)) {
                PyErr_Format(PyExc_ValueError,
                             "can not serialize %R because it has no tzinfo", o);
            } else {
                PyErr_Format(PyExc_TypeError, "can not serialize %R object", o);
            }
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
                             NULL};
    PyObject *default_fn = Py_None, *unicode_errors = Py_None;
    int use_single_float = 0, autoreset = 1, use_bin_type = 1, strict_types = 0,
        datetime = 0, keep_types = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O$pppppOp", kwlist, &default_fn,
                                     &use_single_float, &autoreset, &use_bin_type,
                                     &strict_types, &datetime, &unicode_errors, &keep_types))
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
    return 0;
}

static int Packer_init(PackerObject *self, PyObject *args, PyObject *kwds)
{
    if (packer_parse(self, args, kwds) < 0)
        return -1;
    self->b.len = 0;
    return 0;
}

static void Packer_dealloc(PackerObject *self)
{
    Py_CLEAR(self->arrays);
    Py_CLEAR(self->default_fn);
    Py_CLEAR(self->unicode_errors_obj);
    PyMem_Free(self->b.buf);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int packer_check_exports(PackerObject *self)
{
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
    if (rc < 0) {
        self->b.len = self->autoreset ? 0 : start;
        return NULL;
    }
    if (self->autoreset) {
        PyObject *r = PyBytes_FromStringAndSize(self->b.buf, self->b.len);
        self->b.len = 0;
        return r;
    }
    Py_RETURN_NONE;
}

static PyObject *Packer_pack(PackerObject *self, PyObject *obj)
{
    if (packer_check_exports(self) < 0)
        return NULL;
    Py_ssize_t start = self->b.len;
    int rc = pack_obj(self, obj, PACK_RECURSE_LIMIT);
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
    Py_ssize_t start = self->b.len;
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
    Py_ssize_t start = self->b.len;
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
        Py_ssize_t start = self->b.len;
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
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast), start = self->b.len;
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
        rc = pack_obj(self, k, PACK_RECURSE_LIMIT);
        if (rc == 0)
            rc = pack_obj(self, v, PACK_RECURSE_LIMIT);
    }
    Py_DECREF(fast);
    return packer_finish(self, rc, start);
}

static PyObject *Packer_bytes(PackerObject *self, PyObject *Py_UNUSED(ignored))
{
    return PyBytes_FromStringAndSize(self->b.buf ? self->b.buf : "", self->b.len);
}

static PyObject *Packer_reset(PackerObject *self, PyObject *Py_UNUSED(ignored))
{
    if (packer_check_exports(self) < 0)
        return NULL;
    self->b.len = 0;
    Py_RETURN_NONE;
}

static PyObject *Packer_getbuffer(PackerObject *self, PyObject *Py_UNUSED(ignored))
{
    return PyMemoryView_FromObject((PyObject *)self);
}

static int Packer_getbufferproc(PackerObject *self, Py_buffer *view, int flags)
{
    if (!self->b.buf && WB_RESERVE(&self->b, 1) < 0)
        return -1;
    int rc = PyBuffer_FillInfo(view, (PyObject *)self, self->b.buf, self->b.len, 1, flags);
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

static PyTypeObject PackerType = {
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

/* One reusable packer for the module-level packb() with default options. */
static PackerObject *g_default_packer;
static int g_default_packer_busy;

static PyObject *core_packb(PyObject *Py_UNUSED(mod), PyObject *const *args, Py_ssize_t nargs,
                            PyObject *kwnames)
{
    if (nargs != 1) {
        PyErr_SetString(PyExc_TypeError, "packb() takes exactly one positional argument");
        return NULL;
    }
    if (kwnames == NULL && !g_default_packer_busy) {
        /* The common case: default options, reuse one buffer. */
        PackerObject *pk = g_default_packer;
        g_default_packer_busy = 1; /* a default= callback may call packb() again */
        pk->b.len = 0;
        int rc = pack_obj(pk, args[0], PACK_RECURSE_LIMIT);
        PyObject *r = rc < 0 ? NULL : PyBytes_FromStringAndSize(pk->b.buf, pk->b.len);
        pk->b.len = 0;
        if (pk->b.cap > (1 << 20)) { /* do not keep a huge buffer around */
            PyMem_Free(pk->b.buf);
            pk->b.buf = NULL;
            pk->b.cap = 0;
        }
        g_default_packer_busy = 0;
        return r;
    }
    PyObject *kw = NULL;
    if (kwnames) {
        kw = PyDict_New();
        if (!kw)
            return NULL;
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(kwnames); i++) {
            if (PyDict_SetItem(kw, PyTuple_GET_ITEM(kwnames, i), args[nargs + i]) < 0) {
                Py_DECREF(kw);
                return NULL;
            }
        }
    }
    PyObject *empty = PyTuple_New(0);
    PackerObject *pk = empty ? PyObject_New(PackerObject, &PackerType) : NULL;
    PyObject *r = NULL;
    if (pk) {
        memset((char *)pk + sizeof(PyObject), 0, sizeof(PackerObject) - sizeof(PyObject));
        if (Packer_init(pk, empty, kw) == 0) {
            pk->autoreset = 1;
            r = Packer_pack(pk, args[0]);
        }
        Py_DECREF(pk);
    }
    Py_XDECREF(empty);
    Py_XDECREF(kw);
    return r;
}

/* ========================================================================== */
/* Unpacking                                                                  */
/* ========================================================================== */

typedef struct {
    PyObject *object_hook;       /* NULL when None */
    PyObject *object_pairs_hook; /* NULL when None */
    PyObject *list_hook;         /* NULL when None */
    PyObject *ext_hook;          /* never NULL */
    PyObject *unicode_errors_obj;
    const char *unicode_errors;  /* NULL: strict */
    int use_list;
    int raw;
    int timestamp;
    int strict_map_key;
    int keep_types;
    Py_ssize_t max_str_len, max_bin_len, max_array_len, max_map_len, max_ext_len;
} uopts_t;

typedef struct {
    const uint8_t *p;
    const uint8_t *end;
    const uopts_t *o;
} uctx_t;

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t rd32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t rd64(const uint8_t *p)
{
    return ((uint64_t)rd32(p) << 32) | rd32(p + 4);
}

static PyObject *s_incomplete(void)
{
    PyErr_SetString(PyExc_ValueError, "Unpack failed: incomplete input");
    return NULL;
}

/* Key cache: short ASCII map keys decoded once and reused (interned, as
 * msgpack-python interns map keys). Direct-mapped, GIL-protected. */
#define KC_BITS 10
#define KC_MAXLEN 32
typedef struct {
    PyObject *s;
    uint32_t len;
    uint8_t bytes[KC_MAXLEN];
} kc_entry_t;
static kc_entry_t g_kc[1u << KC_BITS];

static PyObject *key_from_ascii(const uint8_t *p, uint32_t n)
{
    uint32_t h = 2166136261u ^ n;
    for (uint32_t i = 0; i < n; i++) {
        if (p[i] & 0x80)
            return NULL; /* not ASCII: caller decodes */
        h = (h ^ p[i]) * 16777619u;
    }
    kc_entry_t *e = &g_kc[(h ^ (h >> 15)) & ((1u << KC_BITS) - 1)];
    if (e->s && e->len == n && memcmp(e->bytes, p, n) == 0) {
        Py_INCREF(e->s);
        return e->s;
    }
    PyObject *s = PyUnicode_New(n, 127);
    if (!s)
        return NULL;
    memcpy(PyUnicode_DATA(s), p, n);
    PyUnicode_InternInPlace(&s);
    if (!s)
        return NULL;
    Py_XSETREF(e->s, s);
    Py_INCREF(s);
    e->len = n;
    memcpy(e->bytes, p, n);
    return s;
}

static PyObject *unpack_obj(uctx_t *c, int depth, int is_key);

static PyObject *make_str(uctx_t *c, const uint8_t *p, uint32_t n, int is_key)
{
    if (UNLIKELY((Py_ssize_t)n > c->o->max_str_len)) {
        PyErr_Format(PyExc_ValueError, "%u exceeds max_str_len(%zd)", n, c->o->max_str_len);
        return NULL;
    }
    if (c->o->raw)
        return PyBytes_FromStringAndSize((const char *)p, n);
    if (is_key && n <= KC_MAXLEN) {
        PyObject *s = key_from_ascii(p, n);
        if (s || PyErr_Occurred())
            return s;
    }
    return PyUnicode_DecodeUTF8((const char *)p, n, c->o->unicode_errors);
}

static PyObject *make_timestamp(uctx_t *c, const uint8_t *p, uint32_t n)
{
    int64_t sec;
    uint32_t nsec;
    if (n == 4) {
        sec = rd32(p);
        nsec = 0;
    } else if (n == 8) {
        uint64_t v = rd64(p);
        nsec = (uint32_t)(v >> 34);
        sec = (int64_t)(v & 0x3ffffffffULL);
    } else if (n == 12) {
        nsec = rd32(p);
        sec = (int64_t)rd64(p + 4);
    } else {
        PyErr_SetString(PyExc_ValueError, "Invalid timestamp length");
        return NULL;
    }
    switch (c->o->timestamp) {
    case 1:
        return PyFloat_FromDouble((double)sec + nsec / 1e9);
    case 2: {
        PyObject *a = PyLong_FromLongLong(sec), *r = NULL;
        PyObject *g = PyLong_FromLong(1000000000L);
        PyObject *m = (a && g) ? PyNumber_Multiply(a, g) : NULL;
        PyObject *ns = m ? PyLong_FromUnsignedLong(nsec) : NULL;
        if (ns)
            r = PyNumber_Add(m, ns);
        Py_XDECREF(a);
        Py_XDECREF(g);
        Py_XDECREF(m);
        Py_XDECREF(ns);
        return r;
    }
    case 3: {
        /* epoch + timedelta(seconds=sec, microseconds=nsec//1000) */
        PyObject *delta = PyObject_CallFunction((PyObject *)PyDateTimeAPI->DeltaType, "iLk",
                                                0, (long long)sec, (unsigned long)(nsec / 1000));
        if (!delta)
            return NULL;
        PyObject *r = PyNumber_Add(g_epoch, delta);
        Py_DECREF(delta);
        return r;
    }
    default:
        return PyObject_CallFunction(g_Timestamp, "Lk", (long long)sec, (unsigned long)nsec);
    }
}

/* Decodes a complete payload of the keep-types mode. */
static PyObject *make_kept(uctx_t *c, int code, const uint8_t *p, uint32_t n, int depth)
{
    if (code == EXT_COMPLEX) {
        if (n != 16) {
            PyErr_SetString(g_FormatError, "complex ext must hold 16 bytes");
            return NULL;
        }
        double re, im;
        uint64_t u = rd64(p);
        memcpy(&re, &u, 8);
        u = rd64(p + 8);
        memcpy(&im, &u, 8);
        return PyComplex_FromDoubles(re, im);
    }
    uctx_t sub = {p, p + n, c->o};
    uopts_t o2 = *c->o;
    o2.use_list = 1;
    o2.list_hook = NULL;
    sub.o = &o2;
    if (n == 0 || !((p[0] & 0xf0) == 0x90 || p[0] == 0xdc || p[0] == 0xdd)) {
        PyErr_SetString(g_FormatError, "tuple/set ext must hold an array");
        return NULL;
    }
    PyObject *lst = unpack_obj(&sub, depth, 0);
    if (!lst)
        return NULL;
    if (sub.p != sub.end) {
        Py_DECREF(lst);
        PyErr_SetString(g_FormatError, "extra bytes inside a tuple/set ext");
        return NULL;
    }
    PyObject *r;
    if (code == EXT_TUPLE)
        r = PyList_AsTuple(lst);
    else if (code == EXT_SET)
        r = PySet_New(lst);
    else
        r = PyFrozenSet_New(lst);
    Py_DECREF(lst);
    return r;
}

static PyObject *make_ext(uctx_t *c, int8_t code, const uint8_t *p, uint32_t n, int depth)
{
    if (UNLIKELY((Py_ssize_t)n > c->o->max_ext_len)) {
        PyErr_Format(PyExc_ValueError, "%u exceeds max_ext_len(%zd)", n, c->o->max_ext_len);
        return NULL;
    }
    if (code == -1)
        return make_timestamp(c, p, n);
    if (c->o->keep_types && code >= EXT_TUPLE && code <= EXT_COMPLEX)
        return make_kept(c, code, p, n, depth);
    return PyObject_CallFunction(c->o->ext_hook, "iy#", (int)code, (const char *)p,
                                 (Py_ssize_t)n);
}

static PyObject *unpack_array(uctx_t *c, uint32_t n, int depth)
{
    if (depth >= UNPACK_STACK_SIZE) {
        PyErr_SetString(g_StackError, "too deeply nested");
        return NULL;
    }
    if ((Py_ssize_t)n > c->o->max_array_len) {
        PyErr_Format(PyExc_ValueError, "%u exceeds max_array_len(%zd)", n, c->o->max_array_len);
        return NULL;
    }
    /* Never trust n for an allocation larger than the input could fill. */
    int presize = (size_t)n <= (size_t)(c->end - c->p);
    PyObject *r;
    if (c->o->use_list || !presize) {
        r = PyList_New(presize ? n : 0);
        if (!r)
            return NULL;
        for (uint32_t i = 0; i < n; i++) {
            PyObject *it = unpack_obj(c, depth + 1, 0);
            if (!it) {
                Py_DECREF(r);
                return NULL;
            }
            if (presize) {
                PyList_SET_ITEM(r, i, it);
            } else {
                int rc = PyList_Append(r, it);
                Py_DECREF(it);
                if (rc < 0) {
                    Py_DECREF(r);
                    return NULL;
                }
            }
        }
        if (!c->o->use_list) {
            PyObject *t = PyList_AsTuple(r);
            Py_DECREF(r);
            r = t;
            if (!r)
                return NULL;
        }
    } else {
        r = PyTuple_New(n);
        if (!r)
            return NULL;
        for (uint32_t i = 0; i < n; i++) {
            PyObject *it = unpack_obj(c, depth + 1, 0);
            if (!it) {
                Py_DECREF(r);
                return NULL;
            }
            PyTuple_SET_ITEM(r, i, it);
        }
    }
    if (c->o->list_hook) {
        PyObject *h = PyObject_CallOneArg(c->o->list_hook, r);
        Py_DECREF(r);
        return h;
    }
    return r;
}

static int check_key(uctx_t *c, PyObject *k)
{
    if (c->o->strict_map_key && !PyUnicode_CheckExact(k) && !PyBytes_CheckExact(k)) {
        PyErr_Format(PyExc_ValueError,
                     "%.100s is not allowed for map key when strict_map_key=True",
                     Py_TYPE(k)->tp_name);
        return -1;
    }
    return 0;
}

static PyObject *unpack_map(uctx_t *c, uint32_t n, int depth)
{
    if (depth >= UNPACK_STACK_SIZE) {
        PyErr_SetString(g_StackError, "too deeply nested");
        return NULL;
    }
    if ((Py_ssize_t)n > c->o->max_map_len) {
        PyErr_Format(PyExc_ValueError, "%u exceeds max_map_len(%zd)", n, c->o->max_map_len);
        return NULL;
    }
    int presize = (size_t)n <= (size_t)(c->end - c->p) / 2;
    if (c->o->object_pairs_hook) {
        PyObject *lst = PyList_New(0);
        if (!lst)
            return NULL;
        for (uint32_t i = 0; i < n; i++) {
            PyObject *k = unpack_obj(c, depth + 1, 1);
            if (!k)
                goto pfail;
            PyObject *v = unpack_obj(c, depth + 1, 0);
            if (!v) {
                Py_DECREF(k);
                goto pfail;
            }
            if (check_key(c, k) < 0) {
                Py_DECREF(k);
                Py_DECREF(v);
                goto pfail;
            }
            if (PyUnicode_CheckExact(k))
                PyUnicode_InternInPlace(&k);
            PyObject *t = PyTuple_Pack(2, k, v);
            Py_DECREF(k);
            Py_DECREF(v);
            if (!t || PyList_Append(lst, t) < 0) {
                Py_XDECREF(t);
                goto pfail;
            }
            Py_DECREF(t);
        }
        {
            PyObject *r = PyObject_CallOneArg(c->o->object_pairs_hook, lst);
            Py_DECREF(lst);
            return r;
        }
    pfail:
        Py_DECREF(lst);
        return NULL;
    }
    PyObject *d = presize ? _PyDict_NewPresized(n) : PyDict_New();
    if (!d)
        return NULL;
    for (uint32_t i = 0; i < n; i++) {
        PyObject *k = unpack_obj(c, depth + 1, 1);
        if (!k)
            goto fail;
        PyObject *v = unpack_obj(c, depth + 1, 0);
        if (!v) {
            Py_DECREF(k);
            goto fail;
        }
        if (UNLIKELY(!PyUnicode_CheckExact(k)) && check_key(c, k) < 0) {
            Py_DECREF(k);
            Py_DECREF(v);
            goto fail;
        }
        int rc = PyDict_SetItem(d, k, v);
        Py_DECREF(k);
        Py_DECREF(v);
        if (rc < 0)
            goto fail;
    }
    if (c->o->object_hook) {
        PyObject *r = PyObject_CallOneArg(c->o->object_hook, d);
        Py_DECREF(d);
        return r;
    }
    return d;
fail:
    Py_DECREF(d);
    return NULL;
}

#define NEED(k)                                   \
    do {                                          \
        if (UNLIKELY((size_t)(c->end - p) < (size_t)(k))) \
            return s_incomplete();                \
    } while (0)

static PyObject *unpack_obj(uctx_t *c, int depth, int is_key)
{
    const uint8_t *p = c->p;
    if (UNLIKELY(p >= c->end))
        return s_incomplete();
    uint8_t b = *p++;
    uint32_t n;
    if (b <= 0x7f) {
        c->p = p;
        return PyLong_FromLong(b);
    }
    if (b >= 0xe0) {
        c->p = p;
        return PyLong_FromLong((int8_t)b);
    }
    if (b >= 0xa0 && b <= 0xbf) {
        n = b & 0x1f;
        goto str;
    }
    if (b >= 0x90 && b <= 0x9f) {
        c->p = p;
        return unpack_array(c, b & 0x0f, depth);
    }
    if (b >= 0x80 && b <= 0x8f) {
        c->p = p;
        return unpack_map(c, b & 0x0f, depth);
    }
    switch (b) {
    case 0xc0: c->p = p; Py_RETURN_NONE;
    case 0xc2: c->p = p; Py_RETURN_FALSE;
    case 0xc3: c->p = p; Py_RETURN_TRUE;
    case 0xcc: NEED(1); c->p = p + 1; return PyLong_FromLong(p[0]);
    case 0xcd: NEED(2); c->p = p + 2; return PyLong_FromLong(rd16(p));
    case 0xce: NEED(4); c->p = p + 4; return PyLong_FromUnsignedLong(rd32(p));
    case 0xcf: NEED(8); c->p = p + 8; return PyLong_FromUnsignedLongLong(rd64(p));
    case 0xd0: NEED(1); c->p = p + 1; return PyLong_FromLong((int8_t)p[0]);
    case 0xd1: NEED(2); c->p = p + 2; return PyLong_FromLong((int16_t)rd16(p));
    case 0xd2: NEED(4); c->p = p + 4; return PyLong_FromLong((int32_t)rd32(p));
    case 0xd3: NEED(8); c->p = p + 8; return PyLong_FromLongLong((int64_t)rd64(p));
    case 0xca: {
        NEED(4);
        uint32_t u = rd32(p);
        float f;
        memcpy(&f, &u, 4);
        c->p = p + 4;
        return PyFloat_FromDouble(f);
    }
    case 0xcb: {
        NEED(8);
        uint64_t u = rd64(p);
        double d;
        memcpy(&d, &u, 8);
        c->p = p + 8;
        return PyFloat_FromDouble(d);
    }
    case 0xd9: NEED(1); n = p[0]; p += 1; goto str;
    case 0xda: NEED(2); n = rd16(p); p += 2; goto str;
    case 0xdb: NEED(4); n = rd32(p); p += 4; goto str;
    case 0xc4: NEED(1); n = p[0]; p += 1; goto bin;
    case 0xc5: NEED(2); n = rd16(p); p += 2; goto bin;
    case 0xc6: NEED(4); n = rd32(p); p += 4; goto bin;
    case 0xdc: NEED(2); c->p = p + 2; return unpack_array(c, rd16(p), depth);
    case 0xdd: NEED(4); c->p = p + 4; return unpack_array(c, rd32(p), depth);
    case 0xde: NEED(2); c->p = p + 2; return unpack_map(c, rd16(p), depth);
    case 0xdf: NEED(4); c->p = p + 4; return unpack_map(c, rd32(p), depth);
    case 0xd4: n = 1; goto fixext;
    case 0xd5: n = 2; goto fixext;
    case 0xd6: n = 4; goto fixext;
    case 0xd7: n = 8; goto fixext;
    case 0xd8: n = 16; goto fixext;
    case 0xc7: NEED(1); n = p[0]; p += 1; goto fixext;
    case 0xc8: NEED(2); n = rd16(p); p += 2; goto fixext;
    case 0xc9: NEED(4); n = rd32(p); p += 4; goto fixext;
    default: /* 0xc1 */
        PyErr_Format(g_FormatError, "reserved byte 0x%02x", b);
        return NULL;
    }
str:
    NEED(n);
    c->p = p + n;
    return make_str(c, p, n, is_key);
bin:
    NEED(n);
    c->p = p + n;
    if ((Py_ssize_t)n > c->o->max_bin_len) {
        PyErr_Format(PyExc_ValueError, "%u exceeds max_bin_len(%zd)", n, c->o->max_bin_len);
        return NULL;
    }
    return PyBytes_FromStringAndSize((const char *)p, n);
fixext:
    NEED((size_t)n + 1);
    c->p = p + 1 + n;
    return make_ext(c, (int8_t)p[0], p + 1, n, depth);
}

/* ---- Decoder: parsed unpack options + a resumable scanner ----------------- */

typedef struct {
    PyObject_HEAD
    uopts_t o;
    Py_ssize_t max_buffer_size;
    /* scanner state, relative to the start of the object being scanned */
    Py_ssize_t pos;
    Py_ssize_t need; /* after scan() returned -1: a lower bound of the bytes still missing */
    int depth;
    uint64_t rem[UNPACK_STACK_SIZE];
} DecoderObject;

static int set_hook(PyObject **slot, PyObject *v, const char *name)
{
    if (v == Py_None || v == NULL)
        return 0;
    if (!PyCallable_Check(v)) {
        PyErr_Format(PyExc_TypeError, "%s must be a callable.", name);
        return -1;
    }
    Py_INCREF(v);
    *slot = v;
    return 0;
}

static void uopts_clear(uopts_t *o)
{
    Py_CLEAR(o->object_hook);
    Py_CLEAR(o->object_pairs_hook);
    Py_CLEAR(o->list_hook);
    Py_CLEAR(o->ext_hook);
    Py_CLEAR(o->unicode_errors_obj);
}

/* Fills @p o from keyword arguments. @p base is the size the per-type limits
 * default to (the input length for unpackb, max_buffer_size for Unpacker). */
static int uopts_parse(uopts_t *o, PyObject *object_hook, PyObject *list_hook, int use_list,
                       int raw, int timestamp, int strict_map_key, PyObject *unicode_errors,
                       PyObject *object_pairs_hook, PyObject *ext_hook, Py_ssize_t max_str_len,
                       Py_ssize_t max_bin_len, Py_ssize_t max_array_len,
                       Py_ssize_t max_map_len, Py_ssize_t max_ext_len, int keep_types,
                       Py_ssize_t base)
{
    memset(o, 0, sizeof(*o));
    if (object_hook != Py_None && object_pairs_hook != Py_None) {
        PyErr_SetString(PyExc_TypeError,
                        "object_pairs_hook and object_hook are mutually exclusive");
        return -1;
    }
    if (set_hook(&o->object_hook, object_hook, "object_hook") < 0 ||
        set_hook(&o->object_pairs_hook, object_pairs_hook, "object_pairs_hook") < 0 ||
        set_hook(&o->list_hook, list_hook, "list_hook") < 0)
        goto fail;
    if (ext_hook == NULL || ext_hook == Py_None)
        ext_hook = (g_registry_active && g_registry_ext_hook) ? g_registry_ext_hook : g_ExtType;
    if (set_hook(&o->ext_hook, ext_hook, "ext_hook") < 0)
        goto fail;
    if (timestamp < 0 || timestamp > 3) {
        PyErr_SetString(PyExc_ValueError, "timestamp must be 0..3");
        goto fail;
    }
    if (unicode_errors != Py_None) {
        if (!PyUnicode_Check(unicode_errors)) {
            PyErr_SetString(PyExc_TypeError, "unicode_errors must be a str or None");
            goto fail;
        }
        o->unicode_errors = PyUnicode_AsUTF8(unicode_errors);
        if (!o->unicode_errors)
            goto fail;
        Py_INCREF(unicode_errors);
        o->unicode_errors_obj = unicode_errors;
    }
    o->use_list = use_list;
    o->raw = raw;
    o->timestamp = timestamp;
    o->strict_map_key = strict_map_key;
    o->keep_types = keep_types;
    o->max_str_len = max_str_len == -1 ? base : max_str_len;
    o->max_bin_len = max_bin_len == -1 ? base : max_bin_len;
    o->max_array_len = max_array_len == -1 ? base : max_array_len;
    o->max_map_len = max_map_len == -1 ? base / 2 : max_map_len;
    o->max_ext_len = max_ext_len == -1 ? base : max_ext_len;
    return 0;
fail:
    uopts_clear(o);
    return -1;
}

static PyObject *core_unpackb(PyObject *Py_UNUSED(mod), PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"packed", "object_hook", "list_hook", "use_list", "raw",
                             "timestamp", "strict_map_key", "unicode_errors",
                             "object_pairs_hook", "ext_hook", "max_str_len", "max_bin_len",
                             "max_array_len", "max_map_len", "max_ext_len", "keep_types",
                             NULL};
    PyObject *packed, *object_hook = Py_None, *list_hook = Py_None, *unicode_errors = Py_None,
                      *object_pairs_hook = Py_None, *ext_hook = Py_None;
    int use_list = 1, raw = 0, timestamp = 0, strict_map_key = 1, keep_types = 0;
    Py_ssize_t msl = -1, mbl = -1, mal = -1, mml = -1, mel = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|$OOppipOOOnnnnnp", kwlist, &packed,
                                     &object_hook, &list_hook, &use_list, &raw, &timestamp,
                                     &strict_map_key, &unicode_errors, &object_pairs_hook,
                                     &ext_hook, &msl, &mbl, &mal, &mml, &mel, &keep_types))
        return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(packed, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    uopts_t o;
    PyObject *r = NULL;
    if (uopts_parse(&o, object_hook, list_hook, use_list, raw, timestamp, strict_map_key,
                    unicode_errors, object_pairs_hook, ext_hook, msl, mbl, mal, mml, mel,
                    keep_types, view.len) == 0) {
        uctx_t c = {(const uint8_t *)view.buf, (const uint8_t *)view.buf + view.len, &o};
        r = unpack_obj(&c, 0, 0);
        if (r && c.p < c.end) {
            PyObject *extra = PyBytes_FromStringAndSize((const char *)c.p, c.end - c.p);
            if (extra) {
                PyObject *exc = PyObject_CallFunctionObjArgs(g_ExtraData, r, extra, NULL);
                if (exc) {
                    PyErr_SetObject(g_ExtraData, exc);
                    Py_DECREF(exc);
                }
                Py_DECREF(extra);
            }
            Py_CLEAR(r);
        }
        uopts_clear(&o);
    }
    PyBuffer_Release(&view);
    return r;
}

/* Decoder(max_buffer_size, *, the Unpacker's options): the engine of the
 * streaming Unpacker. */
static int Decoder_init(DecoderObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"max_buffer_size", "object_hook", "list_hook", "use_list", "raw",
                             "timestamp", "strict_map_key", "unicode_errors",
                             "object_pairs_hook", "ext_hook", "max_str_len", "max_bin_len",
                             "max_array_len", "max_map_len", "max_ext_len", "keep_types",
                             NULL};
    PyObject *object_hook = Py_None, *list_hook = Py_None, *unicode_errors = Py_None,
             *object_pairs_hook = Py_None, *ext_hook = Py_None;
    int use_list = 1, raw = 0, timestamp = 0, strict_map_key = 1, keep_types = 0;
    Py_ssize_t mbs, msl = -1, mbl = -1, mal = -1, mml = -1, mel = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "n|$OOppipOOOnnnnnp", kwlist, &mbs,
                                     &object_hook, &list_hook, &use_list, &raw, &timestamp,
                                     &strict_map_key, &unicode_errors, &object_pairs_hook,
                                     &ext_hook, &msl, &mbl, &mal, &mml, &mel, &keep_types))
        return -1;
    uopts_clear(&self->o);
    if (uopts_parse(&self->o, object_hook, list_hook, use_list, raw, timestamp,
                    strict_map_key, unicode_errors, object_pairs_hook, ext_hook, msl, mbl,
                    mal, mml, mel, keep_types, mbs) < 0)
        return -1;
    self->max_buffer_size = mbs;
    self->pos = 0;
    self->depth = 0;
    return 0;
}

static void Decoder_dealloc(DecoderObject *self)
{
    uopts_clear(&self->o);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Resumable scan of one object in buf[start:end]. Returns the end offset of
 * the object, -1 when more data is needed (state kept), -2 on error. */
static Py_ssize_t scan(DecoderObject *s, const uint8_t *base, Py_ssize_t start, Py_ssize_t end)
{
    const uint8_t *p0 = base + start;
    Py_ssize_t avail = end - start;
    Py_ssize_t pos = s->pos;
    const uopts_t *o = &s->o;
    uint64_t need = 1;
    for (;;) {
        need = 1;
        if (pos >= avail)
            goto more;
        const uint8_t *p = p0 + pos;
        uint8_t b = p[0];
        Py_ssize_t left = avail - pos;
        uint64_t size = 0;     /* bytes of a scalar item, header included */
        uint64_t count = 0;    /* children of a container */
        int container = 0;
        Py_ssize_t limit = 0;
        const char *what = NULL;
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
            size = 1;
        } else if (b >= 0xa0 && b <= 0xbf) {
            size = 1 + (b & 0x1f);
        } else if (b >= 0x90 && b <= 0x9f) {
            container = 1;
            count = b & 0x0f;
            size = 1;
        } else if (b >= 0x80 && b <= 0x8f) {
            container = 2;
            count = b & 0x0f;
            size = 1;
        } else {
            uint32_t n;
            switch (b) {
            case 0xcc: case 0xd0: size = 2; break;
            case 0xcd: case 0xd1: size = 3; break;
            case 0xce: case 0xd2: case 0xca: size = 5; break;
            case 0xcf: case 0xd3: case 0xcb: size = 9; break;
            case 0xd4: size = 3; break;
            case 0xd5: size = 4; break;
            case 0xd6: size = 6; break;
            case 0xd7: size = 10; break;
            case 0xd8: size = 18; break;
            case 0xd9: case 0xc4: case 0xc7:
                if (left < 2) { need = 2 - (uint64_t)left; goto more; }
                n = p[1];
                size = 2 + (uint64_t)n + (b == 0xc7);
                goto lim;
            case 0xda: case 0xc5: case 0xc8:
                if (left < 3) { need = 3 - (uint64_t)left; goto more; }
                n = rd16(p + 1);
                size = 3 + (uint64_t)n + (b == 0xc8);
                goto lim;
            case 0xdb: case 0xc6: case 0xc9:
                if (left < 5) { need = 5 - (uint64_t)left; goto more; }
                n = rd32(p + 1);
                size = 5 + (uint64_t)n + (b == 0xc9);
            lim:
                if (b == 0xd9 || b == 0xda || b == 0xdb) {
                    limit = o->max_str_len;
                    what = "max_str_len";
                } else if (b == 0xc4 || b == 0xc5 || b == 0xc6) {
                    limit = o->max_bin_len;
                    what = "max_bin_len";
                } else {
                    limit = o->max_ext_len;
                    what = "max_ext_len";
                }
                if ((Py_ssize_t)n > limit) {
                    PyErr_Format(PyExc_ValueError, "%u exceeds %s(%zd)", n, what, limit);
                    goto error;
                }
                break;
            case 0xdc: case 0xde:
                if (left < 3) { need = 3 - (uint64_t)left; goto more; }
                count = rd16(p + 1);
                size = 3;
                container = b == 0xdc ? 1 : 2;
                break;
            case 0xdd: case 0xdf:
                if (left < 5) { need = 5 - (uint64_t)left; goto more; }
                count = rd32(p + 1);
                size = 5;
                container = b == 0xdd ? 1 : 2;
                break;
            default:
                PyErr_Format(g_FormatError, "reserved byte 0x%02x", b);
                goto error;
            }
        }
        if (container) {
            if (s->depth >= UNPACK_STACK_SIZE) {
                PyErr_SetString(g_StackError, "too deeply nested");
                goto error;
            }
            if (container == 1 && (Py_ssize_t)count > o->max_array_len) {
                PyErr_Format(PyExc_ValueError, "%u exceeds max_array_len(%zd)",
                             (unsigned)count, o->max_array_len);
                goto error;
            }
            if (container == 2 && (Py_ssize_t)count > o->max_map_len) {
                PyErr_Format(PyExc_ValueError, "%u exceeds max_map_len(%zd)",
                             (unsigned)count, o->max_map_len);
                goto error;
            }
            if (left < (Py_ssize_t)size) {
                need = size - (uint64_t)left;
                goto more;
            }
            pos += (Py_ssize_t)size;
            if (count) {
                s->rem[s->depth++] = container == 2 ? count * 2 : count;
                continue;
            }
        } else {
            if ((uint64_t)left < size) {
                need = size - (uint64_t)left;
                goto more;
            }
            pos += (Py_ssize_t)size;
        }
        /* one item completed: pop finished containers */
        while (s->depth > 0) {
            if (--s->rem[s->depth - 1] > 0)
                break;
            s->depth--;
        }
        if (s->depth == 0) {
            s->pos = 0;
            return start + pos;
        }
    }
more:
    s->pos = pos;
    s->need = need > (uint64_t)PY_SSIZE_T_MAX ? PY_SSIZE_T_MAX : (Py_ssize_t)need;
    return -1;
error:
    s->pos = 0;
    s->depth = 0;
    return -2;
}

static PyObject *Decoder_scan(DecoderObject *self, PyObject *args)
{
    Py_buffer view;
    Py_ssize_t start;
    if (!PyArg_ParseTuple(args, "y*n:scan", &view, &start))
        return NULL;
    Py_ssize_t r = -2;
    if (start < 0 || start > view.len)
        PyErr_SetString(PyExc_ValueError, "start out of range");
    else
        r = scan(self, view.buf, start, view.len);
    PyBuffer_Release(&view);
    if (r == -2)
        return NULL;
    return PyLong_FromSsize_t(r);
}

static PyObject *Decoder_build(DecoderObject *self, PyObject *args)
{
    Py_buffer view;
    Py_ssize_t start, end;
    if (!PyArg_ParseTuple(args, "y*nn:build", &view, &start, &end))
        return NULL;
    PyObject *r = NULL;
    if (start < 0 || end < start || end > view.len) {
        PyErr_SetString(PyExc_ValueError, "range out of bounds");
    } else {
        uctx_t c = {(const uint8_t *)view.buf + start, (const uint8_t *)view.buf + end,
                    &self->o};
        r = unpack_obj(&c, 0, 0);
    }
    PyBuffer_Release(&view);
    return r;
}

static PyObject *Decoder_need(DecoderObject *self, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromSsize_t(self->need > 0 ? self->need : 1);
}

static PyObject *Decoder_reset(DecoderObject *self, PyObject *Py_UNUSED(ignored))
{
    self->pos = 0;
    self->depth = 0;
    Py_RETURN_NONE;
}

/* read_header(buf, start, kind): kind 1 = array, 2 = map. Returns
 * (count, header_size), or None when more bytes are needed. */
static PyObject *Decoder_read_header(DecoderObject *self, PyObject *args)
{
    Py_buffer view;
    Py_ssize_t start;
    int kind;
    if (!PyArg_ParseTuple(args, "y*ni:read_header", &view, &start, &kind))
        return NULL;
    const uint8_t *p = (const uint8_t *)view.buf + start;
    Py_ssize_t left = view.len - start;
    PyObject *r = NULL;
    uint64_t n = 0;
    Py_ssize_t hs = 0;
    if (left < 1) {
        r = Py_None;
        Py_INCREF(r);
        goto out;
    }
    uint8_t b = p[0];
    uint8_t fix = kind == 1 ? 0x90 : 0x80, c16 = kind == 1 ? 0xdc : 0xde;
    if ((b & 0xf0) == fix) {
        n = b & 0x0f;
        hs = 1;
    } else if (b == c16) {
        hs = 3;
        if (left >= 3)
            n = rd16(p + 1);
    } else if (b == c16 + 1) {
        hs = 5;
        if (left >= 5)
            n = rd32(p + 1);
    } else {
        PyErr_SetString(PyExc_ValueError, kind == 1 ? "Unexpected type header on stream"
                                                    : "Unexpected type header on stream");
        goto out;
    }
    if (left < hs) {
        r = Py_None;
        Py_INCREF(r);
        goto out;
    }
    if (kind == 1 && (Py_ssize_t)n > self->o.max_array_len) {
        PyErr_Format(PyExc_ValueError, "%u exceeds max_array_len(%zd)", (unsigned)n,
                     self->o.max_array_len);
        goto out;
    }
    if (kind == 2 && (Py_ssize_t)n > self->o.max_map_len) {
        PyErr_Format(PyExc_ValueError, "%u exceeds max_map_len(%zd)", (unsigned)n,
                     self->o.max_map_len);
        goto out;
    }
    r = Py_BuildValue("Kn", (unsigned long long)n, hs);
out:
    PyBuffer_Release(&view);
    return r;
}

static PyMethodDef Decoder_methods[] = {
    {"scan", (PyCFunction)Decoder_scan, METH_VARARGS,
     "scan(buf, start) -> end offset of the next complete object, or -1 (need more)."},
    {"build", (PyCFunction)Decoder_build, METH_VARARGS,
     "build(buf, start, end) -> the object in buf[start:end]."},
    {"reset", (PyCFunction)Decoder_reset, METH_NOARGS, "reset(): forget a partial scan."},
    {"need", (PyCFunction)Decoder_need, METH_NOARGS,
     "need() -> after scan() returned -1, a lower bound of the bytes still missing."},
    {"read_header", (PyCFunction)Decoder_read_header, METH_VARARGS,
     "read_header(buf, start, kind) -> (count, header size) or None."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject DecoderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "zmqpack._core.Decoder",
    .tp_basicsize = sizeof(DecoderObject),
    .tp_dealloc = (destructor)Decoder_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Streaming decode engine (internal; use zmqpack.Unpacker).",
    .tp_methods = Decoder_methods,
    .tp_init = (initproc)Decoder_init,
    .tp_new = PyType_GenericNew,
};

/* ========================================================================== */
/* Sockets: the C socket layer (zmqpack/socket.h) on pyzmq's libzmq sockets   */
/* ========================================================================== */
/*
 * pyzmq and this module link the same system libzmq, so `sock.underlying`
 * (the address of the libzmq socket) can be handed to zpk_send_* and
 * zpk_recv_*: the bytes on the wire are the C library's by construction.
 * Blocking calls run without the GIL; EINTR (Ctrl-C) runs the Python signal
 * handlers and either raises (KeyboardInterrupt) or retries.
 *
 * Zero-copy sends hand the caller's buffer to the library (ZPK_OWN_GIVE)
 * and keep the Py_buffer in a `hold`. libzmq calls s_hold_free() from any
 * thread once it is done with the data: that only flips atomics and queues
 * the hold; the Py_buffers are released later under the GIL (s_drain(), at
 * every socket call, Tracker.wait() and zmqpack._core.collect()).
 */

typedef struct hold {
    struct hold *next;
    atomic_int remaining; /* free_fn calls still expected */
    atomic_int done;
    atomic_int refs;      /* the library side + one per Tracker */
    Py_ssize_t nviews;
    Py_buffer views[];
} hold_t;

static pthread_mutex_t g_pending_mu = PTHREAD_MUTEX_INITIALIZER;
static hold_t *g_pending;

static void s_hold_unref(hold_t *h)
{
    if (atomic_fetch_sub(&h->refs, 1) == 1)
        PyMem_RawFree(h);
}

static void s_hold_free(void *data, void *hint)
{
    (void)data;
    hold_t *h = hint;
    if (atomic_fetch_sub(&h->remaining, 1) != 1)
        return;
    pthread_mutex_lock(&g_pending_mu);
    h->next = g_pending;
    g_pending = h;
    pthread_mutex_unlock(&g_pending_mu);
    atomic_store(&h->done, 1);
}

static void s_hold_release_views(hold_t *h)
{
    for (Py_ssize_t i = 0; i < h->nviews; i++)
        PyBuffer_Release(&h->views[i]);
    h->nviews = 0;
}

/* Releases the buffers libzmq is done with. Needs the GIL. */
static void s_drain(void)
{
    pthread_mutex_lock(&g_pending_mu);
    hold_t *h = g_pending;
    g_pending = NULL;
    pthread_mutex_unlock(&g_pending_mu);
    while (h) {
        hold_t *next = h->next;
        s_hold_release_views(h);
        s_hold_unref(h);
        h = next;
    }
}

/* ---- Tracker ----------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    hold_t *h;
} TrackerObject;

static void Tracker_dealloc(TrackerObject *self)
{
    if (self->h)
        s_hold_unref(self->h);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Tracker_get_done(TrackerObject *self, void *Py_UNUSED(c))
{
    s_drain();
    return PyBool_FromLong(!self->h || atomic_load(&self->h->done));
}

static PyObject *Tracker_wait(TrackerObject *self, PyObject *args)
{
    double timeout = -1;
    if (!PyArg_ParseTuple(args, "|d:wait", &timeout))
        return NULL;
    double waited = 0;
    while (self->h && !atomic_load(&self->h->done)) {
        if (timeout >= 0 && waited >= timeout) {
            s_drain();
            Py_RETURN_FALSE;
        }
        Py_BEGIN_ALLOW_THREADS
        struct timespec ts = {0, 1000000}; /* 1 ms */
        nanosleep(&ts, NULL);
        Py_END_ALLOW_THREADS
        waited += 0.001;
        if (PyErr_CheckSignals() < 0)
            return NULL;
    }
    s_drain();
    Py_RETURN_TRUE;
}

static PyGetSetDef Tracker_getset[] = {
    {"done", (getter)Tracker_get_done, NULL,
     "True once libzmq no longer holds the sent buffers.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef Tracker_methods[] = {
    {"wait", (PyCFunction)Tracker_wait, METH_VARARGS,
     "wait(timeout=-1) -> bool: wait (seconds; negative forever) until done."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject TrackerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "zmqpack._core.Tracker",
    .tp_basicsize = sizeof(TrackerObject),
    .tp_dealloc = (destructor)Tracker_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Tells when libzmq has let go of the buffers of a zero-copy send\n"
              "(pyzmq's MessageTracker interface: .done, .wait(timeout)).",
    .tp_getset = Tracker_getset,
    .tp_methods = Tracker_methods,
};

/* ---- ArrayBuf: a received array, owning its message memory ----------------------- */

typedef struct {
    PyObject_HEAD
    zpk_array_t a;
    Py_ssize_t exports;
} ArrayBufObject;

static void ArrayBuf_dealloc(ArrayBufObject *self)
{
    zpk_array_release(&self->a);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int ArrayBuf_getbuffer(ArrayBufObject *self, Py_buffer *view, int flags)
{
    static char empty[1];
    void *p = self->a.data ? self->a.data : empty;
    return PyBuffer_FillInfo(view, (PyObject *)self, p, (Py_ssize_t)self->a.nbytes, 0, flags);
}

static PyBufferProcs ArrayBuf_as_buffer = {(getbufferproc)ArrayBuf_getbuffer, NULL};

static PyObject *ArrayBuf_get_typestr(ArrayBufObject *self, void *Py_UNUSED(c))
{
    char buf[ZPK_DTYPE_STR_SIZE];
    int n = zpk_dtype_format(self->a.dtype, buf, sizeof buf);
    if (n < 0) {
        PyErr_SetString(PyExc_ValueError, "bad dtype");
        return NULL;
    }
    return PyUnicode_FromStringAndSize(buf, n);
}

static PyObject *ArrayBuf_get_shape(ArrayBufObject *self, void *Py_UNUSED(c))
{
    PyObject *t = PyTuple_New(self->a.ndim);
    for (int i = 0; t && i < self->a.ndim; i++) {
        PyObject *v = PyLong_FromSize_t(self->a.shape[i]);
        if (!v) {
            Py_CLEAR(t);
            break;
        }
        PyTuple_SET_ITEM(t, i, v);
    }
    return t;
}

static PyObject *ArrayBuf_get_order(ArrayBufObject *self, void *Py_UNUSED(c))
{
    return PyUnicode_FromOrdinal(self->a.order == ZPK_ORDER_F ? 'F' : 'C');
}

static PyObject *ArrayBuf_get_address(ArrayBufObject *self, void *Py_UNUSED(c))
{
    return PyLong_FromVoidPtr(self->a.data);
}

static PyGetSetDef ArrayBuf_getset[] = {
    {"typestr", (getter)ArrayBuf_get_typestr, NULL, "numpy typestr, e.g. '<f8'", NULL},
    {"shape", (getter)ArrayBuf_get_shape, NULL, "shape tuple", NULL},
    {"order", (getter)ArrayBuf_get_order, NULL, "'C' or 'F'", NULL},
    {"address", (getter)ArrayBuf_get_address, NULL, "address of the data", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject ArrayBufType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "zmqpack._core.ArrayBuf",
    .tp_basicsize = sizeof(ArrayBufObject),
    .tp_dealloc = (destructor)ArrayBuf_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The memory of a received array (writable); freed with the last view.",
    .tp_getset = ArrayBuf_getset,
    .tp_as_buffer = &ArrayBuf_as_buffer,
};

static PyObject *s_wrap_array(zpk_array_t *a)
{
    ArrayBufObject *o = PyObject_New(ArrayBufObject, &ArrayBufType);
    if (!o) {
        zpk_array_release(a);
        return NULL;
    }
    o->a = *a;
    o->exports = 0;
    memset(a, 0, sizeof *a);
    return (PyObject *)o;
}

/* ---- errors ------------------------------------------------------------------- */

static PyObject *g_zmq_error;   /* callable(errno) -> exception instance */
static PyObject *g_WireError;   /* zmqpack.WireError(code, name, text) */

static PyObject *s_raise(int rc, const zpk_error_t *err)
{
    if (rc == ZPK_ENOMEM)
        return PyErr_NoMemory();
    if (rc > -4000) { /* -errno from libzmq */
        PyObject *exc = g_zmq_error ? PyObject_CallFunction(g_zmq_error, "i", -rc) : NULL;
        if (exc) {
            PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
            Py_DECREF(exc);
        } else if (!PyErr_Occurred()) {
            errno = -rc;
            PyErr_SetFromErrno(PyExc_OSError);
        }
        return NULL;
    }
    const char *text = (err && err->code && err->text[0]) ? err->text : zpk_strerror(rc);
    PyObject *exc = PyObject_CallFunction(g_WireError ? g_WireError : PyExc_ValueError, "iss",
                                          rc, zpk_err_name(rc), text);
    if (exc) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
    return NULL;
}

static void *s_sock_ptr(PyObject *addr)
{
    void *p = PyLong_AsVoidPtr(addr);
    if (!p && !PyErr_Occurred())
        PyErr_SetString(PyExc_ValueError, "socket is closed");
    return p;
}

/* ---- send ---------------------------------------------------------------------- */

/* Fills @p a over @p view (strided buffer of an ndarray) with @p typestr. */
static int s_array_from_view(zpk_array_t *a, Py_buffer *view, PyObject *typestr)
{
    Py_ssize_t tl;
    const char *ts = PyUnicode_AsUTF8AndSize(typestr, &tl);
    if (!ts)
        return -1;
    zpk_dtype_t dt;
    zpk_error_t err;
    zpk_error_clear(&err);
    int rc = zpk_dtype_parse(ts, (size_t)tl, &dt, &err);
    if (rc == 0 && view->ndim > ZPK_MAX_NDIM)
        rc = ZPK_ESHAPE;
    size_t shape[ZPK_MAX_NDIM];
    ptrdiff_t strides[ZPK_MAX_NDIM];
    for (int i = 0; rc == 0 && i < view->ndim; i++) {
        shape[i] = (size_t)view->shape[i];
        strides[i] = view->strides ? view->strides[i] : 0;
    }
    if (rc == 0 && (size_t)view->itemsize != dt.itemsize)
        rc = ZPK_EDTYPE;
    if (rc == 0)
        rc = zpk_array_init(a, dt, view->ndim, shape, ZPK_ORDER_C, view->buf);
    if (rc == 0 && view->strides && view->ndim > 0)
        rc = zpk_array_set_strides(a, strides);
    if (rc != 0) {
        s_raise(rc, &err);
        return -1;
    }
    return 0;
}

/*
 * _send(addr, payload, arrays, dtypes, topic, codec, flags, mode, track)
 *   payload: bytes-like packed object, or None (an array message)
 *   arrays:  sequence of ndarrays (buffer objects) and their typestrs
 *   mode:    0 copy, 1 zero-copy above the copy threshold, 2 zero-copy always
 *   flags:   ZPK_DONTWAIT | ZPK_SEND_SINGLE | ZPK_SEND_RECIPE
 * Returns a Tracker when track, else None.
 */
static PyObject *core_send(PyObject *Py_UNUSED(mod), PyObject *args)
{
    PyObject *addr, *payload, *arrays, *dtypes, *topic, *codec;
    int flags, mode, track;
    if (!PyArg_ParseTuple(args, "OOOOOOiip:_send", &addr, &payload, &arrays, &dtypes, &topic,
                          &codec, &flags, &mode, &track))
        return NULL;
    s_drain();
    void *sock = s_sock_ptr(addr);
    if (!sock)
        return NULL;
    Py_ssize_t narr = PySequence_Size(arrays);
    if (narr < 0)
        return NULL;
    if (payload == Py_None && narr != 1) {
        PyErr_SetString(PyExc_ValueError, "an array message carries exactly one array");
        return NULL;
    }
    zpk_send_opts_t o;
    zpk_send_opts_init(&o);
    o.flags = flags;
    zpk_codec_t cdc;
    zpk_error_t err;
    zpk_error_clear(&err);
    o.err = &err;
    Py_buffer tview = {0};
    int have_topic = 0;
    zpk_array_t *za = NULL;
    hold_t *h = NULL;
    zpk_writer_t w;
    int have_w = 0;
    PyObject *result = NULL;
    int rc;

    if (codec != Py_None) {
        Py_ssize_t cl;
        const char *cs = PyUnicode_AsUTF8AndSize(codec, &cl);
        if (!cs)
            return NULL;
        rc = zpk_codec_parse(cs, (size_t)cl, &cdc, &err);
        if (rc != 0)
            return s_raise(rc, &err);
        o.codec = &cdc;
    }
    if (topic != Py_None) {
        if (PyObject_GetBuffer(topic, &tview, PyBUF_SIMPLE) < 0)
            return NULL;
        have_topic = 1;
        o.topic = tview.buf;
        o.topic_len = (size_t)tview.len;
    }
    h = PyMem_RawCalloc(1, sizeof(hold_t) + (size_t)(narr ? narr : 1) * sizeof(Py_buffer));
    za = PyMem_RawCalloc((size_t)(narr ? narr : 1), sizeof(zpk_array_t));
    if (!h || !za) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < narr; i++) {
        PyObject *arr = PySequence_GetItem(arrays, i);
        PyObject *dt = arr ? PySequence_GetItem(dtypes, i) : NULL;
        int ok = arr && dt &&
                 PyObject_GetBuffer(arr, &h->views[i], PyBUF_STRIDED_RO) == 0;
        if (ok)
            h->nviews = i + 1;
        ok = ok && s_array_from_view(&za[i], &h->views[i], dt) == 0;
        Py_XDECREF(arr);
        Py_XDECREF(dt);
        if (!ok)
            goto done;
    }
    if (mode != 0 && narr > 0) {
        o.own = ZPK_OWN_GIVE;
        o.free_fn = s_hold_free;
        o.hint = h;
        if (mode == 2)
            o.copy_below = 1;
        atomic_init(&h->remaining, (int)narr);
        atomic_init(&h->refs, 1 + (track ? 1 : 0));
        atomic_init(&h->done, 0);
    }
    if (payload != Py_None) {
        Py_buffer pv;
        if (PyObject_GetBuffer(payload, &pv, PyBUF_SIMPLE) < 0)
            goto done;
        zpk_writer_init_growable(&w, (size_t)pv.len);
        have_w = 1;
        zpk_write_raw(&w, pv.buf, (size_t)pv.len);
        PyBuffer_Release(&pv);
    }
    for (;;) {
        Py_BEGIN_ALLOW_THREADS
        if (payload == Py_None)
            rc = zpk_send_array(sock, &za[0], &o);
        else if (narr == 0)
            rc = zpk_send_packed_ex(sock, &w, &o);
        else
            rc = zpk_send_mixed(sock, &w, za, (size_t)narr, &o);
        Py_END_ALLOW_THREADS
        if (rc == -EINTR) {
            if (PyErr_CheckSignals() < 0)
                break;
            zpk_error_clear(&err);
            continue;
        }
        break;
    }
    if (rc == -EINTR) {
        /* KeyboardInterrupt: nothing was sent */
    } else if (rc != 0) {
        s_raise(rc, &err);
    } else if (track) {
        TrackerObject *t = PyObject_New(TrackerObject, &TrackerType);
        if (t) {
            if (o.own == ZPK_OWN_GIVE) {
                t->h = h; /* holds the ref counted for it above */
            } else {
                t->h = NULL; /* copied: done at once */
            }
            result = (PyObject *)t;
        }
    } else {
        result = Py_None;
        Py_INCREF(result);
    }
    if (o.own == ZPK_OWN_GIVE) {
        if (rc == 0 || rc == -ETERM) {
            /* the library calls s_hold_free(); the hold lives on */
            if (!result && track)
                s_hold_unref(h); /* no Tracker was made for its ref */
            h = NULL;
        } else if (track) {
            s_hold_unref(h); /* the tracker's ref: no tracker on error */
        }
    }
done:
    if (h) {
        s_hold_release_views(h);
        PyMem_RawFree(h);
    }
    PyMem_RawFree(za);
    if (have_w)
        zpk_writer_free(&w);
    if (have_topic)
        PyBuffer_Release(&tview);
    s_drain();
    return result;
}

/* ---- receive ------------------------------------------------------------------- */

#define TOPIC_CAP 4096

/* Runs @p call without the GIL until it returns something other than -EINTR
 * (after which the Python signal handlers ran without raising). */
#define S_BLOCKING(rc, call)                              \
    for (;;) {                                            \
        Py_BEGIN_ALLOW_THREADS rc = (call);               \
        Py_END_ALLOW_THREADS                              \
        if (rc == -EINTR && PyErr_CheckSignals() == 0)    \
            continue;                                     \
        break;                                            \
    }

static PyObject *s_topic(const char *buf, size_t len)
{
    if (len == 0)
        Py_RETURN_NONE;
    return PyBytes_FromStringAndSize(buf, (Py_ssize_t)(len < TOPIC_CAP - 1 ? len : TOPIC_CAP - 1));
}

static int s_doc_bytes(zpk_doc_t *doc, PyObject **out)
{
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 256);
    zpk_node_write(&w, zpk_doc_root(doc));
    int rc = zpk_writer_finish(&w);
    if (rc == 0) {
        *out = PyBytes_FromStringAndSize((const char *)zpk_writer_data(&w),
                                         (Py_ssize_t)zpk_writer_size(&w));
        if (!*out)
            rc = ZPK_ENOMEM;
    }
    zpk_writer_free(&w);
    return rc;
}

/* _recv_packed(addr, flags) -> (topic, payload bytes, [ArrayBuf...]) */
static PyObject *core_recv_packed(PyObject *Py_UNUSED(mod), PyObject *args)
{
    PyObject *addr;
    int flags;
    if (!PyArg_ParseTuple(args, "Oi:_recv_packed", &addr, &flags))
        return NULL;
    s_drain();
    void *sock = s_sock_ptr(addr);
    if (!sock)
        return NULL;
    char topic[TOPIC_CAP];
    zpk_error_t err;
    zpk_error_clear(&err);
    zpk_recv_opts_t o;
    zpk_recv_opts_init(&o);
    o.flags = flags;
    o.topic = topic;
    o.topic_cap = sizeof topic;
    o.err = &err;
    zpk_mixed_t m;
    memset(&m, 0, sizeof m);
    int rc;
    S_BLOCKING(rc, zpk_recv_mixed(sock, &m, &o));
    if (rc == -EINTR)
        return NULL;
    if (rc != 0)
        return s_raise(rc, &err);
    PyObject *payload = NULL, *arrs = PyList_New((Py_ssize_t)m.narrays), *tp = NULL;
    PyObject *r = NULL;
    rc = arrs ? s_doc_bytes(m.doc, &payload) : ZPK_ENOMEM;
    for (size_t i = 0; rc == 0 && i < m.narrays; i++) {
        PyObject *ab = s_wrap_array(&m.arrays[i]); /* takes ownership, clears the slot */
        if (!ab) {
            rc = ZPK_ENOMEM;
            break;
        }
        PyList_SET_ITEM(arrs, (Py_ssize_t)i, ab);
    }
    if (rc == 0)
        tp = s_topic(topic, o.topic_len);
    if (tp)
        r = PyTuple_Pack(3, tp, payload, arrs);
    else if (!PyErr_Occurred())
        s_raise(rc, NULL);
    zpk_mixed_release(&m);
    Py_XDECREF(tp);
    Py_XDECREF(payload);
    Py_XDECREF(arrs);
    return r;
}

/* _recv_array(addr, flags, out_or_None) -> (topic, ArrayBuf or (typestr, shape, order)) */
static PyObject *core_recv_array(PyObject *Py_UNUSED(mod), PyObject *args)
{
    PyObject *addr, *outobj;
    int flags;
    if (!PyArg_ParseTuple(args, "OiO:_recv_array", &addr, &flags, &outobj))
        return NULL;
    s_drain();
    void *sock = s_sock_ptr(addr);
    if (!sock)
        return NULL;
    char topic[TOPIC_CAP];
    zpk_error_t err;
    zpk_error_clear(&err);
    zpk_recv_opts_t o;
    zpk_recv_opts_init(&o);
    o.flags = flags;
    o.topic = topic;
    o.topic_cap = sizeof topic;
    o.err = &err;
    zpk_array_t a;
    memset(&a, 0, sizeof a);
    int rc;
    if (outobj == Py_None) {
        S_BLOCKING(rc, zpk_recv_array_ex(sock, &a, &o));
        if (rc == -EINTR)
            return NULL;
        if (rc != 0)
            return s_raise(rc, &err);
        PyObject *tp = s_topic(topic, o.topic_len);
        PyObject *ab = tp ? s_wrap_array(&a) : NULL;
        if (!ab) {
            zpk_array_release(&a);
            Py_XDECREF(tp);
            return NULL;
        }
        PyObject *r = PyTuple_Pack(2, tp, ab);
        Py_DECREF(tp);
        Py_DECREF(ab);
        return r;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(outobj, &view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0)
        return NULL;
    S_BLOCKING(rc, zpk_recv_array_into(sock, view.buf, (size_t)view.len, &a, &o));
    PyBuffer_Release(&view);
    if (rc == -EINTR)
        return NULL;
    if (rc != 0)
        return s_raise(rc, &err);
    PyObject *tp = s_topic(topic, o.topic_len);
    PyObject *ab = tp ? s_wrap_array(&a) : NULL; /* not owning: describes out's memory */
    PyObject *r = NULL;
    if (ab) {
        PyObject *desc = Py_BuildValue("(NNNn)", ArrayBuf_get_typestr((ArrayBufObject *)ab, NULL),
                                       ArrayBuf_get_shape((ArrayBufObject *)ab, NULL),
                                       ArrayBuf_get_order((ArrayBufObject *)ab, NULL),
                                       (Py_ssize_t)((ArrayBufObject *)ab)->a.nbytes);
        if (desc)
            r = PyTuple_Pack(2, tp, desc);
        Py_XDECREF(desc);
    }
    Py_XDECREF(tp);
    Py_XDECREF(ab);
    return r;
}

/* pack_mixed(obj, **packer options) -> (bytes, [ndarrays]) */
static PyObject *core_pack_mixed(PyObject *Py_UNUSED(mod), PyObject *args, PyObject *kw)
{
    PyObject *obj;
    if (PyTuple_GET_SIZE(args) != 1) {
        PyErr_SetString(PyExc_TypeError, "pack_mixed() takes one positional argument");
        return NULL;
    }
    obj = PyTuple_GET_ITEM(args, 0);
    PyObject *empty = PyTuple_New(0);
    if (!empty)
        return NULL;
    PackerObject *pk = PyObject_New(PackerObject, &PackerType);
    PyObject *r = NULL;
    if (pk) {
        memset((char *)pk + sizeof(PyObject), 0, sizeof(PackerObject) - sizeof(PyObject));
        pk->arrays = PyList_New(0);
        if (pk->arrays && Packer_init(pk, empty, kw) == 0) {
            pk->autoreset = 1;
            PyObject *b = Packer_pack(pk, obj);
            if (b)
                r = Py_BuildValue("(NO)", b, pk->arrays);
        }
        Py_DECREF(pk);
    }
    Py_DECREF(empty);
    return r;
}

static PyObject *core_collect(PyObject *Py_UNUSED(mod), PyObject *Py_UNUSED(ignored))
{
    s_drain();
    Py_RETURN_NONE;
}

static PyObject *core_setup_sockets(PyObject *Py_UNUSED(mod), PyObject *args)
{
    PyObject *nd, *zerr, *werr;
    if (!PyArg_ParseTuple(args, "OOO:_setup_sockets", &nd, &zerr, &werr))
        return NULL;
    Py_XSETREF(g_ndarray_type, Py_NewRef(nd));
    Py_XSETREF(g_zmq_error, Py_NewRef(zerr));
    Py_XSETREF(g_WireError, Py_NewRef(werr));
    Py_RETURN_NONE;
}

/* ========================================================================== */
/* Module                                                                     */
/* ========================================================================== */

static PyObject *core_setup(PyObject *Py_UNUSED(mod), PyObject *args)
{
    PyObject *ext, *ts, *fe, *se, *ed, *hook, *ehook;
    if (!PyArg_ParseTuple(args, "OOOOOOO:_setup", &ext, &ts, &fe, &se, &ed, &hook, &ehook))
        return NULL;
    Py_XSETREF(g_ExtType, Py_NewRef(ext));
    Py_XSETREF(g_Timestamp, Py_NewRef(ts));
    Py_XSETREF(g_FormatError, Py_NewRef(fe));
    Py_XSETREF(g_StackError, Py_NewRef(se));
    Py_XSETREF(g_ExtraData, Py_NewRef(ed));
    Py_XSETREF(g_registry_hook, Py_NewRef(hook));
    Py_XSETREF(g_registry_ext_hook, Py_NewRef(ehook));
    Py_RETURN_NONE;
}

static PyObject *core_set_registry_active(PyObject *Py_UNUSED(mod), PyObject *arg)
{
    int v = PyObject_IsTrue(arg);
    if (v < 0)
        return NULL;
    g_registry_active = v;
    Py_RETURN_NONE;
}

static PyObject *core_buffer_address(PyObject *Py_UNUSED(mod), PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    PyObject *r = Py_BuildValue("(Kn)", (unsigned long long)(uintptr_t)view.buf, view.len);
    PyBuffer_Release(&view);
    return r;
}

static PyObject *core_lib_version(PyObject *Py_UNUSED(mod), PyObject *Py_UNUSED(ignored))
{
    return PyUnicode_FromString(zpk_version_string());
}

static PyMethodDef core_methods[] = {
    {"packb", (PyCFunction)(void (*)(void))core_packb, METH_FASTCALL | METH_KEYWORDS,
     "packb(o, **kwargs) -> bytes: pack o (see Packer for the options)."},
    {"unpackb", (PyCFunction)(void (*)(void))core_unpackb, METH_VARARGS | METH_KEYWORDS,
     "unpackb(packed, **kwargs): unpack one object; ExtraData when bytes remain."},
    {"_setup", core_setup, METH_VARARGS, NULL},
    {"_set_registry_active", core_set_registry_active, METH_O, NULL},
    {"buffer_address", core_buffer_address, METH_O,
     "buffer_address(obj) -> (address, length) of a buffer-protocol object."},
    {"lib_version", core_lib_version, METH_NOARGS, "Version of the linked libzmqpack."},
    {"pack_mixed", (PyCFunction)(void (*)(void))core_pack_mixed, METH_VARARGS | METH_KEYWORDS,
     "pack_mixed(obj, **kwargs) -> (bytes, arrays): ndarrays become array references."},
    {"_send", core_send, METH_VARARGS, NULL},
    {"_recv_packed", core_recv_packed, METH_VARARGS, NULL},
    {"_recv_array", core_recv_array, METH_VARARGS, NULL},
    {"_setup_sockets", core_setup_sockets, METH_VARARGS, NULL},
    {"collect", core_collect, METH_NOARGS,
     "collect(): release the buffers of zero-copy sends libzmq is done with."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT, "_core", "zmqpack's C core (internal).", -1, core_methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__core(void);
PyMODINIT_FUNC PyInit__core(void)
{
    PyDateTime_IMPORT;
    if (!PyDateTimeAPI)
        return NULL;
    if (PyType_Ready(&PackerType) < 0 || PyType_Ready(&DecoderType) < 0 ||
        PyType_Ready(&TrackerType) < 0 || PyType_Ready(&ArrayBufType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&core_module);
    if (!m)
        return NULL;
    g_str_code = PyUnicode_InternFromString("code");
    g_str_data = PyUnicode_InternFromString("data");
    g_str_seconds = PyUnicode_InternFromString("seconds");
    g_str_nanoseconds = PyUnicode_InternFromString("nanoseconds");
    g_utc = PyDateTime_TimeZone_UTC;
    Py_INCREF(g_utc);
    g_epoch = PyDateTimeAPI->DateTime_FromDateAndTime(1970, 1, 1, 0, 0, 0, 0, g_utc,
                                                      PyDateTimeAPI->DateTimeType);
    g_default_packer = PyObject_New(PackerObject, &PackerType);
    if (!g_epoch || !g_default_packer || !g_str_code) {
        Py_DECREF(m);
        return NULL;
    }
    memset((char *)g_default_packer + sizeof(PyObject), 0,
           sizeof(PackerObject) - sizeof(PyObject));
    g_default_packer->autoreset = 1;
    g_default_packer->use_bin_type = 1;
    Py_INCREF(&PackerType);
    PyModule_AddObject(m, "Packer", (PyObject *)&PackerType);
    Py_INCREF(&DecoderType);
    PyModule_AddObject(m, "Decoder", (PyObject *)&DecoderType);
    Py_INCREF(&TrackerType);
    PyModule_AddObject(m, "Tracker", (PyObject *)&TrackerType);
    Py_INCREF(&ArrayBufType);
    PyModule_AddObject(m, "ArrayBuf", (PyObject *)&ArrayBufType);
    PyModule_AddIntConstant(m, "DONTWAIT", ZPK_DONTWAIT);
    PyModule_AddIntConstant(m, "SEND_SINGLE", ZPK_SEND_SINGLE);
    PyModule_AddIntConstant(m, "SEND_RECIPE", ZPK_SEND_RECIPE);
    PyModule_AddIntConstant(m, "EXT_ARRAY_REF", EXT_ARRAY_REF);
    PyModule_AddIntConstant(m, "PROTOCOL_VERSION", ZPK_PROTOCOL_VERSION);
    PyModule_AddIntConstant(m, "EXT_TUPLE", EXT_TUPLE);
    PyModule_AddIntConstant(m, "EXT_SET", EXT_SET);
    PyModule_AddIntConstant(m, "EXT_FROZENSET", EXT_FROZENSET);
    PyModule_AddIntConstant(m, "EXT_COMPLEX", EXT_COMPLEX);
    return m;
}

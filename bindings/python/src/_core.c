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
#include <structmember.h>

/* numpy's C API, imported lazily by _setup_sockets() so that the msgpack
 * half of the module never loads numpy. */
#define PY_ARRAY_UNIQUE_SYMBOL zpk_py_ARRAY_API
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wunused-function"
#include <numpy/arrayobject.h>
#pragma GCC diagnostic pop
static int g_numpy_ready;

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
/* Writing: zmqpack's C writer (zmqpack/msgpack.h)                            */
/* ========================================================================== */
/*
 * The packer writes with the library's growable zpk_writer_t and its
 * inline fast paths; the helpers below only add msgpack-python's one quirk
 * (without use_bin_type there is no str8: 32..255-byte strings take str16)
 * and keep the call sites short. The writer's error is sticky: writes after
 * a failure are no-ops, and s_writer_check() turns it into an exception
 * once the object is done.
 */
typedef zpk_writer_t wbuf_t;

static int s_writer_check(zpk_writer_t *w)
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

typedef struct {
    PyObject_HEAD
    wbuf_t b;             /* the library's growable writer (valid when w_ready) */
    int w_ready;
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
    PyObject *ndarrays; /* mixed messages: ndarrays met so far, or NULL */
} PackerObject;

static PyObject *g_ndarray_type; /* numpy.ndarray once numpy is imported, else NULL */

/* The MessagePack ext type of an array reference in a mixed message. */
#define EXT_ARRAY_REF ZPK_EXT_NDARRAY_REF

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
    zpk_writer_init_growable(&pk->b, 64);
    int rc = pack_obj(pk, payload, nest - 1);
    wbuf_t inner = pk->b;
    pk->b = saved;
    if (rc == 0)
        rc = s_writer_check(&inner);
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
            if (pk->ndarrays && g_ndarray_type && PyObject_TypeCheck(o, (PyTypeObject *)g_ndarray_type)) {
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
    if (!self->w_ready) {
        zpk_writer_init_growable(&self->b, 1024);
        self->w_ready = 1;
    } else if (self->exports == 0) {
        zpk_writer_reset(&self->b);
    }
    return 0;
}

/* A Packer made from C with default options (its fields zeroed, the
 * writer ready). */
static PackerObject *packer_new_default(void);

static void Packer_dealloc(PackerObject *self)
{
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
        rc = s_writer_check(&self->b);
    if (rc < 0) {
        /* as msgpack-python: an exception empties the buffer */
        zpk_writer_reset(&self->b);
        return NULL;
    }
    if (self->autoreset) {
        const uint8_t *d = zpk_writer_data(&self->b);
        PyObject *r = PyBytes_FromStringAndSize(d ? (const char *)d : "",
                                                (Py_ssize_t)zpk_writer_size(&self->b));
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
        rc = pack_obj(self, k, PACK_RECURSE_LIMIT);
        if (rc == 0)
            rc = pack_obj(self, v, PACK_RECURSE_LIMIT);
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

static PackerObject *packer_new_default(void)
{
    PackerObject *pk = PyObject_New(PackerObject, &PackerType);
    if (!pk)
        return NULL;
    memset((char *)pk + sizeof(PyObject), 0, sizeof(PackerObject) - sizeof(PyObject));
    zpk_writer_init_growable(&pk->b, 1024);
    pk->w_ready = 1;
    pk->autoreset = 1;
    pk->use_bin_type = 1;
    return pk;
}

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
        zpk_writer_reset(&pk->b);
        int rc = pack_obj(pk, args[0], PACK_RECURSE_LIMIT);
        if (rc == 0)
            rc = s_writer_check(&pk->b);
        PyObject *r = NULL;
        if (rc == 0) {
            const uint8_t *d = zpk_writer_data(&pk->b);
            r = PyBytes_FromStringAndSize(d ? (const char *)d : "",
                                          (Py_ssize_t)zpk_writer_size(&pk->b));
        }
        if (zpk_writer_size(&pk->b) > (1 << 20)) { /* do not keep a huge buffer around */
            zpk_writer_free(&pk->b);
            zpk_writer_init_growable(&pk->b, 1024);
        }
        zpk_writer_reset(&pk->b);
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
    PackerObject *pk = empty ? packer_new_default() : NULL;
    PyObject *r = NULL;
    if (pk) {
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
    PyObject *ndarrays; /* borrowed: the ndarrays of a mixed message, or NULL */
} uopts_t;

/*
 * Decoding pulls tags from the library's reader (zpk_reader_t) and builds
 * Python objects directly. The reader's own limits are opened wide: the
 * limits here are msgpack-python's, checked in msgpack-python's order
 * (array/map counts at the header; str/bin/ext lengths once the payload
 * is known to be complete, so truncated input reports "incomplete" first).
 */
typedef struct {
    zpk_reader_t r;
    const uopts_t *o;
    int incomplete; /* the error was "the input ends inside the object" */
} uctx_t;

static zpk_limits_t g_open_limits; /* every limit at its maximum */

static void uctx_init(uctx_t *c, const void *data, size_t n, const uopts_t *o)
{
    zpk_reader_init(&c->r, data, n, &g_open_limits);
    c->o = o;
    c->incomplete = 0;
}

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
    uopts_t o2 = *c->o;
    o2.use_list = 1;
    o2.list_hook = NULL;
    uctx_t sub;
    uctx_init(&sub, p, n, &o2);
    if (n == 0 || !((p[0] & 0xf0) == 0x90 || p[0] == 0xdc || p[0] == 0xdd)) {
        PyErr_SetString(g_FormatError, "tuple/set ext must hold an array");
        return NULL;
    }
    PyObject *lst = unpack_obj(&sub, depth, 0);
    if (!lst)
        return NULL;
    if (zpk_reader_remaining(&sub.r) != 0) {
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
    if (c->o->ndarrays && code == ZPK_EXT_NDARRAY_REF && n == 4) {
        uint32_t i = rd32(p);
        if ((Py_ssize_t)i < PyList_GET_SIZE(c->o->ndarrays)) {
            PyObject *a = PyList_GET_ITEM(c->o->ndarrays, i);
            Py_INCREF(a);
            return a;
        }
    }
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
    int presize = (size_t)n <= zpk_reader_remaining(&c->r);
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
    int presize = (size_t)n <= zpk_reader_remaining(&c->r) / 2;
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

static PyObject *s_read_error(uctx_t *c, int rc)
{
    if (rc == ZPK_EOUTOFDATA) {
        if (c)
            c->incomplete = 1;
        return s_incomplete();
    }
    if (rc == ZPK_EFORMAT) {
        PyErr_SetString(g_FormatError, "malformed MessagePack (reserved byte 0xc1)");
        return NULL;
    }
    PyErr_Format(PyExc_ValueError, "Unpack failed: %s", zpk_strerror(rc));
    return NULL;
}

static PyObject *unpack_obj(uctx_t *c, int depth, int is_key)
{
    zpk_tag_t t;
    const void *p;
    int rc = zpk_read_tag(&c->r, &t);
    if (UNLIKELY(rc != 0))
        return s_read_error(c, rc);
    switch (t.type) {
    case ZPK_TYPE_UINT:
        if (t.v.u <= (uint64_t)LONG_MAX)
            return PyLong_FromLong((long)t.v.u);
        return PyLong_FromUnsignedLongLong(t.v.u);
    case ZPK_TYPE_INT:
        return PyLong_FromLongLong(t.v.i);
    case ZPK_TYPE_STR:
        rc = zpk_read_bytes_inplace(&c->r, t.v.len, &p);
        if (UNLIKELY(rc != 0))
            return s_read_error(c, rc);
        return make_str(c, p, t.v.len, is_key);
    case ZPK_TYPE_MAP:
        return unpack_map(c, t.v.len, depth);
    case ZPK_TYPE_ARRAY:
        return unpack_array(c, t.v.len, depth);
    case ZPK_TYPE_DOUBLE:
        return PyFloat_FromDouble(t.v.d);
    case ZPK_TYPE_FLOAT:
        return PyFloat_FromDouble(t.v.f);
    case ZPK_TYPE_NIL:
        Py_RETURN_NONE;
    case ZPK_TYPE_BOOL:
        if (t.v.b)
            Py_RETURN_TRUE;
        Py_RETURN_FALSE;
    case ZPK_TYPE_BIN:
        rc = zpk_read_bytes_inplace(&c->r, t.v.len, &p);
        if (UNLIKELY(rc != 0))
            return s_read_error(c, rc);
        if ((Py_ssize_t)t.v.len > c->o->max_bin_len) {
            PyErr_Format(PyExc_ValueError, "%u exceeds max_bin_len(%zd)", t.v.len,
                         c->o->max_bin_len);
            return NULL;
        }
        return PyBytes_FromStringAndSize(p, t.v.len);
    case ZPK_TYPE_EXT:
        rc = zpk_read_bytes_inplace(&c->r, t.v.len, &p);
        if (UNLIKELY(rc != 0))
            return s_read_error(c, rc);
        return make_ext(c, t.exttype, p, t.v.len, depth);
    }
    PyErr_SetString(g_FormatError, "unknown MessagePack type");
    return NULL;
}

/*
 * Unpacks one object with the cyclic GC paused for large inputs: building a
 * tree of fresh containers otherwise triggers a collection every 700
 * allocations, each traversing the young objects (and, as they survive,
 * the whole heap). Nothing built here can be garbage before it is returned,
 * so the collections are pure overhead. The previous state is restored.
 */
static PyObject *unpack_gc_paused(uctx_t *c)
{
    /* small inputs gain nothing; user hooks run arbitrary code: leave the
     * GC alone for them */
    if (zpk_reader_remaining(&c->r) < 4096 || c->o->object_hook || c->o->object_pairs_hook ||
        c->o->list_hook || (c->o->ext_hook != g_ExtType && c->o->ext_hook != g_registry_ext_hook))
        return unpack_obj(c, 0, 0);
    int was_enabled = PyGC_Disable();
    PyObject *r = unpack_obj(c, 0, 0);
    if (was_enabled)
        PyGC_Enable();
    return r;
}

/* ---- Decoder: parsed unpack options + a resumable scanner ----------------- */

typedef struct {
    PyObject_HEAD
    uopts_t o;
    Py_ssize_t max_buffer_size;
    /* scanner state, relative to the start of the object being scanned */
    Py_ssize_t pos;
    Py_ssize_t need; /* after scan() returned -1: a lower bound of the bytes still missing */
    PyObject *buf;     /* Unpacker: its bytearray (member _buf) */
    PyObject *file;    /* Unpacker: its file_like or None (member _file) */
    Py_ssize_t head;   /* next() only: where the next object starts in the caller's buffer */
    long long offset;  /* next() only: bytes consumed so far (the Unpacker's tell()) */
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
        uctx_t c;
        uctx_init(&c, view.buf, (size_t)view.len, &o);
        r = unpack_gc_paused(&c);
        size_t used = zpk_reader_offset(&c.r);
        if (r && used < (size_t)view.len) {
            PyObject *extra = PyBytes_FromStringAndSize((const char *)view.buf + used,
                                                        view.len - (Py_ssize_t)used);
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
    self->head = 0;
    self->offset = 0;
    return 0;
}

static void Decoder_dealloc(DecoderObject *self)
{
    PyObject_GC_UnTrack(self);
    Py_CLEAR(self->buf);
    Py_CLEAR(self->file);
    uopts_clear(&self->o);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Resumable scan of one object in buf[start:end], reading each header with
 * the library's reader. Returns the end offset of the object, -1 when more
 * data is needed (state kept: offset and the stack of remaining counts),
 * -2 on error (Python exception set, state reset). */
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
        zpk_reader_t r;
        zpk_tag_t t;
        zpk_reader_init(&r, p0 + pos, (size_t)(avail - pos), &g_open_limits);
        int rc = zpk_read_tag(&r, &t);
        if (rc == ZPK_EOUTOFDATA)
            goto more; /* the header itself is cut: at least one more byte */
        if (rc != 0) {
            s_read_error(NULL, rc);
            goto error;
        }
        uint64_t hdr = zpk_reader_offset(&r), body = 0, count = 0;
        Py_ssize_t limit = PY_SSIZE_T_MAX;
        const char *what = NULL;
        switch (t.type) {
        case ZPK_TYPE_STR: body = t.v.len; limit = o->max_str_len; what = "max_str_len"; break;
        case ZPK_TYPE_BIN: body = t.v.len; limit = o->max_bin_len; what = "max_bin_len"; break;
        case ZPK_TYPE_EXT: body = t.v.len; limit = o->max_ext_len; what = "max_ext_len"; break;
        case ZPK_TYPE_ARRAY:
        case ZPK_TYPE_MAP:
            if (s->depth >= UNPACK_STACK_SIZE) {
                PyErr_SetString(g_StackError, "too deeply nested");
                goto error;
            }
            count = t.v.len;
            if (t.type == ZPK_TYPE_ARRAY) {
                limit = o->max_array_len;
                what = "max_array_len";
            } else {
                limit = o->max_map_len;
                what = "max_map_len";
            }
            break;
        default:
            break;
        }
        if (what && (Py_ssize_t)t.v.len > limit) {
            PyErr_Format(PyExc_ValueError, "%u exceeds %s(%zd)", t.v.len, what, limit);
            goto error;
        }
        if ((uint64_t)(avail - pos) < hdr + body) {
            need = hdr + body - (uint64_t)(avail - pos);
            goto more;
        }
        pos += (Py_ssize_t)(hdr + body);
        if (count) {
            s->rem[s->depth++] = t.type == ZPK_TYPE_MAP ? count * 2 : count;
            continue;
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
        uctx_t c;
        uctx_init(&c, (const uint8_t *)view.buf + start, (size_t)(end - start), &self->o);
        r = unpack_gc_paused(&c);
    }
    PyBuffer_Release(&view);
    return r;
}

static PyObject *g_need_more; /* sentinel returned by Decoder.next() */

/* next(buf, build=True): the next object of buf[head:] (or None when not
 * building, for skip()), advancing head and offset; the sentinel NEED_MORE
 * when the object is not complete yet (scan state kept). A malformed
 * object raises and leaves head where it was; an exception while building
 * (a hook) raises with head past the object. */
static PyObject *Decoder_next(DecoderObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "next(buf, build=True)");
        return NULL;
    }
    int build = nargs < 2 ? 1 : PyObject_IsTrue(args[1]);
    if (build < 0)
        return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    PyObject *r = NULL;
    Py_ssize_t start = self->head;
    if (start < 0 || start > view.len) {
        PyErr_SetString(PyExc_ValueError, "head out of range");
        goto out;
    }
    if (build && self->pos == 0 && self->depth == 0 && !self->o.object_hook &&
        !self->o.object_pairs_hook && !self->o.list_hook && self->o.ext_hook == g_ExtType) {
        /* Fast path: decode straight from the buffer in one pass. Only when
         * no hook can observe a second attempt; "incomplete" falls back to
         * the resumable scanner, so the work stays linear. */
        uctx_t c;
        uctx_init(&c, (const uint8_t *)view.buf + start, (size_t)(view.len - start), &self->o);
        r = unpack_gc_paused(&c);
        if (r) {
            Py_ssize_t used = (Py_ssize_t)zpk_reader_offset(&c.r);
            self->head = start + used;
            self->offset += used;
            goto out;
        }
        if (c.incomplete) {
            PyErr_Clear();
        } else {
            /* a malformed object leaves head; an error in a well-formed one
             * (e.g. strict_map_key) skips it, as the scan path does */
            PyObject *et, *ev, *tb;
            PyErr_Fetch(&et, &ev, &tb);
            Py_ssize_t e2 = scan(self, view.buf, start, view.len);
            if (e2 >= 0) {
                self->head = e2;
                self->offset += e2 - start;
            }
            if (e2 == -2) {
                Py_XDECREF(et);
                Py_XDECREF(ev);
                Py_XDECREF(tb);
            } else {
                self->pos = 0;
                self->depth = 0;
                PyErr_Restore(et, ev, tb);
            }
            goto out;
        }
    }
    Py_ssize_t end = scan(self, view.buf, start, view.len);
    if (end == -1) {
        r = g_need_more;
        Py_INCREF(r);
        goto out;
    }
    if (end < 0)
        goto out;
    self->head = end;
    self->offset += end - start;
    if (build) {
        uctx_t c;
        uctx_init(&c, (const uint8_t *)view.buf + start, (size_t)(end - start), &self->o);
        r = unpack_gc_paused(&c);
    } else {
        r = Py_None;
        Py_INCREF(r);
    }
out:
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
    {"_scan", (PyCFunction)Decoder_scan, METH_VARARGS,
     "scan(buf, start) -> end offset of the next complete object, or -1 (need more)."},
    {"_build", (PyCFunction)Decoder_build, METH_VARARGS,
     "build(buf, start, end) -> the object in buf[start:end]."},
    {"_reset_scan", (PyCFunction)Decoder_reset, METH_NOARGS, "reset(): forget a partial scan."},
    {"_next", (PyCFunction)(void (*)(void))Decoder_next, METH_FASTCALL,
     "next(buf, build=True) -> the next object of buf[head:], or NEED_MORE."},
    {"_need", (PyCFunction)Decoder_need, METH_NOARGS,
     "need() -> after scan() returned -1, a lower bound of the bytes still missing."},
    {"_read_header_c", (PyCFunction)Decoder_read_header, METH_VARARGS,
     "read_header(buf, start, kind) -> (count, header size) or None."},
    {NULL, NULL, 0, NULL},
};

/* Iteration (the Unpacker's for loop) without a Python frame per object. */
static PyObject *Decoder_iternext(DecoderObject *self)
{
    for (;;) {
        if (!self->buf) {
            PyErr_SetString(PyExc_ValueError, "no buffer");
            return NULL;
        }
        PyObject *a[1] = {self->buf};
        PyObject *r = Decoder_next(self, a, 1);
        if (r != g_need_more)
            return r;
        Py_DECREF(r);
        if (!self->file || self->file == Py_None)
            return NULL; /* StopIteration */
        PyObject *more = PyObject_CallMethod((PyObject *)self, "_read_more", NULL);
        if (!more)
            return NULL;
        int t = PyObject_IsTrue(more);
        Py_DECREF(more);
        if (t <= 0)
            return NULL;
    }
}

static int Decoder_traverse(DecoderObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->buf);
    Py_VISIT(self->file);
    Py_VISIT(self->o.object_hook);
    Py_VISIT(self->o.object_pairs_hook);
    Py_VISIT(self->o.list_hook);
    Py_VISIT(self->o.ext_hook);
    return 0;
}

static int Decoder_clear(DecoderObject *self)
{
    Py_CLEAR(self->buf);
    Py_CLEAR(self->file);
    uopts_clear(&self->o);
    return 0;
}

static PyMemberDef Decoder_members[] = {
    {"_buf", T_OBJECT, offsetof(DecoderObject, buf), 0, "the Unpacker's buffer"},
    {"_file", T_OBJECT, offsetof(DecoderObject, file), 0, "the Unpacker's file_like"},
    {"_head", T_PYSSIZET, offsetof(DecoderObject, head), 0, "start of the next object"},
    {"_offset", T_LONGLONG, offsetof(DecoderObject, offset), 0, "bytes consumed so far"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject DecoderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "zmqpack._core.Decoder",
    .tp_basicsize = sizeof(DecoderObject),
    .tp_dealloc = (destructor)Decoder_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Streaming decode engine (internal; use zmqpack.Unpacker).",
    .tp_methods = Decoder_methods,
    .tp_members = Decoder_members,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)Decoder_iternext,
    .tp_traverse = (traverseproc)Decoder_traverse,
    .tp_clear = (inquiry)Decoder_clear,
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
    zpk_ndarray_t a;
    Py_ssize_t exports;
} ArrayBufObject;

static void ArrayBuf_dealloc(ArrayBufObject *self)
{
    zpk_ndarray_free(&self->a);
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

static PyObject *s_wrap_array(zpk_ndarray_t *a)
{
    ArrayBufObject *o = PyObject_New(ArrayBufObject, &ArrayBufType);
    if (!o) {
        zpk_ndarray_free(a);
        return NULL;
    }
    o->a = *a;
    o->exports = 0;
    memset(a, 0, sizeof *a);
    return (PyObject *)o;
}

/* numpy's C API calls through a table of object pointers cast to function
 * pointers, which ISO C does not bless: -Wpedantic is silenced for the few
 * functions below that call it, and only for them. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"

/* A cache of numpy dtypes by zmqpack dtype. */
static struct {
    zpk_dtype_t dt;
    PyArray_Descr *descr;
} g_descr[64];
static int g_ndescr;

static PyArray_Descr *s_descr(zpk_dtype_t dt)
{
    for (int i = 0; i < g_ndescr; i++)
        if (zpk_dtype_equal(g_descr[i].dt, dt)) {
            Py_INCREF(g_descr[i].descr);
            return g_descr[i].descr;
        }
    char buf[ZPK_DTYPE_STR_SIZE];
    if (zpk_dtype_format(dt, buf, sizeof buf) < 0) {
        PyErr_SetString(PyExc_ValueError, "bad dtype");
        return NULL;
    }
    PyObject *str = PyUnicode_FromString(buf);
    PyArray_Descr *d = NULL;
    if (!str)
        return NULL;
    if (!PyArray_DescrConverter(str, &d))
        d = NULL;
    Py_DECREF(str);
    if (d && g_ndescr < 64) {
        g_descr[g_ndescr].dt = dt;
        g_descr[g_ndescr].descr = d;
        Py_INCREF(d);
        g_ndescr++;
    }
    return d;
}

/* An ndarray over @p ab's memory (writable, C or F as received) whose base
 * is @p ab, so the message stays alive as long as any view of it. */
static PyObject *s_ndarray(PyObject *ab)
{
    zpk_ndarray_t *a = &((ArrayBufObject *)ab)->a;
    if (!g_numpy_ready) {
        PyErr_SetString(PyExc_RuntimeError, "numpy is not set up");
        return NULL;
    }
    PyArray_Descr *d = s_descr(a->dtype);
    if (!d)
        return NULL;
    npy_intp dims[ZPK_MAX_NDIM];
    for (int i = 0; i < a->ndim; i++)
        dims[i] = (npy_intp)a->shape[i];
    int flags = NPY_ARRAY_WRITEABLE |
                (a->order == ZPK_ORDER_F ? NPY_ARRAY_F_CONTIGUOUS : NPY_ARRAY_C_CONTIGUOUS);
    if (a->nbytes == 0 || a->data == NULL) /* nothing to alias */
        return PyArray_NewFromDescr(&PyArray_Type, d, a->ndim, dims, NULL, NULL,
                                    a->order == ZPK_ORDER_F, NULL);
    PyObject *arr = PyArray_NewFromDescr(&PyArray_Type, d, a->ndim, dims, NULL, a->data,
                                         flags, NULL);
    if (!arr)
        return NULL;
    Py_INCREF(ab);
    if (PyArray_SetBaseObject((PyArrayObject *)arr, ab) < 0) {
        Py_DECREF(arr);
        return NULL;
    }
    return arr;
}

static int s_import_numpy(void)
{
    if (!g_numpy_ready) {
        if (_import_array() < 0)
            return -1;
        g_numpy_ready = 1;
    }
    return 0;
}
#pragma GCC diagnostic pop

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

/* The numpy typestr ("<f8") of ndarray @p arr into @p buf (8 bytes). */
static int s_typestr_of(PyObject *arr, char *buf)
{
    if (!g_numpy_ready || !PyArray_Check(arr)) {
        PyErr_SetString(PyExc_TypeError, "expected a numpy.ndarray");
        return -1;
    }
    PyArray_Descr *d = PyArray_DESCR((PyArrayObject *)arr);
    char bo = d->byteorder;
    if (bo == '=')
        bo = ZPK_BYTEORDER_NATIVE;
    if (d->elsize <= 0 || d->elsize > 99) {
        PyErr_SetString(PyExc_TypeError, "unsupported dtype");
        return -1;
    }
    snprintf(buf, 8, "%c%c%d", bo, d->kind, (int)d->elsize);
    return 0;
}

/* Fills @p a over @p view (strided buffer of an ndarray) with @p typestr
 * (a str, or NULL: taken from the ndarray @p arr). */
static int s_array_from_view(zpk_ndarray_t *a, Py_buffer *view, PyObject *typestr, PyObject *arr)
{
    Py_ssize_t tl;
    char tsbuf[8];
    const char *ts;
    if (typestr && typestr != Py_None) {
        ts = PyUnicode_AsUTF8AndSize(typestr, &tl);
    } else {
        ts = s_typestr_of(arr, tsbuf) == 0 ? tsbuf : NULL;
        tl = ts ? (Py_ssize_t)strlen(ts) : 0;
    }
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
        rc = zpk_ndarray_init(a, dt, view->ndim, shape, ZPK_ORDER_C, view->buf);
    if (rc == 0 && view->strides && view->ndim > 0)
        rc = zpk_ndarray_set_strides(a, strides);
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
    zpk_ndarray_t *za = NULL;
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
    if (narr > 0) {
        h = PyMem_RawCalloc(1, sizeof(hold_t) + (size_t)narr * sizeof(Py_buffer));
        za = PyMem_RawCalloc((size_t)narr, sizeof(zpk_ndarray_t));
        if (!h || !za) {
            PyErr_NoMemory();
            goto done;
        }
    }
    for (Py_ssize_t i = 0; i < narr; i++) {
        PyObject *arr = PySequence_GetItem(arrays, i);
        PyObject *dt = (arr && dtypes != Py_None) ? PySequence_GetItem(dtypes, i) : NULL;
        int ok = arr && (dt || dtypes == Py_None) &&
                 PyObject_GetBuffer(arr, &h->views[i], PyBUF_STRIDED_RO) == 0;
        if (ok)
            h->nviews = i + 1;
        ok = ok && s_array_from_view(&za[i], &h->views[i], dt, arr) == 0;
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
    zpk_writer_t *wp = NULL;
    if (payload != Py_None && Py_IS_TYPE(payload, &PackerType)) {
        /* from _send_obj(): send the packer's own writer, no copy */
        wp = &((PackerObject *)payload)->b;
    } else if (payload != Py_None) {
        Py_buffer pv;
        if (PyObject_GetBuffer(payload, &pv, PyBUF_SIMPLE) < 0)
            goto done;
        zpk_writer_init_growable(&w, (size_t)pv.len);
        have_w = 1;
        zpk_write_raw(&w, pv.buf, (size_t)pv.len);
        PyBuffer_Release(&pv);
        wp = &w;
    }
#define S_SEND_CALL                                         \
    (payload == Py_None ? zpk_send_array(sock, &za[0], &o)  \
     : narr == 0        ? zpk_send_packed_ex(sock, wp, &o)  \
                        : zpk_send_mixed(sock, wp, za, (size_t)narr, &o))
    int done_now = 0;
    if (!(flags & ZPK_DONTWAIT)) {
        /* First without blocking and with the GIL held: when libzmq can take
         * the message at once (the common case) this saves a GIL handoff. */
        o.flags = flags | ZPK_DONTWAIT;
        rc = S_SEND_CALL;
        o.flags = flags;
        done_now = rc != -EAGAIN && rc != -EINTR;
        if (!done_now)
            zpk_error_clear(&err);
    }
    while (!done_now) {
        Py_BEGIN_ALLOW_THREADS
        rc = S_SEND_CALL;
        Py_END_ALLOW_THREADS
        if (rc == -EINTR) {
            if (PyErr_CheckSignals() < 0)
                break;
            zpk_error_clear(&err);
            continue;
        }
        break;
    }
#undef S_SEND_CALL
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

/* Runs @p call (which reads its flags from o.flags): first without blocking
 * and with the GIL held (no GIL handoff when a message is waiting), then, if
 * nothing was there and the caller did not ask for DONTWAIT, without the GIL
 * until it returns something other than -EINTR (after which the Python
 * signal handlers ran without raising). */
#define S_BLOCKING(rc, call)                                      \
    do {                                                          \
        int s_flags_ = o.flags;                                   \
        if (!(s_flags_ & ZPK_DONTWAIT)) {                         \
            o.flags = s_flags_ | ZPK_DONTWAIT;                    \
            rc = (call);                                          \
            o.flags = s_flags_;                                   \
            if (rc != -EAGAIN && rc != -EINTR)                    \
                break;                                            \
            zpk_error_clear(&err);                                \
        }                                                         \
        for (;;) {                                                \
            Py_BEGIN_ALLOW_THREADS rc = (call);                   \
            Py_END_ALLOW_THREADS                                  \
            if (rc == -EINTR && PyErr_CheckSignals() == 0)        \
                continue;                                         \
            break;                                                \
        }                                                         \
    } while (0)

static PyObject *s_topic(const char *buf, size_t len)
{
    if (len == 0)
        Py_RETURN_NONE;
    return PyBytes_FromStringAndSize(buf, (Py_ssize_t)(len < TOPIC_CAP - 1 ? len : TOPIC_CAP - 1));
}

/* The received payload did not decode (the C side hands the bytes over
 * unparsed): a malformed payload becomes a WireError, as a bad header is;
 * other errors (MemoryError, a hook's own) are left alone. */
static void s_payload_error(void)
{
    if (!PyErr_ExceptionMatches(PyExc_ValueError))
        return;
    int rc = ZPK_EOUTOFDATA;
    if (PyErr_ExceptionMatches(g_StackError))
        rc = ZPK_ETOODEEP;
    else if (PyErr_ExceptionMatches(PyExc_UnicodeError))
        rc = ZPK_EUTF8;
    else if (PyErr_ExceptionMatches(g_FormatError))
        rc = ZPK_EFORMAT;
    PyErr_Clear();
    s_raise(rc, NULL);
}

/*
 * The receive both _recv_packed and _recv_obj start with: a packed or mixed
 * message's payload bytes (and arrays) into *m, its topic into topic
 * (TOPIC_CAP bytes) and *topic_len, the GIL released while blocking. Returns 0, or -1 with
 * a Python exception set (KeyboardInterrupt on Ctrl-C, WireError...).
 */
static int s_recv_bytes(PyObject *addr, int flags, char *topic, size_t *topic_len,
                        zpk_msgbuf_t *m)
{
    s_drain();
    void *sock = s_sock_ptr(addr);
    if (!sock)
        return -1;
    zpk_error_t err;
    zpk_error_clear(&err);
    zpk_recv_opts_t o;
    zpk_recv_opts_init(&o);
    o.flags = flags;
    o.topic = topic;
    o.topic_cap = TOPIC_CAP;
    o.err = &err;
    memset(m, 0, sizeof *m);
    int rc;
    S_BLOCKING(rc, zpk_recv_packed_bytes(sock, m, &o));
    if (rc == -EINTR)
        return -1;
    if (rc != 0) {
        s_raise(rc, &err);
        return -1;
    }
    *topic_len = o.topic_len;
    return 0;
}

/* _recv_packed(addr, flags) -> (topic, payload bytes, [ArrayBuf...]) */
static PyObject *core_recv_packed(PyObject *Py_UNUSED(mod), PyObject *args)
{
    PyObject *addr;
    int flags;
    if (!PyArg_ParseTuple(args, "Oi:_recv_packed", &addr, &flags))
        return NULL;
    char topic[TOPIC_CAP];
    size_t topic_len = 0;
    zpk_msgbuf_t m;
    if (s_recv_bytes(addr, flags, topic, &topic_len, &m) != 0)
        return NULL;
    PyObject *payload = NULL, *arrs = PyList_New((Py_ssize_t)m.n_ndarrays), *tp = NULL;
    PyObject *r = NULL;
    int rc = ZPK_ENOMEM;
    if (arrs) {
        payload = PyBytes_FromStringAndSize((const char *)m.data, (Py_ssize_t)m.size);
        if (payload)
            rc = 0;
    }
    for (size_t i = 0; rc == 0 && i < m.n_ndarrays; i++) {
        PyObject *ab = s_wrap_array(&m.ndarrays[i]); /* takes ownership, clears the slot */
        PyObject *nd = ab ? s_ndarray(ab) : NULL;
        Py_XDECREF(ab);
        if (!nd) {
            rc = ZPK_ENOMEM;
            break;
        }
        PyList_SET_ITEM(arrs, (Py_ssize_t)i, nd);
    }
    if (rc == 0)
        tp = s_topic(topic, topic_len);
    if (tp)
        r = PyTuple_Pack(3, tp, payload, arrs);
    else if (!PyErr_Occurred())
        s_raise(rc, NULL);
    zpk_msgbuf_free(&m);
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
    zpk_ndarray_t a;
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
            zpk_ndarray_free(&a);
            Py_XDECREF(tp);
            return NULL;
        }
        PyObject *nd = s_ndarray(ab);
        Py_DECREF(ab);
        PyObject *r = nd ? PyTuple_Pack(2, tp, nd) : NULL;
        Py_DECREF(tp);
        Py_XDECREF(nd);
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
    PackerObject *pk = packer_new_default();
    PyObject *r = NULL;
    if (pk) {
        pk->ndarrays = PyList_New(0);
        if (pk->ndarrays && Packer_init(pk, empty, kw) == 0) {
            pk->autoreset = 1;
            PyObject *b = Packer_pack(pk, obj);
            if (b)
                r = Py_BuildValue("(NO)", b, pk->ndarrays);
        }
        Py_DECREF(pk);
    }
    Py_DECREF(empty);
    return r;
}


/* The packer used by _send_obj(): default options, arrays collected. */
static PackerObject *g_mixed_packer;
static int g_mixed_packer_busy;

/* _send_obj(addr, obj, topic, codec, flags, mode, track): send_packed()
 * with the default packer options, packing and sending in one call. */
static PyObject *core_send_obj(PyObject *mod, PyObject *args)
{
    PyObject *addr, *obj, *topic, *codec;
    int flags, mode, track;
    if (!PyArg_ParseTuple(args, "OOOOiip:_send_obj", &addr, &obj, &topic, &codec, &flags,
                          &mode, &track))
        return NULL;
    PackerObject *pk = g_mixed_packer;
    int own = 0;
    if (g_mixed_packer_busy) {
        pk = packer_new_default();
        if (!pk)
            return NULL;
        own = 1;
    }
    if (!pk->ndarrays && !(pk->ndarrays = PyList_New(0))) {
        if (own)
            Py_DECREF(pk);
        return NULL;
    }
    if (!own)
        g_mixed_packer_busy = 1;
    zpk_writer_reset(&pk->b);
    PyObject *r = NULL;
    int rc = pack_obj(pk, obj, PACK_RECURSE_LIMIT);
    if (rc == 0)
        rc = s_writer_check(&pk->b);
    if (rc == 0) {
        PyObject *arrays = pk->ndarrays;
        Py_INCREF(arrays);
        PyObject *dts = Py_None;
        Py_INCREF(dts);
        {
            /* the packer itself stands for the payload: core_send() sends
             * its writer without copying it */
            PyObject *a2 = Py_BuildValue("(OOOOOOiii)", addr, (PyObject *)pk, arrays, dts, topic,
                                         codec, flags, mode, track);
            if (a2) {
                r = core_send(mod, a2);
                Py_DECREF(a2);
            }
        }
        Py_DECREF(dts);
        Py_DECREF(arrays);
    }
    if (PyList_SetSlice(pk->ndarrays, 0, PyList_GET_SIZE(pk->ndarrays), NULL) < 0)
        Py_CLEAR(pk->ndarrays);
    if (own) {
        Py_DECREF(pk);
    } else {
        if (zpk_writer_size(&pk->b) > (1 << 20)) {
            zpk_writer_free(&pk->b);
            zpk_writer_init_growable(&pk->b, 1024);
        }
        zpk_writer_reset(&pk->b);
        g_mixed_packer_busy = 0;
    }
    return r;
}

/* _recv_obj(addr, flags) -> (topic, obj): recv_packed() with the default
 * unpack options, decoded in C. */
static PyObject *core_recv_obj(PyObject *Py_UNUSED(mod), PyObject *args)
{
    PyObject *addr;
    int flags;
    if (!PyArg_ParseTuple(args, "Oi:_recv_obj", &addr, &flags))
        return NULL;
    char topic[TOPIC_CAP];
    size_t topic_len = 0;
    zpk_msgbuf_t m;
    if (s_recv_bytes(addr, flags, topic, &topic_len, &m) != 0)
        return NULL;
    PyObject *arrs = NULL, *obj = NULL, *tp = NULL, *r = NULL;
    if (m.n_ndarrays) {
        arrs = PyList_New((Py_ssize_t)m.n_ndarrays);
        for (size_t i = 0; arrs && i < m.n_ndarrays; i++) {
            PyObject *ab = s_wrap_array(&m.ndarrays[i]);
            PyObject *nd = ab ? s_ndarray(ab) : NULL;
            Py_XDECREF(ab);
            if (!nd)
                goto out;
            PyList_SET_ITEM(arrs, (Py_ssize_t)i, nd);
        }
        if (!arrs)
            goto out;
    }
    uopts_t uo;
    if (uopts_parse(&uo, Py_None, Py_None, 1, 0, 0, 1, Py_None, Py_None, Py_None, -1, -1, -1,
                    -1, -1, 0, (Py_ssize_t)m.size) < 0)
        goto out;
    uo.ndarrays = arrs;
    uctx_t c;
    uctx_init(&c, m.data, m.size, &uo);
    obj = unpack_gc_paused(&c);
    uopts_clear(&uo);
    if (obj && zpk_reader_offset(&c.r) < m.size) {
        Py_CLEAR(obj);
        s_raise(ZPK_EEXTRADATA, NULL);
        goto out;
    }
    if (!obj) {
        s_payload_error();
        goto out;
    }
    tp = s_topic(topic, topic_len);
    if (tp)
        r = PyTuple_Pack(2, tp, obj);
out:
    zpk_msgbuf_free(&m);
    Py_XDECREF(arrs);
    Py_XDECREF(obj);
    Py_XDECREF(tp);
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
    if (s_import_numpy() < 0)
        return NULL;
    if (!g_mixed_packer) {
        g_mixed_packer = packer_new_default();
        if (!g_mixed_packer)
            return NULL;
    }
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
    {"_send_obj", core_send_obj, METH_VARARGS, NULL},
    {"_recv_obj", core_recv_obj, METH_VARARGS, NULL},
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
    g_open_limits.max_buffer_size = SIZE_MAX;
    g_open_limits.max_str_len = SIZE_MAX;
    g_open_limits.max_bin_len = SIZE_MAX;
    g_open_limits.max_array_len = SIZE_MAX;
    g_open_limits.max_map_len = SIZE_MAX;
    g_open_limits.max_ext_len = SIZE_MAX;
    g_open_limits.max_depth = SIZE_MAX;
    g_str_code = PyUnicode_InternFromString("code");
    g_str_data = PyUnicode_InternFromString("data");
    g_str_seconds = PyUnicode_InternFromString("seconds");
    g_str_nanoseconds = PyUnicode_InternFromString("nanoseconds");
    g_utc = PyDateTime_TimeZone_UTC;
    Py_INCREF(g_utc);
    g_epoch = PyDateTimeAPI->DateTime_FromDateAndTime(1970, 1, 1, 0, 0, 0, 0, g_utc,
                                                      PyDateTimeAPI->DateTimeType);
    g_default_packer = packer_new_default();
    if (!g_epoch || !g_default_packer || !g_str_code) {
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&PackerType);
    PyModule_AddObject(m, "Packer", (PyObject *)&PackerType);
    Py_INCREF(&DecoderType);
    PyModule_AddObject(m, "Decoder", (PyObject *)&DecoderType);
    Py_INCREF(&TrackerType);
    PyModule_AddObject(m, "Tracker", (PyObject *)&TrackerType);
    Py_INCREF(&ArrayBufType);
    PyModule_AddObject(m, "ArrayBuf", (PyObject *)&ArrayBufType);
    g_need_more = PyObject_CallNoArgs((PyObject *)&PyBaseObject_Type);
    if (!g_need_more) {
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(g_need_more);
    PyModule_AddObject(m, "NEED_MORE", g_need_more);
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

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
    zpk_writer_init_growable(&pk->b, 64);
    int rc = zpy_pack_obj(pk, payload, nest - 1);
    wbuf_t inner = pk->b;
    pk->b = saved;
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
        rc = zpy_writer_check(&self->b);
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
    int rc = zpy_pack_obj(self, obj, PACK_RECURSE_LIMIT);
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
        int rc = zpy_pack_obj(pk, args[0], PACK_RECURSE_LIMIT);
        if (rc == 0)
            rc = zpy_writer_check(&pk->b);
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
    PackerObject *pk = empty ? zpy_packer_new() : NULL;
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
    PackerObject *pk = zpy_packer_new();
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

static PyMethodDef pack_methods[] = {
    {"packb", (PyCFunction)(void (*)(void))core_packb, METH_FASTCALL | METH_KEYWORDS,
     "packb(o, **kwargs) -> bytes: pack o (see Packer for the options)."},
    {"pack_mixed", (PyCFunction)(void (*)(void))core_pack_mixed, METH_VARARGS | METH_KEYWORDS,
     "pack_mixed(obj, **kwargs) -> (bytes, arrays): ndarrays become array references."},
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

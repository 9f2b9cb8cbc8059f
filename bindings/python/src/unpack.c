/*
 * zmqpack._core, unpacking: unpackb() and the decoding every other route
 * shares (the streaming Unpacker, the socket receives): MessagePack bytes
 * -> Python objects, with msgpack-python 1.0's options, limits and errors.
 */
#include "core.h"

#include <datetime.h>

zpk_limits_t g_open_limits;

void zpy_uctx_init(uctx_t *c, const void *data, size_t n, const uopts_t *o)
{
    zpk_reader_init(&c->r, data, n, &g_open_limits);
    c->o = o;
    c->incomplete = 0;
    c->src = NULL;
}

static PyObject *s_incomplete(void)
{
    PyErr_SetString(PyExc_ValueError, "Unpack failed: incomplete input");
    return NULL;
}

/* Key cache: short ASCII map keys decoded once and reused (interned, as
 * msgpack-python interns map keys). Direct-mapped, GIL-protected. A key is
 * held as four words, each byte in its own lane and zero beyond its length:
 * one mask finds a non-ASCII byte, and for one length equal words are equal
 * bytes, so hashing and comparing take a few instructions a word where they
 * took a few a byte. */
#define KC_BITS 10
#define KC_MAXLEN 32
typedef struct {
    PyObject *s;
    uint32_t len;
    uint64_t w[KC_MAXLEN / 8];
} kc_entry_t;
static kc_entry_t g_kc[1u << KC_BITS];

static inline void s_key_words(const uint8_t *p, uint32_t n, uint64_t w[KC_MAXLEN / 8])
{
    uint32_t full = n / 8;
    w[0] = w[1] = w[2] = w[3] = 0;
    for (uint32_t i = 0; i < full; i++)
        memcpy(&w[i], p + 8 * i, 8);
    if (n & 7) {
        const uint8_t *t = p + 8 * full;
        uint64_t v = 0;
        unsigned shift = 0;
        if (n & 4) {
            uint32_t x;
            memcpy(&x, t, 4);
            v = x;
            t += 4;
            shift = 32;
        }
        if (n & 2) {
            uint16_t x;
            memcpy(&x, t, 2);
            v |= (uint64_t)x << shift;
            t += 2;
            shift += 16;
        }
        if (n & 1)
            v |= (uint64_t)*t << shift;
        w[full] = v;
    }
}

static PyObject *key_from_ascii(const uint8_t *p, uint32_t n)
{
    uint64_t w[KC_MAXLEN / 8];
    s_key_words(p, n, w);
    if ((w[0] | w[1] | w[2] | w[3]) & 0x8080808080808080ull)
        return NULL; /* not ASCII: the caller decodes */
    uint64_t h = (w[0] * 0x9e3779b97f4a7c15ull) ^ (w[1] * 0xc2b2ae3d27d4eb4full) ^
                 (w[2] * 0x165667b19e3779f9ull) ^ (w[3] * 0xd6e8feb86659fd93ull) ^ n;
    kc_entry_t *e = &g_kc[(h ^ (h >> 31)) >> (64 - KC_BITS)];
    if (e->s && e->len == n && e->w[0] == w[0] && e->w[1] == w[1] && e->w[2] == w[2] &&
        e->w[3] == w[3])
        return Py_NewRef(e->s);
    PyObject *s = PyUnicode_New(n, 127);
    if (!s)
        return NULL;
    memcpy(PyUnicode_DATA(s), p, n);
    PyUnicode_InternInPlace(&s);
    if (!s)
        return NULL;
    Py_XSETREF(e->s, Py_NewRef(s));
    e->len = n;
    memcpy(e->w, w, sizeof(e->w));
    return s;
}

static PyObject *unpack_obj(uctx_t *c, int depth, int is_key);

/* The body of a bin of @p len bytes, in place, once it is known to be
 * complete (then max_bin_len, in msgpack-python's order). 0 or -1. */
static int read_bin_body(uctx_t *c, uint32_t len, const void **p)
{
    int rc = zpk_read_bytes_inplace(&c->r, len, p);
    if (UNLIKELY(rc != 0)) {
        zpy_read_error(c, rc);
        return -1;
    }
    if ((Py_ssize_t)len > c->o->max_bin_len) {
        PyErr_Format(PyExc_ValueError, "%u exceeds max_bin_len(%zd)", len, c->o->max_bin_len);
        return -1;
    }
    return 0;
}

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
        sec = zpk__get_be32(p);
        nsec = 0;
    } else if (n == 8) {
        uint64_t v = zpk__get_be64(p);
        nsec = (uint32_t)(v >> 34);
        sec = (int64_t)(v & 0x3ffffffffULL);
    } else if (n == 12) {
        nsec = zpk__get_be32(p);
        sec = (int64_t)zpk__get_be64(p + 4);
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
        uint64_t u = zpk__get_be64(p);
        memcpy(&re, &u, 8);
        u = zpk__get_be64(p + 8);
        memcpy(&im, &u, 8);
        return PyComplex_FromDoubles(re, im);
    }
    uopts_t o2 = *c->o;
    o2.use_list = 1;
    o2.list_hook = NULL;
    uctx_t sub;
    zpy_uctx_init(&sub, p, n, &o2);
    sub.src = c->src;
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
        /* msgpack-python counts the type byte in the length it prints */
        PyErr_Format(PyExc_ValueError, "%u exceeds max_ext_len(%zd)", n + 1, c->o->max_ext_len);
        return NULL;
    }
    if (code == -1)
        return make_timestamp(c, p, n);
    if (c->o->ndarrays && code == ZPK_EXT_NDARRAY_REF && n == 4) {
        uint32_t i = zpk__get_be32(p);
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

/* ---- msgpack-numpy maps (ndarray="msgpack-numpy") ---------------------------- */
/*
 * msgpack_numpy.decode's rules (lebedov/msgpack-numpy), applied to every map
 * as its object_hook would be: a map with the key b"nd" is an ndarray (nd
 * True: b"type", b"shape", b"data", b"kind" b"V" for structured dtypes) or a
 * numpy scalar (nd False: b"type", b"data"); a map with b"complex" is a
 * complex. A map that lacks a key the rule needs stays a dict, as there.
 * Differences, all refusals of what a trusting reader would accept: kind O
 * (a pickle) and object dtypes are refused, and b"data" must hold exactly
 * the bytes the shape and dtype need.
 *
 * Arrays are read-only views of the input's bytes (no copy) when the caller
 * gave the object holding them (uctx_t.src); otherwise of one copy.
 * Not zpk_node_get_msgpack_numpy() (zmqpack/interop.h): it reads document
 * nodes, where this builds Python objects straight from the bytes, and it
 * leaves out the structured and string dtypes msgpack-numpy writes.
 */
typedef struct {
    const void *p; /* the bytes of the last b"data" bin of the map being built */
    uint32_t len;
} mnp_data_t;

static int s_is_key(PyObject *k, const char *name, Py_ssize_t n)
{
    return PyBytes_CheckExact(k) && PyBytes_GET_SIZE(k) == n &&
           memcmp(PyBytes_AS_STRING(k), name, (size_t)n) == 0;
}

/* The value of a b"data" key: a bin stays in place (None in the dict until
 * the map is complete); anything else is decoded as usual. */
static PyObject *mnp_data_value(uctx_t *c, int depth, mnp_data_t *data)
{
    zpk_reader_t peek = c->r;
    zpk_tag_t t;
    if (zpk_read_tag(&peek, &t) == 0 && t.type == ZPK_TYPE_BIN) {
        c->r = peek;
        if (read_bin_body(c, t.v.len, &data->p) < 0)
            return NULL;
        data->len = t.v.len;
        Py_RETURN_NONE;
    }
    data->p = NULL;
    return unpack_obj(c, depth + 1, 0);
}

static PyObject *s_dict_get(PyObject *d, const char *key)
{
    PyObject *k = PyBytes_FromString(key);
    if (!k)
        return NULL;
    PyObject *v = PyDict_GetItemWithError(d, k); /* borrowed */
    Py_DECREF(k);
    return v;
}

static PyObject *s_mnp_error(const char *what)
{
    PyErr_Format(PyExc_ValueError, "malformed msgpack-numpy map: %s", what);
    return NULL;
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic" /* numpy's C API: see ndarray.c */

/* The dtype of b"type": a typestr, or (kind V) a structured descr list. */
static PyArray_Descr *mnp_dtype(PyObject *type, int structured)
{
    PyArray_Descr *d = NULL;
    if (structured) {
        PyObject *mod = PyImport_ImportModule("zmqpack._msgpack_numpy");
        PyObject *r = mod ? PyObject_CallMethod(mod, "dtype_from_descr", "O", type) : NULL;
        Py_XDECREF(mod);
        if (!r)
            return NULL;
        if (!PyArray_DescrConverter(r, &d))
            d = NULL;
        Py_DECREF(r);
    } else if (PyUnicode_Check(type) || PyBytes_Check(type)) {
        if (!PyArray_DescrConverter(type, &d)) {
            PyErr_Clear();
            PyErr_Format(PyExc_ValueError, "malformed msgpack-numpy map: b\"type\" %.40R is "
                         "not a numpy dtype", type);
            return NULL;
        }
    } else {
        return (PyArray_Descr *)s_mnp_error("b\"type\" is neither a typestr nor a descr list");
    }
    if (d && PyDataType_REFCHK(d)) {
        Py_DECREF(d);
        PyErr_SetString(PyExc_ValueError,
                        "refusing a msgpack-numpy array of Python objects (dtype object): "
                        "it would be a pickle");
        return NULL;
    }
    return d;
}

/* An ndarray over @p n bytes at @p p (read-only), aliasing the input when
 * the context knows the object holding it. */
static PyObject *mnp_array(uctx_t *c, PyArray_Descr *d, int ndim, npy_intp *dims,
                           const void *p, size_t n)
{
    PyObject *base;
    if (c->src && PyBytes_CheckExact(c->src)) {
        base = Py_NewRef(c->src); /* immutable: its reference keeps the bytes */
    } else if (c->src) {
        base = PyMemoryView_FromObject(c->src); /* holds an export: the bytes cannot move */
    } else {
        base = PyBytes_FromStringAndSize(p, (Py_ssize_t)n);
        if (base)
            p = PyBytes_AS_STRING(base);
    }
    if (!base) {
        Py_DECREF(d);
        return NULL;
    }
    PyObject *a = PyArray_NewFromDescr(&PyArray_Type, d, ndim, dims, NULL, (void *)(uintptr_t)p,
                                       0, NULL); /* steals d; flags 0: read-only */
    if (!a) {
        Py_DECREF(base);
        return NULL;
    }
    if (PyArray_SetBaseObject((PyArrayObject *)a, base) < 0) { /* steals base */
        Py_DECREF(a);
        return NULL;
    }
    return a;
}

/* Turns @p d into what it stands for (*out, a new reference), or leaves
 * *out NULL when it is a plain map (its b"data" bin then becomes bytes).
 * 0, or -1 with an exception set. */
static int from_msgpack_numpy(uctx_t *c, PyObject *d, const mnp_data_t *data, PyObject **out)
{
    *out = NULL;
    PyObject *nd = s_dict_get(d, "nd");
    PyObject *type = nd ? s_dict_get(d, "type") : NULL;
    PyObject *shape = nd == Py_True ? s_dict_get(d, "shape") : NULL;
    if (PyErr_Occurred())
        return -1;
    if (nd && type && (nd != Py_True || shape) && data->p) {
        PyObject *kind = nd == Py_True ? s_dict_get(d, "kind") : NULL;
        if (PyErr_Occurred())
            return -1;
        int structured = kind && s_is_key(kind, "V", 1);
        if (kind && s_is_key(kind, "O", 1)) {
            PyErr_SetString(PyExc_ValueError,
                            "refusing a msgpack-numpy array of kind O: its data is a pickle");
            return -1;
        }
        PyArray_Descr *dt = mnp_dtype(type, structured);
        if (!dt)
            return -1;
        size_t item = (size_t)dt->elsize;
        if (nd != Py_True) { /* a numpy scalar (a copy of its bytes) */
            if (data->len != item) {
                Py_DECREF(dt);
                PyErr_Format(PyExc_ValueError, "malformed msgpack-numpy scalar: a %.40S "
                             "needs %zu bytes, b\"data\" has %u", (PyObject *)dt, item,
                             data->len);
                return -1;
            }
            *out = PyArray_Scalar((void *)(uintptr_t)data->p, dt, NULL);
            Py_DECREF(dt);
            return *out ? 0 : -1;
        }
        npy_intp dims[NPY_MAXDIMS];
        Py_ssize_t ndim = PySequence_Check(shape) ? PySequence_Size(shape) : -1;
        size_t need = item;
        int ok = ndim >= 0 && ndim <= NPY_MAXDIMS;
        for (Py_ssize_t i = 0; ok && i < ndim; i++) {
            PyObject *v = PySequence_GetItem(shape, i);
            long long x = v && PyLong_Check(v) ? PyLong_AsLongLong(v) : -1;
            Py_XDECREF(v);
            ok = x >= 0 && !__builtin_mul_overflow(need, (size_t)x, &need);
            dims[i] = (npy_intp)x;
        }
        PyErr_Clear();
        if (!ok) {
            Py_DECREF(dt);
            PyErr_Format(PyExc_ValueError, "malformed msgpack-numpy map: b\"shape\" %.60R is "
                         "not a list of at most %d sizes whose product fits in memory",
                         shape, NPY_MAXDIMS);
            return -1;
        }
        if (need != data->len) {
            PyErr_Format(PyExc_ValueError, "malformed msgpack-numpy array: shape %.60R of "
                         "%.40S needs %zu bytes, b\"data\" has %u", shape, (PyObject *)dt,
                         need, data->len);
            Py_DECREF(dt);
            return -1;
        }
        *out = mnp_array(c, dt, (int)ndim, dims, data->p, need);
        return *out ? 0 : -1;
    }
    if (!nd) {
        PyObject *cx = s_dict_get(d, "complex");
        PyObject *text = cx ? s_dict_get(d, "data") : NULL;
        if (PyErr_Occurred())
            return -1;
        if (text && (PyUnicode_Check(text) || PyBytes_Check(text) ||
                     (data->p && text == Py_None))) {
            PyObject *s = PyUnicode_Check(text) ? Py_NewRef(text)
                          : PyBytes_Check(text)
                              ? PyUnicode_FromEncodedObject(text, "utf-8", NULL)
                              : PyUnicode_DecodeUTF8(data->p, (Py_ssize_t)data->len, NULL);
            *out = s ? PyObject_CallOneArg((PyObject *)&PyComplex_Type, s) : NULL;
            Py_XDECREF(s);
            return *out ? 0 : -1;
        }
    }
    if (data->p) { /* a plain map after all: its b"data" bin as bytes */
        PyObject *k = PyBytes_FromString("data");
        PyObject *v = k ? PyBytes_FromStringAndSize(data->p, data->len) : NULL;
        int rc = v ? PyDict_SetItem(d, k, v) : -1;
        Py_XDECREF(k);
        Py_XDECREF(v);
        return rc;
    }
    return 0;
}
#pragma GCC diagnostic pop

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
    const int mnp = c->o->ndarray_mode == ZPY_NDARRAY_MSGPACK_NUMPY;
    mnp_data_t data = {NULL, 0};
    for (uint32_t i = 0; i < n; i++) {
        PyObject *k = unpack_obj(c, depth + 1, 1);
        if (!k)
            goto fail;
        PyObject *v = UNLIKELY(mnp) && s_is_key(k, "data", 4)
                          ? mnp_data_value(c, depth, &data)
                          : unpack_obj(c, depth + 1, 0);
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
    if (UNLIKELY(mnp)) {
        PyObject *r = NULL;
        if (from_msgpack_numpy(c, d, &data, &r) < 0)
            goto fail;
        if (r) {
            Py_DECREF(d);
            return r;
        }
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

PyObject *zpy_read_error(uctx_t *c, int rc)
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
        return zpy_read_error(c, rc);
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
            return zpy_read_error(c, rc);
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
        if (read_bin_body(c, t.v.len, &p) < 0)
            return NULL;
        return PyBytes_FromStringAndSize(p, t.v.len);
    case ZPK_TYPE_EXT:
        rc = zpk_read_bytes_inplace(&c->r, t.v.len, &p);
        if (UNLIKELY(rc != 0))
            return zpy_read_error(c, rc);
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
PyObject *zpy_unpack(uctx_t *c)
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

void zpy_uopts_clear(uopts_t *o)
{
    Py_CLEAR(o->object_hook);
    Py_CLEAR(o->object_pairs_hook);
    Py_CLEAR(o->list_hook);
    Py_CLEAR(o->ext_hook);
    Py_CLEAR(o->unicode_errors_obj);
}

int zpy_uopts_parse(uopts_t *o, PyObject *object_hook, PyObject *list_hook, int use_list,
                    int raw, int timestamp, int strict_map_key, PyObject *unicode_errors,
                    PyObject *object_pairs_hook, PyObject *ext_hook, Py_ssize_t max_str_len,
                    Py_ssize_t max_bin_len, Py_ssize_t max_array_len, Py_ssize_t max_map_len,
                    Py_ssize_t max_ext_len, int keep_types, PyObject *ndarray, Py_ssize_t base)
{
    memset(o, 0, sizeof(*o));
    if (zpy_ndarray_mode(ndarray, &o->ndarray_mode) < 0)
        return -1;
    if (o->ndarray_mode == ZPY_NDARRAY_MSGPACK_NUMPY) {
        if (object_pairs_hook != Py_None) {
            PyErr_SetString(PyExc_TypeError, "ndarray='msgpack-numpy' decodes maps as "
                            "msgpack-numpy's object_hook does: it cannot take object_pairs_hook");
            return -1;
        }
        if (zpy_import_numpy() < 0)
            return -1;
    }
    if (object_hook != Py_None && object_pairs_hook != Py_None) {
        PyErr_SetString(PyExc_TypeError,
                        "object_pairs_hook and object_hook are mutually exclusive.");
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
    zpy_uopts_clear(o);
    return -1;
}

int zpy_uopts_from_kwargs(uopts_t *o, PyObject *kwargs, Py_ssize_t base)
{
    static char *kwlist[] = {"object_hook", "list_hook", "use_list", "raw", "timestamp",
                             "strict_map_key", "unicode_errors", "object_pairs_hook",
                             "ext_hook", "max_str_len", "max_bin_len", "max_array_len",
                             "max_map_len", "max_ext_len", "keep_types", "ndarray", NULL};
    PyObject *object_hook = Py_None, *list_hook = Py_None, *unicode_errors = Py_None,
             *object_pairs_hook = Py_None, *ext_hook = Py_None, *ndarray = Py_None;
    int use_list = 1, raw = 0, timestamp = 0, strict_map_key = 1, keep_types = 0;
    Py_ssize_t msl = -1, mbl = -1, mal = -1, mml = -1, mel = -1;
    if (kwargs == NULL || PyDict_GET_SIZE(kwargs) == 0) /* every received message: no parsing */
        return zpy_uopts_parse(o, object_hook, list_hook, use_list, raw, timestamp,
                               strict_map_key, unicode_errors, object_pairs_hook, ext_hook, msl,
                               mbl, mal, mml, mel, keep_types, ndarray, base);
    PyObject *empty = PyTuple_New(0);
    int ok = empty && PyArg_ParseTupleAndKeywords(
                          empty, kwargs, "|$OOppipOOOnnnnnpO", kwlist, &object_hook,
                          &list_hook, &use_list, &raw, &timestamp, &strict_map_key,
                          &unicode_errors, &object_pairs_hook, &ext_hook, &msl, &mbl, &mal,
                          &mml, &mel, &keep_types, &ndarray);
    Py_XDECREF(empty);
    if (!ok)
        return -1;
    return zpy_uopts_parse(o, object_hook, list_hook, use_list, raw, timestamp, strict_map_key,
                           unicode_errors, object_pairs_hook, ext_hook, msl, mbl, mal, mml, mel,
                           keep_types, ndarray, base);
}

PyObject *zpy_unpackb_buffer(const void *data, size_t n, const uopts_t *o, PyObject *src)
{
    uctx_t c;
    zpy_uctx_init(&c, data, n, o);
    c.src = src;
    PyObject *r = zpy_unpack(&c);
    size_t used = zpk_reader_offset(&c.r);
    if (r && used < n) {
        PyObject *extra = PyBytes_FromStringAndSize((const char *)data + used,
                                                    (Py_ssize_t)(n - used));
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
    return r;
}

/* unpackb(packed, **options): `packed` by position or by name, as msgpack-python. */
static PyObject *core_unpackb(PyObject *Py_UNUSED(mod), PyObject *args, PyObject *kwds)
{
    PyObject *packed = PyTuple_GET_SIZE(args) == 1 ? PyTuple_GET_ITEM(args, 0) : NULL;
    PyObject *kw = kwds;
    if (!packed && PyTuple_GET_SIZE(args) == 0 && kwds &&
        (packed = PyDict_GetItemString(kwds, "packed")) != NULL) {
        kw = PyDict_Copy(kwds);
        if (!kw || PyDict_DelItemString(kw, "packed") < 0) {
            Py_XDECREF(kw);
            return NULL;
        }
    } else {
        Py_XINCREF(kw);
    }
    PyObject *r = NULL;
    Py_buffer view;
    if (!packed) {
        PyErr_Format(PyExc_TypeError, "unpackb() takes exactly one positional argument "
                     "(%zd given)", PyTuple_GET_SIZE(args));
    } else if (PyObject_GetBuffer(packed, &view, PyBUF_SIMPLE) == 0) {
        uopts_t o;
        if (zpy_uopts_from_kwargs(&o, kw, view.len) == 0) {
            /* msgpack-numpy arrays alias the input */
            r = zpy_unpackb_buffer(view.buf, (size_t)view.len, &o, packed);
            zpy_uopts_clear(&o);
        }
        PyBuffer_Release(&view);
    }
    Py_XDECREF(kw);
    return r;
}

static PyMethodDef unpack_methods[] = {
    {"unpackb", (PyCFunction)(void (*)(void))core_unpackb, METH_VARARGS | METH_KEYWORDS,
     "unpackb(packed, **kwargs): unpack one object; ExtraData when bytes remain."},
    {NULL, NULL, 0, NULL},
};

int zpy_unpack_init(PyObject *m)
{
    PyDateTime_IMPORT;
    if (!PyDateTimeAPI)
        return -1;
    g_open_limits.max_buffer_size = SIZE_MAX;
    g_open_limits.max_str_len = SIZE_MAX;
    g_open_limits.max_bin_len = SIZE_MAX;
    g_open_limits.max_array_len = SIZE_MAX;
    g_open_limits.max_map_len = SIZE_MAX;
    g_open_limits.max_ext_len = SIZE_MAX;
    g_open_limits.max_depth = SIZE_MAX;
    return PyModule_AddFunctions(m, unpack_methods);
}

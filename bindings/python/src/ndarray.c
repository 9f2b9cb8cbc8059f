/*
 * zmqpack._core, numpy arrays: ArrayBuf (the memory of a received array,
 * which ndarrays alias) and the conversions between numpy arrays and the
 * library's zpk_ndarray_t.
 */
#define ZPY_NUMPY_OWNER /* this file holds numpy's C API table */
#include "core.h"

int g_numpy_ready;

/* ---- ArrayBuf: a received array, owning its message memory ----------------------- */

typedef struct {
    PyObject_HEAD
    zpk_ndarray_t a;
    int readonly; /* the memory is a read-only buffer's (a bytes frame given to deserialize) */
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
    return PyBuffer_FillInfo(view, (PyObject *)self, p, (Py_ssize_t)self->a.nbytes,
                             self->readonly, flags);
}

static PyBufferProcs ArrayBuf_as_buffer = {(getbufferproc)ArrayBuf_getbuffer, NULL};

static PyTypeObject ArrayBufType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "zmqpack._core.ArrayBuf",
    .tp_basicsize = sizeof(ArrayBufObject),
    .tp_dealloc = (destructor)ArrayBuf_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The memory of a received array; freed with the last view.",
    .tp_as_buffer = &ArrayBuf_as_buffer,
};

PyObject *zpy_wrap_array(zpk_ndarray_t *a, int readonly)
{
    ArrayBufObject *o = PyObject_New(ArrayBufObject, &ArrayBufType);
    if (!o) {
        zpk_ndarray_free(a);
        return NULL;
    }
    o->a = *a;
    o->readonly = readonly;
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

/* Writable, C or F as received; the base @p ab keeps the message alive as
 * long as any view of it. */
PyObject *zpy_ndarray(PyObject *ab)
{
    ArrayBufObject *o = (ArrayBufObject *)ab;
    return zpy_ndarray_over(&o->a, !o->readonly, ab);
}

PyObject *zpy_ndarray_over(const zpk_ndarray_t *a, int writable, PyObject *base)
{
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
    int flags = (writable ? NPY_ARRAY_WRITEABLE : 0) |
                (a->order == ZPK_ORDER_F ? NPY_ARRAY_F_CONTIGUOUS : NPY_ARRAY_C_CONTIGUOUS);
    if (a->nbytes == 0 || a->data == NULL) /* nothing to alias */
        return PyArray_NewFromDescr(&PyArray_Type, d, a->ndim, dims, NULL, NULL,
                                    a->order == ZPK_ORDER_F, NULL);
    PyObject *arr = PyArray_NewFromDescr(&PyArray_Type, d, a->ndim, dims, NULL, a->data,
                                         flags, NULL);
    if (!arr)
        return NULL;
    Py_INCREF(base);
    if (PyArray_SetBaseObject((PyArrayObject *)arr, base) < 0) {
        Py_DECREF(arr);
        return NULL;
    }
    return arr;
}

int zpy_import_numpy(void)
{
    if (!g_numpy_ready) {
        if (_import_array() < 0)
            return -1;
        g_numpy_ready = 1;
        if (!g_ndarray_type)
            g_ndarray_type = Py_NewRef((PyObject *)&PyArray_Type);
    }
    return 0;
}
#pragma GCC diagnostic pop


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

int zpy_array_from_view(zpk_ndarray_t *a, Py_buffer *view, PyObject *typestr, PyObject *arr)
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
        zpy_raise(rc, &err);
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

int zpy_ndarray_init(PyObject *m)
{
    if (PyType_Ready(&ArrayBufType) < 0)
        return -1;
    Py_INCREF(&ArrayBufType);
    if (PyModule_AddObject(m, "ArrayBuf", (PyObject *)&ArrayBufType) < 0) {
        Py_DECREF(&ArrayBufType);
        return -1;
    }
    return 0;
}

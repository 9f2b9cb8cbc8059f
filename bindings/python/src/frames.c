/*
 * zmqpack._core, frames: serialize() and deserialize(), a message as a list
 * of frames with no socket in between (zmqpack/message.h's zpk_encode_*()
 * and zpk_decode_*()). They are what the socket helpers use where pyzmq's
 * libzmq is not the one this module links, and what pyzmq's
 * send_serialized()/recv_serialized() call.
 *
 * Out: small frames (headers, small payloads) become bytes; larger ones are
 * memoryviews of a Frame that owns the library's frame (its free function
 * runs when the last view goes), so ndarrays and compressed payloads are not
 * copied. In: every frame is borrowed through the buffer protocol for as
 * long as anything decoded from it lives (a received ndarray aliases its
 * frame, read-only when the frame's buffer is).
 */
#include "core.h"

/* ---- Frame: one frame of an encoded message, owned ----------------------------- */

typedef struct {
    PyObject_HEAD
    zpk_frame_t f;
} FrameObject;

static void Frame_dealloc(FrameObject *self)
{
    if (self->f.free_fn)
        self->f.free_fn(self->f.data, self->f.hint);
    Py_TYPE(self)->tp_free((PyObject *)self);
    zpy_drain();
}

static int Frame_getbuffer(FrameObject *self, Py_buffer *view, int flags)
{
    return PyBuffer_FillInfo(view, (PyObject *)self, self->f.data, (Py_ssize_t)self->f.size, 1,
                             flags);
}

static PyBufferProcs Frame_as_buffer = {(getbufferproc)Frame_getbuffer, NULL};

static PyTypeObject FrameType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "zmqpack._core.Frame",
    .tp_basicsize = sizeof(FrameObject),
    .tp_dealloc = (destructor)Frame_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "One frame of a serialized message (read-only buffer); what it holds is "
              "released with the last view.",
    .tp_as_buffer = &Frame_as_buffer,
};

/* The frames of @p f as Python objects: bytes below @p copy_below (and for
 * the frames @p f only lends), memoryviews of a Frame that takes the frame
 * over otherwise. */
static PyObject *s_frames_list(zpk_frames_t *f, size_t copy_below)
{
    PyObject *l = PyList_New((Py_ssize_t)f->n);
    for (size_t i = 0; l && i < f->n; i++) {
        zpk_frame_t *fr = &f->frames[i];
        PyObject *o;
        if (!fr->free_fn || fr->size < copy_below) {
            o = PyBytes_FromStringAndSize(fr->data, (Py_ssize_t)fr->size);
        } else {
            FrameObject *fo = PyObject_New(FrameObject, &FrameType);
            if (fo) {
                fo->f = *fr;
                fr->free_fn = NULL; /* taken over: zpk_frames_free() leaves it */
            }
            o = fo ? PyMemoryView_FromObject((PyObject *)fo) : NULL;
            Py_XDECREF(fo);
        }
        if (!o)
            Py_CLEAR(l);
        else
            PyList_SET_ITEM(l, (Py_ssize_t)i, o);
    }
    return l;
}

/* _serialize(value, kind, codec, envelope, flags, mode, packer options or None
 *            [, recipe_meta: JSON object text or None]) -> list of frames */
static PyObject *core_serialize(PyObject *Py_UNUSED(mod), PyObject *args)
{
    PyObject *value, *codec, *envelope, *kw;
    const char *meta = NULL;
    int kind, flags, mode;
    if (!PyArg_ParseTuple(args, "OiOOiiO|z:_serialize", &value, &kind, &codec, &envelope, &flags,
                          &mode, &kw, &meta))
        return NULL;
    zpy_out_t m;
    if (zpy_out_init(&m, value, kind, codec, envelope, flags, mode, 0,
                     kw == Py_None ? NULL : kw) < 0)
        return NULL;
    m.o.recipe_meta = meta; /* args holds the str alive for the call */
    zpk_frames_t f;
    zpk_error_t err;
    int rc = kind == ZPY_KIND_NDARRAY ? zpk_encode_ndarray(&m.za[0], &m.o, &f, &err)
             : m.narr ? zpk_encode_mixed(&m.pk->b, m.za, m.narr, &m.o, &f, &err)
                      : zpk_encode_packed(&m.pk->b, &m.o, &f, &err);
    PyObject *l = NULL;
    if (rc == 0) {
        size_t copy_below = mode == ZPY_COPY_ALWAYS  ? SIZE_MAX
                            : mode == ZPY_COPY_NEVER ? 1
                                                     : ZPK_DEFAULT_COPY_BELOW;
        l = s_frames_list(&f, copy_below);
        zpk_frames_free(&f);
    }
    PyObject *r = zpy_out_finish(&m, rc, &err);
    if (!r) {
        Py_XDECREF(l);
        return NULL;
    }
    Py_DECREF(r);
    return l;
}

/* ---- in: Python frames lent to the decoder ------------------------------------- */

typedef struct {
    Py_buffer view; /* released by s_in_release(), when the library lets go */
} in_frame_t;

static void s_in_release(void *data, void *hint)
{
    (void)data;
    in_frame_t *f = hint;
    PyBuffer_Release(&f->view); /* the library lets go under the GIL: see zpy_in_* */
    PyMem_RawFree(f);
}

typedef struct {
    zpk_frame_t *frames;
    size_t n;
} in_frames_t;

/* The frames of @p seq (bytes, memoryview, zmq.Frame: any buffer) for a
 * decode call, each released by the library. */
static int s_in_frames(in_frames_t *in, PyObject *seq)
{
    in->frames = NULL;
    in->n = 0;
    PyObject *fast = PySequence_Fast(seq, "frames must be a list of bytes-like frames");
    if (!fast)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    in->frames = PyMem_Calloc(n ? (size_t)n : 1, sizeof(zpk_frame_t));
    int rc = in->frames ? 0 : -1;
    if (rc < 0)
        PyErr_NoMemory();
    for (Py_ssize_t i = 0; rc == 0 && i < n; i++) {
        PyObject *o = PySequence_Fast_GET_ITEM(fast, i);
        in_frame_t *f = PyMem_RawMalloc(sizeof *f);
        if (!f) {
            PyErr_NoMemory();
            rc = -1;
        } else if (PyUnicode_Check(o) ||
                   (PyObject_GetBuffer(o, &f->view, PyBUF_WRITABLE) < 0 &&
                    (PyErr_Clear(), PyObject_GetBuffer(o, &f->view, PyBUF_SIMPLE) < 0))) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "frames must be bytes-like (bytes, memoryview, "
                         "zmq.Frame), not %.100s", Py_TYPE(o)->tp_name);
            PyMem_RawFree(f);
            rc = -1;
        } else {
            in->frames[i] = (zpk_frame_t){f->view.buf, (size_t)f->view.len, s_in_release, f};
            in->n = (size_t)i + 1;
        }
    }
    Py_DECREF(fast);
    if (rc < 0) {
        for (size_t i = 0; i < in->n; i++)
            s_in_release(in->frames[i].data, in->frames[i].hint);
        PyMem_Free(in->frames);
        in->frames = NULL;
    }
    return rc;
}

/* True when @p data lies in a frame whose buffer is read-only. */
static int s_in_readonly(const void *data, void *ud)
{
    const in_frames_t *in = ud;
    for (size_t i = 0; i < in->n; i++) {
        const in_frame_t *f = in->frames[i].hint;
        const char *p = f->view.buf;
        if (f->view.readonly && (const char *)data >= p && (const char *)data < p + f->view.len)
            return 1;
    }
    return 0;
}

/*
 * _deserialize(frames, kind, unpack options or None[, want_meta]) -> (envelope, value),
 * or (envelope, value, recipe_meta text) with want_meta:
 * the decode that recv_packed()/recv_array() run on frames from
 * recv_multipart(), and deserialize() on any (kind ZPY_KIND_ANY: a packed or
 * mixed message, else an ndarray message).
 */
static PyObject *core_deserialize(PyObject *Py_UNUSED(mod), PyObject *args)
{
    PyObject *seq, *kw;
    int kind, want_meta = 0;
    if (!PyArg_ParseTuple(args, "OiO|p:_deserialize", &seq, &kind, &kw, &want_meta))
        return NULL;
    if (kw == Py_None)
        kw = NULL;
    zpy_drain();
    /* The frames' Py_buffers are kept by the library: the readonly check
     * below reads them while it still holds them (they are released only
     * when what was decoded is freed). */
    in_frames_t in;
    if (s_in_frames(&in, seq) < 0)
        return NULL;
    zpk_recv_opts_t o;
    zpk_recv_opts_init(&o);
    zpk_envelope_t env;
    zpk_error_t err;
    PyObject *value = NULL, *envl = NULL;
    char *meta = NULL;
    int rc = ZPK_ETYPE;
    if (kind != ZPY_KIND_NDARRAY) {
        zpk_mixed_t m;
        o.flags = ZPK_RECV_BYTES;
        rc = zpk_decode_mixed(in.frames, in.n, &o, &env, &m, &err);
        if (rc == 0) {
            envl = zpy_in_envelope(&env);
            value = envl ? zpy_in_mixed(&m, kw, s_in_readonly, &in) : NULL;
            if (!envl)
                zpk_mixed_free(&m);
        }
        if (rc == ZPK_ETYPE && kind == ZPY_KIND_ANY) { /* an ndarray message: once more */
            PyMem_Free(in.frames);
            if (s_in_frames(&in, seq) < 0)
                return NULL;
        }
    }
    if (rc == ZPK_ETYPE && kind != ZPY_KIND_PACKED) {
        zpk_ndarray_t a;
        o.flags = 0;
        if (want_meta)
            o.recipe_meta = &meta;
        rc = zpk_decode_ndarray(in.frames, in.n, &o, &env, &a, &err);
        if (rc == 0) {
            envl = zpy_in_envelope(&env);
            int ro = a.data && s_in_readonly(a.data, &in);
            value = envl ? zpy_in_ndarray(&a, ro) : NULL;
            if (!envl)
                zpk_ndarray_free(&a);
        }
    }
    PyMem_Free(in.frames);
    if (rc != 0)
        return zpy_raise(rc, &err);
    return zpy_recv_result(envl, value, meta);
}

/* _karabo_deserialize(frames) -> (data, metadata): a Karabo train from
 * frames of any kind (zmqpack.karabo.deserialize()). */
static PyObject *core_karabo_deserialize(PyObject *Py_UNUSED(mod), PyObject *seq)
{
    in_frames_t in;
    if (s_in_frames(&in, seq) < 0)
        return NULL;
    zpk_recv_opts_t o;
    zpk_recv_opts_init(&o);
    o.flags = ZPK_RECV_BYTES;
    zpk_karabo_train_t t;
    zpk_error_t err;
    int rc = zpk_karabo_decode(in.frames, in.n, &o, &t, &err);
    PyMem_Free(in.frames);
    return rc == 0 ? zpy_in_karabo(&t) : zpy_karabo_error(rc, &err);
}

/* is_header(frame) -> bool: zpk_is_header(), the frame starts like a zmqpack header. */
static PyObject *core_is_header(PyObject *Py_UNUSED(mod), PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    int r = zpk_is_header(view.buf, (size_t)view.len);
    PyBuffer_Release(&view);
    return PyBool_FromLong(r);
}

static PyMethodDef frames_methods[] = {
    {"is_header", core_is_header, METH_O,
     "is_header(frame) -> bool: the frame starts like a zmqpack header (zpk_is_header())."},
    {"_serialize", core_serialize, METH_VARARGS, NULL},
    {"_deserialize", core_deserialize, METH_VARARGS, NULL},
    {"_karabo_deserialize", core_karabo_deserialize, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

int zpy_frames_init(PyObject *m)
{
    if (PyType_Ready(&FrameType) < 0)
        return -1;
    return PyModule_AddFunctions(m, frames_methods);
}

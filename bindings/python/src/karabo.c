/*
 * zmqpack._core, Karabo bridge trains -> Python: what zmqpack.karabo's
 * deserialize() and Client return, from a train the library decoded and
 * checked (zpk_karabo_decode() / zpk_karabo_recv() with ZPK_RECV_BYTES, so
 * the payloads are parsed once, here, straight into Python objects).
 *
 * A Train object owns the library's train (and through it the frames); every
 * ndarray of the train is a read-only view whose base is that object, so
 * the frames live as long as any array of the train.
 */
#include "core.h"

typedef struct {
    PyObject_HEAD
    zpk_karabo_train_t t;
} TrainObject;

static void Train_dealloc(TrainObject *self)
{
    zpk_karabo_train_free(&self->t);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Protocol 1.0's one frame, which its msgpack-numpy arrays alias. */
static int Train_getbuffer(TrainObject *self, Py_buffer *view, int flags)
{
    const zpk_frame_t *f = self->t.n_frames ? &self->t.frames[0] : NULL;
    static char empty[1];
    return PyBuffer_FillInfo(view, (PyObject *)self, f ? f->data : empty,
                             f ? (Py_ssize_t)f->size : 0, 1, flags);
}

static PyBufferProcs Train_as_buffer = {(getbufferproc)Train_getbuffer, NULL};

static PyTypeObject TrainType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "zmqpack._core.KaraboTrain",
    .tp_basicsize = sizeof(TrainObject),
    .tp_dealloc = (destructor)Train_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The frames of a received Karabo train; freed with its last array.",
    .tp_as_buffer = &Train_as_buffer,
};

static PyObject *g_str_metadata, *g_str_msgpack_numpy;

/* Raises WireError @p code for frame @p frame: "frame N: text". */
static PyObject *s_fail(int code, size_t frame, const char *text)
{
    PyObject *exc = PyObject_CallFunction(g_WireError, "isN", code, zpk_err_name(code),
                                          PyUnicode_FromFormat("frame %zu: %s", frame, text));
    if (exc) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
    return NULL;
}

PyObject *zpy_karabo_error(int rc, const zpk_error_t *err)
{
    if (rc == ZPK_ENOMEM || rc > -4000 || err->frame < 0)
        return zpy_raise(rc, err);
    return s_fail(rc, (size_t)err->frame, err->text);
}

/*
 * The Python value of MessagePack frame @p i of @p owner's train, which
 * must be a map (@p what names it), decoded with @p o (arrays may alias
 * @p owner's buffer). The library left the 2.2 payloads unparsed
 * (ZPK_RECV_BYTES): when this decoder refuses a frame, the library's parse
 * names the fault as zpk_karabo_decode() would have; what only Python
 * refuses (strict_map_key...) is EFORMAT with Python's text.
 */
static PyObject *s_map(TrainObject *owner, size_t i, const uopts_t *o, const char *what)
{
    const zpk_frame_t *f = &owner->t.frames[i];
    PyObject *v = zpy_unpackb_buffer(f->data, f->size, o, (PyObject *)owner);
    if (v && PyDict_CheckExact(v))
        return v;
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    zpk_doc_t *doc = NULL;
    zpk_error_t err;
    int rc = zpk_doc_parse(f->data, f->size, NULL, ZPK_DOC_BORROW, &doc, &err);
    char text[ZPK_ERROR_TEXT_SIZE];
    if (rc != 0) {
        snprintf(text, sizeof text, "%s", err.text);
    } else if (zpk_node_type(zpk_doc_root(doc)) != ZPK_TYPE_MAP) {
        rc = ZPK_EFORMAT;
        snprintf(text, sizeof text, "Karabo: the %s is not a map but a MessagePack %s", what,
                 zpk_type_name(zpk_node_type(zpk_doc_root(doc))));
    } else { /* a map the library reads and Python refuses */
        PyObject *str = value ? PyObject_Str(value) : NULL;
        const char *u = str ? PyUnicode_AsUTF8(str) : NULL;
        rc = ZPK_EFORMAT;
        snprintf(text, sizeof text, "Karabo: the %s: %s", what, u ? u : "refused");
        Py_XDECREF(str);
        PyErr_Clear();
    }
    zpk_doc_destroy(&doc);
    Py_XDECREF(v);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    return s_fail(rc, i, text);
}

/* A map frame of @p owner decoded with unpackb()'s defaults. */
static PyObject *s_plain_map(TrainObject *owner, size_t i, const char *what)
{
    uopts_t o;
    if (zpy_uopts_from_kwargs(&o, NULL, (Py_ssize_t)owner->t.frames[i].size) < 0)
        return NULL;
    PyObject *v = s_map(owner, i, &o, what);
    zpy_uopts_clear(&o);
    return v;
}

/* A source name or array path (checked to be a str by the library, not
 * its UTF-8) as a Python str; EFORMAT naming frame @p frame otherwise. */
static PyObject *s_text(const char *p, size_t n, size_t frame)
{
    PyObject *t = PyUnicode_DecodeUTF8(p, (Py_ssize_t)n, NULL);
    if (!t && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
        PyErr_Clear();
        s_fail(ZPK_EFORMAT, frame, "Karabo: a source name or array path is not UTF-8");
    }
    return t;
}

/* Source @p s of a 2.2 train @p owner holds: its values (its arrays put back
 * under their keys) into @p data and its metadata into @p meta. */
static int s_source_2_2(TrainObject *owner, const zpk_karabo_source_t *s, PyObject *name,
                        PyObject *data, PyObject *meta)
{
    PyObject *h = s_plain_map(owner, s->frame, "header");
    if (!h)
        return -1;
    PyObject *m = PyDict_GetItemWithError(h, g_str_metadata);
    m = m ? Py_NewRef(m) : PyErr_Occurred() ? NULL : PyDict_New();
    Py_DECREF(h);
    PyObject *values = m ? s_plain_map(owner, s->frame + 1, "payload") : NULL;
    int rc = values && PyDict_SetItem(meta, name, m) == 0 ? 0 : -1;
    for (size_t k = 0; rc == 0 && k < s->n_ndarrays; k++) {
        const zpk_karabo_ndarray_t *ka = &s->ndarrays[k];
        PyObject *path = s_text(ka->path, ka->path_len, s->frame + 2 + 2 * k);
        PyObject *a = path ? zpy_ndarray_over(&ka->ndarray, 0, (PyObject *)owner) : NULL;
        if (a) /* an empty array is numpy's own memory: read-only all the same */
            PyArray_CLEARFLAGS((PyArrayObject *)a, NPY_ARRAY_WRITEABLE);
        rc = a && PyDict_SetItem(values, path, a) == 0 ? 0 : -1;
        Py_XDECREF(path);
        Py_XDECREF(a);
    }
    if (rc == 0)
        rc = PyDict_SetItem(data, name, values);
    Py_XDECREF(m);
    Py_XDECREF(values);
    return rc;
}

/* Protocol 1.0: the one frame as unpackb(ndarray="msgpack-numpy") reads it
 * (arrays aliasing the frame), metadata the sources' "metadata" maps. */
static int s_train_1_0(TrainObject *owner, PyObject **data, PyObject *meta)
{
    uopts_t o;
    if (zpy_uopts_parse(&o, Py_None, Py_None, 1, 0, 0, 1, Py_None, Py_None, Py_None, -1, -1, -1,
                        -1, -1, 0, g_str_msgpack_numpy, (Py_ssize_t)owner->t.frames[0].size) < 0)
        return -1;
    *data = s_map(owner, 0, &o, "message");
    zpy_uopts_clear(&o);
    if (!*data)
        return -1;
    Py_ssize_t pos = 0;
    PyObject *name, *values;
    while (PyDict_Next(*data, &pos, &name, &values)) {
        if (!PyDict_CheckExact(values)) { /* a source that is itself a msgpack-numpy map */
            s_fail(ZPK_EFORMAT, 0, "Karabo 1.0: a source is an array, not a map");
            return -1;
        }
        PyObject *m = PyDict_GetItemWithError(values, g_str_metadata);
        m = m ? Py_NewRef(m) : PyErr_Occurred() ? NULL : PyDict_New();
        if (!m || PyDict_SetItem(meta, name, m) < 0) {
            Py_XDECREF(m);
            return -1;
        }
        Py_DECREF(m);
    }
    return 0;
}

PyObject *zpy_in_karabo(zpk_karabo_train_t *t)
{
    if (zpy_import_numpy() < 0) {
        zpk_karabo_train_free(t);
        return NULL;
    }
    TrainObject *owner = PyObject_New(TrainObject, &TrainType);
    if (!owner) {
        zpk_karabo_train_free(t);
        return NULL;
    }
    owner->t = *t;
    memset(t, 0, sizeof *t);
    PyObject *data = NULL, *meta = PyDict_New();
    int rc = meta ? 0 : -1;
    if (rc == 0 && owner->t.protocol == ZPK_KARABO_PROTOCOL_1_0) {
        rc = s_train_1_0(owner, &data, meta);
    } else if (rc == 0) {
        data = PyDict_New();
        rc = data ? 0 : -1;
        for (size_t i = 0; rc == 0 && i < owner->t.n_sources; i++) {
            const zpk_karabo_source_t *s = &owner->t.sources[i];
            PyObject *name = s_text(s->name, s->name_len, s->frame);
            rc = name ? s_source_2_2(owner, s, name, data, meta) : -1;
            Py_XDECREF(name);
        }
    }
    Py_DECREF(owner);
    PyObject *r = rc == 0 ? PyTuple_Pack(2, data, meta) : NULL;
    Py_XDECREF(data);
    Py_XDECREF(meta);
    return r;
}

int zpy_karabo_init(PyObject *m)
{
    (void)m;
    g_str_metadata = PyUnicode_InternFromString("metadata");
    g_str_msgpack_numpy = PyUnicode_InternFromString("msgpack-numpy");
    if (!g_str_metadata || !g_str_msgpack_numpy)
        return -1;
    return PyType_Ready(&TrainType);
}

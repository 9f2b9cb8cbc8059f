/*
 * zmqpack._core, messages: what both routes of a message share.
 *
 * A message leaves Python through one of two routes: the C socket calls on
 * pyzmq's libzmq socket (sockets.c), or serialize() into frames that pyzmq
 * sends itself (frames.c). Both start here, with zpy_out_init() turning the
 * Python arguments into the library's send options, writer and ndarrays,
 * and end with zpy_out_finish(). A message arriving by either route is
 * decoded by the library (zpk_recv_* or zpk_decode_*) and turned into
 * Python here: zpy_in_mixed(), zpy_in_ndarray(), zpy_in_envelope().
 *
 * Zero-copy: the ndarrays' buffers are given to the library (ZPK_OWN_GIVE)
 * and their Py_buffers kept in a hold. The library calls s_hold_free() once
 * per ndarray, from any thread (libzmq's I/O thread, or whoever releases
 * the last frame): that only flips atomics and queues the hold; the
 * Py_buffers are released under the GIL by zpy_drain() (at every message
 * call, Tracker.done, Tracker.wait() and zmqpack._core.collect()).
 */
#include "core.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <zmq.h> /* ETERM, which a send that was cut short returns */

/* ---- holds ------------------------------------------------------------------- */

struct zpy_hold {
    struct zpy_hold *next;
    atomic_int remaining; /* free_fn calls still expected */
    atomic_int done;
    atomic_int refs;      /* the library side + one per Tracker */
    Py_ssize_t nviews;
    Py_buffer views[];
};

static pthread_mutex_t g_pending_mu = PTHREAD_MUTEX_INITIALIZER;
static zpy_hold_t *g_pending;

static void s_hold_unref(zpy_hold_t *h)
{
    if (atomic_fetch_sub(&h->refs, 1) == 1)
        PyMem_RawFree(h);
}

static void s_hold_free(void *data, void *hint)
{
    (void)data;
    zpy_hold_t *h = hint;
    if (atomic_fetch_sub(&h->remaining, 1) != 1)
        return;
    /* Once queued, a zpy_drain() in another thread may drop the library's
     * reference at any moment: this call holds its own until it is done
     * with @p h (the store of done below once wrote into freed memory). */
    atomic_fetch_add(&h->refs, 1);
    pthread_mutex_lock(&g_pending_mu);
    h->next = g_pending;
    g_pending = h;
    pthread_mutex_unlock(&g_pending_mu);
    atomic_store(&h->done, 1);
    s_hold_unref(h);
}

static void s_hold_release_views(zpy_hold_t *h)
{
    for (Py_ssize_t i = 0; i < h->nviews; i++)
        PyBuffer_Release(&h->views[i]);
    h->nviews = 0;
}

void zpy_drain(void)
{
    pthread_mutex_lock(&g_pending_mu);
    zpy_hold_t *h = g_pending;
    g_pending = NULL;
    pthread_mutex_unlock(&g_pending_mu);
    while (h) {
        zpy_hold_t *next = h->next;
        s_hold_release_views(h);
        s_hold_unref(h);
        h = next;
    }
}

/* ---- Tracker ------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    zpy_hold_t *h; /* NULL: nothing was borrowed (done) */
} TrackerObject;

static void Tracker_dealloc(TrackerObject *self)
{
    if (self->h)
        s_hold_unref(self->h);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Tracker_get_done(TrackerObject *self, void *Py_UNUSED(c))
{
    zpy_drain();
    return PyBool_FromLong(!self->h || atomic_load(&self->h->done));
}

/* Raises zmq.NotDone, as pyzmq's MessageTracker.wait() does on a timeout. */
static PyObject *s_not_done(void)
{
    PyObject *zmq = PyImport_ImportModule("zmq");
    PyObject *cls = zmq ? PyObject_GetAttrString(zmq, "NotDone") : NULL;
    Py_XDECREF(zmq);
    if (cls) {
        PyErr_SetNone(cls);
        Py_DECREF(cls);
    }
    return NULL;
}

static PyObject *Tracker_wait(TrackerObject *self, PyObject *args)
{
    double timeout = -1;
    if (!PyArg_ParseTuple(args, "|d:wait", &timeout))
        return NULL;
    double waited = 0;
    while (self->h && !atomic_load(&self->h->done)) {
        if (timeout >= 0 && waited >= timeout) {
            zpy_drain();
            return s_not_done();
        }
        Py_BEGIN_ALLOW_THREADS
        struct timespec ts = {0, 1000000}; /* 1 ms */
        nanosleep(&ts, NULL);
        Py_END_ALLOW_THREADS
        waited += 0.001;
        if (PyErr_CheckSignals() < 0)
            return NULL;
    }
    zpy_drain();
    Py_RETURN_NONE;
}

static PyGetSetDef Tracker_getset[] = {
    {"done", (getter)Tracker_get_done, NULL,
     "True once libzmq no longer holds the sent buffers.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef Tracker_methods[] = {
    {"wait", (PyCFunction)Tracker_wait, METH_VARARGS,
     "wait(timeout=-1): wait (seconds; negative: forever) until done; zmq.NotDone when\n"
     "the timeout comes first (pyzmq's MessageTracker.wait())."},
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

/* ---- out: Python arguments -> the library's message ----------------------------- */

/* The packer of outgoing objects: default options unless told otherwise,
 * its buffer reused from message to message. */
static PackerObject *g_msg_packer;
static int g_msg_packer_busy;

static int s_bad_arg(const char *name, const char *want, PyObject *got)
{
    PyErr_Format(PyExc_TypeError, "%s must be %s, not %.100s", name, want,
                 Py_TYPE(got)->tp_name);
    return -1;
}

/* The envelope: a list (or tuple) of bytes-like frames, borrowed. */
static int s_out_envelope(zpy_out_t *m, PyObject *envelope)
{
    if (envelope == Py_None)
        return 0;
    if (!PyList_Check(envelope) && !PyTuple_Check(envelope))
        return s_bad_arg("envelope", "a list of bytes", envelope);
    Py_ssize_t n = PySequence_Fast_GET_SIZE(envelope);
    if (n == 0)
        return 0;
    m->env_views = PyMem_Calloc((size_t)n, sizeof(Py_buffer));
    m->env_frames = PyMem_Calloc((size_t)n, sizeof(zpk_frame_t));
    if (!m->env_views || !m->env_frames) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *f = PySequence_Fast_GET_ITEM(envelope, i);
        if (PyUnicode_Check(f) || PyObject_GetBuffer(f, &m->env_views[i], PyBUF_SIMPLE) < 0) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "envelope frames must be bytes, not %.100s",
                         Py_TYPE(f)->tp_name);
            return -1;
        }
        m->n_env = (size_t)i + 1;
        m->env_frames[i].data = m->env_views[i].buf;
        m->env_frames[i].size = (size_t)m->env_views[i].len;
    }
    m->env.frames = m->env_frames;
    m->env.n = m->n_env;
    m->o.envelope = &m->env;
    return 0;
}

static int s_out_codec(zpy_out_t *m, PyObject *codec)
{
    if (codec == Py_None)
        return 0;
    if (!PyUnicode_Check(codec))
        return s_bad_arg("codec", "a str such as 'zlib:6', 'blosc:lz4:5:shuffle' or 'auto', "
                         "or None", codec);
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(codec, &n);
    if (!s)
        return -1;
    zpk_error_t err;
    int rc = zpk_codec_parse(s, (size_t)n, &m->codec, &err);
    if (rc != 0) {
        PyErr_Format(PyExc_ValueError, "codec: %s",
                     err.text[0] ? err.text : zpk_strerror(rc));
        return -1;
    }
    m->o.codec = &m->codec;
    return 0;
}

/* The ndarrays, each described over its own buffer; zero-copy (a hold)
 * unless @p mode is ZPY_COPY_ALWAYS. */
static int s_out_ndarrays(zpy_out_t *m, PyObject *arrays, int mode, int track)
{
    Py_ssize_t n = PyList_GET_SIZE(arrays);
    if (n == 0)
        return 0;
    m->h = PyMem_RawCalloc(1, sizeof(zpy_hold_t) + (size_t)n * sizeof(Py_buffer));
    m->za = PyMem_RawCalloc((size_t)n, sizeof(zpk_ndarray_t));
    if (!m->h || !m->za) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *a = PyList_GET_ITEM(arrays, i);
        if (PyObject_GetBuffer(a, &m->h->views[i], PyBUF_STRIDED_RO) < 0)
            return -1;
        m->h->nviews = i + 1;
        if (zpy_array_from_view(&m->za[i], &m->h->views[i], NULL, a) < 0)
            return -1;
    }
    m->narr = (size_t)n;
    if (mode != ZPY_COPY_ALWAYS) {
        m->o.own = ZPK_OWN_GIVE;
        m->o.free_fn = s_hold_free;
        m->o.hint = m->h;
        if (mode == ZPY_COPY_NEVER)
            m->o.copy_below = 1;
        atomic_init(&m->h->remaining, (int)n);
        atomic_init(&m->h->refs, 1 + (track ? 1 : 0));
        atomic_init(&m->h->done, 0);
    }
    return 0;
}

static int s_out_fill(zpy_out_t *m, PyObject *value, int kind, PyObject *codec,
                      PyObject *envelope, int mode, int track, PyObject *packer_kw)
{
    if (s_out_codec(m, codec) < 0 || s_out_envelope(m, envelope) < 0)
        return -1;
    PyObject *arrays;
    if (kind == ZPY_KIND_NDARRAY) {
        if (!g_numpy_ready || !PyArray_Check(value))
            return s_bad_arg("the array", "a numpy.ndarray", value);
        arrays = PyList_New(1);
        if (!arrays)
            return -1;
        PyList_SET_ITEM(arrays, 0, Py_NewRef(value));
    } else {
        /* packed or mixed: the object into the message packer's writer,
         * its ndarrays collected (unless packed as msgpack-numpy maps) */
        m->pk_shared = !g_msg_packer_busy;
        m->pk = m->pk_shared ? (PackerObject *)Py_NewRef(g_msg_packer) : zpy_packer_new();
        if (!m->pk)
            return -1;
        if (m->pk_shared)
            g_msg_packer_busy = 1;
        m->pk_configured = packer_kw != NULL;
        if ((packer_kw && zpy_packer_configure(m->pk, packer_kw) < 0) ||
            (!m->pk->ndarrays && !(m->pk->ndarrays = PyList_New(0))))
            return -1;
        zpk_writer_reset(&m->pk->b);
        if (zpy_pack_obj(m->pk, value, PACK_RECURSE_LIMIT) < 0 ||
            zpy_writer_check(&m->pk->b) < 0)
            return -1;
        arrays = Py_NewRef(m->pk->ndarrays);
    }
    int rc = s_out_ndarrays(m, arrays, mode, track);
    Py_DECREF(arrays);
    return rc;
}

int zpy_out_init(zpy_out_t *m, PyObject *value, int kind, PyObject *codec, PyObject *envelope,
                 int flags, int mode, int track, PyObject *packer_kw)
{
    memset(m, 0, sizeof *m);
    zpk_send_opts_init(&m->o);
    m->o.flags = flags;
    m->track = track;
    zpy_drain();
    if (s_out_fill(m, value, kind, codec, envelope, mode, track, packer_kw) < 0) {
        zpy_out_free(m, m->h); /* nothing was given to the library */
        return -1;
    }
    return 0;
}

/* What the library did with the message decides who releases the ndarrays'
 * buffers; then everything borrowed from Python is let go. */
PyObject *zpy_out_finish(zpy_out_t *m, int rc, const zpk_error_t *err)
{
    PyObject *result = NULL;
    zpy_hold_t *h = m->h;
    int given = m->o.own == ZPK_OWN_GIVE;
    if (rc == -EINTR) {
        /* KeyboardInterrupt: nothing was sent, the exception is set */
    } else if (rc != 0) {
        zpy_raise(rc, err);
    } else if (m->track) {
        TrackerObject *t = PyObject_New(TrackerObject, &TrackerType);
        if (t) {
            t->h = given ? h : NULL; /* the ref counted for it; copied: done at once */
            result = (PyObject *)t;
        }
    } else {
        result = Py_NewRef(Py_None);
    }
    if (given && (rc == 0 || rc == -ETERM)) {
        /* the library calls s_hold_free() once per ndarray: the hold lives on */
        if (m->track && !result)
            s_hold_unref(h); /* no Tracker was made for its ref */
        h = NULL;
    } else if (given && m->track) {
        s_hold_unref(h); /* the tracker's ref: no tracker on error */
    }
    zpy_out_free(m, h);
    return result;
}

void zpy_out_free(zpy_out_t *m, zpy_hold_t *h)
{
    if (h) {
        s_hold_release_views(h);
        PyMem_RawFree(h);
    }
    PyMem_RawFree(m->za);
    for (size_t i = 0; i < m->n_env; i++)
        PyBuffer_Release(&m->env_views[i]);
    PyMem_Free(m->env_views);
    PyMem_Free(m->env_frames);
    PackerObject *pk = m->pk;
    if (pk) {
        PyObject *et, *ev, *tb; /* the caller's exception (a failed send) survives this */
        PyErr_Fetch(&et, &ev, &tb);
        if (pk->ndarrays &&
            PyList_SetSlice(pk->ndarrays, 0, PyList_GET_SIZE(pk->ndarrays), NULL) < 0)
            Py_CLEAR(pk->ndarrays);
        if (m->pk_shared) {
            if (zpk_writer_size(&pk->b) > (1 << 20)) { /* do not keep a huge buffer around */
                zpk_writer_free(&pk->b);
                zpk_writer_init_growable(&pk->b, 1024);
            }
            zpk_writer_reset(&pk->b);
            if (m->pk_configured && zpy_packer_configure(pk, NULL) < 0) /* the defaults again */
                PyErr_WriteUnraisable((PyObject *)pk);
            g_msg_packer_busy = 0;
        }
        Py_DECREF(pk);
        PyErr_Restore(et, ev, tb);
    }
    memset(m, 0, sizeof *m);
}

/* ---- in: the library's decoded message -> Python ------------------------------- */

PyObject *zpy_recv_result(PyObject *envl, PyObject *value, char *meta)
{
    PyObject *text = meta != NULL ? PyUnicode_FromString(meta) : NULL;
    zpk_free(meta);
    PyObject *r = NULL;
    if (envl != NULL && value != NULL && (meta == NULL || text != NULL))
        r = text != NULL ? PyTuple_Pack(3, envl, value, text) : PyTuple_Pack(2, envl, value);
    Py_XDECREF(text);
    Py_XDECREF(envl);
    Py_XDECREF(value);
    return r;
}

PyObject *zpy_in_envelope(zpk_envelope_t *env)
{
    PyObject *l = PyList_New((Py_ssize_t)env->n);
    for (size_t i = 0; l && i < env->n; i++) {
        PyObject *f = PyBytes_FromStringAndSize(env->frames[i].data,
                                                (Py_ssize_t)env->frames[i].size);
        if (!f)
            Py_CLEAR(l);
        else
            PyList_SET_ITEM(l, (Py_ssize_t)i, f);
    }
    zpk_envelope_free(env);
    return l;
}

PyObject *zpy_in_ndarray(zpk_ndarray_t *a, int readonly)
{
    PyObject *ab = zpy_wrap_array(a, readonly); /* takes a over */
    if (!ab)
        return NULL;
    PyObject *nd = zpy_ndarray(ab);
    Py_DECREF(ab);
    return nd;
}

/* Payload: the object bytes of a decoded mixed message, kept for the
 * msgpack-numpy arrays that alias them (its zpk_mixed_t owns the frames). */
typedef struct {
    PyObject_HEAD
    zpk_mixed_t m;
} PayloadObject;

static void Payload_dealloc(PayloadObject *self)
{
    zpk_mixed_free(&self->m);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Payload_getbuffer(PayloadObject *self, Py_buffer *view, int flags)
{
    return PyBuffer_FillInfo(view, (PyObject *)self, (void *)(uintptr_t)self->m.packed,
                             (Py_ssize_t)self->m.packed_size, 1, flags);
}

static PyBufferProcs Payload_as_buffer = {(getbufferproc)Payload_getbuffer, NULL};

static PyTypeObject PayloadType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "zmqpack._core.Payload",
    .tp_basicsize = sizeof(PayloadObject),
    .tp_dealloc = (destructor)Payload_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The object bytes of a received message (read-only).",
    .tp_as_buffer = &Payload_as_buffer,
};

PyObject *zpy_in_mixed(zpk_mixed_t *m, PyObject *unpack_kw,
                       int (*readonly)(const void *data, void *ud), void *ud)
{
    PyObject *arrs = NULL, *obj = NULL, *src = NULL;
    uopts_t uo;
    int have_uo = 0;
    if (m->n_ndarrays) {
        arrs = PyList_New((Py_ssize_t)m->n_ndarrays);
        for (size_t i = 0; arrs && i < m->n_ndarrays; i++) {
            int ro = readonly && m->ndarrays[i].data && readonly(m->ndarrays[i].data, ud);
            PyObject *nd = zpy_in_ndarray(&m->ndarrays[i], ro); /* takes the slot over */
            if (!nd)
                goto out;
            PyList_SET_ITEM(arrs, (Py_ssize_t)i, nd);
        }
        if (!arrs)
            goto out;
    }
    if (zpy_uopts_from_kwargs(&uo, unpack_kw, (Py_ssize_t)m->packed_size) < 0)
        goto out;
    have_uo = 1;
    uo.ndarrays = arrs;
    if (uo.ndarray_mode == ZPY_NDARRAY_MSGPACK_NUMPY) {
        /* msgpack-numpy arrays alias the object's bytes: keep them in a Payload */
        PayloadObject *p = PyObject_New(PayloadObject, &PayloadType);
        if (!p)
            goto out;
        p->m = *m;
        memset(m, 0, sizeof *m);
        src = (PyObject *)p;
    }
    const zpk_mixed_t *mm = src ? &((PayloadObject *)src)->m : m;
    /* exactly one object, every error as unpackb() says it */
    obj = zpy_unpackb_buffer(mm->packed, mm->packed_size, &uo, src);
out:
    if (have_uo)
        zpy_uopts_clear(&uo);
    Py_XDECREF(arrs);
    Py_XDECREF(src);
    zpk_mixed_free(m);
    return obj;
}

/* _msg_packer_busy() -> bool: for the tests, that no send left it taken. */
static PyObject *core_msg_packer_busy(PyObject *Py_UNUSED(mod), PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(g_msg_packer_busy);
}

static PyMethodDef message_methods[] = {
    {"_msg_packer_busy", core_msg_packer_busy, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

int zpy_message_init(PyObject *m)
{
    g_msg_packer = zpy_packer_new();
    if (!g_msg_packer || PyType_Ready(&TrackerType) < 0 || PyType_Ready(&PayloadType) < 0)
        return -1;
    Py_INCREF(&TrackerType);
    if (PyModule_AddObject(m, "Tracker", (PyObject *)&TrackerType) < 0) {
        Py_DECREF(&TrackerType);
        return -1;
    }
    return PyModule_AddFunctions(m, message_methods);
}

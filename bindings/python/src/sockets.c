/*
 * zmqpack._core, sockets: the C socket layer (zmqpack/socket.h) on pyzmq's
 * libzmq sockets.
 *
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
#include "core.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <zmq.h> /* ETERM */


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
            s_drain();
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
    s_drain();
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

static void *s_sock_ptr(PyObject *addr)
{
    void *p = PyLong_AsVoidPtr(addr);
    if (!p && !PyErr_Occurred())
        PyErr_SetString(PyExc_ValueError, "socket is closed");
    return p;
}

/* ---- send ---------------------------------------------------------------------- */

/* The numpy typestr ("<f8") of ndarray @p arr into @p buf (8 bytes). */
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
            return zpy_raise(rc, &err);
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
        ok = ok && zpy_array_from_view(&za[i], &h->views[i], dt, arr) == 0;
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
    if (payload != Py_None && Py_IS_TYPE(payload, &zpy_PackerType)) {
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
    (payload == Py_None ? zpk_send_array(sock, &za[0], &o, &err)  \
     : narr == 0        ? zpk_send_packed(sock, wp, &o, &err)  \
                        : zpk_send_mixed(sock, wp, za, (size_t)narr, &o, &err))
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
        zpy_raise(rc, &err);
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

/* The topic: the envelope's first frame, copied into @p topic (TOPIC_CAP
 * bytes); the envelope is let go. Returns the frame's whole length. */
static size_t s_env_topic(zpk_envelope_t *env, char *topic)
{
    size_t len = env->n > 0 ? env->frames[0].size : 0;
    if (len > 0)
        memcpy(topic, env->frames[0].data, len < TOPIC_CAP - 1 ? len : TOPIC_CAP - 1);
    zpk_envelope_free(env);
    return len;
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
    zpy_raise(rc, NULL);
}

/*
 * The receive both _recv_packed and _recv_obj start with: a packed or mixed
 * message's payload bytes (and arrays) into *m, its topic into topic
 * (TOPIC_CAP bytes) and *topic_len, the GIL released while blocking. Returns 0, or -1 with
 * a Python exception set (KeyboardInterrupt on Ctrl-C, WireError...).
 */
static int s_recv_bytes(PyObject *addr, int flags, char *topic, size_t *topic_len,
                        zpk_mixed_t *m)
{
    s_drain();
    void *sock = s_sock_ptr(addr);
    if (!sock)
        return -1;
    zpk_error_t err;
    zpk_error_clear(&err);
    zpk_recv_opts_t o;
    zpk_recv_opts_init(&o);
    o.flags = flags | ZPK_RECV_BYTES;
    memset(m, 0, sizeof *m);
    zpk_envelope_t env;
    int rc;
    S_BLOCKING(rc, zpk_recv_mixed(sock, &o, &env, m, &err));
    if (rc == -EINTR)
        return -1;
    if (rc != 0) {
        zpy_raise(rc, &err);
        return -1;
    }
    *topic_len = s_env_topic(&env, topic);
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
    zpk_mixed_t m;
    if (s_recv_bytes(addr, flags, topic, &topic_len, &m) != 0)
        return NULL;
    PyObject *payload = NULL, *arrs = PyList_New((Py_ssize_t)m.n_ndarrays), *tp = NULL;
    PyObject *r = NULL;
    int rc = ZPK_ENOMEM;
    if (arrs) {
        payload = PyBytes_FromStringAndSize((const char *)m.packed, (Py_ssize_t)m.packed_size);
        if (payload)
            rc = 0;
    }
    for (size_t i = 0; rc == 0 && i < m.n_ndarrays; i++) {
        PyObject *ab = zpy_wrap_array(&m.ndarrays[i]); /* takes ownership, clears the slot */
        PyObject *nd = ab ? zpy_ndarray(ab) : NULL;
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
        zpy_raise(rc, NULL);
    zpk_mixed_free(&m);
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
    zpk_envelope_t env;
    zpk_ndarray_t a;
    memset(&a, 0, sizeof a);
    int rc;
    if (outobj == Py_None) {
        S_BLOCKING(rc, zpk_recv_array(sock, &o, &env, &a, &err));
        if (rc == -EINTR)
            return NULL;
        if (rc != 0)
            return zpy_raise(rc, &err);
        PyObject *tp = s_topic(topic, s_env_topic(&env, topic));
        PyObject *ab = tp ? zpy_wrap_array(&a) : NULL;
        if (!ab) {
            zpk_ndarray_free(&a);
            Py_XDECREF(tp);
            return NULL;
        }
        PyObject *nd = zpy_ndarray(ab);
        Py_DECREF(ab);
        PyObject *r = nd ? PyTuple_Pack(2, tp, nd) : NULL;
        Py_DECREF(tp);
        Py_XDECREF(nd);
        return r;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(outobj, &view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0)
        return NULL;
    o.into = view.buf;
    o.into_size = (size_t)view.len;
    S_BLOCKING(rc, zpk_recv_array(sock, &o, &env, &a, &err));
    PyBuffer_Release(&view);
    if (rc == -EINTR)
        return NULL;
    if (rc != 0)
        return zpy_raise(rc, &err);
    PyObject *tp = s_topic(topic, s_env_topic(&env, topic));
    PyObject *ab = tp ? zpy_wrap_array(&a) : NULL; /* not owning: describes out's memory */
    PyObject *r = NULL;
    if (ab) {
        PyObject *desc = zpy_array_desc(ab);
        if (desc)
            r = PyTuple_Pack(2, tp, desc);
        Py_XDECREF(desc);
    }
    Py_XDECREF(tp);
    Py_XDECREF(ab);
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
        pk = zpy_packer_new();
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
    int rc = zpy_pack_obj(pk, obj, PACK_RECURSE_LIMIT);
    if (rc == 0)
        rc = zpy_writer_check(&pk->b);
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
    zpk_mixed_t m;
    if (s_recv_bytes(addr, flags, topic, &topic_len, &m) != 0)
        return NULL;
    PyObject *arrs = NULL, *obj = NULL, *tp = NULL, *r = NULL;
    if (m.n_ndarrays) {
        arrs = PyList_New((Py_ssize_t)m.n_ndarrays);
        for (size_t i = 0; arrs && i < m.n_ndarrays; i++) {
            PyObject *ab = zpy_wrap_array(&m.ndarrays[i]);
            PyObject *nd = ab ? zpy_ndarray(ab) : NULL;
            Py_XDECREF(ab);
            if (!nd)
                goto out;
            PyList_SET_ITEM(arrs, (Py_ssize_t)i, nd);
        }
        if (!arrs)
            goto out;
    }
    uopts_t uo;
    if (zpy_uopts_parse(&uo, Py_None, Py_None, 1, 0, 0, 1, Py_None, Py_None, Py_None, -1, -1, -1,
                        -1, -1, 0, Py_None, (Py_ssize_t)m.packed_size) < 0)
        goto out;
    uo.ndarrays = arrs;
    uctx_t c;
    zpy_uctx_init(&c, m.packed, m.packed_size, &uo);
    obj = zpy_unpack(&c);
    zpy_uopts_clear(&uo);
    if (obj && zpk_reader_offset(&c.r) < m.packed_size) {
        Py_CLEAR(obj);
        zpy_raise(ZPK_EEXTRADATA, NULL);
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
    zpk_mixed_free(&m);
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
    if (zpy_import_numpy() < 0)
        return NULL;
    if (!g_mixed_packer) {
        g_mixed_packer = zpy_packer_new();
        if (!g_mixed_packer)
            return NULL;
    }
    Py_XSETREF(g_ndarray_type, Py_NewRef(nd));
    Py_XSETREF(g_zmq_error, Py_NewRef(zerr));
    Py_XSETREF(g_WireError, Py_NewRef(werr));
    Py_RETURN_NONE;
}

static PyMethodDef sockets_methods[] = {
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

int zpy_sockets_init(PyObject *m)
{
    if (PyType_Ready(&TrackerType) < 0)
        return -1;
    Py_INCREF(&TrackerType);
    if (PyModule_AddObject(m, "Tracker", (PyObject *)&TrackerType) < 0) {
        Py_DECREF(&TrackerType);
        return -1;
    }
    if (PyModule_AddIntConstant(m, "DONTWAIT", ZPK_DONTWAIT) < 0 ||
        PyModule_AddIntConstant(m, "SEND_SINGLE", ZPK_SEND_SINGLE) < 0 ||
        PyModule_AddIntConstant(m, "SEND_RECIPE", ZPK_SEND_RECIPE) < 0)
        return -1;
    return PyModule_AddFunctions(m, sockets_methods);
}
